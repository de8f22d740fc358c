/**
 * Pilot blocks (`bundle: pilot`) on a real single-node Slurm cluster: many
 * small tasks through two blocks of two workers, each committed once; a
 * block cancelled with scancel mid-run gives its tasks back ("pilot lost")
 * and the run still completes; Ctrl-C and a kill -9 followed by a re-run
 * leave no block in the queue. Function calls (a workflow's `function:` app,
 * `submit()`) run in one persistent Deno worker per pilot worker, which a
 * call killed mid-call replaces. Through `via: ssh://` with `filesystem: none`
 * the queue lives in a directory of the login node that ferry's workspace does
 * not share (`remote_dir`), reached by one SSH command per tick. Under CI=true
 * a missing Slurm or sshd fails; elsewhere these tests skip, loudly.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  exists,
  ferry,
  ferryRun,
  ROOT,
  runDirOf,
  runScriptJson,
  withTemp,
  writeWorkflow,
} from "./_run.ts";
import { haveService, mentioning, processesWhere, waitFor } from "./_services.ts";
import { StateStore } from "../interpreter/state.ts";
import { taskDirName } from "../interpreter/attempt.ts";
import { startHttpServer, type TestHttpServer } from "./_http_server.ts";
import { type SlurmCluster, startSlurm } from "./_slurm.ts";
import { assertAllOnce, fanOut, pilotSite, query } from "./_pilots.ts";
import { type Sshd, startSshd } from "./_sshd.ts";

const HAVE = haveService("Slurm", ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel"]);
const HAVE_SSHD = haveService("sshd", ["/usr/sbin/sshd", "ssh-keygen", "ps", "pgrep"]);

/** No-op tasks of the throughput test (the issue's 5,000). */
const COUNT = 5000;

let cluster: SlurmCluster | undefined;

const t = (name: string, fn: (c: SlurmCluster) => Promise<void>) =>
  Deno.test({
    name: `slurm pilots: ${name}`,
    ignore: !HAVE,
    sanitizeResources: false,
    async fn() {
      cluster ??= await startSlurm();
      await fn(cluster);
      assert.deepEqual(await cluster.active(), [], "a job is left in the queue");
    },
  });

function site(ws: string, pilot: Record<string, unknown> = {}): Promise<string> {
  return pilotSite(ws, { workers_per_node: 2, init_blocks: 2, max_blocks: 2, ...pilot });
}

/** The blocks a run submitted: key → job id, from the queue directory. */
function blocksOf(runDir: string): Map<string, string> {
  const dir = join(runDir, "pilot", "cluster", "blocks");
  const out = new Map<string, string>();
  for (const e of Deno.readDirSync(dir)) {
    if (!e.name.endsWith(".json")) continue;
    out.set(e.name.slice(0, -5), JSON.parse(Deno.readTextFileSync(join(dir, e.name))).jobId);
  }
  return out;
}

/** Whether workers of both blocks b1 and b2 hold claims in `claimed` (each holds its BLOCK.SLOT). */
async function bothBlocksBusy(claimed: string): Promise<boolean> {
  if (!await exists(claimed)) return false;
  const holders = [...Deno.readDirSync(claimed)].map((e) => {
    try {
      return Deno.readTextFileSync(join(claimed, e.name));
    } catch {
      return ""; // released meanwhile
    }
  });
  return holders.some((x) => x.startsWith("b1.")) && holders.some((x) => x.startsWith("b2."));
}

/** The warning of a run that cancelled the blocks `orphans` a killed run left (in either order). */
function orphanWarning(orphans: readonly string[]): RegExp {
  return new RegExp(
    `ferry: warning: cancelled 2 job\\(s\\) that run \\S+ left on executor "cluster": (${
      orphans.join(" ")
    }|${[...orphans].reverse().join(" ")})\\n`,
  );
}

