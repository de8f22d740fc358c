import assert from "node:assert/strict";
import { join } from "node:path";
import type { PilotSettings } from "../../dsl/model.ts";
import { PILOT_DEFAULTS } from "../../dsl/to_model.ts";
import { fakeDialect, fakeExecutor, fakeJob, until, within } from "./_fake_scheduler.ts";
import type { Dialect, Invocation } from "./dialect.ts";
import { PilotProvider } from "./pilot.ts";
import { Block, blocksToSubmit } from "./pilot_blocks.ts";
import { pilotQueueDir } from "./pilot_script.ts";
import type { CommandRunner, Ran } from "./runner.ts";
import type { RootedJob } from "./scheduler_job.ts";
import type { JobResult, JobSpec } from "./types.ts";
import { builtSpawner } from "./spawner_build.ts";
import { wrapperFiles } from "./wrapper.ts";
import {
  descendants,
  killAll,
  processesWhere,
  processGone,
  serviceMissing,
} from "../../tests/_services.ts";

/**
 * A scheduler whose jobs are real processes on this host: `fsub` starts the block script with
 * bash in a process group of its own, `fstat` says R while it runs (C once it ended, X once
 * cancelled), `fdel` sends SIGTERM to the group. The blocks run the real workers (pilot.sh).
 */
class ProcessScheduler implements CommandRunner {
  readonly where = "this host";
  readonly jobs = new Map<string, { child: Deno.ChildProcess; state: "R" | "C" | "X" }>();
  submitted = 0;

  run(inv: Invocation): Promise<Ran> {
    const [cmd, ...args] = inv.argv;
    if (cmd === "fsub") {
      const id = String(100 + ++this.submitted);
      const child = new Deno.Command("setsid", {
        args: ["bash", args.at(-1)!],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const job = { child, state: "R" as "R" | "C" | "X" };
      void child.status.then(() => {
        if (job.state === "R") job.state = "C";
      });
      this.jobs.set(id, job);
      return Promise.resolve({ code: 0, stdout: `${id}\n`, stderr: "" });
    }
    if (cmd === "fstat") {
      const lines = args.filter((id) => this.jobs.has(id)).map((id) =>
        `${id} ${this.jobs.get(id)!.state}`
      );
      return Promise.resolve({ code: 0, stdout: lines.join("\n") + "\n", stderr: "" });
    }
    if (cmd === "fdel") {
      for (const id of args) this.kill(id, "SIGTERM");
      return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    }
    return Promise.resolve({ code: 127, stdout: "", stderr: `${cmd}: command not found` });
  }

  /**
   * Signal job `id`'s whole process group, as a scheduler's cancel would; SIGKILL (a node
   * failure) reaches every process of the job, its tasks' own sessions too, as Slurm's process
   * tracking does.
   */
  kill(id: string, signal: Deno.Signal): void {
    const job = this.jobs.get(id);
    if (!job || job.state !== "R") return;
    job.state = "X";
    const all = signal === "SIGKILL" ? descendants(job.child.pid) : [];
    try {
      Deno.kill(-job.child.pid, signal);
    } catch { /* ended */ }
    killAll(all, signal);
  }

  /** Wait until every job's processes ended. */
  async ended(): Promise<void> {
    await Promise.all([...this.jobs.values()].map((j) => j.child.status));
  }
}

interface Setup {
  readonly dir: string;
  readonly sched: ProcessScheduler;
  readonly provider: PilotProvider;
}

async function withPilots(
  pilot: Partial<PilotSettings>,
  fn: (s: Setup) => Promise<void>,
  workerInit?: (dir: string) => string,
  dialect: Dialect = fakeDialect(),
  spawner?: string | null,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-pilot-" });
  const sched = new ProcessScheduler();
  const ex = {
    ...fakeExecutor({ bundle: "pilot", ...(workerInit ? { workerInit: workerInit(dir) } : {}) }),
    pilot: { ...PILOT_DEFAULTS, idleTimeout: 30, ...pilot },
  };
  const provider = new PilotProvider(dialect, ex, {
    runner: sched,
    pollMs: 100,
    heartbeatDeadMs: 4000,
    ...(spawner !== undefined ? { spawner } : {}),
  });
  try {
    await fn({ dir, sched, provider });
  } finally {
    await provider.close();
    await sched.ended();
    await Deno.remove(dir, { recursive: true });
  }
}

const never = new AbortController().signal;

/**
 * How a worker starts a plain attempt: with ferry's compiled spawner, copied into the queue (built
 * by `deno task build`; these tests are skipped loudly without it, failed under CI=true), or
 * with a fork of itself (a queue without one).
 */
const BUILT = builtSpawner();
if (BUILT === undefined) {
  serviceMissing(
    "pilot spawned-attempt",
    "the compiled spawner is not built (deno task build, which needs cc)",
  );
}
const MODES = [
  { name: "forked", spawner: null, measuredBy: "bash-times" },
  ...(BUILT !== undefined ? [{ name: "spawned", spawner: BUILT, measuredBy: "wait4" }] : []),
] as const;

Deno.test("pilots: tasks run on the workers of two blocks; each result says where", async () => {
  await withPilots({ workersPerNode: 2, initBlocks: 2, maxBlocks: 2 }, async (s) => {
    const n = 60;
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const job = fakeJob(s.dir, `t${i}`, {
          run: { kind: "shell", script: `echo ${i} > out.txt` },
        });
        return s.provider.execute(job, never).then((r) => ({ r, job }));
      }),
    );
    const ms = performance.now() - t0;
    const blocks = new Set<string>();
    for (const { r, job } of results) {
      assert.equal(r.outcome, "succeeded", r.message);
      assert.equal(r.jobId, r.pilot?.block);
      assert.match(r.pilot!.worker, new RegExp(`^${r.host}/[12]$`));
      assert.equal(r.pilot!.node, r.host);
      blocks.add(r.pilot!.block);
      assert.equal(Deno.readTextFileSync(join(job.dir, "out.txt")), `${job.taskId.slice(1)}\n`);
    }
    assert.deepEqual([...blocks].sort(), ["101", "102"]);
    assert.equal(s.sched.submitted, 2);
    const views = s.provider.pilotBlocks();
    assert.deepEqual(views.map((b) => [b.id, b.state, b.workers, b.busy]), [
      ["101", "idle", 2, 0],
      ["102", "idle", 2, 0],
    ]);
    assert.equal(views.reduce((d, b) => d + b.done, 0), n);
    console.log(`${n} tasks, 2 blocks × 2 workers (blocks starting included): ${ms.toFixed(0)} ms`);
    await s.provider.close();
    assert.deepEqual(s.provider.pilotBlocks(), []);
    assert.deepEqual([...s.sched.jobs.values()].map((j) => j.state), ["X", "X"]);
  });
});

