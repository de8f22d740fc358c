/**
 * Re-running through `ferry plan` and `ferry run`: each reason a task runs
 * again, `touch` without a change (no re-run), a deleted output (it and its
 * dependants re-run, nothing else), `--rerun`, `--no-cache`, `cache:` in the
 * workflow, and the workspace lock. A ledger outside the workspace counts
 * which tasks really ran.
 * @module
 */

import assert from "node:assert/strict";
import { hostname } from "node:os";
import { join } from "node:path";
import { ferry, ferryRun, withTemp, writeWorkflow } from "./_run.ts";
import { startHttpServer } from "./_http_server.ts";

interface Setup {
  readonly ws: string;
  readonly wf: string;
  readonly ledger: string;
}

/** A chain prep → (score[a], score[b]) → total, plus an independent side app. */
function workflow(ledger: string, o: {
  command?: string;
  env?: string;
  version?: string;
  cache?: unknown;
} = {}) {
  const log = `echo "\${FERRY_TASK_ID}" >> ${ledger}`;
  return {
    ferry: 1,
    name: "reruns",
    params: { scale: 2, samples: ["a", "b"] },
    apps: {
      prep: {
        inputs: { raw: "data/raw.txt" },
        outputs: { clean: "work/clean.txt" },
        env: { MODE: o.env ?? "fast" },
        ...(o.version !== undefined ? { version: o.version } : {}),
        ...(o.cache !== undefined ? { cache: o.cache } : {}),
        shell: `${log}; ${o.command ?? "tr a-z A-Z"} < \${{ inputs.raw }} > \${{ outputs.clean }}`,
      },
      score: {
        for_each: { s: "${{ params.samples }}" },
        inputs: { clean: "${{ apps.prep.outputs.clean }}" },
        outputs: { score: "work/score-${{ s }}.txt" },
        shell:
          `${log}; echo \${{ s }} "$(wc -c < \${{ inputs.clean }})" \${{ params.scale }} > \${{ outputs.score }}`,
      },
      total: {
        inputs: { scores: "${{ apps.score.outputs.score }}" },
        outputs: { total: "total.txt" },
        shell: `${log}; cat \${{ inputs.scores }} > \${{ outputs.total }}`,
      },
      side: {
        outputs: { note: "side.txt" },
        shell: `${log}; echo side > \${{ outputs.note }}`,
      },
    },
  };
}

/** A workspace `ws` in a fresh temporary directory that also holds the ledger; both removed after `fn`. */
async function withWorkspace(fn: (ws: string) => Promise<void>): Promise<void> {
  await withTemp(async (dir) => {
    await Deno.mkdir(join(dir, "ws"));
    await fn(join(dir, "ws"));
  });
}

async function setup(ws: string): Promise<Setup> {
  const ledger = join(ws, "..", "ledger");
  await Deno.mkdir(join(ws, "data"));
  await Deno.writeTextFile(join(ws, "data/raw.txt"), "hello\n");
  const wf = await writeWorkflow(ws, workflow(ledger));
  return { ws, wf, ledger };
}