t(`${COUNT} no-op tasks through 2 blocks of 2 workers, each committed once`, async (c) => {
  await withTemp(async (ws) => {
    const wf = await fanOut(ws, COUNT);
    const r = await ferryRun(["--poll-interval", "0.2", "--site", await site(ws), wf], c.env);
    assert.equal(r.code, 0, r.stderr);
    console.log(`${COUNT} tasks through pilots: ${(r.ms / 1000).toFixed(1)} s`);
    assertAllOnce(ws, COUNT);
    const attempts = query(ws, "SELECT COUNT(*) AS n FROM attempts")[0]!.n;
    assert.equal(attempts, COUNT);
    // Two blocks, both cancelled at the end and seen to leave the queue.
    const runDir = runDirOf(r);
    const blocks = blocksOf(runDir);
    assert.deepEqual([...blocks.keys()].sort(), ["b1", "b2"]);
    for (const key of blocks.keys()) {
      assert.ok(await exists(join(runDir, "pilot", "cluster", "blocks", `${key}.ended`)));
    }
  });
});

t(
  "a block cancelled with scancel mid-run gives its tasks back; each task is committed once",
  async (c) => {
    await withTemp(async (ws) => {
      const n = 40;
      const wf = await fanOut(ws, n, 1);
      const child = ferry(["--poll-interval", "0.2", "--site", await site(ws), wf], c.env).spawn();
      const output = child.output();
      let runDir = "";
      await waitFor("both blocks busy", async () => {
        const runs = join(ws, ".ferry", "runs");
        if (!await exists(runs)) return false;
        runDir = join(runs, [...Deno.readDirSync(runs)][0]!.name);
        return await bothBlocksBusy(join(runDir, "pilot", "cluster", "claimed"));
      }, 60_000);
      const b1 = blocksOf(runDir).get("b1")!;
      const cancelled = await c.run("scancel", b1);
      assert.equal(cancelled.code, 0, cancelled.stderr);
      const out = await output;
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      assertAllOnce(ws, n);
      const lost = query(ws, "SELECT task_id, reason FROM attempts WHERE outcome = 'failed'");
      assert.ok(lost.length >= 1, "no task was given back");
      for (const row of lost) {
        assert.match(String(row.reason), new RegExp(`^pilot lost: block ${b1} ended \\(`));
      }
      // A second block replaced the cancelled one (b3), within max_blocks.
      assert.ok(blocksOf(runDir).has("b3"));
    });
  },
);

