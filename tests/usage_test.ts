/**
 * What each task cost, end to end on the local executor: a task that holds a
 * known amount of memory (200 MiB) and burns a known CPU time (1 s), a failing
 * one, an idle one that asked for 2 cores, and a function app. Their figures
 * are checked within a tolerance in `ferry status` (text and JSON), in the
 * state store, in the event log, in their `benchmark:` files and in the
 * report, which plots them and flags what was far over-requested.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferryRun, runDirOf, walk, withTemp, writeWorkflow } from "./_run.ts";
import { taskDirName } from "../interpreter/attempt.ts";
import { StateStore } from "../interpreter/state.ts";
import type { Usage } from "../providers/batch/types.ts";

/** Holds 200 MiB (written, so resident) and burns 1 s of CPU. */
const HOG = "import time\nb = b'x' * (200 * 1024 * 1024)\nt = time.process_time()\n" +
  "while time.process_time() - t < 1: pass\n";

const WORKFLOW = {
  ferry: 1,
  name: "cost",
  params: { samples: ["a", "<b>&'c\""] },
  apps: {
    hog: {
      for_each: { s: "${{ params.samples }}" },
      outputs: { out: "hog/${{ s }}.txt" },
      benchmark: "bench/${{ s }}.tsv",
      resources: { memory: "2GiB" },
      command: [
        "python3",
        "-c",
        HOG + "import sys\nopen(sys.argv[1], 'w').write('ok')",
        "${{ outputs.out }}",
      ],
    },
    idle: {
      outputs: { out: "idle.txt" },
      resources: { cores: 2 },
      shell: "sleep 1.2; echo idle > ${{ outputs.out }}",
    },
    broken: { shell: `python3 -c "${HOG}"; exit 3` },
    fn: { function: "./fn.ts#main" },
  },
};

const within = (v: number | undefined, lo: number, hi: number, what: string) =>
  assert.ok(v !== undefined && v >= lo && v <= hi, `${what}: ${v} not in [${lo}, ${hi}]`);

/** The hog's figures: 200 MiB plus the interpreter (< 40 MiB), 1 s of CPU plus start-up. */
function checkHog(u: Usage | undefined, what: string): void {
  assert.ok(u, `${what}: no usage`);
  assert.equal(u.measuredBy, "wait4", what);
  within(u.maxRssBytes! / 2 ** 20, 200, 240, `${what} peak MiB`);
  within(u.userSeconds! + u.systemSeconds!, 0.95, 3, `${what} CPU s`);
  within(u.wallSeconds, 0.95, 20, `${what} wall s`);
}

Deno.test("usage: a task's wall, CPU and peak memory are measured and shown in status, JSON, state, events, benchmark files and the report", async () => {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(join(ws, "fn.ts"), "export function main() { return 1; }\n");
    const wf = await writeWorkflow(ws, WORKFLOW);
    const r = await ferryRun(["--keep-going", wf]);
    assert.equal(r.code, 1, r.stderr);
    const runDir = runDirOf(r);

    // The state store: every attempt that ran has its figures.
    const store = StateStore.open(ws);
    const attempts = new Map(store.attempts().map((a) => [a.taskId, a]));
    store.close();
    checkHog(attempts.get("hog[s=a]")?.usage, "state hog[s=a]");
    checkHog(attempts.get("broken")?.usage, "state broken (failed)");
    assert.equal(attempts.get("broken")?.outcome, "failed");
    within(attempts.get("idle")?.usage?.wallSeconds, 1.2, 20, "state idle wall");
    // A function app too: its call in a persistent function worker, measured by the worker.
    const fn = attempts.get("fn")?.usage;
    assert.equal(fn?.measuredBy, "worker", "a function app too");
    assert.ok(fn.userSeconds! >= 0 && fn.systemSeconds! >= 0, JSON.stringify(fn));
    assert.ok(fn.maxRssBytes! > 10 * 2 ** 20, JSON.stringify(fn)); // a Deno's

    // The event log's finished events.
    const events = (await Deno.readTextFile(join(runDir, "events.jsonl"))).trim().split("\n")
      .map((l) => JSON.parse(l));
    const finished = events.find((e) => e.event === "finished" && e.task === "hog[s=a]");
    checkHog(finished.usage, "event hog[s=a]");
    const graph = events.find((e) => e.event === "graph");
    assert.deepEqual(
      graph.apps.map((
        a: { name: string; cores?: number; memory?: number },
      ) => [a.name, a.cores, a.memory]),
      [["hog", undefined, 2 ** 31], ["idle", 2, undefined], ["broken", undefined, undefined], [
        "fn",
        undefined,
        undefined,
      ]],
    );

    // ferry status, as text: a "used:" line per measured attempt.
    const st = await ferryRun(["--workspace", ws], {}, "status");
    assert.equal(st.code, 0, st.stderr);
    const used = [...st.stdout.matchAll(/^ {6}used: {3}(.*)$/gm)].map((m) => m[1]!);
    assert.equal(used.length, 5, st.stdout);
    const line = st.stdout.split("\n").findIndex((l) => l === "✓ hog[s=a]: succeeded");
    const hogUsed = st.stdout.split("\n")[line + 2]!;
    const m = hogUsed.match(
      /^ {6}used: {3}wall (\d+\.\d)s, CPU (\d+\.\d)s, peak memory (\d+\.\d) MiB$/,
    );
    assert.ok(m, hogUsed);
    within(Number(m[2]), 0.9, 3, "status CPU");
    within(Number(m[3]), 200, 240, "status MiB");

    // ferry status --format json.
    const js = await ferryRun(["--workspace", ws, "--format", "json"], {}, "status");
    const tasks = JSON.parse(js.stdout).run.tasks as {
      id: string;
      attempts: { usage?: Usage }[];
    }[];
    checkHog(tasks.find((t) => t.id === "broken")?.attempts[0]?.usage, "json broken");

    // The benchmark files: Snakemake's columns, the figures of the attempt.
    for (const s of WORKFLOW.params.samples) {
      const [head, row, ...rest] = (await Deno.readTextFile(join(ws, "bench", `${s}.tsv`)))
        .split("\n");
      assert.equal(head, "s\th:m:s\tmax_rss\tmean_load\tcpu_time");
      assert.deepEqual(rest, [""]);
      const [secs, hms, rss, load, cpu] = row!.split("\t");
      within(Number(secs), 0.95, 20, "benchmark s");
      assert.match(hms!, /^0:00:\d\d$/);
      within(Number(rss), 200, 240, "benchmark max_rss");
      within(Number(cpu), 0.95, 3, "benchmark cpu_time");
      within(Number(load), 5, 110, "benchmark mean_load");
    }

    // The report: a plot per figure, the table, and the flags of what was far over-requested.
    const out = join(ws, "report.html");
    const rep = await ferryRun(["--workspace", ws, "-o", out], {}, "report");
    assert.equal(rep.code, 0, rep.stderr);
    const html = await Deno.readTextFile(out);
    assert.deepEqual(
      [...html.matchAll(/<svg class="usage-plot" data-metric="([^"]+)"/g)].map((x) => x[1]),
      ["wall time", "CPU time", "peak memory"],
    );
    // One dot per measured task in each plot that has its figure (the Perl spawner has no RSS).
    assert.equal(html.split('<circle class="usage-dot"').length - 1, 3 * 5);
    assert.ok(html.includes('<table id="usage-table">'));
    assert.ok(html.includes("<title>hog[s=&lt;b&gt;&amp;&#39;c&quot;]: "), "task ids escaped");
    assert.ok(!html.includes("<b>&"), "no raw id in the page");
    const flags = [
      ...html.matchAll(
        /<li class="over-request" data-task="([^"]*)"><code>[^<]*<\/code>: ([^<]*)<\/li>/g,
      ),
    ]
      .map((x) => [x[1], x[2]]);
    assert.equal(flags.length, 3, JSON.stringify(flags));
    assert.match(flags[0]![1]!, /^peak memory 2\d\d\.\d MiB is 1\d% of the 2\.0 GiB requested$/);
    assert.equal(flags[1]![0], "hog[s=&lt;b&gt;&amp;&#39;c&quot;]");
    assert.match(
      flags[2]![1]!,
      /^used 0\.0 of the 2 cores requested \(CPU \d+ms in 1\.\ds\)$/,
    );
    assert.ok(html.includes(
      "Flagged: peak memory below 25% of the memory requested, or CPU time / wall time below 50% of the cores requested (2 cores or more, tasks of 1 s or longer).",
    ));
  });
});

