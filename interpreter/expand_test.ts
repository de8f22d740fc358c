import assert from "node:assert/strict";
import { loadText } from "../dsl/load.ts";
import { validateWorkflow } from "../dsl/validate.ts";
import { expand } from "./expand.ts";

function tasks(yaml: string, params = {}) {
  const doc = loadText("w.yaml", "ferry: 1\nname: t\n" + yaml).document!;
  const v = validateWorkflow(doc.value);
  return expand(v.model, { workspace: "/ws", params });
}

Deno.test("expand() makes one task per combination of for_each variables", () => {
  const x = tasks(
    "params: { s: [a, b], n: [1, 2, 3] }\napps:\n  m: { for_each: { s: '${{ params.s }}', n: '${{ params.n }}' }, outputs: { o: 'o/${{ s }}-${{ n }}' }, command: [x] }\n",
  );
  assert.deepEqual(x.tasks.map((t) => t.id), [
    "m[s=a,n=1]",
    "m[s=a,n=2]",
    "m[s=a,n=3]",
    "m[s=b,n=1]",
    "m[s=b,n=2]",
    "m[s=b,n=3]",
  ]);
  assert.equal(x.tasks[4]!.outputs.o!.files[0]!.url, "file:///ws/o/b-2");
});

Deno.test("expand() applies --param overrides", () => {
  const x = tasks(
    "params: { s: [a] }\napps:\n  m: { for_each: { s: '${{ params.s }}' }, command: [x] }\n",
    { s: ["x", "y"] },
  );
  assert.deepEqual(x.tasks.map((t) => t.id), ["m[s=x]", "m[s=y]"]);
});

Deno.test("expand() normalises paths and URLs: percent-encoding, dot segments, trailing slashes", () => {
  const x = tasks(
    "apps:\n  m: { inputs: { a: 'dir with space/./x', b: 'https://H.org/a/../b/', c: 'file:///d/' }, command: [x] }\n",
  );
  const urls = Object.values(x.tasks[0]!.inputs).map((s) => s.files[0]!.url);
  assert.deepEqual(urls, ["file:///ws/dir%20with%20space/x", "https://h.org/b", "file:///d"]);
});

Deno.test("expand() makes a placeholder that expands after a dynamic output", () => {
  const x = tasks(
    "apps:\n  s: { outputs: { f: { glob: 'f/*.pdb' } }, command: [x] }\n  a: { for_each: { f: '${{ apps.s.outputs.f }}' }, inputs: { p: '${{ f }}' }, command: [y] }\n",
  );
  assert.deepEqual(x.tasks[1], {
    id: "a[f=*]",
    app: "a",
    bindings: { f: "*" },
    vars: {},
    inputs: {},
    outputs: {},
    expandsAfter: { app: "s", output: "f" },
  });
});

Deno.test("expand() reports a param-driven output that leaves the workspace", () => {
  const x = tasks(
    "params: { d: ../../etc }\napps:\n  m: { outputs: { o: '${{ params.d }}/x' }, command: [x] }\n",
  );
  assert.deepEqual(x.problems.map((p) => p.code), ["output-outside-workspace"]);
});

Deno.test("expand() iterates a mapping's entries as records { key, value }, ids by key", () => {
  const x = tasks(
    "params: { samples: { A: data/A.fq, B: { fastq: data/B.fq } } }\napps:\n  m: { for_each: { s: '${{ params.samples }}' }, outputs: { o: 'o/${{ s.key }}' }, command: [x] }\n",
  );
  assert.deepEqual(x.problems, []);
  assert.deepEqual(x.tasks.map((t) => [t.id, t.vars, t.outputs.o!.files[0]!.url]), [
    ["m[A]", { s: { key: "A", value: "data/A.fq" } }, "file:///ws/o/A"],
    ["m[B]", { s: { key: "B", value: { fastq: "data/B.fq" } } }, "file:///ws/o/B"],
  ]);
  assert.deepEqual(x.tasks[1]!.bindings, { s: '{"key":"B","value":{"fastq":"data/B.fq"}}' });
});

Deno.test("expand() names a record by its id, name or key field, else its position", () => {
  const x = tasks(
    "apps:\n  m: { for_each: { r: [{ id: 7, name: n }, { name: ann }, { key: k }, { other: 1 }, { name: [x] }] }, command: [x] }\n",
  );
  assert.deepEqual(x.tasks.map((t) => t.id), ["m[7]", "m[ann]", "m[k]", "m[3]", "m[4]"]);
});

