/**
 * `ferry status` and `ferry clean` end to end: real runs (`deno run -A
 * main.ts run ...` as subprocesses) in temporary workspaces, a success, a
 * failure with a retry, a cached re-run and a run killed with SIGKILL; then
 * the exact text and JSON status shows, what clean removes and keeps, and the
 * one-line messages for bad input.
 * @module
 */

import assert from "node:assert/strict";
import { hostname } from "node:os";
import { join } from "node:path";
import { exists, ferry, ferryRun, ROOT, runDirOf, withTemp, writeWorkflow } from "./_run.ts";
import { matchSnapshot, runCli } from "./_cli.ts";
import { waitFor } from "./_services.ts";
import { taskDirName } from "../interpreter/attempt.ts";
import { formatBytes } from "../interpreter/format.ts";

const HOST = hostname();
const decoder = new TextDecoder();

const WORKFLOW = {
  ferry: 1,
  name: "status",
  params: { fail: false },
  apps: {
    make: { outputs: { out: "made.txt" }, shell: "echo made > ${{ outputs.out }}" },
    flaky: {
      inputs: { i: "made.txt" },
      outputs: { out: "flaky.txt" },
      retries: 1,
      shell: 'if [ ${{ params.fail }} = true ]; then echo "attempt $FERRY_ATTEMPT failed" >&2; ' +
        'echo "disk full" >&2; exit 3; fi\ncp ${{ inputs.i }} ${{ outputs.out }}\n',
    },
    after: {
      inputs: { i: "flaky.txt" },
      outputs: { out: "after.txt" },
      shell: "cp ${{ inputs.i }} ${{ outputs.out }}",
    },
    solo: { outputs: { out: "solo.txt" }, shell: "echo solo > ${{ outputs.out }}" },
  },
};

/** Volatile parts of status text replaced by names: run ids, times, durations, pids, the workspace. */
function normalize(text: string, ws: string, runs: Record<string, string>): string {
  let out = text.replaceAll(ws, "<ws>").replaceAll(` on ${HOST}`, " on <host>");
  for (const [name, id] of Object.entries(runs)) out = out.replaceAll(id, `<${name}>`);
  return out
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/g, "<time>")
    // Every form formatDuration() prints; the TOOK column's width follows the longest.
    .replace(/\b(?:\d+ms|\d+\.\ds|\d+s|\d+m\d\ds|\d+h\d\dm)\b/g, "<secs>")
    .replace(/(<secs>|TOOK) {2,}/g, "$1  ")
    .replace(/pid \d+/g, "pid <pid>")
    .replace(/peak memory \d+(\.\d)? (B|KiB|MiB|GiB)\b/g, "peak memory <size>");
}

/** The disk space of `path` in bytes, as `du` counts it (what clean reports). */
async function du(path: string): Promise<number> {
  const out = await new Deno.Command("du", { args: ["-s", "-B1", "--", path], stdout: "piped" })
    .output();
  assert.ok(out.success, `du ${path}`);
  return Number(decoder.decode(out.stdout).split("\t")[0]);
}

/** Three runs in one workspace: all succeed; all cached; flaky fails twice (--keep-going). */
async function threeRuns(ws: string): Promise<{ wf: string; ids: Record<string, string> }> {
  const wf = await writeWorkflow(ws, WORKFLOW);
  const r1 = await ferryRun([wf]);
  assert.equal(r1.code, 0, r1.stderr);
  const r2 = await ferryRun([wf]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stderr, /^plan: 0 to run, 4 cached$/m);
  const r3 = await ferryRun(["--keep-going", "--param", "fail=true", wf]);
  assert.equal(r3.code, 1, r3.stderr);
  const id = (r: { stderr: string }) =>
    runDirOf(r as Parameters<typeof runDirOf>[0]).split("/").at(-1)!;
  return { wf, ids: { run1: id(r1), run2: id(r2), run3: id(r3) } };
}

const logs = (run: string, task: string, attempt: number) => {
  const dir = `<ws>/.ferry/runs/<${run}>/tasks/${taskDirName(task)}/attempt-${attempt}`;
  return [`      stdout: ${dir}/stdout.log`, `      stderr: ${dir}/stderr.log`];
};

