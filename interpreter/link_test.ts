import assert from "node:assert/strict";
import { loadText } from "../dsl/load.ts";
import { validateWorkflow } from "../dsl/validate.ts";
import { expand } from "./expand.ts";
import { link, topoOrder } from "./link.ts";

const WS = "/ws";

function graph(yaml: string, exists: (p: string) => boolean = () => true) {
  const doc = loadText("w.yaml", "ferry: 1\nname: t\n" + yaml).document!;
  const v = validateWorkflow(doc.value);
  assert.deepEqual(v.problems.filter((p) => p.severity === "error"), []);
  const x = expand(v.model, { workspace: WS });
  const l = link(v.model, x, { workspace: WS, exists });
  const ids = x.tasks.map((t) => t.id);
  return {
    ids,
    deps: Object.fromEntries(l.deps.map((d, i) => [ids[i], d.map((j) => ids[j])])),
    problems: [...x.problems, ...l.problems].map((p) => `${p.code}: ${p.message}`),
  };
}

Deno.test("link() connects outputs to inputs through normalised URLs", () => {
  const g = graph(
    "params: { s: [a, b] }\napps:\n" +
      "  mk: { for_each: { s: '${{ params.s }}' }, outputs: { o: 'out/./${{ s }}.txt' }, command: [x] }\n" +
      "  use: { inputs: { all: '${{ apps.mk.outputs.o }}', one: 'out/a.txt' }, command: [y] }\n",
  );
  assert.deepEqual(g.ids, ["mk[s=a]", "mk[s=b]", "use"]);
  assert.deepEqual(g.deps, { "mk[s=a]": [], "mk[s=b]": [], use: ["mk[s=a]", "mk[s=b]"] });
  assert.deepEqual(g.problems, []);
});

Deno.test("link() links inputs inside glob and dir outputs, and after dependencies", () => {
  const g = graph(
    "apps:\n  sim: { outputs: { f: { glob: 'frames/*.pdb' }, d: { dir: logs } }, command: [x] }\n" +
      "  one: { inputs: { p: frames/1.pdb, l: logs/a/b.txt }, command: [y] }\n" +
      "  each: { for_each: { f: '${{ apps.sim.outputs.f }}' }, inputs: { p: '${{ f }}' }, command: [z] }\n" +
      "  last: { after: [each], command: [w] }\n",
  );
  assert.deepEqual(g.deps, { sim: [], one: ["sim"], "each[f=*]": ["sim"], last: ["each[f=*]"] });
});

Deno.test("link() names both writers of one file", () => {
  const g = graph(
    "params: { s: [a, b] }\napps:\n  mk: { for_each: { s: '${{ params.s }}' }, outputs: { o: same.txt }, command: [x] }\n",
  );
  assert.deepEqual(g.problems, [
    'duplicate-output: Cannot let two tasks write "same.txt": both mk[s=a] and mk[s=b] output it',
  ]);
});

Deno.test("link() names a task-level cycle in data-flow order", () => {
  const g = graph(
    "apps:\n  a: { inputs: { i: c.txt }, outputs: { o: a.txt }, command: [x] }\n" +
      "  b: { inputs: { i: a.txt }, outputs: { o: b.txt }, command: [x] }\n" +
      "  c: { inputs: { i: b.txt }, outputs: { o: c.txt }, command: [x] }\n",
  );
  assert.equal(g.problems.length, 1);
  assert.match(
    g.problems[0]!,
    /^cycle: Cannot order tasks in a cycle: (a → b → c → a|b → c → a → b|c → a → b → c)$/,
  );
});

Deno.test("link() reports an input nothing produces once, naming how many tasks need it", () => {
  const g = graph(
    "params: { s: [a, b, c] }\napps:\n  m: { for_each: { s: '${{ params.s }}' }, inputs: { i: data/in.txt }, outputs: { o: '${{ s }}' }, command: [x] }\n",
    () => false,
  );
  assert.deepEqual(g.problems, [
    'missing-input: Cannot find input "data/in.txt" of m[s=a] and 2 more tasks: no such file, and no app writes it',
  ]);
});

function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("topoOrder() orders random DAGs so every dependency comes first", () => {
  const random = rng(20261121);
  for (let round = 0; round < 200; round++) {
    const n = 1 + Math.floor(random() * 60);
    // Edges only from lower to higher index in a random permutation: acyclic by construction.
    const perm = [...Array(n).keys()].sort(() => random() - 0.5);
    const deps: number[][] = Array.from({ length: n }, () => []);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) if (random() < 0.1) deps[perm[j]!]!.push(perm[i]!);
    }
    const problems: never[] = [];
    const order = topoOrder(deps, perm.map(String), problems, () => []);
    assert.equal(order.length, n);
    assert.equal(new Set(order).size, n);
    const pos = new Map(order.map((t, i) => [t, i]));
    deps.forEach((d, i) =>
      d.forEach((j) => assert.ok(pos.get(j)! < pos.get(i)!, `round ${round}`))
    );
  }
});

Deno.test("topoOrder() reports a cycle added to a random DAG", () => {
  const random = rng(7);
  for (let round = 0; round < 50; round++) {
    const n = 3 + Math.floor(random() * 30);
    const deps: number[][] = Array.from({ length: n }, (_, i) => (i > 0 ? [i - 1] : []));
    deps[0]!.push(n - 1); // close the chain into a ring
    const problems: { message: string }[] = [];
    topoOrder(deps, [...Array(n).keys()].map((i) => `t${i}`), problems as never[], () => []);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /^Cannot order tasks in a cycle: (t\d+ → )+t\d+$/);
  }
});