Deno.test("pilots: blocks are submitted before every task's files are written; a task whose files cannot be written fails with why", async () => {
  await withPilots({ workersPerNode: 2, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    const n = 300;
    const jobs = Array.from({ length: n }, (_, i) => fakeJob(s.dir, `t${i}`));
    // A task whose attempt directory cannot be made: its place is a file.
    Deno.mkdirSync(join(s.dir, "tasks"), { recursive: true });
    Deno.writeTextFileSync(join(s.dir, "tasks", "bad"), "");
    jobs.splice(1, 0, fakeJob(s.dir, "bad"));
    const last = wrapperFiles(jobs.at(-1)!.root).script;
    let lastWrittenAtSubmit: boolean | undefined;
    const run = s.sched.run.bind(s.sched);
    s.sched.run = (inv) => {
      if (inv.argv[0] === "fsub") lastWrittenAtSubmit ??= exists(last);
      return run(inv);
    };
    const results = await Promise.all(jobs.map((j) => s.provider.execute(j, never)));
    assert.equal(lastWrittenAtSubmit, false);
    assert.equal(results[1]!.outcome, "failed");
    assert.match(results[1]!.message!, /^Cannot prepare the job of "bad": Not a directory/);
    assert.deepEqual(
      results.filter((r) => r.outcome === "succeeded").length,
      n,
      results.find((r, i) => i !== 1 && r.outcome !== "succeeded")?.message,
    );
    assert.equal(s.sched.submitted, 1);
  });
});

/**
 * The fake dialect with a launcher for blocks of several nodes: node I is `bash SCRIPT node I
 * fake-I` in a process group of its own (its pid in `SCRIPT.node-I`, so that a test can kill
 * it like a failing node); the block's shell passes a SIGTERM on to every node.
 */
function multiNodeDialect(): Dialect {
  return {
    ...fakeDialect(),
    perNode: (nodes, _cores, script) =>
      [
        "ferry_nodes=()",
        `trap 'kill -TERM -- "\${ferry_nodes[@]/#/-}" 2>/dev/null; wait; exit 143' TERM`,
        `for ((i = 1; i <= ${nodes}; i++)); do`,
        `  setsid bash '${script}' node "$i" "fake-$i" &`,
        '  ferry_nodes+=("$!")',
        `  echo "$!" > '${script}.node-'"$i"`,
        "done",
        "wait",
      ].join("\n"),
  };
}

Deno.test("pilots: a block of 2 nodes runs worker_init and its workers on each; slots count across nodes", async () => {
  await withPilots(
    { nodesPerBlock: 2, workersPerNode: 2, initBlocks: 1, maxBlocks: 1 },
    async (s) => {
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) =>
        s.provider.execute(
          fakeJob(s.dir, `t${i}`, {
            run: { kind: "shell", script: 'sleep 0.05; test "$PILOT_INIT" = yes' },
          }),
          never,
        )));
      const nodes = new Set<string>();
      for (const r of results) {
        assert.equal(r.outcome, "succeeded", r.message);
        assert.equal(r.pilot?.block, "101");
        assert.equal(r.host, r.pilot?.node);
        assert.match(r.pilot!.worker, r.host === "fake-1" ? /^fake-1\/[12]$/ : /^fake-2\/[34]$/);
        nodes.add(r.host);
      }
      assert.deepEqual([...nodes].sort(), ["fake-1", "fake-2"]);
      assert.equal(s.sched.submitted, 1);
      assert.deepEqual(s.provider.pilotBlocks().map((b) => [b.id, b.workers]), [["101", 4]]);
      // worker_init once on each node, each in its node's shell (its pid).
      const inits = Deno.readTextFileSync(join(s.dir, "init.log")).trim().split("\n");
      assert.equal(inits.length, 2);
      assert.notEqual(inits[0], inits[1]);
    },
    // (It may change the script's arguments: the node's number and name were kept before it.)
    (dir) => `echo "$$" >> '${dir}/init.log'; export PILOT_INIT=yes; set -- clobbered`,
    multiNodeDialect(),
  );
});

Deno.test("pilots: a node of a block that dies gives its tasks back as 'pilot lost'; the other node goes on", async () => {
  await withPilots(
    { nodesPerBlock: 2, workersPerNode: 1, initBlocks: 1, maxBlocks: 1 },
    async (s) => {
      // Each task notes its pid (its process group's, the wrapper's own group for the task).
      const jobs = ["a", "b"].map((id) =>
        fakeJob(s.dir, id, { run: { kind: "shell", script: 'echo "$$" > task.pid; sleep 60' } })
      );
      const long = jobs.map((job) => s.provider.execute(job, never).then((r) => ({ r, job })));
      const started = (j: RootedJob) => {
        try {
          return Deno.readTextFileSync(join(j.dir, "task.pid")).endsWith("\n");
        } catch {
          return false;
        }
      };
      await until(() => jobs.every(started), 10_000);
      const script = join(pilotQueueDir(s.dir, "cluster"), "blocks", "b1.sh");
      const node2 = Number(Deno.readTextFileSync(`${script}.node-2`).trim());
      Deno.kill(-node2, "SIGKILL");
      const { r: lost, job } = await Promise.race(long);
      // A node that fails takes its tasks' processes with it.
      Deno.kill(-Number(Deno.readTextFileSync(join(job.dir, "task.pid"))), "SIGKILL");
      assert.equal(lost.outcome, "failed");
      assert.equal(lost.retryable, true);
      assert.equal(lost.message, "pilot lost: worker fake-2/2 of block 101 stopped answering");
      assert.deepEqual(lost.pilot, { block: "101", worker: "fake-2/2", node: "fake-2" });
      // Node 1's worker still runs its task, and takes the next once it is free.
      assert.deepEqual(s.provider.pilotBlocks().map((b) => [b.id, b.state, b.busy]), [[
        "101",
        "running",
        1,
      ]]);
    },
    undefined,
    multiNodeDialect(),
  );
});