t("Ctrl-C cancels every block and leaves no job in the queue", async (c) => {
  await withTemp(async (ws) => {
    const wf = await fanOut(ws, 8, 300);
    const child = ferry(["--poll-interval", "0.2", "--site", await site(ws), wf], c.env).spawn();
    const output = child.output();
    await waitFor("a block running", async () =>
      (await c.active()).length === 2 &&
      (await c.run("squeue", "--noheader", "--states=running", "--format=%i")).stdout.trim()
          .split("\n").length === 2, 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    child.kill("SIGINT");
    const out = await output;
    assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
    assert.deepEqual(await c.active(), []);
  });
});

t("after a kill -9 of ferry, the next run cancels the orphaned blocks and completes", async (c) => {
  await withTemp(async (ws) => {
    const s = await site(ws);
    const wf = await fanOut(ws, 6, 300);
    const child = ferry(["--poll-interval", "0.2", "--site", s, wf], c.env).spawn();
    const output = child.output();
    await waitFor("two blocks queued", async () => (await c.active()).length === 2, 60_000);
    const orphans = (await c.active()).sort();
    child.kill("SIGKILL");
    await output;
    assert.deepEqual((await c.active()).sort(), orphans, "the blocks outlive ferry");
    // The re-run does quick tasks: only the orphans' cancellation matters here.
    const quick = await fanOut(ws, 6);
    const r = await ferryRun(["--poll-interval", "0.2", "--site", s, quick], c.env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, orphanWarning(orphans));
    for (const id of orphans) assert.ok(!(await c.active()).includes(id));
    assertAllOnce(ws, 6);
  });
});

t(
  'executor("cluster", { site }).submit streams calls to the running workers of one block',
  async (c) => {
    await withTemp(async (ws) => {
      const s = await writeWorkflow(ws, {
        "ferry-site": 1,
        executors: {
          cluster: {
            provider: "slurm",
            bundle: "pilot",
            env: { FERRY_DENO: Deno.execPath() },
            pilot: { workers_per_node: 2, max_blocks: 1 },
          },
        },
      }, "site.yaml");
      const script = join(ws, "calc.ts");
      await Deno.writeTextFile(
        script,
        [
          `import { executor } from ${JSON.stringify(join(ROOT, "mod.ts"))};`,
          "export function where(x: number) {",
          "  return { x2: x * 2, job: Deno.env.get('SLURM_JOB_ID') ?? null };",
          "}",
          "if (import.meta.main) {",
          `  await using ex = executor("cluster", { site: ${JSON.stringify(s)}, pollMs: 200 });`,
          "  console.log(JSON.stringify(await Promise.all([1, 2, 3, 4, 5].map((x) => ex.submit(where, x)))));",
          "}",
          "",
        ].join("\n"),
      );
      const results = await runScriptJson(script, ws, c.env) as { x2: number; job: string }[];
      assert.deepEqual(results.map((r) => r.x2), [2, 4, 6, 8, 10]);
      // One block ran every call.
      assert.equal(new Set(results.map((r) => r.job)).size, 1, JSON.stringify(results));
      assert.match(results[0]!.job, /^\d+$/);
    });
  },
);

Deno.test({
  name: "slurm pilots: via: ssh:// submits, polls and cancels the blocks through the login node",
  ignore: !HAVE || !HAVE_SSHD,
  sanitizeResources: false,
  async fn() {
    cluster ??= await startSlurm();
    const c = cluster;
    // The login node's shell knows the cluster (SLURM_CONF); ferry's own environment does not.
    const srv = await startSshd({ setEnv: { SLURM_CONF: c.env.SLURM_CONF! } });
    try {
      await withTemp(async (ws) => {
        const s = await writeWorkflow(ws, {
          "ferry-site": 1,
          executors: {
            cluster: {
              provider: "slurm",
              via: `ssh://${srv.user}@127.0.0.1:${srv.port}`,
              bundle: "pilot",
              worker_init: "export PILOT_GREETING='hi from worker_init'",
              options: { identity_file: srv.identity, known_hosts: srv.knownHosts },
              pilot: { workers_per_node: 2, max_blocks: 1 },
            },
          },
        }, "site.yaml");
        const wf = await fanOut(ws, 20);
        const r = await ferryRun(["--poll-interval", "0.2", "--site", s, wf], {
          SLURM_CONF: join(ws, "no-such-slurm.conf"), // a local sbatch could not reach the cluster
        });
        assert.equal(r.code, 0, r.stderr);
        assertAllOnce(ws, 20);
        assert.deepEqual([...blocksOf(runDirOf(r)).keys()], ["b1"]);
      });
      assert.deepEqual(await c.active(), []);
    } finally {
      await srv.stop();
    }
  },
});

/** Functions the function tests call on the nodes; `ws` holds the victim's files. */
function functions(ws: string): Promise<void> {
  return Deno.writeTextFile(
    join(ws, "fns.ts"),
    [
      `import { executor } from ${JSON.stringify(join(ROOT, "mod.ts"))};`,
      "type Args = { bindings: { i: string }; outputs: { out: string } };",
      "export function square(a: Args) {",
      "  const i = Number(a.bindings.i);",
      "  Deno.writeTextFileSync(a.outputs.out, `${i * i}\\n`);",
      "  return { i, sq: i * i, pid: Deno.pid, job: Deno.env.get('SLURM_JOB_ID') ?? null };",
      "}",
      "export function pid(x: number) { return { x, pid: Deno.pid }; }",
      "export async function nap(a: Args) {",
      "  await new Promise((r) => setTimeout(r, Number(Deno.env.get('NAP_MS'))));",
      "  Deno.writeTextFileSync(a.outputs.out, `${a.bindings.i}\\n`);",
      "  return { pid: Deno.pid };",
      "}",
      "// The first call waits to be killed (its pid in victim.pid); the retry returns.",
      "export async function victim(a: Args) {",
      `  const file = ${JSON.stringify(join(ws, "victim.pid"))};`,
      "  try {",
      "    Deno.statSync(file);",
      "    Deno.writeTextFileSync(a.outputs.out, 'survived\\n');",
      "    return { survived: true, pid: Deno.pid };",
      "  } catch { /* the first attempt */ }",
      "  Deno.writeTextFileSync(file, String(Deno.pid));",
      "  await new Promise((r) => setTimeout(r, 120_000));",
      "  return { survived: false };",
      "}",
      "if (import.meta.main) {",
      `  await using ex = executor("cluster", { site: Deno.args[0]!, pollMs: 200 });`,
      "  const n = Number(Deno.args[1]);",
      "  const rs = await Promise.all(Array.from({ length: n }, (_, x) => ex.submit(pid, x)));",
      "  console.log(JSON.stringify(rs));",
      "}",
      "",
    ].join("\n"),
  );
}

/** A site whose pilots find Deno through FERRY_DENO. */
function denoSite(ws: string, pilot: Record<string, unknown>): Promise<string> {
  return pilotSite(ws, { workers_per_node: 2, ...pilot }, [], {
    env: { FERRY_DENO: Deno.execPath() },
  });
}

/** No process of the workspace's run is left (a function worker names its queue directory). */
async function assertNoProcessLeft(ws: string): Promise<void> {
  await waitFor("the workspace's processes to end", () => {
    return processesWhere(mentioning(join(ws, ".ferry"))).length === 0;
  }, 20_000);
}

t(
  "300 function-app tasks run in one Deno worker per pilot worker, each committed once with its result",
  async (c) => {
    await withTemp(async (ws) => {
      const n = 300;
      await functions(ws);
      const s = await denoSite(ws, { init_blocks: 2, max_blocks: 2 });
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "pilot-functions",
        params: { ids: Array.from({ length: n }, (_, i) => i) },
        defaults: { executor: "cluster", retries: 0 },
        apps: {
          square: {
            for_each: { i: "${{ params.ids }}" },
            outputs: { out: "out/${{ i }}.txt" },
            function: "./fns.ts#square",
            permissions: { all: true },
          },
        },
      });
      const r = await ferryRun(["--poll-interval", "0.2", "--site", s, wf], c.env);
      assert.equal(r.code, 0, r.stderr);
      console.log(`${n} function tasks through pilots: ${(r.ms / 1000).toFixed(1)} s`);
      const store = StateStore.open(ws);
      const pids = new Set<number>();
      try {
        const successes = store.successes();
        assert.equal(successes.size, n);
        for (let i = 0; i < n; i++) {
          const result = successes.get(`square[i=${i}]`)?.result as
            | { i: number; sq: number; pid: number; job: string }
            | undefined;
          assert.ok(result, `square[i=${i}] has no result`);
          assert.deepEqual([result.i, result.sq], [i, i * i]);
          assert.match(result.job, /^\d+$/);
          assert.equal(Deno.readTextFileSync(join(ws, "out", `${i}.txt`)), `${i * i}\n`);
          pids.add(result.pid);
        }
      } finally {
        store.close();
      }
      const rows = query(ws, "SELECT task_id, COUNT(*) AS n FROM successes GROUP BY task_id");
      assert.equal(rows.length, n);
      assert.ok(rows.every((row) => row.n === 1));
      assert.equal(query(ws, "SELECT COUNT(*) AS n FROM attempts")[0]!.n, n);
      // Deno started once per worker (2 blocks of 2), not once per call.
      assert.ok(pids.size >= 1 && pids.size <= 4, `${pids.size} Deno processes ran the calls`);
      await assertNoProcessLeft(ws);
    });
  },
);

