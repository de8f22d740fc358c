/**
 * Pilot blocks over several nodes (`nodes_per_block: 2`) on a real two-node
 * Slurm cluster on this machine (two slurmd, `node1` and `node2`, on
 * 127.0.0.1): one block asks for both nodes, starts its script on each with
 * `srun`, which runs `worker_init` once there and that node's workers; tasks
 * run on both nodes (each attempt records its node and worker), each is
 * committed once; a block cancelled with scancel gives its tasks back; Ctrl-C
 * ends every node's workers. Nothing is left in the queue or running at the
 * end. Under CI=true a missing Slurm fails; elsewhere these tests skip, loudly.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferry, ferryRun, runDirOf, withTemp } from "./_run.ts";
import { haveService, processesLeftIn, waitFor } from "./_services.ts";
import { type SlurmCluster, startSlurm } from "./_slurm.ts";
import { assertAllOnce, fanOut, pilotSite, query } from "./_pilots.ts";

const HAVE = haveService("Slurm", [
  "munged",
  "slurmctld",
  "slurmd",
  "sbatch",
  "squeue",
  "scancel",
  "srun",
]);

let cluster: SlurmCluster | undefined;

const t = (name: string, fn: (c: SlurmCluster, ws: string) => Promise<void>) =>
  Deno.test({
    name: `slurm pilots over 2 nodes: ${name}`,
    ignore: !HAVE,
    sanitizeResources: false,
    async fn() {
      cluster ??= await startSlurm({ nodes: 2 });
      await withTemp(async (ws) => {
        await fn(cluster!, ws);
        assert.deepEqual(await cluster!.active(), [], "a job is left in the queue");
        assert.deepEqual(await processesLeftIn(ws), [], "a process is left running");
      });
    },
  });

/** One block of 2 nodes × 2 workers; worker_init notes each node it ran on in `inits.txt`. */
function site(ws: string): Promise<string> {
  const inits = join(ws, "inits.txt").replaceAll("'", "'\\''");
  return pilotSite(ws, { nodes_per_block: 2, workers_per_node: 2, max_blocks: 1 }, [
    `echo "$SLURMD_NODENAME" >> '${inits}'`,
  ]);
}

/** The holders (`BLOCK.SLOT`) of the claims in the run's queue directory now. */
function holders(ws: string): string[] {
  const runs = join(ws, ".ferry", "runs");
  try {
    const claimed = join(runs, [...Deno.readDirSync(runs)][0]!.name, "pilot", "cluster", "claimed");
    return [...Deno.readDirSync(claimed)].map((e) => {
      try {
        return Deno.readTextFileSync(join(claimed, e.name)).trim();
      } catch {
        return ""; // released meanwhile
      }
    });
  } catch {
    return []; // no run or queue yet
  }
}

/** Slots 1-2 are node1's workers, 3-4 node2's: whether both nodes hold a task now. */
const bothNodesBusy = (ws: string) => {
  const slots = holders(ws).map((h) => Number(h.split(".")[1]));
  return slots.some((s) => s === 1 || s === 2) && slots.some((s) => s === 3 || s === 4);
};

t(
  "one block runs tasks on both nodes, worker_init once on each, every task committed once",
  async (c, ws) => {
    const n = 24;
    const r = await ferryRun(
      ["--poll-interval", "0.2", "--site", await site(ws), await fanOut(ws, n, 0.5)],
      c.env,
    );
    assert.equal(r.code, 0, r.stderr);
    assertAllOnce(ws, n);
    // worker_init ran once on each node.
    const inits = Deno.readTextFileSync(join(ws, "inits.txt")).trim().split("\n").sort();
    assert.deepEqual(inits, ["node1", "node2"]);
    // Each attempt names its block, its node and its worker (slots 1-2 on node1, 3-4 on node2).
    const rows = query(ws, "SELECT pilot, host FROM attempts");
    assert.equal(rows.length, n);
    const places = rows.map((row) => JSON.parse(String(row.pilot)));
    const block = places[0].block;
    assert.match(block, /^\d+$/);
    for (const [i, p] of places.entries()) {
      assert.equal(p.block, block);
      assert.match(p.worker, p.node === "node1" ? /^node1\/[12]$/ : /^node2\/[34]$/);
      assert.equal(rows[i]!.host, p.node);
    }
    assert.deepEqual([...new Set(places.map((p) => p.node))].sort(), ["node1", "node2"]);
    // ferry status shows where each attempt ran.
    const status = await ferryRun(["-w", ws], { NO_COLOR: "1" }, "status");
    assert.equal(status.code, 0, status.stderr);
    assert.match(
      status.stdout,
      new RegExp(
        `\\(job ${block}, block ${block}, worker node1/[12]\\): succeeded in \\S+ on node1\\n`,
      ),
    );
    assert.match(
      status.stdout,
      new RegExp(
        `\\(job ${block}, block ${block}, worker node2/[34]\\): succeeded in \\S+ on node2\\n`,
      ),
    );
    // One block, asked of Slurm for both nodes.
    const blocks = join(runDirOf(r), "pilot", "cluster", "blocks");
    assert.deepEqual(
      [...Deno.readDirSync(blocks)].map((e) => e.name).filter((x) => x.endsWith(".json")),
      [
        "b1.json",
      ],
    );
  },
);

/** The job id of block `key` of the workspace's only run. */
function blockId(ws: string, key: string): string {
  const runs = join(ws, ".ferry", "runs");
  const run = join(runs, [...Deno.readDirSync(runs)][0]!.name);
  const file = join(run, "pilot", "cluster", "blocks", `${key}.json`);
  return JSON.parse(Deno.readTextFileSync(file)).jobId;
}

t(
  "a block cancelled with scancel while both nodes run tasks gives them back; each task is committed once",
  async (c, ws) => {
    const n = 16;
    const child = ferry(
      ["--poll-interval", "0.2", "--site", await site(ws), await fanOut(ws, n, 1)],
      c.env,
    ).spawn();
    const output = child.output();
    await waitFor("both nodes busy", () => bothNodesBusy(ws), 60_000);
    const b1 = blockId(ws, "b1");
    const cancelled = await c.run("scancel", b1);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    const out = await output;
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assertAllOnce(ws, n);
    const lost = query(ws, "SELECT reason, pilot FROM attempts WHERE outcome = 'failed'");
    assert.ok(lost.length >= 2, "no task was given back");
    for (const row of lost) {
      assert.match(String(row.reason), new RegExp(`^pilot lost: block ${b1} ended \\(`));
    }
    // Tasks of both nodes were lost with the block, and a new block (b2) ran them again.
    const nodes = lost.map((row) => JSON.parse(String(row.pilot)).node).sort();
    assert.ok(nodes.includes("node1") && nodes.includes("node2"), nodes.join(" "));
    assert.notEqual(blockId(ws, "b2"), b1);
  },
);

t("Ctrl-C ends the workers of every node and leaves no job in the queue", async (c, ws) => {
  const child = ferry(
    ["--poll-interval", "0.2", "--site", await site(ws), await fanOut(ws, 8, 300)],
    c.env,
  ).spawn();
  const output = child.output();
  await waitFor("both nodes busy", () => bothNodesBusy(ws), 60_000);
  child.kill("SIGINT");
  const out = await output;
  assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
  assert.deepEqual(await c.active(), []);
  // No task's process, worker or node part survives (checked after each test too, within 10 s:
  // here at once, since Slurm has let go of the block already).
  const left = await processesLeftIn(ws, 0);
  assert.deepEqual(left, []);
});