/** The `[cached]` / `[run: why]` mark of each task in `ferry plan`. */
async function marks(wf: string, args: string[] = []): Promise<Record<string, string>> {
  const r = await ferryRun([...args, wf], {}, "plan");
  assert.equal(r.code, 0, r.stderr);
  const out: Record<string, string> = {};
  for (const m of r.stdout.matchAll(/^ {2}(\S+)(?: {2}"[^"]*")? {2}\[(.*)\]$/gm)) {
    out[m[1]!] = m[2]!;
  }
  return out;
}

/** Run, and return which tasks ran (from the ledger, which is then emptied). */
async function ran(s: Setup, args: string[] = []): Promise<string[]> {
  await Deno.writeTextFile(s.ledger, "");
  const r = await ferryRun([...args, s.wf]);
  assert.equal(r.code, 0, r.stderr);
  return (await Deno.readTextFile(s.ledger)).trim().split("\n").filter(Boolean).sort();
}

const ALL = ["prep", "score[s=a]", "score[s=b]", "side", "total"];
const CACHED = Object.fromEntries(ALL.map((t) => [t, "cached"]));

Deno.test("a second run does nothing; touch without a change does nothing either", async () => {
  await withWorkspace(async (dir) => {
    const s = await setup(dir);
    assert.deepEqual(await marks(s.wf), Object.fromEntries(ALL.map((t) => [t, "run: new"])));
    assert.deepEqual(await ran(s), ALL);
    assert.deepEqual(await marks(s.wf), CACHED);
    assert.deepEqual(await ran(s), []);
    const r = await ferryRun([s.wf]);
    assert.match(r.stderr, /^plan: 0 to run, 5 cached$/m);
    assert.match(r.stderr, /^done: 0 succeeded, 5 cached, 0 failed in /m);
    // New mtime, same bytes: the hash is read again and matches.
    const later = new Date(Date.now() + 5000);
    await Deno.utime(join(dir, "data/raw.txt"), later, later);
    await Deno.utime(join(dir, "work/clean.txt"), later, later);
    assert.deepEqual(await marks(s.wf), CACHED);
    assert.deepEqual(await ran(s), []);
  });
});

Deno.test("each reason to run again is named, and only the task and what depends on it run", async () => {
  await withWorkspace(async (dir) => {
    const s = await setup(dir);
    await ran(s);
    const downstream = {
      "score[s=a]": "may run: prep runs first",
      "score[s=b]": "may run: prep runs first",
      total: "may run: score[s=a] may run first",
      side: "cached",
    };

    await Deno.writeTextFile(join(dir, "data/raw.txt"), "hello world\n");
    assert.deepEqual(await marks(s.wf), { prep: "run: input raw changed", ...downstream });
    assert.deepEqual(await ran(s), ["prep", "score[s=a]", "score[s=b]", "total"]);

    await writeWorkflow(dir, workflow(s.ledger, { command: "tr a-z A-Z | rev" }));
    assert.deepEqual(await marks(s.wf), { prep: "run: command changed", ...downstream });
    // The scores count bytes: reversed text has as many, so their outputs came out the same
    // and total, which may run, was found valid once they had run.
    assert.deepEqual(await ran(s), ["prep", "score[s=a]", "score[s=b]"]);

    await writeWorkflow(dir, workflow(s.ledger, { command: "tr a-z A-Z | rev", env: "slow" }));
    assert.deepEqual(await marks(s.wf), { prep: "run: env MODE changed", ...downstream });
    await ran(s);

    await writeWorkflow(
      dir,
      workflow(s.ledger, { command: "tr a-z A-Z | rev", env: "slow", version: "2" }),
    );
    assert.deepEqual(await marks(s.wf), { prep: "run: version changed", ...downstream });
    await ran(s);

    assert.deepEqual(await marks(s.wf, ["--param", "scale=3"]), {
      ...CACHED,
      "score[s=a]": "run: param scale changed",
      "score[s=b]": "run: param scale changed",
      total: "may run: score[s=a] runs first",
    });
  });
});

Deno.test("a deleted or edited output re-runs its task and its dependants only", async () => {
  await withWorkspace(async (dir) => {
    const s = await setup(dir);
    await ran(s);
    await Deno.remove(join(dir, "work/score-b.txt"));
    assert.deepEqual(await marks(s.wf), {
      ...CACHED,
      "score[s=b]": "run: output score missing",
      total: "may run: score[s=b] runs first",
    });
    // score[s=b] makes the same file again, so total finds its inputs unchanged.
    assert.deepEqual(await ran(s), ["score[s=b]"]);
    await Deno.writeTextFile(join(dir, "total.txt"), "tampered\n");
    assert.deepEqual(await marks(s.wf), { ...CACHED, total: "run: output total modified" });
    assert.deepEqual(await ran(s), ["total"]);
    assert.equal(await Deno.readTextFile(join(dir, "total.txt")), "a 6 2\nb 6 2\n");
  });
});

Deno.test("an upstream task that re-runs with the same result does not re-run what depends on it", async () => {
  await withWorkspace(async (dir) => {
    const s = await setup(dir);
    await ran(s);
    // Another command with the same output: prep runs, its output is unchanged, the rest is skipped.
    await writeWorkflow(dir, workflow(s.ledger, { command: "tr 'a-z' 'A-Z'" }));
    assert.deepEqual(await ran(s), ["prep"]);
  });
});

/**
 * Plan, then run: the plan's marks and the run's first line, and which tasks ran. Every task
 * marked to run ran, no cached one did, and the rest ran only where marked "may run".
 */
async function planThenRun(s: Setup, args: string[] = []) {
  const planned = await marks(s.wf, args);
  await Deno.writeTextFile(s.ledger, "");
  const r = await ferryRun([...args, s.wf]);
  assert.equal(r.code, 0, r.stderr);
  const ran = (await Deno.readTextFile(s.ledger)).trim().split("\n").filter(Boolean).sort();
  const marked = (prefix: string) =>
    Object.keys(planned).filter((t) => planned[t]!.startsWith(prefix)).sort();
  assert.deepEqual(marked("run:").filter((t) => !ran.includes(t)), [], "to run, yet skipped");
  assert.deepEqual(ran.filter((t) => planned[t] === "cached"), [], "cached, yet ran");
  assert.deepEqual(
    ran.filter((t) => !planned[t]!.startsWith("may run:") && !planned[t]!.startsWith("run:")),
    [],
  );
  return { planned, line: r.stderr.split("\n")[0], ran };
}

Deno.test("the plan says what the run does: to run runs, cached does not, may run runs only if what it reads changed", async () => {
  await withWorkspace(async (dir) => {
    const s = await setup(dir);
    assert.deepEqual(await planThenRun(s), {
      planned: Object.fromEntries(ALL.map((t) => [t, "run: new"])),
      line: "plan: 5 to run, 0 cached",
      ran: ALL,
    });
    // Another command with the same output: the scores may run, and do not (early cutoff).
    await writeWorkflow(dir, workflow(s.ledger, { command: "tr 'a-z' 'A-Z'" }));
    assert.deepEqual(await planThenRun(s), {
      planned: {
        prep: "run: command changed",
        "score[s=a]": "may run: prep runs first",
        "score[s=b]": "may run: prep runs first",
        total: "may run: score[s=a] may run first",
        side: "cached",
      },
      line: "plan: 1 to run, 3 may run, 1 cached",
      ran: ["prep"],
    });
    // A param the scores read: they run; total may, and does, since their outputs changed.
    assert.deepEqual(await planThenRun(s, ["--param", "scale=3"]), {
      planned: {
        prep: "cached",
        "score[s=a]": "run: param scale changed",
        "score[s=b]": "run: param scale changed",
        total: "may run: score[s=a] runs first",
        side: "cached",
      },
      line: "plan: 2 to run, 1 may run, 2 cached",
      ran: ["score[s=a]", "score[s=b]", "total"],
    });
    // What depends on a task that may run but also changed itself runs for sure.
    await Deno.writeTextFile(join(dir, "total.txt"), "tampered\n");
    assert.deepEqual(await planThenRun(s, ["--param", "scale=3", "--rerun", "prep"]), {
      planned: {
        prep: "run: --rerun",
        "score[s=a]": "may run: prep runs first",
        "score[s=b]": "may run: prep runs first",
        total: "run: output total modified",
        side: "cached",
      },
      line: "plan: 2 to run, 2 may run, 1 cached",
      ran: ["prep", "total"],
    });
  });
});

Deno.test("a task that only waits for another (after:) stays cached when that one runs: it reads nothing of it", async () => {
  await withWorkspace(async (ws) => {
    const ledger = join(ws, "..", "ledger");
    const log = `echo "\${FERRY_TASK_ID}" >> ${ledger}`;
    const write = (word: string) =>
      writeWorkflow(ws, {
        ferry: 1,
        name: "after",
        apps: {
          first: { outputs: { o: "first.txt" }, shell: `${log}; echo ${word} > \${{ outputs.o }}` },
          then: {
            after: ["first"],
            outputs: { o: "then.txt" },
            shell: `${log}; echo > \${{ outputs.o }}`,
          },
        },
      });
    const s = { ws, wf: await write("one"), ledger };
    await planThenRun(s);
    await write("two");
    assert.deepEqual(await planThenRun(s), {
      planned: { first: "run: command changed", then: "cached" },
      line: "plan: 1 to run, 1 cached",
      ran: ["first"],
    });
  });
});

Deno.test("a task reading a remote input may run: the plan asks no server, the run runs it only when the file changed", async () => {
  const http = await startHttpServer({ files: { "/words.txt": "alpha\n" } });
  try {
    await withWorkspace(async (ws) => {
      const ledger = join(ws, "..", "ledger");
      const log = `echo "\${FERRY_TASK_ID}" >> ${ledger}`;
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "remote",
        apps: {
          fetch: {
            inputs: { words: `${http.origin}/words.txt` },
            outputs: { o: "lines.txt" },
            shell: `${log}; wc -l < \${{ inputs.words }} > \${{ outputs.o }}`,
          },
          count: {
            inputs: { lines: "${{ apps.fetch.outputs.o }}" },
            outputs: { n: "n.txt" },
            shell: `${log}; cat \${{ inputs.lines }} > \${{ outputs.n }}`,
          },
        },
      });
      const s = { ws, wf, ledger };
      assert.deepEqual((await planThenRun(s)).ran, ["count", "fetch"]);
      const unsure = {
        fetch: "may run: input words is checked with its source first",
        count: "may run: fetch may run first",
      };
      const line = "plan: 0 to run, 2 may run, 0 cached";
      assert.deepEqual(await planThenRun(s), { planned: unsure, line, ran: [] });
      // Another file of as many lines: fetch runs, and count finds what it reads unchanged.
      http.setFile("/words.txt", "omega\n");
      assert.deepEqual(await planThenRun(s), { planned: unsure, line, ran: ["fetch"] });
    });
  } finally {
    await http.close();
  }
});