t(
  '300 executor("cluster").submit calls of a function run in the Deno workers of one block',
  async (c) => {
    await withTemp(async (ws) => {
      await functions(ws);
      const s = await denoSite(ws, { max_blocks: 1 });
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", join(ws, "fns.ts"), s, "300"],
        cwd: ws,
        env: c.env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      const results = JSON.parse(dec.decode(out.stdout)) as { x: number; pid: number }[];
      assert.deepEqual(results.map((r) => r.x), Array.from({ length: 300 }, (_, x) => x));
      const pids = new Set(results.map((r) => r.pid));
      assert.ok(pids.size >= 1 && pids.size <= 2, `${pids.size} Deno processes ran the calls`);
      await assertNoProcessLeft(ws);
    });
  },
);

t(
  "a function call whose Deno worker is killed mid-call is retried and returns its result",
  async (c) => {
    await withTemp(async (ws) => {
      await functions(ws);
      const s = await denoSite(ws, { max_blocks: 1 });
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "pilot-victim",
        defaults: { executor: "cluster", retries: 0 },
        apps: {
          victim: {
            outputs: { out: "victim.txt" },
            function: "./fns.ts#victim",
            permissions: { all: true },
          },
        },
      });
      const child = ferry(["--poll-interval", "0.2", "--site", s, wf], c.env).spawn();
      const output = child.output();
      const pidFile = join(ws, "victim.pid");
      await waitFor("the call to start", () => exists(pidFile), 60_000);
      const killed = Number(await Deno.readTextFile(pidFile));
      Deno.kill(killed, "SIGKILL");
      const out = await output;
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.equal(await Deno.readTextFile(join(ws, "victim.txt")), "survived\n");
      const attempts = query(ws, "SELECT attempt, outcome, reason FROM attempts ORDER BY attempt");
      assert.deepEqual(attempts.map((a) => [a.attempt, a.outcome]), [[1, "failed"], [
        2,
        "succeeded",
      ]]);
      assert.equal(
        attempts[0]!.reason,
        `lost with its function worker (pid ${killed}), killed by SIGKILL during the call`,
      );
      const store = StateStore.open(ws);
      try {
        const result = store.successes().get("victim")?.result as {
          survived: boolean;
          pid: number;
        };
        assert.equal(result.survived, true);
        assert.notEqual(result.pid, killed);
      } finally {
        store.close();
      }
      await assertNoProcessLeft(ws);
    });
  },
);

