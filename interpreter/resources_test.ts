import assert from "node:assert/strict";
import type { App, Executor, ResourceRequests } from "../dsl/model.ts";
import type { Problem } from "../dsl/diagnostic.ts";
import { LOCAL_EXECUTOR } from "./plan.ts";
import { capacityOf, grantAmount, grantResources, scaledDownText } from "./resources.ts";

const LOCAL: Executor = LOCAL_EXECUTOR;

function app(resources: ResourceRequests): App {
  return {
    name: "map",
    executor: "local",
    forEach: [],
    after: [],
    inputs: {},
    outputs: {},
    env: {},
    resources,
    retries: 0,
    cache: { enabled: true, ignore: [] },
  };
}

const CORES = ["apps", "map", "resources", "cores"];
const MEM = ["apps", "map", "resources", "memory"];
const range = (min: number | string, max: number | string, where = CORES) => ({
  min,
  max,
  minWhere: where,
  maxWhere: where,
});

function grant(
  resources: ResourceRequests,
  capacity: { cores: number; memory: number },
  scope = {},
) {
  const problems: Problem[] = [];
  const g = grantResources(
    { task: "map", app: app(resources), executor: LOCAL },
    scope,
    capacity,
    problems,
  );
  return { ...g, problems: problems.map((p) => [p.code, p.path.join("."), p.at, p.message]) };
}

Deno.test("grantAmount: as much as there is up to the maximum; none below the minimum", () => {
  assert.deepEqual(grantAmount(1, 8, 2), { granted: 2 });
  assert.deepEqual(grantAmount(1, 8, 16), { granted: 8 });
  assert.deepEqual(grantAmount(2, 2, 2), { granted: 2 });
  assert.deepEqual(grantAmount(4, 8, 2), { short: true });
  assert.deepEqual(grantAmount(1, 8, Infinity), { granted: 8 });
  assert.deepEqual(grantAmount(0, 2 ** 30, 2 ** 29), { granted: 2 ** 29 });
});

Deno.test("capacityOf: declared capacity, else the machine's for local and no bound for others", () => {
  assert.deepEqual(capacityOf({ ...LOCAL, cores: 3, memory: 2 ** 30 }), {
    cores: 3,
    memory: 2 ** 30,
  });
  const local = capacityOf(LOCAL);
  assert.equal(local.cores, navigator.hardwareConcurrency);
  assert.equal(local.memory, Deno.systemMemoryInfo().total);
  assert.deepEqual(capacityOf({ ...LOCAL, name: "hpc", provider: "slurm" }), {
    cores: Infinity,
    memory: Infinity,
  });
  assert.deepEqual(capacityOf({ ...LOCAL, name: "hpc", provider: "slurm", cores: 4 }), {
    cores: 4,
    memory: Infinity,
  });
});

Deno.test("grantResources: cores up to N are scaled down to the executor, and say so", () => {
  const g = grant({ cores: range(1, 8), walltime: 60 }, { cores: 2, memory: 2 ** 30 });
  assert.deepEqual(g.resources, { cores: 2, walltime: 60 });
  assert.deepEqual(g.scaledDown, { cores: { asked: 8, has: 2 } });
  assert.deepEqual(g.problems, []);
  assert.deepEqual(scaledDownText(g.resources, g.scaledDown, "local"), [
    'cores 2 (asked 8; executor "local" has 2)',
  ]);
  // Enough cores: all of them, nothing said.
  const all = grant({ cores: range(1, 8) }, { cores: 16, memory: 2 ** 30 });
  assert.deepEqual(all, { resources: { cores: 8 }, problems: [] });
});

Deno.test("grantResources: a minimum above the executor's capacity is an error at the key", () => {
  const where = [...CORES, "min"];
  const g = grant({ cores: { min: 4, max: 4, minWhere: where, maxWhere: where } }, {
    cores: 2,
    memory: 2 ** 30,
  });
  assert.deepEqual(g.resources, { cores: 4 });
  assert.deepEqual(g.problems, [[
    "resources-exceed",
    "apps.map.resources.cores.min",
    "key",
    'Cannot run "map" on executor "local": it needs at least 4 cores and it has 2',
  ]]);
  const ranks = grant(
    { cores: range(1, 1), ranks: 3, ranksWhere: ["apps", "map", "resources", "ranks"] },
    { cores: 2, memory: 2 ** 30 },
  );
  assert.equal(
    ranks.problems[0]?.[3],
    'Cannot run "map" on executor "local": it needs at least 3 cores (3 ranks × 1) and it has 2',
  );
});

Deno.test("grantResources: with ranks, each rank is granted its share of the cores", () => {
  const g = grant({ cores: range(1, 8), ranks: 2 }, { cores: 6, memory: 2 ** 30 });
  assert.deepEqual(g.resources, { cores: 3, ranks: 2 });
  assert.deepEqual(g.scaledDown, { cores: { asked: 8, has: 6 } });
});

Deno.test("grantResources: memory ranges scale down; a single size is needed whole", () => {
  const g = grant({ memory: range(2 ** 29, 2 ** 32, MEM) }, { cores: 2, memory: 2 ** 30 });
  assert.deepEqual(g.resources, { memory: 2 ** 30 });
  assert.deepEqual(scaledDownText(g.resources, g.scaledDown, "local"), [
    'memory 1.0 GiB (asked 4.0 GiB; executor "local" has 1.0 GiB)',
  ]);
  const whole = grant({ memory: range(2 ** 31, 2 ** 31, MEM) }, { cores: 2, memory: 2 ** 30 });
  assert.deepEqual(whole.problems, [[
    "resources-exceed",
    "apps.map.resources.memory",
    "key",
    'Cannot run "map" on executor "local": it needs at least 2.0 GiB of memory and it has 1.0 GiB',
  ]]);
});

Deno.test("grantResources: templates are evaluated in the task's scope; bad values are errors", () => {
  const scope = { params: { threads: 3, mem: "512MiB", bad: "many", list: [1] } };
  const cap = { cores: 8, memory: 2 ** 32 };
  assert.deepEqual(grant({ cores: range(1, "${{ params.threads }}") }, cap, scope).resources, {
    cores: 3,
  });
  assert.deepEqual(
    grant({ memory: range("${{ params.mem }}", "${{ params.mem }}", MEM) }, cap, scope).resources,
    { memory: 2 ** 29 },
  );
  assert.deepEqual(grant({ cores: range(1, "${{ params.bad }}") }, cap, scope).problems, [[
    "invalid-value",
    "apps.map.resources.cores",
    undefined,
    'Cannot use "${{ params.bad }}" as cores: it gives the string "many", not a whole number of 1 or more',
  ]]);
  assert.deepEqual(
    grant({ cores: range(1, "${{ params.list }}") }, cap, scope).problems[0]?.[3],
    'Cannot use "${{ params.list }}" as cores: it gives a list, not a whole number of 1 or more',
  );
  assert.deepEqual(
    grant({ memory: range("${{ params.bad }}", "${{ params.bad }}", MEM) }, cap, scope)
      .problems[0]?.[3],
    'Cannot use "${{ params.bad }}" as memory: "many": write a number and a unit: B, K, M, G, T, P (binary), KiB…PiB, or KB…PB (decimal)',
  );
});