Deno.test("usage: a benchmark file is no output: a new path does not run the task again, a bad path is a plan error", async () => {
  await withTemp(async (ws) => {
    const app = (benchmark: string) => ({
      ferry: 1,
      name: "b",
      apps: { t: { outputs: { o: "o.txt" }, benchmark, shell: "echo > ${{ outputs.o }}" } },
    });
    const wf = await writeWorkflow(ws, app("b1.tsv"));
    assert.equal((await ferryRun([wf])).code, 0);
    await writeWorkflow(ws, app("b2.tsv"));
    const again = await ferryRun([wf]);
    assert.match(again.stderr, /^plan: 0 to run, 1 cached$/m);
    assert.ok(!(await Deno.stat(join(ws, "b2.tsv")).catch(() => undefined)), "not written: cached");
    await Deno.remove(join(ws, "b1.tsv"));
    assert.match((await ferryRun([wf])).stderr, /^plan: 0 to run, 1 cached$/m);
    // A folder where the file goes: the task still succeeds, its stderr log says why.
    await Deno.mkdir(join(ws, "b3.tsv"));
    await writeWorkflow(ws, app("b3.tsv"));
    const blocked = await ferryRun(["--rerun", "t", wf]);
    assert.equal(blocked.code, 0, blocked.stderr);
    const log = join(runDirOf(blocked), "tasks", taskDirName("t"), "attempt-1", "stderr.log");
    assert.equal(
      await Deno.readTextFile(log),
      `ferry: Cannot write benchmark "b3.tsv": Is a directory (os error 21): rename '${ws}/b3.tsv.ferry-tmp' -> '${ws}/b3.tsv'\n`,
    );
    assert.deepEqual(await walk(ws, "b3.tsv").catch(() => []), []);
    assert.ok(!(await Deno.stat(join(ws, "b3.tsv.ferry-tmp")).catch(() => undefined)));
    for (
      const [path, message] of [
        [
          "../up.tsv",
          'error[output-outside-workspace]: Cannot write benchmark "../up.tsv" of task t: it must be a file in the workspace',
        ],
        [
          ".ferry/state.db",
          `error[reserved-output]: Cannot write benchmark ".ferry/state.db" of task t: ferry's own folder .ferry is reserved`,
        ],
      ]
    ) {
      await writeWorkflow(ws, app(path!));
      const bad = await ferryRun([wf], {}, "plan");
      assert.equal(bad.code, 2, bad.stderr);
      assert.ok(bad.stderr.includes(`workflow.yaml:`), bad.stderr);
      assert.ok(bad.stderr.includes(message!), bad.stderr);
    }
  });
});