/** `n` function tasks that each sleep `ms` on the pilots, then write their index. */
function napping(ws: string, n: number, ms: number): Promise<string> {
  return writeWorkflow(ws, {
    ferry: 1,
    name: "pilot-naps",
    params: { ids: Array.from({ length: n }, (_, i) => i) },
    defaults: { executor: "cluster", retries: 0 },
    apps: {
      nap: {
        for_each: { i: "${{ params.ids }}" },
        outputs: { out: "out/${{ i }}.txt" },
        function: "./fns.ts#nap",
        env: { NAP_MS: String(ms) },
        permissions: { all: true },
      },
    },
  });
}

t(
  "a block cancelled with scancel during function calls gives them back; no Deno worker is left",
  async (c) => {
    await withTemp(async (ws) => {
      const n = 24;
      await functions(ws);
      const s = await denoSite(ws, { init_blocks: 2, max_blocks: 2 });
      const child = ferry(
        ["--poll-interval", "0.2", "--site", s, await napping(ws, n, 1000)],
        c.env,
      )
        .spawn();
      const output = child.output();
      const queue = join(ws, ".ferry", "runs");
      let runDir = "";
      await waitFor("function workers in both blocks", async () => {
        if (!await exists(queue)) return false;
        runDir = join(queue, [...Deno.readDirSync(queue)][0]!.name);
        const workers = [...Deno.readDirSync(join(runDir, "pilot", "cluster", "workers"))];
        const fn = workers.map((e) => e.name).filter((x) => x.endsWith(".fn.pid"));
        return fn.some((x) => x.startsWith("b1.")) && fn.some((x) => x.startsWith("b2."));
      }, 60_000);
      const b1 = blocksOf(runDir).get("b1")!;
      assert.equal((await c.run("scancel", b1)).code, 0);
      const out = await output;
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      for (let i = 0; i < n; i++) {
        assert.equal(Deno.readTextFileSync(join(ws, "out", `${i}.txt`)), `${i}\n`);
      }
      const rows = query(ws, "SELECT task_id, COUNT(*) AS n FROM successes GROUP BY task_id");
      assert.equal(rows.length, n);
      assert.ok(rows.every((row) => row.n === 1));
      const lost = query(ws, "SELECT reason FROM attempts WHERE outcome = 'failed'");
      assert.ok(lost.length >= 1, "no call was given back");
      for (const row of lost) {
        assert.match(String(row.reason), new RegExp(`^pilot lost: block ${b1} ended \\(`));
      }
      await assertNoProcessLeft(ws);
    });
  },
);