Deno.test("status: the runs newest first, then the latest in detail; one run by prefix; JSON", async () => {
  await withTemp(async (ws) => {
    const { wf, ids } = await threeRuns(ws);
    const r = await runCli(["status", "--workspace", ws]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.deepEqual(normalize(r.stdout, ws, ids).split("\n"), [
      "runs in <ws>, newest first:",
      "  RUN                     STATUS     STARTED (UTC)        TOOK  TASKS",
      "  <run3>  failed     <time>  <secs>  0 succeeded, 2 cached, 1 failed, 1 blocked",
      "  <run2>  succeeded  <time>  <secs>  0 succeeded, 4 cached, 0 failed",
      "  <run1>  succeeded  <time>  <secs>  4 succeeded, 0 failed",
      "",
      "run <run3>: failed",
      `  workflow: <ws>/workflow.yaml`,
      "  started:  <time> UTC by pid <pid> on <host>",
      "  took:     <secs>",
      "  tasks:    0 succeeded, 2 cached, 1 failed, 1 blocked",
      "  logs:     <ws>/.ferry/runs/<run3>",
      "",
      "✓ make: cached",
      "✓ solo: cached",
      "✗ flaky: failed: exit code 3",
      "    attempt 1: failed (exit code 3) in <secs> on <host>",
      "      used:   wall <secs>, CPU <secs>, peak memory <size>",
      ...logs("run3", "flaky", 1),
      "    attempt 2: failed (exit code 3) in <secs> on <host>",
      "      used:   wall <secs>, CPU <secs>, peak memory <size>",
      ...logs("run3", "flaky", 2),
      "      │ attempt 2 failed",
      "      │ disk full",
      "- after: blocked by flaky",
      "",
    ]);

    // One run, by the start of its id; the same text from the workflow file and from its folder.
    const one = await runCli(["status", "--workspace", ws, ids.run1!.slice(0, -3)]);
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual(normalize(one.stdout, ws, ids).split("\n"), [
      "run <run1>: succeeded",
      `  workflow: <ws>/workflow.yaml`,
      "  started:  <time> UTC by pid <pid> on <host>",
      "  took:     <secs>",
      "  tasks:    4 succeeded, 0 failed",
      "  logs:     <ws>/.ferry/runs/<run1>",
      "",
      ...["make", "solo", "flaky", "after"].flatMap((t) => [
        `✓ ${t}: succeeded`,
        "    attempt 1: succeeded in <secs> on <host>",
        "      used:   wall <secs>, CPU <secs>, peak memory <size>",
        ...logs("run1", t, 1),
      ]),
      "",
    ]);
    assert.deepEqual(await runCli(["status", wf]), r);
    const here = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(ROOT, "main.ts"), "status"],
      cwd: ws,
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(decoder.decode(here.stdout), r.stdout);
    assert.equal(here.code, 0);

    // JSON: the same report.
    const j = await runCli(["status", "--format", "json", "--workspace", ws]);
    assert.equal(j.code, 0, j.stderr);
    const report = JSON.parse(j.stdout);
    assert.equal(report.ferryStatus, 1);
    assert.equal(report.workspace, ws);
    const zero = {
      succeeded: 0,
      cached: 0,
      failed: 0,
      cancelled: 0,
      blocked: 0,
      "not-run": 0,
      waiting: 0,
      running: 0,
      retrying: 0,
      crashed: 0,
    };
    assert.deepEqual(
      report.runs.map((
        x: { id: string; status: string; counts: unknown },
      ) => [x.id, x.status, x.counts]),
      [
        [ids.run3, "failed", { ...zero, cached: 2, failed: 1, blocked: 1 }],
        [ids.run2, "succeeded", { ...zero, cached: 4 }],
        [ids.run1, "succeeded", { ...zero, succeeded: 4 }],
      ],
    );
    const run = report.run;
    assert.deepEqual(Object.keys(run), [
      "id",
      "workflow",
      "status",
      "startedAt",
      "endedAt",
      "durationMs",
      "pid",
      "host",
      "dir",
      "counts",
      "logsKept",
      "tasks",
    ]);
    assert.equal(run.id, ids.run3);
    assert.equal(run.workflow, wf);
    assert.equal(run.dir, join(ws, ".ferry", "runs", ids.run3!));
    assert.equal(run.durationMs, Date.parse(run.endedAt) - Date.parse(run.startedAt));
    assert.equal(run.host, HOST);
    const flaky = run.tasks[2];
    const dir = join(run.dir, "tasks", taskDirName("flaky"));
    for (const [i, a] of flaky.attempts.entries()) {
      assert.equal(a.durationMs, Date.parse(a.endedAt) - Date.parse(a.startedAt));
      assert.equal(a.usage.measuredBy, "wait4");
      assert.deepEqual({ ...a, startedAt: 0, endedAt: 0, durationMs: 0, usage: 0 }, {
        attempt: i + 1,
        outcome: "failed",
        exitCode: 3,
        startedAt: 0,
        endedAt: 0,
        durationMs: 0,
        usage: 0,
        host: HOST,
        stdout: join(dir, `attempt-${i + 1}`, "stdout.log"),
        stderr: join(dir, `attempt-${i + 1}`, "stderr.log"),
      });
    }
    assert.deepEqual(run.tasks.map((t: { attempts: unknown }) => ({ ...t, attempts: [] })), [
      { id: "make", state: "cached", attempts: [] },
      { id: "solo", state: "cached", attempts: [] },
      { id: "flaky", state: "failed", attempts: [], stderrTail: ["attempt 2 failed", "disk full"] },
      { id: "after", state: "blocked", blockedBy: "flaky", attempts: [] },
    ]);
    // One task per line.
    assert.equal(j.stdout.split("\n").filter((l) => l.startsWith('      {"id":')).length, 4);
    const single = JSON.parse((await runCli(["status", "-f", "json", "-w", ws, ids.run3!])).stdout);
    assert.deepEqual(single, { ferryStatus: 1, workspace: ws, run });
  });
});

