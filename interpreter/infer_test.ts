import assert from "node:assert/strict";
import { loadText } from "../dsl/load.ts";
import { validateWorkflow } from "../dsl/validate.ts";
import { expand, type Extra } from "./expand.ts";
import { inferTargets } from "./infer.ts";

const CHAIN = `
params: { samples: [A, B], ext: bam }
apps:
  map:
    for_each: { sample: "\${{ params.samples }}" }
    inputs: { fq: "data/\${{ sample }}.fastq" }
    outputs: { bam: "mapped/\${{ sample }}.\${{ params.ext }}" }
    command: [x]
  sort:
    for_each: { sample: "\${{ params.samples }}" }
    inputs: { bam: "mapped/\${{ sample }}.bam" }
    outputs: { bam: "sorted/\${{ sample }}.bam" }
    command: [x]
`;

/** Infer `targets` in a workflow whose workspace `/ws` holds `files` (relative paths). */
function infer(yaml: string, targets: string[], files: string[] = []) {
  const doc = loadText("w.yaml", "ferry: 1\nname: t\n" + yaml).document!;
  const w = validateWorkflow(doc.value).model;
  const expandWith = (extra: Extra) => expand(w, { workspace: "/ws", extra });
  const x = expandWith(new Map());
  const r = inferTargets(w, targets, x, {
    workspace: "/ws",
    params: x.params,
    expandWith,
    exists: (p) => files.some((f) => `/ws/${f}` === p),
  });
  return r.ok ? { extra: Object.fromEntries(r.extra) } : r.message;
}

Deno.test("inferTargets() reads the bindings from the path and chains back to existing files", () => {
  assert.deepEqual(infer(CHAIN, ["sorted/D.bam"], ["data/D.fastq"]), {
    extra: { sort: [{ sample: "D" }], map: [{ sample: "D" }] },
  });
  assert.deepEqual(
    infer(CHAIN, ["/ws/./sorted/D.bam", "mapped/E.bam"], ["data/D.fastq", "data/E.fastq"]),
    {
      extra: { sort: [{ sample: "D" }], map: [{ sample: "E" }, { sample: "D" }] },
    },
  );
});

Deno.test("inferTargets() infers nothing for targets tasks already make, and stops at an existing input", () => {
  assert.deepEqual(infer(CHAIN, ["sorted/A.bam", "sort", "map[sample=B]"]), { extra: {} });
  assert.deepEqual(infer(CHAIN, ["sorted/D.bam"], ["mapped/D.bam"]), {
    extra: { sort: [{ sample: "D" }] },
  });
});

Deno.test("inferTargets() says which task needs which missing input", () => {
  assert.equal(
    infer(CHAIN, ["sorted/D.bam"]),
    'Cannot make target "sorted/D.bam": sort[sample=D] would write it but reads "mapped/D.bam", for which map[sample=D] would write it but reads "data/D.fastq", which is no file and matches no output template',
  );
});

Deno.test("inferTargets() keeps the unknown-target message when no template matches", () => {
  assert.equal(
    infer(CHAIN, ["other/D.bam"]),
    'Cannot find target "other/D.bam": it is no task id, app or output',
  );
  assert.equal(
    infer(CHAIN, ["sorted/a/b.bam"]),
    'Cannot find target "sorted/a/b.bam": it is no task id, app or output',
  );
});

Deno.test("inferTargets() refuses a path two templates match, naming both", () => {
  const yaml = CHAIN + `
  copy:
    for_each: { name: [x] }
    outputs: { o: "sorted/\${{ name }}.bam" }
    command: [x]
`;
  assert.equal(
    infer(yaml, ["sorted/D.bam"], ["data/D.fastq"]),
    'Cannot make target "sorted/D.bam": 2 output templates match it: "sorted/${{ sample }}.bam" of app sort gives sample=D; "sorted/${{ name }}.bam" of app copy gives name=D',
  );
});

Deno.test("inferTargets() refuses a path a template splits in two ways, and takes one that splits once", () => {
  const yaml = `
apps:
  pair:
    for_each: { a: [x], b: [y] }
    outputs: { o: "out/\${{ a }}_\${{ b }}.txt", p: "per/\${{ a }}/\${{ b }}.txt" }
    command: [x]
`;
  assert.equal(
    infer(yaml, ["out/p_q_r.txt"]),
    'Cannot make target "out/p_q_r.txt": "out/${{ a }}_${{ b }}.txt" of app pair matches it as a=p,b=q_r and as a=p_q,b=r, so the bindings are ambiguous',
  );
  assert.deepEqual(infer(yaml, ["out/p_q.txt"]), { extra: { pair: [{ a: "p", b: "q" }] } });
  assert.deepEqual(infer(yaml, ["per/p_q/r.txt"]), { extra: { pair: [{ a: "p_q", b: "r" }] } });
});

Deno.test("inferTargets() tries only plain for_each variables, and says why it skipped a template", () => {
  const yaml = `
params: { p: [{ name: A }] }
apps:
  rec:
    for_each: { s: "\${{ params.p }}" }
    outputs: { o: "rec/\${{ s.name }}.txt" }
    command: [x]
  two:
    for_each: { a: [x], b: [y] }
    outputs: { o: "two/\${{ a }}.txt" }
    command: [x]
`;
  assert.equal(
    infer(yaml, ["rec/D.txt"]),
    'Cannot find target "rec/D.txt": it is no task id, app or output, and no output template can make it ("rec/${{ s.name }}.txt" of app rec uses "${{ s.name }}", not a plain for_each variable)',
  );
  assert.equal(
    infer(yaml, ["two/D.txt"]),
    'Cannot find target "two/D.txt": it is no task id, app or output, and no output template can make it ("two/${{ a }}.txt" of app two does not name b)',
  );
});

Deno.test("inferTargets() reads a repeated variable once and escapes what it shows", () => {
  const yaml = `
apps:
  twice:
    for_each: { s: [x] }
    inputs: { i: "in/\${{ s }}" }
    outputs: { o: "out/\${{ s }}-\${{ s }}.txt" }
    command: [x]
`;
  assert.deepEqual(infer(yaml, ["out/a-a.txt"], ["in/a"]), { extra: { twice: [{ s: "a" }] } });
  assert.equal(
    infer(yaml, ["out/a-b.txt"]),
    'Cannot find target "out/a-b.txt": it is no task id, app or output',
  );
  assert.equal(
    infer(yaml, ["out/\x1b[2J\n-\x1b[2J\n.txt"]),
    'Cannot make target "out/\\x1b[2J\\n-\\x1b[2J\\n.txt": twice[s=\\x1b[2J\\n] would write it but reads "in/\\x1b[2J\\n", which is no file and matches no output template',
  );
});

Deno.test("inferTargets() gives up on a template that reads a longer name of itself", () => {
  const yaml = `
apps:
  grow:
    for_each: { s: [x] }
    inputs: { i: "g/\${{ s }}x" }
    outputs: { o: "g/\${{ s }}" }
    command: [x]
`;
  const m = infer(yaml, ["g/a"]);
  assert.equal(typeof m, "string");
  assert.match(
    m as string,
    /^Cannot make target "g\/a": grow\[s=a\] would write it but reads "g\/ax", for which grow\[s=ax\] would write it .* it needs more than 100 tasks in a chain \(does a template read a longer name of itself\?\)$/,
  );
});