Deno.test("--rerun, --no-cache, cache: false and cache: { ignore } decide as asked", async () => {
  await withWorkspace(async (dir) => {
    const s = await setup(dir);
    await ran(s);
    assert.deepEqual(await marks(s.wf, ["--rerun", "score[s=a]"]), {
      ...CACHED,
      "score[s=a]": "run: --rerun",
      total: "may run: score[s=a] runs first",
    });
    assert.deepEqual(await ran(s, ["--rerun", "prep"]), ["prep"]); // same output: the rest skipped
    assert.deepEqual(await ran(s, ["--no-cache"]), ALL);
    const bad = await ferryRun(["--rerun", "prepp", s.wf]);
    assert.equal(bad.code, 2);
    assert.equal(
      bad.stderr,
      'ferry: Cannot rerun "prepp": no app or task of that name: did you mean "prep"?\n',
    );

    await writeWorkflow(dir, workflow(s.ledger, { cache: false }));
    assert.equal((await marks(s.wf)).prep, "run: cache: false");
    await writeWorkflow(dir, workflow(s.ledger, { cache: { ignore: ["env.MODE"] }, env: "x" }));
    await ran(s);
    await writeWorkflow(dir, workflow(s.ledger, { cache: { ignore: ["env.MODE"] }, env: "y" }));
    assert.equal((await marks(s.wf)).prep, "cached");
  });
});

