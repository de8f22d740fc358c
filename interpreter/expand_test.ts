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
