/**
 * Pilot blocks (`bundle: pilot`) on a real single-node Slurm cluster: many
 * small tasks through two blocks of two workers, each committed once; a
 * block cancelled with scancel mid-run gives its tasks back ("pilot lost")
 * and the run still completes; Ctrl-C and a kill -9 followed by a re-run
 * leave no block in the queue. Under CI=true a missing Slurm fails; elsewhere
 * these tests skip, loudly.
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
import { haveService, waitFor } from "./_services.ts";
import { type SlurmCluster, startSlurm } from "./_slurm.ts";
import { assertAllOnce, fanOut, pilotSite, query } from "./_pilots.ts";
import { startSshd } from "./_sshd.ts";

const HAVE = haveService("Slurm", ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel"]);
const HAVE_SSHD = haveService("sshd", ["/usr/sbin/sshd", "ssh-keygen", "ps", "pgrep"]);

/** No-op tasks of the throughput test (the 5,000). */
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
        const claimed = join(runDir, "pilot", "cluster", "claimed");
        if (!await exists(claimed)) return false;
        // A claim holds its worker's BLOCK.SLOT.
        const holders = [...Deno.readDirSync(claimed)].map((e) => {
          try {
            return Deno.readTextFileSync(join(claimed, e.name));
          } catch {
            return ""; // released meanwhile
          }
        });
        return holders.some((x) => x.startsWith("b1.")) && holders.some((x) => x.startsWith("b2."));
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
    assert.match(
      r.stderr,
      new RegExp(
        `ferry: warning: cancelled 2 job\\(s\\) that run \\S+ left on executor "cluster": (${
          orphans.join(" ")
        }|${[...orphans].reverse().join(" ")})\\n`,
      ),
    );
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