Deno.test("expand() iterates a literal mapping in for_each, and records in a cartesian product", () => {
  const x = tasks(
    "apps:\n  m: { for_each: { s: { A: 1, B: 2 }, n: [x, y] }, outputs: { o: 'o/${{ s.key }}-${{ s.value }}-${{ n }}' }, command: [x] }\n",
  );
  assert.deepEqual(x.problems, []);
  assert.deepEqual(x.tasks.map((t) => [t.id, t.outputs.o!.files[0]!.url]), [
    ["m[s=A,n=x]", "file:///ws/o/A-1-x"],
    ["m[s=A,n=y]", "file:///ws/o/A-1-y"],
    ["m[s=B,n=x]", "file:///ws/o/B-2-x"],
    ["m[s=B,n=y]", "file:///ws/o/B-2-y"],
  ]);
});

Deno.test("expand() takes a task id from the app's id: template, for records and scalars", () => {
  const x = tasks(
    "params: { p: [{ name: A, lane: 1 }, { name: A, lane: 2 }] }\napps:\n  m: { id: '${{ s.name }}-L${{ s.lane }}', for_each: { s: '${{ params.p }}' }, command: [x] }\n  n: { id: 'v${{ v }}', for_each: { v: [1, 2] }, command: [x] }\n",
  );
  assert.deepEqual(x.problems, []);
  assert.deepEqual(x.tasks.map((t) => t.id), ["m[A-L1]", "m[A-L2]", "n[v1]", "n[v2]"]);
});

Deno.test("expand() quotes id parts that hold brackets, quotes, spaces, $() or control characters", () => {
  const x = tasks(
    `apps:\n  m: { for_each: { s: { "a]b": 1, "q\\"x": 2, "l\\nm": 3, "$(rm -rf x)": 4, "\\u202e": 5, "": 6, "plain-é.1": 7 } }, command: [x] }\n`,
  );
  assert.deepEqual(x.problems, []);
  assert.deepEqual(x.tasks.map((t) => t.id), [
    'm["a]b"]',
    'm["q\\"x"]',
    'm["l\\nm"]',
    'm["$(rm -rf x)"]',
    'm["\\u202e"]',
    'm[""]',
    "m[plain-é.1]",
  ]);
});

Deno.test("expand() refuses two tasks of one app with the same record id, naming both bindings", () => {
  const x = tasks(
    "params: { p: [{ name: A, f: 1 }, { name: A, f: 2 }] }\napps:\n  m: { for_each: { s: '${{ params.p }}' }, command: [x] }\n  n: { id: same, for_each: { v: [1, 2] }, command: [x] }\n",
  );
  assert.deepEqual(x.problems.map((p) => [p.code, p.path, p.at, p.message]), [
    [
      "duplicate-task-id",
      ["apps", "m", "for_each"],
      "key",
      'Cannot give two tasks the id "m[A]": the bindings s={"name":"A","f":1} and s={"name":"A","f":2} both give it; set "id" on app "m" to tell them apart',
    ],
    [
      "duplicate-task-id",
      ["apps", "n", "id"],
      "key",
      'Cannot give two tasks the id "n[same]": the bindings v=1 and v=2 both give it',
    ],
  ]);
});

Deno.test("expand() keeps scalar ids, and #2 for a repeated scalar value", () => {
  const x = tasks("apps:\n  m: { for_each: { s: [a, a] }, command: [x] }\n");
  assert.deepEqual(x.tasks.map((t) => t.id), ["m[s=a]", "m[s=a]#2"]);
});

Deno.test("expand() refuses an id: template that puts a record inside text", () => {
  const x = tasks(
    "apps:\n  m: { id: 'x${{ s }}', for_each: { s: [{ a: 1 }] }, command: [x] }\n",
  );
  assert.deepEqual(x.problems.map((p) => [p.code, p.path, p.message]), [
    [
      "wrong-type",
      ["apps", "m", "id"],
      'Cannot put a mapping inside text: "${{ s }}" must be the whole value to stand for a list',
    ],
  ]);
  assert.deepEqual(x.tasks, []);
});

Deno.test("expand() adds extra bindings as if the lists held them", () => {
  const doc = loadText(
    "w.yaml",
    "ferry: 1\nname: t\nparams: { s: [a] }\napps:\n  m: { for_each: { s: '${{ params.s }}', n: [1, 2] }, outputs: { o: 'o/${{ s }}-${{ n }}' }, command: [x] }\n",
  ).document!;
  const x = expand(validateWorkflow(doc.value).model, {
    workspace: "/ws",
    extra: new Map([["m", [{ s: "D", n: "3" }]]]),
  });
  assert.deepEqual(x.tasks.map((t) => [t.id, t.outputs.o!.files[0]!.url]), [
    ["m[s=a,n=1]", "file:///ws/o/a-1"],
    ["m[s=a,n=2]", "file:///ws/o/a-2"],
    ["m[s=D,n=3]", "file:///ws/o/D-3"],
  ]);
});