/** `ps` pids of live processes whose arguments contain `marker`. */
async function pidsWith(marker: string): Promise<number[]> {
  const out = await new Deno.Command("ps", { args: ["-eo", "pid=,stat=,args="], stdout: "piped" })
    .output();
  return decoder.decode(out.stdout).split("\n").map((l) => l.trim())
    .filter((l) => l.includes(marker) && !/^\d+\s+Z/.test(l))
    .map((l) => Number(l.split(/\s+/)[0]));
}

/** SIGKILL, by pid, the processes carrying `marker` (a task outlives a SIGKILLed ferry). */
async function killMarked(marker: string): Promise<void> {
  for (const pid of await pidsWith(marker)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone already */ }
  }
  await waitFor(
    `processes marked ${marker} to go`,
    async () => (await pidsWith(marker)).length === 0,
  );
}

Deno.test("status: a live run is running, and crashed once ferry is SIGKILLed; clean refuses while it runs", async () => {
  await withTemp(async (ws) => {
    const tag = String(Math.floor(Math.random() * 1e9)).padStart(9, "0");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "killed",
      apps: {
        quick: { outputs: { out: "q.txt" }, shell: "echo q > ${{ outputs.out }}" },
        slow: { inputs: { i: "q.txt" }, command: ["sleep", `300.${tag}`] },
        last: { after: ["slow"], shell: "true" },
      },
    });
    const child = ferry([wf]).spawn();
    const output = child.output();
    try {
      let id = "";
      await waitFor("slow to start", async () => {
        for await (const e of Deno.readDir(join(ws, ".ferry", "runs"))) id = e.name;
        const events = await Deno.readTextFile(join(ws, ".ferry", "runs", id, "events.jsonl"));
        return events.includes('"event":"started","task":"slow"');
      });
      const ids = { run: id };
      const head = (status: string, took: string, tasks: string) => [
        `run <run>: ${status}`,
        "  workflow: <ws>/workflow.yaml",
        "  started:  <time> UTC by pid <pid> on <host>",
        `  took:     ${took}`,
        `  tasks:    ${tasks}`,
        "  logs:     <ws>/.ferry/runs/<run>",
        "",
        "✓ quick: succeeded",
        "    attempt 1: succeeded in <secs> on <host>",
        "      used:   wall <secs>, CPU <secs>, peak memory <size>",
        ...logs("run", "quick", 1),
      ];
      const live = await runCli(["status", "-w", ws, id]);
      assert.equal(live.code, 0, live.stderr);
      assert.deepEqual(normalize(live.stdout, ws, ids).split("\n"), [
        ...head("running", "still running", "1 succeeded, 0 failed, 1 waiting, 1 running"),
        "▸ slow: running",
        "    attempt 1: running since <time> UTC",
        ...logs("run", "slow", 1),
        "- last: waiting",
        "",
      ]);
      // A live run holds the lock: clean (and its dry run) refuse, naming it.
      const holder = `pid ${child.pid} on host ${HOST}, started `;
      for (const args of [[], ["--dry-run"], ["--all"]]) {
        const c = await runCli(["clean", "-w", ws, ...args]);
        assert.equal(c.code, 2);
        assert.equal(c.stdout, "");
        assert.ok(
          c.stderr.startsWith(`ferry: Cannot clean "${ws}": a ferry run is using it: ${holder}`),
          c.stderr,
        );
        assert.ok(c.stderr.endsWith(` UTC (run ${id})\n`), c.stderr);
      }
      assert.ok(await exists(join(ws, ".ferry", "runs", id, "tasks")));

      child.kill("SIGKILL");
      assert.equal((await child.status).signal, "SIGKILL");
      // The task outlives its ferry, holding the pipes ferry had: kill it before reading them.
      await killMarked(tag);
      await output;
      const dead = await runCli(["status", "-w", ws]);
      assert.equal(dead.code, 0, dead.stderr);
      assert.deepEqual(normalize(dead.stdout, ws, ids).split("\n"), [
        "runs in <ws>, newest first:",
        "  RUN                     STATUS   STARTED (UTC)        TOOK  TASKS",
        "  <run>  crashed  <time>  -     1 succeeded, 0 failed, 1 not run, 1 crashed",
        "",
        ...head(
          "crashed",
          "unknown: its ferry (pid <pid> on <host>) died; the next ferry run resumes the work",
          "1 succeeded, 0 failed, 1 not run, 1 crashed",
        ),
        "✗ slow: crashed: it was running when its ferry died",
        "    attempt 1: crashed; started <time> UTC",
        ...logs("run", "slow", 1),
        "- last: not run",
        "",
      ]);
      const json = JSON.parse((await runCli(["status", "-f", "json", "-w", ws])).stdout);
      assert.equal(json.runs[0].status, "crashed");
      assert.equal(json.runs[0].endedAt, undefined);
      assert.deepEqual(json.run.tasks.map((t: { state: string }) => t.state), [
        "succeeded",
        "crashed",
        "not-run",
      ]);
      assert.equal(json.run.tasks[1].attempts[0].outcome, "crashed");

      // The dead run's lock is stale: clean takes it over, says so, and cleans.
      const bytes = await du(join(ws, ".ferry", "runs", id, "tasks"));
      const c = await runCli(["clean", "-w", ws]);
      assert.equal(c.code, 0, c.stderr);
      assert.match(
        c.stderr,
        new RegExp(
          `^ferry: warning: took over a stale lock: pid ${child.pid} on host .* \\(run ${id}\\) is no longer running\\n$`,
        ),
      );
      assert.equal(
        c.stdout,
        `removed .ferry/runs/${id}/tasks (${formatBytes(bytes)})\n` +
          `freed ${
            formatBytes(bytes)
          } in ${ws}; kept .ferry/state.db and each run's events.jsonl\n`,
      );
      assert.equal(await exists(join(ws, ".ferry", "lock")), false);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await killMarked(tag);
      await output.catch(() => {});
    }
  });
});