t("Ctrl-C during function calls on pilots leaves no job and no Deno worker", async (c) => {
  await withTemp(async (ws) => {
    await functions(ws);
    const s = await denoSite(ws, { max_blocks: 1 });
    const child = ferry(
      ["--poll-interval", "0.2", "--site", s, await napping(ws, 4, 300_000)],
      c.env,
    )
      .spawn();
    const output = child.output();
    await waitFor("two function calls running", async () => {
      const runs = join(ws, ".ferry", "runs");
      if (!await exists(runs)) return false;
      const claimed = join(
        runs,
        [...Deno.readDirSync(runs)][0]!.name,
        "pilot",
        "cluster",
        "claimed",
      );
      return processesWhere(mentioning(join(ws, ".ferry"))).filter((p) =>
            p.cmdline.some((a) => a.endsWith("function_worker.ts"))
          ).length === 2 && [...Deno.readDirSync(claimed)].length === 2;
    }, 60_000);
    child.kill("SIGINT");
    const out = await output;
    assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
    assert.deepEqual(await c.active(), []);
    await assertNoProcessLeft(ws);
  });
});

/** How many sessions sshd started for a command (its VERBOSE log line per exec). */
function commandSessions(srv: Sshd): number {
  return srv.log().split("\n").filter((l) => /Starting session: command for /.test(l)).length;
}

/**
 * A test of pilots through the login node (an sshd whose sessions know the cluster) with
 * `filesystem: none`: the queue and the attempts' copies under `remote`, a directory of the
 * cluster's that ferry's workspace does not share; inputs from the workspace and from `http`.
 */
function remote(
  name: string,
  fn: (c: SlurmCluster, srv: Sshd, remote: string, http: TestHttpServer) => Promise<void>,
) {
  Deno.test({
    name: `slurm pilots: via: ssh:// with filesystem: none: ${name}`,
    ignore: !HAVE || !HAVE_SSHD,
    sanitizeResources: false,
    async fn() {
      cluster ??= await startSlurm();
      const c = cluster;
      const srv = await startSshd({ setEnv: { SLURM_CONF: c.env.SLURM_CONF! } });
      const top = await Deno.makeTempDir({ prefix: "ferry-cluster-fs-" });
      // A remote directory that every command line and script must quote.
      const dir = join(top, "cluster's fs $(touch pwned) `id`");
      await Deno.mkdir(dir);
      const http = await startHttpServer({ files: { "/extra.txt": "from the web\n" } });
      try {
        await fn(c, srv, dir, http);
        assert.deepEqual(await c.active(), [], "a job is left in the queue");
      } finally {
        await http.close();
        await srv.stop();
        assert.deepEqual([...Deno.readDirSync(top)].map((e) => e.name), [
          dir.slice(top.length + 1),
        ]);
        await Deno.remove(top, { recursive: true });
      }
    },
  });
}

/** The site of {@linkcode remote} tests: 2 blocks of 2 workers through the login node. */
function remoteSite(ws: string, srv: Sshd, dir: string): Promise<string> {
  return writeWorkflow(ws, {
    "ferry-site": 1,
    executors: {
      cluster: {
        provider: "slurm",
        via: `ssh://${srv.user}@127.0.0.1:${srv.port}`,
        filesystem: "none",
        bundle: "pilot",
        worker_init: "export PILOT_GREETING='hi from worker_init'",
        options: { identity_file: srv.identity, known_hosts: srv.knownHosts, remote_dir: dir },
        pilot: { workers_per_node: 2, init_blocks: 2, max_blocks: 2 },
      },
    },
  }, "site.yaml");
}

/**
 * A fan-out of `n` tasks, each reading its workspace input and the web's (fetched on the node),
 * then writing them, the greeting and where it ran (after `sleep` seconds).
 */
async function remoteFanOut(ws: string, n: number, http: TestHttpServer, sleep = 0) {
  await Deno.mkdir(join(ws, "in"), { recursive: true });
  for (let i = 0; i < n; i++) await Deno.writeTextFile(join(ws, "in", `${i}.txt`), `input ${i}\n`);
  return await writeWorkflow(ws, {
    ferry: 1,
    name: "remote-pilots",
    params: { ids: Array.from({ length: n }, (_, i) => i) },
    defaults: { executor: "cluster", retries: 0 },
    apps: {
      work: {
        for_each: { i: "${{ params.ids }}" },
        inputs: { src: "in/${{ i }}.txt", extra: `${http.origin}/extra.txt` },
        outputs: { out: "out/${{ i }}.txt" },
        shell: `${sleep > 0 ? `sleep ${sleep}; ` : ""}` +
          "cat ${{ inputs.src }} ${{ inputs.extra }} > ${{ outputs.out }}; " +
          'echo "$PILOT_GREETING" >> ${{ outputs.out }}; pwd >> ${{ outputs.out }}',
      },
    },
  });
}

