import assert from "node:assert/strict";
import { locate } from "./diagnostic.ts";
import { loadText } from "./load.ts";
import { validateSite, validateWorkflow } from "./validate.ts";

function problems(yaml: string, site?: string): string[] {
  const { document } = loadText("w.yaml", yaml);
  assert.ok(document, "test input must parse");
  const siteModel = site === undefined
    ? undefined
    : validateSite(loadText("s.yaml", site).document!.value).model;
  const v = validateWorkflow(document.value, siteModel ? { site: siteModel } : {});
  return v.problems.map((p) => {
    const d = locate(p, "w.yaml", document.index);
    return `${d.code}@${d.line}:${d.column} ${d.message}`;
  });
}

const HEAD = "ferry: 1\nname: t\n";

Deno.test("validateWorkflow() accepts a minimal workflow", () => {
  assert.deepEqual(problems(HEAD + "apps:\n  a: { command: [echo, hi] }\n"), []);
});

Deno.test("validateWorkflow() stops at an unsupported version", () => {
  assert.deepEqual(problems("ferry: 2\nname: t\napps: { a: { bogus: 1 } }\n"), [
    'unsupported-version@1:8 Cannot read format version 2: this ferry reads "ferry: 1"; upgrade ferry to read newer files',
  ]);
});

Deno.test("validateWorkflow() suggests the key meant by a typo", () => {
  assert.deepEqual(problems(HEAD + "apps:\n  a:\n    comand: [echo]\n"), [
    'unknown-key@5:5 Cannot use unknown key "comand" in app "a": did you mean "command"?',
    'missing-command@4:3 Cannot run app "a": give it one of command, shell, function or script',
  ]);
});

Deno.test("validateWorkflow() points inside a string at the expression that is wrong", () => {
  assert.deepEqual(
    problems(
      HEAD + "params: { samples: [a] }\napps:\n  a:\n    shell: echo ${{ params.smaples }}\n",
    ),
    [
      'unknown-param@6:17 Cannot resolve "${{ params.smaples }}": no param "smaples": did you mean "samples"?',
      'unused-param@3:11 Param "samples" is never used',
    ],
  );
});

Deno.test("validateWorkflow() keeps apps out of commands: outputs reach tasks as inputs", () => {
  const out = problems(
    HEAD +
      "apps:\n  a: { outputs: { o: x }, command: [touch, x] }\n  b: { command: [cat, '${{ apps.a.outputs.o }}'] }\n",
  );
  assert.equal(out.length, 1);
  assert.match(
    out[0]!,
    /^expression-scope@5:24 Cannot use "\$\{\{ apps.a.outputs.o \}\}" in "command": another app's outputs/,
  );
});

Deno.test("validateWorkflow() refuses literal secrets and passwords in URLs", () => {
  assert.deepEqual(
    problems(
      HEAD +
        "files: { f: 'ftp://me:hunter2@h/x' }\napps:\n  a: { inputs: { f: '${{ files.f }}' }, command: [x, '${{ inputs.f }}'] }\n",
    ),
    [
      'literal-secret@3:14 Cannot keep a password in a URL: remove "user:password@" and set password_env on the site\'s staging rule instead',
    ],
  );
});

Deno.test("validateWorkflow() checks quantities, executors, after and for_each", () => {
  const out = problems(
    HEAD +
      "params: { one: x }\napps:\n  a:\n    for_each: { v: '${{ params.one }}' }\n    executor: clustr\n    after: [c]\n" +
      "    resources: { memory: 4 gigs, walltime: 1h70m }\n    command: [echo, '${{ v }}']\n",
    "ferry-site: 1\nexecutors: { cluster: { provider: slurm } }\n",
  );
  assert.deepEqual(out.map((l) => l.split(" ")[0]), [
    "invalid-quantity@9:26",
    "invalid-quantity@9:44",
    "unknown-after@8:13",
    "unknown-executor@7:15",
    "for-each-not-list@6:21",
  ]);
  assert.ok(
    out.includes('unknown-executor@7:15 Cannot find executor "clustr": did you mean "cluster"?'),
  );
});

Deno.test("validateWorkflow() keeps outputs inside the workspace unless an output root allows it", () => {
  const yaml = HEAD + "apps:\n  a: { outputs: { o: ../x, p: /data/out/y }, command: [x] }\n";
  const out = problems(yaml);
  assert.deepEqual(out.map((l) => l.split(" ")[0]), [
    "output-outside-workspace@4:22",
    "output-outside-workspace@4:31",
  ]);
  const allowed = problems(yaml, "ferry-site: 1\nexecutors: {}\noutput_roots: [/data/out]\n");
  assert.deepEqual(allowed.map((l) => l.split(" ")[0]), ["output-outside-workspace@4:22"]);
});

Deno.test("validateSite() checks providers, actions, patterns and rewrite groups", () => {
  const { document } = loadText(
    "s.yaml",
    "ferry-site: 1\nexecutors:\n  c:\n    provider: slrum\n    staging:\n" +
      "      - { match: 'chirp://:host/*', action: rewrite, to: '/chirp/:hots/:0' }\n" +
      "      - { match: 'https://*', action: htp }\n      - { match: 'file:///shared/*', action: scratch }\n" +
      "      - { match: '(', action: skip }\n",
  );
  const v = validateSite(document!.value);
  const out = v.problems.map((p) => {
    const d = locate(p, "s.yaml", document!.index);
    return `${d.code}@${d.line}`;
  });
  assert.deepEqual(out, [
    "unknown-provider@4",
    "unknown-group@6",
    "unknown-action@7",
    "missing-scratch@8",
    "invalid-pattern@9",
  ]);
});

Deno.test("validateWorkflow() gives YAML and TOML the same model", () => {
  const y = loadText(
    "w.yaml",
    HEAD +
      "apps:\n  a:\n    inputs: { x: [a.txt, { url: 'https://h/x', checksum: 'sha256:ab' }] }\n    command: [cat, '${{ inputs.x }}']\n",
  );
  const t = loadText(
    "w.toml",
    'ferry = 1\nname = "t"\n[apps.a]\ninputs = { x = ["a.txt", { url = "https://h/x", checksum = "sha256:ab" }] }\ncommand = ["cat", "${{ inputs.x }}"]\n',
  );
  assert.deepEqual(
    validateWorkflow(y.document!.value).model,
    validateWorkflow(t.document!.value).model,
  );
});