Deno.test("clean: --dry-run lists, clean removes attempts and staged copies and keeps the state; --all", async () => {
  await withTemp(async (ws) => {
    const { wf, ids } = await threeRuns(ws);
    const dot = join(ws, ".ferry");
    await Deno.mkdir(join(dot, "staged", "0123456789abcdef"), { recursive: true });
    await Deno.writeFile(join(dot, "staged", "0123456789abcdef", "data.bin"), new Uint8Array(1000));
    const run1 = await du(join(dot, "runs", ids.run1!, "tasks"));
    const run3 = await du(join(dot, "runs", ids.run3!, "tasks"));
    const staged = await du(join(dot, "staged"));
    const lines = (verb: string, free: string, keep: string) =>
      [
        `${verb} .ferry/runs/${ids.run1}/tasks (${formatBytes(run1)})`,
        `${verb} .ferry/runs/${ids.run3}/tasks (${formatBytes(run3)})`,
        `${verb} .ferry/staged (${formatBytes(staged)})`,
        `${free} ${
          formatBytes(run1 + run3 + staged)
        } in ${ws}; ${keep} .ferry/state.db and each run's events.jsonl`,
        "",
      ].join("\n");
    // The cached run wrote no attempt directory: nothing of it is listed.
    assert.equal(await exists(join(dot, "runs", ids.run2!, "tasks")), false);

    const dry = await runCli(["clean", "--dry-run", "-w", ws]);
    assert.deepEqual(dry, {
      code: 0,
      stdout: lines("would remove", "would free", "would keep"),
      stderr: "",
    });
    assert.ok(await exists(join(dot, "staged")));
    assert.ok(await exists(join(dot, "runs", ids.run1!, "tasks")));

    // The workflow file names the workspace too.
    assert.deepEqual(await runCli(["clean", wf]), {
      code: 0,
      stdout: lines("removed", "freed", "kept"),
      stderr: "",
    });
    const left = [];
    for await (const e of Deno.readDir(dot)) left.push(e.name);
    assert.deepEqual(left.sort(), ["runs", "state.db"]);
    for (const id of Object.values(ids)) {
      const inRun = [];
      for await (const e of Deno.readDir(join(dot, "runs", id))) inRun.push(e.name);
      assert.deepEqual(inRun, ["events.jsonl"]);
    }
    assert.deepEqual(await runCli(["clean", "-w", ws]), {
      code: 0,
      stdout: `nothing to clean in ${ws}\n`,
      stderr: "",
    });

    // The state is kept: status still knows every run (and says the logs are gone), nothing re-runs.
    const st = await runCli(["status", "-w", ws, ids.run3!]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(
      st.stdout,
      new RegExp(
        `^  logs: {5}${ws}/\\.ferry/runs/${ids.run3} \\(attempt directories removed by ferry clean\\)$`,
        "m",
      ),
    );
    assert.match(st.stdout, /^✗ flaky: failed: exit code 3$/m);
    // Each log says it is gone, where it was; no path printed as if it were there.
    const flakyDir = `${ws}/.ferry/runs/${ids.run3}/tasks/${taskDirName("flaky")}`;
    assert.deepEqual(st.stdout.split("\n").filter((l) => /^ {6}std(out|err): /.test(l)), [
      `      stdout: gone (was ${flakyDir}/attempt-1/stdout.log)`,
      `      stderr: gone (was ${flakyDir}/attempt-1/stderr.log)`,
      `      stdout: gone (was ${flakyDir}/attempt-2/stdout.log)`,
      `      stderr: gone (was ${flakyDir}/attempt-2/stderr.log)`,
    ]);
    assert.doesNotMatch(st.stdout, /│/);
    const again = await ferryRun([wf]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^plan: 0 to run, 4 cached$/m);

    // --all: the whole .ferry/, state too.
    const all = await du(dot);
    assert.deepEqual(await runCli(["clean", "--all", "--dry-run", "-w", ws]), {
      code: 0,
      stdout: `would remove .ferry (${formatBytes(all)})\n` +
        `would free ${
          formatBytes(all)
        } in ${ws}; with the state gone, the next ferry run runs every task\n`,
      stderr: "",
    });
    assert.deepEqual(await runCli(["clean", "--all", "-w", ws]), {
      code: 0,
      stdout: `removed .ferry (${formatBytes(all)})\n` +
        `freed ${
          formatBytes(all)
        } in ${ws}; with the state gone, the next ferry run runs every task\n`,
      stderr: "",
    });
    assert.equal(await exists(dot), false);
    assert.deepEqual(await runCli(["status", "-w", ws]), {
      code: 2,
      stdout: "",
      stderr:
        `ferry: Cannot show the status of "${ws}": it has no .ferry/state.db (no workflow has run there)\n`,
    });
    const fresh = await ferryRun([wf]);
    assert.match(fresh.stderr, /^plan: 4 to run, 0 cached$/m);
  });
});

Deno.test("status: a log delivered as an output shows where it is now; a log that is gone says so", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "logs",
      params: { word: "one" },
      apps: {
        count: {
          outputs: { out: "out/counts.txt", err: "err.txt" },
          command: ["sh", "-c", "echo ${{ params.word }}; echo warned >&2"],
          stdout: "${{ outputs.out }}",
          stderr: "${{ outputs.err }}",
        },
      },
    });
    const r1 = await ferryRun([wf]);
    assert.equal(r1.code, 0, r1.stderr);
    const run1 = runDirOf(r1).split("/").at(-1)!;
    const work = (run: string) =>
      join(ws, ".ferry", "runs", run, "tasks", taskDirName("count"), "attempt-1", "work");
    const attempt = async (run: string) => {
      const r = await runCli(["status", "-f", "json", "-w", ws, run]);
      assert.equal(r.code, 0, r.stderr);
      const { startedAt: _, endedAt: __, durationMs: ___, usage, ...rest } =
        JSON.parse(r.stdout).run.tasks[0].attempts[0];
      assert.equal(usage.measuredBy, "wait4");
      return rest;
    };
    const lines = async (run: string) => {
      const r = await runCli(["status", "-w", ws, run]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.split("\n").filter((l) => /^ {6}std(out|err): /.test(l));
    };
    const ok = { attempt: 1, outcome: "succeeded", exitCode: 0, host: HOST };
    // The logs were moved into the workspace with the task's outputs: status points there.
    assert.deepEqual(await attempt(run1), {
      ...ok,
      stdout: join(ws, "out", "counts.txt"),
      stderr: join(ws, "err.txt"),
    });
    assert.deepEqual(await lines(run1), [
      `      stdout: ${ws}/out/counts.txt`,
      `      stderr: ${ws}/err.txt`,
    ]);

    // A second run writes both again; then err.txt is deleted.
    const r2 = await ferryRun(["--param", "word=two", wf]);
    assert.equal(r2.code, 0, r2.stderr);
    const run2 = runDirOf(r2).split("/").at(-1)!;
    assert.equal(await Deno.readTextFile(join(ws, "out", "counts.txt")), "two\n");
    await Deno.remove(join(ws, "err.txt"));
    // The first run's logs were replaced by the second's: gone, and said so with where they were.
    assert.deepEqual(await attempt(run1), {
      ...ok,
      stdoutGone: join(work(run1), "out", "counts.txt"),
      stderrGone: join(work(run1), "err.txt"),
    });
    assert.deepEqual(await lines(run1), [
      `      stdout: gone (was ${work(run1)}/out/counts.txt)`,
      `      stderr: gone (was ${work(run1)}/err.txt)`,
    ]);
    assert.deepEqual(await attempt(run2), {
      ...ok,
      stdout: join(ws, "out", "counts.txt"),
      stderrGone: join(work(run2), "err.txt"),
    });
  });
});