/** Every output is right (run in its copy under `dir`) and every task has exactly one success. */
function assertRemoteOnce(ws: string, n: number, dir: string, runId: string): void {
  const rows = query(
    ws,
    "SELECT task_id, COUNT(*) AS n, MAX(attempt) AS a FROM successes GROUP BY task_id",
  );
  assert.equal(rows.length, n);
  assert.ok(rows.every((r) => r.n === 1));
  const attempt = new Map(rows.map((r) => [String(r.task_id), Number(r.a)]));
  for (let i = 0; i < n; i++) {
    const id = `work[i=${i}]`;
    const where = join(dir, runId, taskDirName(id), `attempt-${attempt.get(id)}`, "work");
    assert.equal(
      Deno.readTextFileSync(join(ws, "out", `${i}.txt`)),
      `input ${i}\nfrom the web\nhi from worker_init\n${where}\n`,
    );
  }
}

remote(
  "200 tasks through 2 blocks, each committed once; one SSH command per tick, not per task; the queue directory there is gone at the end",
  async (_c, srv, dir, http) => {
    await withTemp(async (ws) => {
      const n = 200;
      const wf = await remoteFanOut(ws, n, http);
      const before = commandSessions(srv);
      const r = await ferryRun([
        "--poll-interval",
        "1",
        "--site",
        await remoteSite(ws, srv, dir),
        wf,
      ], {
        SLURM_CONF: join(ws, "no-such-slurm.conf"), // a local sbatch could not reach the cluster
      });
      assert.equal(r.code, 0, r.stderr);
      const runDir = runDirOf(r), runId = runDir.split("/").at(-1)!;
      assertRemoteOnce(ws, n, dir, runId);
      assert.equal(query(ws, "SELECT COUNT(*) AS n FROM attempts")[0]!.n, n);
      // Each task fetched the web input itself, on its node.
      assert.equal(http.requests.filter((q) => q.path === "/extra.txt").length, n);
      const sessions = commandSessions(srv) - before;
      console.log(
        `${n} tasks through pilots via ssh: ${
          (r.ms / 1000).toFixed(1)
        } s, ${sessions} ssh commands`,
      );
      assert.ok(sessions < n / 2, `${sessions} ssh commands for ${n} tasks`);
      // Two blocks, recorded here, both seen to leave the queue.
      const blocks = blocksOf(runDir);
      assert.deepEqual([...blocks.keys()].sort(), ["b1", "b2"]);
      for (const key of blocks.keys()) {
        assert.ok(await exists(join(runDir, "pilot", "cluster", "blocks", `${key}.ended`)));
        // The block's output came back before its queue directory went.
        assert.ok(await exists(join(runDir, "pilot", "cluster", "blocks", `${key}.out`)));
      }
      // Every copy succeeded and went, then the queue directory: nothing is left there.
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), []);
    });
  },
);