Deno.test("pilots: never more blocks than max_blocks", async () => {
  await withPilots({ workersPerNode: 1, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    const jobs = Array.from(
      { length: 5 },
      (_, i) =>
        s.provider.execute(
          fakeJob(s.dir, `t${i}`, { run: { kind: "shell", script: "true" } }),
          never,
        ),
    );
    for (const r of await Promise.all(jobs)) assert.equal(r.outcome, "succeeded", r.message);
    assert.equal(s.sched.submitted, 1);
  });
});

Deno.test("pilots: worker_init runs once per block, not once per task", async () => {
  await withPilots(
    { workersPerNode: 2, initBlocks: 1, maxBlocks: 1 },
    async (s) => {
      const rs = await Promise.all(Array.from({ length: 8 }, (_, i) =>
        s.provider.execute(
          fakeJob(s.dir, `t${i}`, {
            run: { kind: "shell", script: 'test "$PILOT_INIT" = yes' },
            workerInit: "exit 3", // the executor's, in the block; never in an attempt
          }),
          never,
        )));
      for (const r of rs) assert.equal(r.outcome, "succeeded", r.message);
      assert.equal(Deno.readTextFileSync(join(s.dir, "init.log")), "ran\n");
    },
    (dir) => `echo ran >> '${dir}/init.log'; export PILOT_INIT=yes`,
  );
});

Deno.test("pilots: a task with node-local scratch runs there and its outputs come back", async () => {
  await withPilots({ workersPerNode: 1, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    const scratch = join(s.dir, "node-scratch");
    Deno.mkdirSync(scratch);
    const job = fakeJob(s.dir, "t", {
      run: { kind: "shell", script: "pwd > out.txt" },
      scratch,
    });
    const r = await s.provider.execute(job, never);
    assert.equal(r.outcome, "succeeded", r.message);
    const ranIn = Deno.readTextFileSync(join(job.dir, "out.txt")).trim();
    assert.ok(ranIn.startsWith(scratch + "/ferry-"), ranIn);
  });
});

Deno.test("pilots: two tasks with node-local scratch at once on one block get scratch of their own", async () => {
  await withPilots({ workersPerNode: 2, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    const scratch = join(s.dir, "node-scratch");
    Deno.mkdirSync(scratch);
    // Both are attempt 1 of their task: the same attempt directory's name, the same block.
    const jobs = ["a", "b"].map((id) =>
      fakeJob(s.dir, id, { run: { kind: "shell", script: "pwd > out.txt; sleep 0.5" }, scratch })
    );
    const rs = await Promise.all(jobs.map((j) => s.provider.execute(j, never)));
    for (const r of rs) assert.equal(r.outcome, "succeeded", r.message);
    assert.notEqual(rs[0]!.pilot?.worker, rs[1]!.pilot?.worker);
    const dirs = jobs.map((j) => Deno.readTextFileSync(join(j.dir, "out.txt")).trim());
    assert.notEqual(dirs[0], dirs[1]);
  });
});