Deno.test("status and clean: bad input is one line and exit 2", async () => {
  await withTemp(async (ws) => {
    const { ids } = await threeRuns(ws);
    const fails = async (args: string[], stderr: string) =>
      assert.deepEqual(await runCli(args), { code: 2, stdout: "", stderr: `ferry: ${stderr}\n` });
    const typo = ids.run2!.slice(0, -1) + (ids.run2!.endsWith("x") ? "y" : "x");
    await fails(
      ["status", "-w", ws, typo],
      `Cannot show run "${typo}": no run with that id in "${ws}": did you mean "${ids.run2}"?`,
    );
    // A typo in a prefix suggests the run it nearly names.
    const prefix = ids.run1!.slice(0, 20);
    const near = prefix.slice(0, -1) + (prefix.endsWith("x") ? "y" : "x");
    if (Object.values(ids).filter((id) => id.startsWith(near)).length === 0) {
      await fails(
        ["status", "-w", ws, near],
        `Cannot show run "${near}": no run with that id in "${ws}": did you mean "${ids.run1}"?`,
      );
    }
    await fails(
      ["status", "-w", ws, "zzz"],
      `Cannot show run "zzz": no run with that id in "${ws}"`,
    );
    await fails(
      ["status", "-w", ws, "2"],
      `Cannot show run "2": 3 runs start with it: ${ids.run3}, ${ids.run2}, ${ids.run1}`,
    );
    const other = await writeWorkflow(ws, { ferry: 1, name: "other", apps: {} }, "other.yaml");
    await fails(
      ["status", other],
      `Cannot show the status of "${other}": none of the 3 runs in "${ws}" ran it`,
    );
    await fails(
      ["status", join(ws, "nope.yaml")],
      `Cannot show the status of "${join(ws, "nope.yaml")}": no such workflow file`,
    );
    await fails(
      ["status", ws],
      `Cannot show the status of "${ws}": it is a directory; name a workflow file, or use --workspace ${ws}`,
    );
    const empty = join(ws, "empty");
    await Deno.mkdir(empty);
    await fails(
      ["status", "-w", empty],
      `Cannot show the status of "${empty}": it has no .ferry/state.db (no workflow has run there)`,
    );
    await fails(
      ["status", "-w", join(ws, "missing")],
      `Cannot show the status of "${join(ws, "missing")}": no such directory`,
    );
    await fails(
      ["clean", "-w", join(ws, "missing")],
      `Cannot clean "${join(ws, "missing")}": no such directory`,
    );
    await fails(
      ["clean", join(ws, "nope.yaml")],
      `Cannot clean "${join(ws, "nope.yaml")}": no such workflow file`,
    );
    assert.deepEqual(await runCli(["clean", "-w", empty]), {
      code: 0,
      stdout: `nothing to clean in ${empty}\n`,
      stderr: "",
    });
    const format = await runCli(["status", "--format", "xml", "-w", ws]);
    assert.equal(format.code, 2);
    assert.match(
      format.stderr,
      /^error: option '-f, --format <format>' argument 'xml' is invalid\. Allowed choices are text, json\./,
    );
    assert.equal((await runCli(["clean", "--everything"])).code, 2);
  });
});