remote(
  "a block cancelled with scancel mid-run gives its tasks back; each task is committed once",
  async (c, srv, dir, http) => {
    await withTemp(async (ws) => {
      const n = 40;
      const wf = await remoteFanOut(ws, n, http, 1);
      const args = ["--poll-interval", "0.5", "--site", await remoteSite(ws, srv, dir), wf];
      const child = ferry(args, { SLURM_CONF: join(ws, "no-such-slurm.conf") }).spawn();
      const output = child.output();
      let runId = "";
      await waitFor("both blocks busy", async () => {
        const runs = [...Deno.readDirSync(dir)];
        if (runs.length === 0) return false;
        runId = runs[0]!.name;
        // The queue is there, on the cluster.
        return await bothBlocksBusy(join(dir, runId, "pilot", "cluster", "claimed"));
      }, 60_000);
      const b1 = blocksOf(join(ws, ".ferry", "runs", runId)).get("b1")!;
      const cancelled = await c.run("scancel", b1);
      assert.equal(cancelled.code, 0, cancelled.stderr);
      const out = await output;
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assertRemoteOnce(ws, n, dir, runId);
      const lost = query(ws, "SELECT task_id, reason FROM attempts WHERE outcome = 'failed'");
      assert.ok(lost.length >= 1, "no task was given back");
      for (const row of lost) {
        // Whichever ferry hears first on a loaded machine: the block gone from the queue (its
        // status, polled through the login node) or its workers' heartbeats stopping (through
        // the syncs).
        assert.match(
          String(row.reason),
          new RegExp(
            `^pilot lost: (block ${b1} ended \\(|worker \\S+ of block ${b1} stopped answering$)`,
          ),
        );
      }
      // The queue directory there is gone; only the copies of the lost attempts stay.
      assert.ok(!await exists(join(dir, runId, "pilot")));
      const left = [...Deno.readDirSync(join(dir, runId))].map((e) => e.name).sort();
      assert.deepEqual(left, [...new Set(lost.map((r) => taskDirName(String(r.task_id))))].sort());
    });
  },
);

remote(
  "Ctrl-C cancels every block, leaves no job, and removes the queue directory there",
  async (c, srv, dir, http) => {
    await withTemp(async (ws) => {
      const wf = await remoteFanOut(ws, 8, http, 300);
      const args = ["--poll-interval", "0.2", "--site", await remoteSite(ws, srv, dir), wf];
      const child = ferry(args, { SLURM_CONF: join(ws, "no-such-slurm.conf") }).spawn();
      const output = child.output();
      let runId = "";
      await waitFor("four tasks running there", async () => {
        const runs = [...Deno.readDirSync(dir)];
        if (runs.length === 0) return false;
        runId = runs[0]!.name;
        const claimed = join(dir, runId, "pilot", "cluster", "claimed");
        return await exists(claimed) && [...Deno.readDirSync(claimed)].length === 4;
      }, 60_000);
      child.kill("SIGINT");
      const out = await output;
      assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
      assert.deepEqual(await c.active(), []);
      assert.ok(!await exists(join(dir, runId, "pilot")), "the queue directory is left there");
      // Each block's output came back first.
      const blocks = join(ws, ".ferry", "runs", runId, "pilot", "cluster", "blocks");
      for (const key of ["b1", "b2"]) assert.ok(await exists(join(blocks, `${key}.out`)));
    });
  },
);

remote(
  "after a kill -9 of ferry, the next run cancels the orphaned blocks and completes",
  async (c, srv, dir, http) => {
    await withTemp(async (ws) => {
      const s = await remoteSite(ws, srv, dir);
      const env = { SLURM_CONF: join(ws, "no-such-slurm.conf") };
      const wf = await remoteFanOut(ws, 6, http, 300);
      const child = ferry(["--poll-interval", "0.2", "--site", s, wf], env).spawn();
      const output = child.output();
      await waitFor("two blocks queued", async () => (await c.active()).length === 2, 60_000);
      const orphans = (await c.active()).sort();
      child.kill("SIGKILL");
      await output;
      assert.deepEqual((await c.active()).sort(), orphans, "the blocks outlive ferry");
      const dead = [...Deno.readDirSync(dir)].map((e) => e.name);
      assert.equal(dead.length, 1);
      assert.ok(await exists(join(dir, dead[0]!, "pilot", "cluster", "new")));
      const quick = await remoteFanOut(ws, 6, http);
      const r = await ferryRun(["--poll-interval", "0.2", "--site", s, quick], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, orphanWarning(orphans));
      for (const id of orphans) assert.ok(!(await c.active()).includes(id));
      const runDir = runDirOf(r);
      assertRemoteOnce(ws, 6, dir, runDir.split("/").at(-1)!);
      // The re-run's directory there is gone; of the dead run's, its queue directory went once
      // its blocks were gone (the copies of its attempts, never finished, stay).
      assert.ok(!await exists(join(dir, runDir.split("/").at(-1)!)));
      assert.ok(!await exists(join(dir, dead[0]!, "pilot")));
      assert.ok(
        await exists(join(ws, ".ferry", "runs", dead[0]!, "pilot", "cluster", "blocks", "b1.out")),
      );
    });
  },
);