Deno.test("one run per workspace: a second run is refused naming the first; a dead holder's lock is taken over", async () => {
  await withWorkspace(async (dir) => {
    const wf = await writeWorkflow(dir, {
      ferry: 1,
      name: "lock",
      apps: { slow: { outputs: { o: "o.txt" }, shell: "sleep 2; echo > ${{ outputs.o }}" } },
    });
    const first = ferry([wf]).spawn();
    const lock = join(dir, ".ferry/lock");
    for (let i = 0; i < 200; i++) {
      try {
        Deno.statSync(lock);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    const second = await ferryRun([wf]);
    assert.equal(second.code, 2);
    const holder = JSON.parse(await Deno.readTextFile(lock));
    assert.equal(holder.pid, first.pid);
    assert.match(
      second.stderr,
      new RegExp(
        `^ferry: Cannot run: another ferry run is using this workspace: pid ${first.pid} on host ${hostname()}, started \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC \\(run ${holder.runId}\\)\\. If it is gone \\(another host, or a reused pid\\), remove ${lock}\\n$`,
      ),
    );
    assert.equal((await first.output()).code, 0);
    // The lock went with its run.
    assert.throws(() => Deno.statSync(lock));

    // A lock left by a process that is gone (kill -9) is taken over with a warning.
    await Deno.writeTextFile(
      lock,
      JSON.stringify({ pid: 2 ** 22 + 7, host: hostname(), startedAt: 0, runId: "old-run" }),
    );
    const third = await ferryRun([wf, "--rerun", "slow"]);
    assert.equal(third.code, 0, third.stderr);
    assert.match(
      third.stderr,
      /^ferry: warning: took over a stale lock: pid 4194311 on host .*, started 1970-01-01 00:00:00 UTC \(run old-run\) is no longer running$/m,
    );
  });
});