for (const m of MODES) {
  Deno.test(`pilots (${m.name}): an attempt's file holds its own lines only, hostile values stay inert, usage is measured`, async () => {
    await withPilots(
      { workersPerNode: 1, initBlocks: 1, maxBlocks: 1 },
      async (s) => {
        const hostile = `a'b"c $(touch PWNED1) \`touch PWNED2\` \n x\\y ;touch PWNED3\r\u0007`;
        const job = fakeJob(s.dir, `t\n$(touch PWNED4)'`, {
          run: { kind: "shell", script: 'printf "%s" "$V" > v.txt' },
          env: { V: hostile },
        });
        const r = await s.provider.execute(job, never);
        assert.equal(r.outcome, "succeeded", r.message);
        assert.equal(Deno.readTextFileSync(join(job.dir, "v.txt")), hostile);
        for (const d of [s.dir, job.dir, job.root]) {
          assert.deepEqual([...Deno.readDirSync(d)].filter((e) => e.name.startsWith("PWNED")), []);
        }
        assert.equal(r.usage?.measuredBy, m.measuredBy);
        assert.equal(typeof r.usage?.userSeconds, "number");
        // The worker sourced the job wrapper's library once: the attempt's file does not hold it,
        // only its own lines and the same attempt as a request to the worker's spawner.
        const text = Deno.readTextFileSync(join(job.root, "task.sh"));
        assert.doesNotMatch(text, /ferry_transfer\(\)|ferry_begin\(\)/);
        assert.match(text, /^ferry_spawn_argv=\(bash -euo pipefail .*task-script\.sh'?\)$/m);
        assert.ok(text.length < 3000, `${text.length} characters`);
      },
      undefined,
      undefined,
      m.spawner,
    );
  });
}

for (const m of MODES) {
  Deno.test(`pilots (${m.name}): a worker runs a plain attempt itself: one process, its environment the task's only, a failed step before the task is its status`, async () => {
    await withPilots(
      { workersPerNode: 1, initBlocks: 1, maxBlocks: 1 },
      async (s) => {
        const script = 'echo "${FERRY_X-unset} $$ $PPID" > out.txt';
        const a = fakeJob(s.dir, "a", { run: { kind: "shell", script }, env: { FERRY_X: "a" } });
        const b = fakeJob(s.dir, "b", { run: { kind: "shell", script } });
        const ra = await s.provider.execute(a, never);
        const rb = await s.provider.execute(b, never);
        assert.equal(ra.outcome, "succeeded", ra.message);
        assert.equal(rb.outcome, "succeeded", rb.message);
        assert.equal(ra.usage?.measuredBy, m.measuredBy);
        const [xa, , parentA] = Deno.readTextFileSync(join(a.dir, "out.txt")).trim().split(" ");
        const [xb, , parentB] = Deno.readTextFileSync(join(b.dir, "out.txt")).trim().split(" ");
        // The variable was the first task's alone; both tasks are children of the worker itself.
        assert.deepEqual([xa, xb], ["a", "unset"]);
        assert.equal(parentA, parentB);
        assert.match(Deno.readTextFileSync(wrapperFiles(a.root).script), /^ferry_direct=1\n/);
        // A step before the task fails on the node (its directory became a file while the worker was
        // busy): the status says why, written once, by that step.
        const busy = s.provider.execute(
          fakeJob(s.dir, "busy", { run: { kind: "shell", script: "sleep 1" } }),
          never,
        );
        const c = fakeJob(s.dir, "c");
        const pc = s.provider.execute(c, never);
        await until(() => exists(wrapperFiles(c.root).script), 5000);
        Deno.removeSync(c.dir, { recursive: true });
        Deno.writeTextFileSync(c.dir, "");
        const [rbusy, rc] = await Promise.all([busy, pc]);
        assert.equal(rbusy.outcome, "succeeded", rbusy.message);
        assert.equal(rc.outcome, "failed");
        assert.equal(rc.message, `Cannot make the directories of "${c.dir}" on the node`);
        assert.equal(rc.exitCode, 1);
      },
      undefined,
      undefined,
      m.spawner,
    );
  });
}

for (const m of MODES) {
  Deno.test(`pilots (${m.name}): a command's words, environment, working directory and one log for both arrive as in its own shell`, async () => {
    await withPilots(
      { workersPerNode: 1, initBlocks: 1, maxBlocks: 1 },
      async (s) => {
        // Bytes, not characters, count in a request: a snowman is three.
        const hostile = `☃ a'b"c $(touch PWNED1) \`touch PWNED2\` \n x\\y ;touch PWNED3\r\u0007`;
        const root = join(s.dir, "tasks", "words", "attempt-1");
        const job = fakeJob(s.dir, "words", {
          run: {
            kind: "command",
            argv: [
              "sh",
              "-c",
              'printf "%s|%s|%s|%s\\n" "$1" "$PWD" "$V" "$#"; echo err >&2',
              "0",
              hostile,
            ],
          },
          env: { V: hostile },
          stderr: join(root, "stdout.log"),
        });
        const r = await s.provider.execute(job, never);
        assert.equal(r.outcome, "succeeded", r.message);
        assert.equal(r.usage?.measuredBy, m.measuredBy);
        assert.equal(
          Deno.readTextFileSync(job.stdout),
          `${hostile}|${job.dir}|${hostile}|1\nerr\n`,
        );
        for (const d of [s.dir, job.dir, job.root]) {
          assert.deepEqual([...Deno.readDirSync(d)].filter((e) => e.name.startsWith("PWNED")), []);
        }
        // PWD, as a program that is no shell sees it (a shell puts its own right).
        const env = fakeJob(s.dir, "env", {
          run: { kind: "command", argv: ["printenv", "PWD", "V"] },
          env: { V: "v" },
        });
        assert.equal((await s.provider.execute(env, never)).outcome, "succeeded");
        assert.equal(Deno.readTextFileSync(env.stdout), `${env.dir}\nv\n`);
      },
      // A block whose locale counts characters: the worker's requests must still count bytes.
      () => "export LC_ALL=C.UTF-8",
      undefined,
      m.spawner,
    );
  });

  Deno.test(`pilots (${m.name}): a program that cannot start fails with its shell's message and 127; the next task runs`, async () => {
    await withPilots(
      { workersPerNode: 1, initBlocks: 1, maxBlocks: 1 },
      async (s) => {
        const job = fakeJob(s.dir, "missing", {
          run: { kind: "command", argv: ["ferry-no-such-program", "a"] },
        });
        const r = await s.provider.execute(job, never);
        assert.equal(r.outcome, "failed");
        assert.equal(r.exitCode, 127);
        assert.match(
          Deno.readTextFileSync(job.stderr),
          /^\S+\/new\/t1: line \d+: exec: ferry-no-such-program: not found\n$/,
        );
        const next = await s.provider.execute(fakeJob(s.dir, "next"), never);
        assert.equal(next.outcome, "succeeded", next.message);
        assert.equal(next.usage?.measuredBy, m.measuredBy);
      },
      undefined,
      undefined,
      m.spawner,
    );
  });
}

Deno.test("pilots: a spawner that cannot run on the node leaves its workers forking", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-pilot-spawner-" });
  try {
    // Another machine's binary, as far as this node can tell: it does not run here.
    const foreign = join(dir, "spawner");
    Deno.writeTextFileSync(foreign, "#!/bin/sh\nexit 126\n");
    Deno.chmodSync(foreign, 0o755);
    await withPilots(
      { workersPerNode: 1, initBlocks: 1, maxBlocks: 1 },
      async (s) => {
        const t0 = performance.now();
        const r = await s.provider.execute(fakeJob(s.dir, "t"), never);
        assert.equal(r.outcome, "succeeded", r.message);
        assert.equal(r.usage?.measuredBy, "bash-times");
        assert.ok(performance.now() - t0 < 5000, "no wait for a spawner that never answers");
      },
      undefined,
      undefined,
      foreign,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "pilots (spawned): a spawner killed during a task gives the task back as lost; its worker forks the next",
  ignore: BUILT === undefined,
  fn: async () => {
    await withPilots(
      { workersPerNode: 1, initBlocks: 1, maxBlocks: 1 },
      async (s) => {
        const job = fakeJob(s.dir, "long", {
          run: { kind: "shell", script: "echo $$ > pid; sleep 60" },
        });
        const pending = s.provider.execute(job, never);
        const pidFile = join(job.dir, "pid");
        await until(() => exists(pidFile) && Deno.readTextFileSync(pidFile).endsWith("\n"), 10_000);
        killSpawner(s);
        const r = await pending;
        assert.equal(r.outcome, "failed");
        assert.equal(r.retryable, true);
        assert.equal(r.message, "lost with its worker's spawner, which ended during the task");
        // The task went with it (its whole group), and the worker goes on without a spawner.
        const pid = Number(Deno.readTextFileSync(pidFile));
        await until(() => processGone(pid), 5000);
        const next = await s.provider.execute(fakeJob(s.dir, "next"), never);
        assert.equal(next.outcome, "succeeded", next.message);
        assert.equal(next.usage?.measuredBy, "bash-times");
      },
      undefined,
      undefined,
      BUILT,
    );
  },
});

Deno.test({
  name:
    "pilots (spawned): a spawner killed while its worker is idle: the next task is forked, not lost",
  ignore: BUILT === undefined,
  fn: async () => {
    await withPilots(
      { workersPerNode: 1, initBlocks: 1, maxBlocks: 1 },
      async (s) => {
        const first = await s.provider.execute(fakeJob(s.dir, "first"), never);
        assert.equal(first.usage?.measuredBy, "wait4");
        const spawner = killSpawner(s);
        await until(() => processGone(spawner), 5000);
        const next = await s.provider.execute(fakeJob(s.dir, "next"), never);
        assert.equal(next.outcome, "succeeded", next.message);
        assert.equal(next.usage?.measuredBy, "bash-times");
      },
      undefined,
      undefined,
      BUILT,
    );
  },
});

/** SIGKILL the one spawner of a one-worker block's queue (its worker's); its pid. */
function killSpawner(s: Setup): number {
  const spawner = join(pilotQueueDir(s.dir, "cluster"), "spawner");
  const pids = processesWhere((p) => p.cmdline[0] === spawner).map((p) => p.pid);
  assert.equal(pids.length, 1, `one spawner for one worker: ${pids}`);
  Deno.kill(pids[0]!, "SIGKILL");
  return pids[0]!;
}

Deno.test("pilots: FERRY_TIME in a task's environment measures it with that timer", async () => {
  await withPilots({ workersPerNode: 1, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    const job = fakeJob(s.dir, "t", { env: { FERRY_TIME: "/usr/bin/time" } });
    const r = await s.provider.execute(job, never);
    assert.equal(r.outcome, "succeeded", r.message);
    assert.equal(r.usage?.measuredBy, "time");
    assert.ok((r.usage?.maxRssBytes ?? 0) > 0);
    // Its output file went with it.
    assert.deepEqual(
      [...Deno.readDirSync(job.root)].map((e) => e.name).filter((n) => n.includes("usage")),
      [],
    );
  });
});

for (const m of MODES) {
  Deno.test(`pilots (${m.name}): a task past its walltime is killed by its worker; the block runs the next`, async () => {
    await withPilots(
      { workersPerNode: 1, initBlocks: 1, maxBlocks: 1 },
      async (s) => {
        const slow = s.provider.execute(
          fakeJob(s.dir, "slow", {
            run: { kind: "shell", script: "sleep 60" },
            resources: { walltime: 1 },
          }),
          never,
        );
        const next = s.provider.execute(fakeJob(s.dir, "next"), never);
        const r = await slow;
        assert.equal(r.outcome, "timeout");
        assert.equal((await next).outcome, "succeeded");
        assert.equal((await next).pilot?.block, r.pilot?.block);
      },
      undefined,
      undefined,
      m.spawner,
    );
  });
}

for (const m of MODES) {
  Deno.test(`pilots (${m.name}): a cancelled task is stopped on its worker; a waiting one is taken back`, async () => {
    await withPilots(
      { workersPerNode: 1, initBlocks: 1, maxBlocks: 1 },
      async (s) => {
        const a = new AbortController(), b = new AbortController();
        const running = s.provider.execute(
          fakeJob(s.dir, "running", { run: { kind: "shell", script: "sleep 60" } }),
          a.signal,
        );
        await until(() => s.provider.pilotBlocks()[0]?.busy === 1, 10_000);
        const waiting = s.provider.execute(fakeJob(s.dir, "waiting"), b.signal);
        await new Promise((r) => setTimeout(r, 100)); // offered by now
        b.abort();
        a.abort();
        assert.equal((await waiting).outcome, "cancelled");
        const r = await running;
        assert.equal(r.outcome, "cancelled");
        assert.equal(r.signal, "SIGTERM");
      },
      undefined,
      undefined,
      m.spawner,
    );
  });
}

for (const m of MODES) {
  Deno.test(`pilots (${m.name}): a block killed mid-task gives its task back as a retryable 'pilot lost'`, async () => {
    await withPilots(
      { workersPerNode: 1, initBlocks: 1, maxBlocks: 1 },
      async (s) => {
        const job = fakeJob(s.dir, "long", { run: { kind: "shell", script: "sleep 60" } });
        const pending = s.provider.execute(job, never);
        await until(() => s.provider.pilotBlocks()[0]?.busy === 1, 10_000);
        s.sched.kill("101", "SIGKILL");
        const r: JobResult = await pending;
        assert.equal(r.outcome, "failed");
        assert.equal(r.retryable, true);
        assert.equal(r.message, "pilot lost: block 101 ended (X)");
        assert.equal(r.pilot?.block, "101");
        // The next attempt goes to a new block.
        const again = await s.provider.execute(fakeJob(s.dir, "long2"), never);
        assert.equal(again.outcome, "succeeded", again.message);
        assert.equal(again.pilot?.block, "102");
      },
      undefined,
      undefined,
      m.spawner,
    );
  });
}

Deno.test("pilots: a worker whose heartbeat stops (a hung node) gives its task back", async () => {
  await withPilots({ workersPerNode: 1, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    const pending = s.provider.execute(
      fakeJob(s.dir, "hung", { run: { kind: "shell", script: "sleep 60" } }),
      never,
    );
    await until(() => s.provider.pilotBlocks()[0]?.busy === 1, 10_000);
    const pgid = -s.sched.jobs.get("101")!.child.pid;
    Deno.kill(pgid, "SIGSTOP");
    try {
      const r = await pending;
      assert.equal(r.outcome, "failed");
      assert.equal(r.retryable, true);
      assert.match(r.message!, /^pilot lost: worker \S+\/1 of block 101 stopped answering$/);
    } finally {
      Deno.kill(pgid, "SIGCONT");
    }
  });
});

Deno.test("pilots: a claim its worker never wrote its name into gives the task back, run by nobody", async () => {
  await withPilots({ workersPerNode: 1, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    // As a worker that died between creating the claim and writing its name would leave it.
    const claimed = join(pilotQueueDir(s.dir, fakeExecutor().name), "claimed");
    Deno.mkdirSync(claimed, { recursive: true });
    Deno.writeTextFileSync(join(claimed, "t1"), "");
    const job = fakeJob(s.dir, "orphan", { run: { kind: "shell", script: "echo ran > ran.txt" } });
    const r = await within(s.provider.execute(job, never), 20_000);
    assert.equal(r.outcome, "failed");
    assert.equal(r.retryable, true);
    assert.equal(
      r.message,
      "pilot lost: a worker claimed the task and stopped before it wrote its name",
    );
    assert.deepEqual([...Deno.readDirSync(claimed)], []);
    assert.equal(await Deno.stat(join(job.dir, "ran.txt")).catch(() => undefined), undefined);
    // The next one runs.
    const again = await s.provider.execute(fakeJob(s.dir, "next"), never);
    assert.equal(again.outcome, "succeeded", again.message);
  });
});

Deno.test("pilots: idle workers end after idle_timeout, and their block leaves the queue", async () => {
  await withPilots(
    { workersPerNode: 2, initBlocks: 1, maxBlocks: 1, idleTimeout: 1 },
    async (s) => {
      const r = await s.provider.execute(fakeJob(s.dir, "t"), never);
      assert.equal(r.outcome, "succeeded", r.message);
      const t0 = Date.now();
      await until(() => s.provider.pilotBlocks().length === 0, 10_000);
      assert.ok(Date.now() - t0 >= 800, `ended ${Date.now() - t0} ms after its task`);
      // It ended by itself: ferry did not cancel it.
      assert.equal(s.sched.jobs.get("101")!.state, "C");
      // A later task gets a new block.
      const again = await s.provider.execute(fakeJob(s.dir, "t2"), never);
      assert.equal(again.pilot?.block, "102");
    },
  );
});

Deno.test("pilots: a queue directory that goes away fails the tasks with why, not the run", async () => {
  await withPilots({ workersPerNode: 1, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    const pending = s.provider.execute(
      fakeJob(s.dir, "t", { run: { kind: "shell", script: "sleep 60" } }),
      never,
    );
    await until(() => s.provider.pilotBlocks()[0]?.busy === 1, 10_000);
    const queue = join(s.dir, "pilot", "cluster");
    await Deno.remove(queue, { recursive: true });
    const r = await pending;
    assert.equal(r.outcome, "failed");
    assert.equal(r.retryable, true);
    assert.match(r.message!, new RegExp(`^Cannot use the pilot queue: .*${queue}`));
  });
});

Deno.test("pilots: blocks that end before any worker starts are not submitted forever", async () => {
  await withPilots(
    { workersPerNode: 1, initBlocks: 1, maxBlocks: 2 },
    async (s) => {
      const r = await s.provider.execute(fakeJob(s.dir, "t"), never);
      assert.equal(r.outcome, "failed");
      assert.equal(r.retryable, false);
      assert.equal(
        r.message,
        `pilot block: 3 blocks in a row ended before any worker started (the last, 103: C); see ${
          join(s.dir, "pilot", "cluster", "blocks", "b3.out")
        }`,
      );
      assert.equal(s.sched.submitted, 3);
    },
    () => "exit 1",
  );
});

/** A module of functions for the pilots' function workers, in `dir`. */
function functionModule(dir: string): string {
  const path = join(dir, "fns.ts");
  Deno.writeTextFileSync(
    path,
    [
      "let imported = (globalThis as Record<string, number>).ferryImports ?? 0;",
      "(globalThis as Record<string, number>).ferryImports = ++imported;",
      "export function where(a: { x: number; s?: string }) {",
      "  console.log(`out ${a.x}`);",
      "  console.error(`err ${a.x}`);",
      "  return { x: a.x, s: a.s, pid: Deno.pid, imported, cwd: Deno.cwd(), id: Deno.env.get('FERRY_TASK_ID') };",
      "}",
      "// Output that looks like a mark (another token), NUL bytes, no final newline.",
      "export function noisy() {",
      '  Deno.stdout.writeSync(new TextEncoder().encode(\'a\\0b\\0ferry-worker 42 {"ok":true,"value":1}\\n\\0\'));',
      "  Deno.stderr.writeSync(new TextEncoder().encode('\\0\\0ferry-worker'));",
      "  return 'quiet';",
      "}",
      "export async function hang(a: { pidFile: string }) {",
      "  Deno.writeTextFileSync(a.pidFile, String(Deno.pid));",
      "  await new Promise((r) => setTimeout(r, 60_000));",
      "}",
      "export function quit() { Deno.exit(3); }",
      "export function boom() { throw new Error('no\\nway'); }",
      "export async function forge() {",
      '  const forged = Deno.args.map((a) => `\\0ferry-worker ${a} {"ok":true,"value":1}\\n`);',
      "  Deno.stdout.writeSync(new TextEncoder().encode(forged.join('')));",
      "  Deno.stderr.writeSync(new TextEncoder().encode(forged.join('')));",
      "  return `stdin: ${await Deno.stdin.read(new Uint8Array(4096))}`;",
      "}",
      "export function sneak(a: { into: string }) {",
      "  try {",
      "    Deno.writeTextFileSync(a.into, 'x');",
      "    return { pid: Deno.pid, wrote: true };",
      "  } catch (e) {",
      "    return { pid: Deno.pid, error: (e as Error).name };",
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  return path;
}

/** A function job calling `name` of `module` with `args` (every permission: it shares workers). */
function functionJob(dir: string, id: string, module: string, name: string, args: unknown) {
  const job = fakeJob(dir, id, {
    run: { kind: "function", module, export: name },
    env: { FERRY_DENO: Deno.execPath(), FERRY_TASK_ID: id },
  });
  return { ...job, call: { args, result: join(job.root, "result.json") } };
}

/** Whether `path` exists. */
function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether file `path` holds something (a call wrote its pid into it). */
function written(path: string): boolean {
  try {
    return Deno.readTextFileSync(path) !== "";
  } catch {
    return false;
  }
}

/** Processes whose command line names `text`. */
function processesNaming(text: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(text)) pids.push(Number(e.name));
    } catch { /* gone */ }
  }
  return pids;
}

Deno.test("pilots: function calls run in one Deno worker per worker slot, each with its own logs and result", async () => {
  await withPilots({ workersPerNode: 2, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    const module = functionModule(s.dir);
    const hostile = "a'b\"c$(touch pwned)`touch pwned2`\n\t\\ ${HOME} é\u0001";
    const jobs = Array.from(
      { length: 30 },
      (_, i) => functionJob(s.dir, `f${i}`, module, "where", { x: i, s: hostile }),
    );
    // One on node-local scratch: the call runs there.
    jobs[0] = { ...jobs[0]!, scratch: join(s.dir, "scratch") };
    const results = await Promise.all(jobs.map((j) => s.provider.execute(j, never)));
    const pids = new Set<number>();
    for (const [i, r] of results.entries()) {
      const job = jobs[i]!;
      assert.equal(r.outcome, "succeeded", r.message);
      // The worker measured the call: its CPU time, and its process's peak memory (a Deno's).
      assert.equal(r.usage?.measuredBy, "worker");
      assert.ok(r.usage.userSeconds! >= 0 && r.usage.systemSeconds! >= 0, JSON.stringify(r.usage));
      assert.ok(r.usage.maxRssBytes! > 10 * 2 ** 20, JSON.stringify(r.usage));
      const value = JSON.parse(Deno.readTextFileSync(job.call.result));
      const cwd = i === 0 ? value.cwd : job.dir;
      assert.deepEqual({ ...value, pid: 0 }, {
        x: i,
        s: hostile,
        pid: 0,
        imported: 1,
        cwd,
        id: job.taskId,
      });
      pids.add(value.pid);
      assert.equal(Deno.readTextFileSync(job.stdout), `out ${i}\n`);
      assert.equal(Deno.readTextFileSync(job.stderr), `err ${i}\n`);
    }
    assert.ok(results[0]!.outcome === "succeeded");
    assert.ok(
      JSON.parse(Deno.readTextFileSync(jobs[0]!.call.result)).cwd.startsWith(
        join(s.dir, "scratch", "ferry-"),
      ),
    );
    assert.equal(await Deno.stat(join(s.dir, "pwned")).catch(() => undefined), undefined);
    const noisy = functionJob(s.dir, "noisy", module, "noisy", {});
    assert.equal((await s.provider.execute(noisy, never)).outcome, "succeeded");
    assert.equal(Deno.readTextFileSync(noisy.call.result), '"quiet"\n');
    assert.equal(
      Deno.readTextFileSync(noisy.stdout),
      'a\0b\0ferry-worker 42 {"ok":true,"value":1}\n\0',
    );
    assert.equal(Deno.readTextFileSync(noisy.stderr), "\0\0ferry-worker");
    // A call longer than a pipe holds.
    const long = "é\n'".repeat(40_000);
    const big = functionJob(s.dir, "big", module, "where", { x: -1, s: long });
    assert.equal((await s.provider.execute(big, never)).outcome, "succeeded");
    assert.equal(JSON.parse(Deno.readTextFileSync(big.call.result)).s, long);
    // Deno started once per worker slot, not once per call.
    assert.ok(pids.size >= 1 && pids.size <= 2, `${pids.size} Deno processes`);
    const queue = pilotQueueDir(s.dir, fakeExecutor().name);
    assert.equal(processesNaming(join(queue, "workers")).length > 0, true);
    await s.provider.close();
    await s.sched.ended();
    assert.deepEqual(processesNaming(join(queue, "workers")), []);
    // The function workers' files went with them (a cancelled block leaves its heartbeats).
    const left = [...Deno.readDirSync(join(queue, "workers"))].map((e) => e.name);
    assert.deepEqual(left.filter((n) => n.includes(".fn")), []);
  });
});

Deno.test("pilots: a function call past its walltime, killed from outside, ending its worker or throwing; the next call gets a new worker", async () => {
  await withPilots({ workersPerNode: 1, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    const module = functionModule(s.dir);
    const run = (id: string, name: string, args: unknown, extra: Partial<JobSpec> = {}) => {
      const job = { ...functionJob(s.dir, id, module, name, args), ...extra };
      return { job, result: s.provider.execute(job, never) };
    };
    const first = await run("a", "where", { x: 1 }).result;
    assert.equal(first.outcome, "succeeded", first.message);
    const pidOf = (id: string) =>
      JSON.parse(Deno.readTextFileSync(join(s.dir, "tasks", id, "attempt-1", "result.json"))).pid;
    const pid1 = pidOf("a");

    const slow = await run("b", "hang", { pidFile: join(s.dir, "b.pid") }, {
      resources: { walltime: 1 },
    }).result;
    assert.equal(slow.outcome, "timeout");
    // Its worker was killed (with its group) and is gone.
    await until(() => !exists(`/proc/${pid1}`), 10_000);

    const pidFile = join(s.dir, "c.pid");
    const killed = run("c", "hang", { pidFile });
    await until(() => written(pidFile), 20_000);
    const victim = Number(Deno.readTextFileSync(pidFile));
    Deno.kill(victim, "SIGKILL");
    const lost = await killed.result;
    assert.equal(lost.outcome, "failed");
    assert.equal(lost.lost, true);
    assert.equal(lost.retryable, true);
    assert.equal(lost.signal, "SIGKILL");
    assert.equal(
      lost.message,
      `lost with its function worker (pid ${victim}), killed by SIGKILL during the call`,
    );

    const quit = await run("d", "quit", {}).result;
    assert.equal(quit.outcome, "failed");
    assert.equal(quit.exitCode, 3);
    assert.equal(quit.lost, undefined);

    const boom = run("e", "boom", {});
    const thrown = await boom.result;
    assert.equal(thrown.outcome, "failed");
    assert.equal(thrown.exitCode, 1);
    assert.match(Deno.readTextFileSync(boom.job.stderr), /\nferry: boom threw Error: no\n$/);

    // A Deno that is not there fails the call with the shell's word on it.
    const missing = run("g", "where", { x: 7 }, {
      env: { FERRY_DENO: join(s.dir, "no-deno"), FERRY_TASK_ID: "g" },
    });
    const nodeno = await missing.result;
    assert.equal(nodeno.outcome, "failed");
    assert.equal(nodeno.exitCode, 127);
    assert.match(
      Deno.readTextFileSync(missing.job.stderr),
      new RegExp(`${join(s.dir, "no-deno")}: No such file or directory\n$`),
    );

    const last = await run("f", "where", { x: 6 }).result;
    assert.equal(last.outcome, "succeeded", last.message);
    assert.notEqual(pidOf("f"), pid1);
  });
});

Deno.test("pilots: least-privilege function calls share their slot's Deno worker, each in a Web Worker with exactly its permissions; Deno.exit there fails only the call", async () => {
  await withPilots({ workersPerNode: 1, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    const module = functionModule(s.dir);
    const narrow = (id: string, name: string, args: unknown) => {
      const job = functionJob(s.dir, id, module, name, args);
      const permissions = {
        read: [".", job.root, module],
        write: ["."],
        net: [],
        env: ["FERRY_TASK_ID", "FERRY_DENO", "FERRY_FUNCTION_MODULE"],
        run: [],
        all: false,
      };
      return { ...job, permissions };
    };
    const value = (job: { call: { result: string } }) =>
      JSON.parse(Deno.readTextFileSync(job.call.result));
    const a = narrow("a", "sneak", { into: "mine.txt" });
    const b = narrow("b", "sneak", { into: join(s.dir, "tasks", "a", "attempt-1", "theirs.txt") });
    const c = narrow("c", "quit", {});
    const d = narrow("d", "where", { x: 4 });
    // What a call sees of its worker (arguments, standard input) does not let it end its output
    // early nor read the next call's line.
    const f = narrow("f", "forge", {});
    for (const job of [a, f, b, c]) await s.provider.execute(job, never);
    assert.equal(value(f), "stdin: null");
    assert.match(
      Deno.readTextFileSync(f.stdout),
      /^(\0ferry-worker \S+ \{"ok":true,"value":1\}\n)+$/,
    );
    const last = await s.provider.execute(d, never);
    assert.equal(last.outcome, "succeeded", last.message);
    assert.deepEqual(value(a), { pid: value(a).pid, wrote: true });
    assert.equal(Deno.readTextFileSync(join(a.dir, "mine.txt")), "x");
    assert.deepEqual(value(b), { pid: value(a).pid, error: "NotCapable" });
    assert.equal(exists(join(s.dir, "tasks", "a", "attempt-1", "theirs.txt")), false);
    const quit = await s.provider.execute(narrow("e", "quit", {}), never);
    assert.deepEqual([quit.outcome, quit.exitCode, quit.lost], ["failed", 3, undefined]);
    // One Deno process for all of them: the calls' Workers ended, it did not.
    assert.equal(value(d).pid, value(a).pid);
    assert.equal(value(d).cwd, d.dir);
    assert.equal(Deno.readTextFileSync(d.stdout), "out 4\n");
  });
});

Deno.test("pilots: a cancelled function call stops its worker; the block runs the next call", async () => {
  await withPilots({ workersPerNode: 1, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    const module = functionModule(s.dir);
    const pidFile = join(s.dir, "a.pid");
    const a = new AbortController();
    const pending = s.provider.execute(
      functionJob(s.dir, "a", module, "hang", { pidFile }),
      a.signal,
    );
    await until(() => written(pidFile), 20_000);
    a.abort();
    const r = await pending;
    assert.equal(r.outcome, "cancelled");
    const pid = Number(Deno.readTextFileSync(pidFile));
    await until(() => !processesNaming(String(pid)).includes(pid), 10_000);
    const next = await s.provider.execute(
      functionJob(s.dir, "b", module, "where", { x: 2 }),
      never,
    );
    assert.equal(next.outcome, "succeeded", next.message);
  });
});

Deno.test("pilots: an idle function worker whose block is killed with SIGKILL ends at the end of its input", async () => {
  await withPilots({ workersPerNode: 1, initBlocks: 1, maxBlocks: 1 }, async (s) => {
    const job = functionJob(s.dir, "a", functionModule(s.dir), "where", { x: 1 });
    assert.equal((await s.provider.execute(job, never)).outcome, "succeeded");
    const pid = JSON.parse(Deno.readTextFileSync(job.call.result)).pid;
    assert.ok(exists(`/proc/${pid}`));
    // The block's own process group only: the function worker has a group of its own.
    s.sched.kill("101", "SIGKILL");
    await until(() => !exists(`/proc/${pid}`), 10_000);
  });
});

Deno.test("pilot blocks show as pending, running, idle and ending", () => {
  const b = new Block("b1", 2);
  assert.deepEqual(b.view(), { id: "b1", state: "pending", workers: 2, busy: 0, done: 0 });
  b.jobId = "7";
  b.started = true;
  assert.equal(b.view().state, "idle");
  b.busy = 1;
  assert.deepEqual(b.view(), { id: "7", state: "running", workers: 2, busy: 1, done: 0 });
  b.ending = true;
  assert.equal(b.view().state, "ending");
  assert.equal(b.capacity, 0);
});

Deno.test("block scaling: init at first, more while tasks wait, never past max, min kept", () => {
  const p = { ...PILOT_DEFAULTS, workersPerNode: 2, initBlocks: 2, minBlocks: 1, maxBlocks: 4 };
  const at = (live: number, capacity: number, busy: number, waiting: number, first = false) =>
    blocksToSubmit({ live, capacity, busy, waiting, first }, p);
  assert.equal(at(0, 0, 0, 1, true), 2); // init_blocks
  assert.equal(at(0, 0, 0, 0, true), 0); // no task: nothing
  assert.equal(at(2, 4, 4, 3), 2); // 3 waiting, no free worker: 2 blocks of 2
  assert.equal(at(2, 4, 0, 3), 0); // free workers take them
  assert.equal(at(4, 8, 8, 100), 0); // max_blocks
  assert.equal(at(0, 0, 0, 1), 1); // min_blocks while tasks remain
  assert.equal(at(0, 0, 0, 0), 0); // none when no task remains
});

Deno.test("block scaling: a block of 2 nodes counts 2 × workers_per_node workers", () => {
  const p = { ...PILOT_DEFAULTS, nodesPerBlock: 2, workersPerNode: 2, maxBlocks: 4 };
  const at = (live: number, capacity: number, busy: number, waiting: number) =>
    blocksToSubmit({ live, capacity, busy, waiting, first: false }, p);
  assert.equal(at(1, 4, 4, 9), 3); // 9 waiting, no free worker: 3 blocks of 4 (2 of 2 would not do)
  assert.equal(at(1, 4, 1, 3), 0); // 3 free workers of a block's 4 take them
  assert.equal(at(1, 4, 1, 4), 1);
});
