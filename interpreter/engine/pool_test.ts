import assert from "node:assert/strict";
import type { Executor } from "../../dsl/model.ts";
import type { BatchProvider } from "../../providers/batch/types.ts";
import type { PlanTask } from "../plan.ts";
import { needOf, ReadyQueues, ResourcePool } from "./pool.ts";
import type { Node } from "./types.ts";

const GiB = 1024 ** 3;
const local = { name: "local", cores: 4, memory: 8 * GiB } as unknown as Executor;
const task = (id: string, r: { cores?: number; ranks?: number; memory?: number } = {}) =>
  ({ id, executor: "local", resources: r }) as unknown as PlanTask;
const node = (t: PlanTask): Node => ({ task: t, state: "ready", attempt: 0, waiting: 0 });

function started(pool: ResourcePool, q: ReadyQueues): string[] {
  const out: string[] = [];
  q.startFitting(pool, (n) => {
    n.state = "running";
    pool.take(n.task);
    out.push(n.task.id);
  });
  return out;
}

Deno.test("ResourcePool: cores × ranks and memory are taken and given back", () => {
  const pool = new ResourcePool({ local }, new Map());
  assert.deepEqual(needOf(task("a", { cores: 2, ranks: 2, memory: GiB })), {
    cores: 4,
    memory: GiB,
  });
  const big = task("big", { cores: 2, ranks: 2 });
  assert.equal(pool.fits(big), true, "a task needing exactly all cores fits");
  pool.take(big);
  assert.equal(pool.fits(task("one")), false);
  pool.give(big);
  assert.equal(pool.fits(task("one")), true);
  assert.equal(pool.fits(task("mem", { memory: 9 * GiB })), false);
});

Deno.test("ResourcePool: tooBig names what is missing; max_workers and --jobs bound the slots", () => {
  const pool = new ResourcePool({ local: { ...local, maxWorkers: 1 } as Executor }, new Map());
  assert.equal(
    pool.tooBig(task("x", { cores: 3, ranks: 2 })),
    'it needs 6 cores and executor "local" has 4',
  );
  assert.equal(
    pool.tooBig(task("y", { memory: 16 * GiB })),
    'it needs 16.0 GiB of memory and executor "local" has 8.0 GiB',
  );
  assert.equal(pool.tooBig(task("z", { cores: 4 })), undefined);
  assert.equal(pool.free("local").slots, 1);
  assert.equal(new ResourcePool({ local }, new Map(), 3).free("local").slots, 3);
});

Deno.test("ResourcePool: a scheduler's executor is bounded by jobs only", () => {
  const provider = { nodeSide: true, capacity: 5 } as unknown as BatchProvider;
  const pool = new ResourcePool({ local }, new Map([["local", provider]]));
  assert.deepEqual(pool.free("local"), { slots: 5, cores: Infinity, memory: Infinity });
});

Deno.test("ReadyQueues: in order; a head that does not fit lets small tasks behind it start", () => {
  const pool = new ResourcePool({ local }, new Map());
  const q = new ReadyQueues();
  const nodes = [task("a", { cores: 3 }), task("b", { cores: 2 }), task("c"), task("d")].map(node);
  for (const n of nodes) q.push(n);
  assert.deepEqual(started(pool, q), ["a", "c"], "b (2 cores) waits; c (1) fits beside a (3)");
  pool.give(nodes[0]!.task);
  assert.deepEqual(started(pool, q), ["b", "d"]);
});

Deno.test("ReadyQueues: a retry goes to the front; clear hands back what is queued", () => {
  const pool = new ResourcePool({ local: { ...local, maxWorkers: 1 } as Executor }, new Map());
  const q = new ReadyQueues();
  const [a, b, c] = [task("a"), task("b"), task("c")].map(node);
  q.push(a!);
  q.push(b!);
  assert.deepEqual(started(pool, q), ["a"]);
  pool.give(a!.task);
  a!.state = "ready";
  q.push(a!, true);
  q.push(c!);
  assert.deepEqual(started(pool, q), ["a"]);
  assert.deepEqual(q.clear().map((n) => n.task.id), ["b", "c"]);
  assert.deepEqual(started(pool, q), []);
});