Deno.test("ferry status --help and ferry clean --help", async () => {
  for (const command of ["status", "clean"]) {
    const r = await runCli([command, "--help"]);
    assert.equal(r.code, 0);
    await matchSnapshot(`help_${command}.txt`, r.stdout);
  }
});

Deno.test("status --watch follows a running run until it ends, then exits 0", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "watched",
      apps: {
        slow: { outputs: { o: "o.txt" }, shell: "sleep 2; touch ${{ outputs.o }}" },
        after: {
          inputs: { i: "o.txt" },
          outputs: { o: "p.txt" },
          shell: "cp ${{ inputs.i }} ${{ outputs.o }}",
        },
      },
    });
    const running = ferry([wf]).spawn();
    const done = running.output();
    try {
      await waitFor("the run to show as running", async () => {
        const s = await ferryRun(["--workspace", ws], {}, "status");
        return /^run \S+: running$/m.test(s.stdout);
      }, 20_000);
      const t0 = performance.now();
      const watched = await ferryRun(["--workspace", ws, "--watch", "0.2"], {}, "status");
      assert.equal(watched.code, 0, watched.stderr);
      assert.ok(performance.now() - t0 > 500, "it waited for the run");
      const views = watched.stdout.split(/\n(?=runs in )/);
      assert.ok(views.length >= 2, watched.stdout);
      assert.match(views[0]!, /^run \S+: running$/m);
      assert.match(views.at(-1)!, /^run \S+: succeeded$/m);
      assert.match(views.at(-1)!, /^ {2}tasks: {4}2 succeeded, 0 failed$/m);
    } finally {
      await done;
    }
    const bad = await ferryRun(["--workspace", ws, "--watch", "0"], {}, "status");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Cannot watch every "0" seconds: give a number from 0.1 to 3600/);
  });
});
