/**
 * The TypeScript builder: the quickstart built in code (examples/typescript/quickstart.ts) gives
 * the same model and the same plan as examples/quickstart/workflow.yaml, and a builder script is
 * its own command line.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { checkWorkflowFile } from "../interpreter/check.ts";
import { renderPlanJson } from "../interpreter/render_json.ts";
import { validateWorkflow } from "../dsl/validate.ts";
import { loadFile } from "../dsl/load.ts";
import { workflow } from "../dsl/builder.ts";
import { expand } from "../interpreter/expand.ts";
import { quickstart } from "../examples/typescript/quickstart.ts";
import { copyExamples } from "./_examples.ts";
import { ROOT, withTemp } from "./_run.ts";

Deno.test("builder: the quickstart built in TypeScript is the YAML quickstart: same model, same plan", async () => {
  await using ex = await copyExamples("quickstart");
  const quickstartDir = ex.path("quickstart");
  const yaml = await loadFile(join(quickstartDir, "workflow.yaml"));
  const fromYaml = validateWorkflow(yaml.document!.value);
  const fromTs = validateWorkflow(quickstart.toDocument());
  assert.deepEqual(fromTs.problems, []);
  assert.deepEqual(fromTs.model, fromYaml.model);
  await withTemp(async (dir) => {
    const generated = join(dir, "quickstart.yaml");
    await Deno.writeTextFile(generated, JSON.stringify(quickstart.toDocument(), null, 2));
    const a = await checkWorkflowFile(join(quickstartDir, "workflow.yaml"));
    const b = await checkWorkflowFile(generated, { workspace: quickstartDir });
    assert.ok(a.plan && b.plan, "both plan");
    assert.equal(renderPlanJson(b.plan), renderPlanJson(a.plan));
  });
});

Deno.test("builder: a script is its own CLI (check, plan --format json, run) in its folder", async () => {
  await withTemp(async (dir) => {
    const script = join(dir, "flow.ts");
    await Deno.writeTextFile(
      script,
      [
        `import { workflow } from ${JSON.stringify(join(ROOT, "mod.ts"))};`,
        'const wf = workflow("flow", { params: { names: ["a", "b"] } });',
        "const hi = wf.app('hi', {",
        "  forEach: { n: wf.param('names') },",
        "  outputs: { o: 'hi/${{ n }}.txt' },",
        "  command: ['echo', 'hello ${{ n }}'],",
        "  stdout: '${{ outputs.o }}',",
        "});",
        "wf.app('all', {",
        "  inputs: { his: hi.outputs.o },",
        "  outputs: { o: 'all.txt' },",
        "  shell: 'cat ${{ inputs.his }} > ${{ outputs.o }}',",
        "});",
        "if (import.meta.main) await wf.main();",
        "",
      ].join("\n"),
    );
    const deno = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        // The script lives outside the repository and imports ferry by path: no config needed.
        args: ["run", "-A", "--no-config", script, ...args],
        cwd: dir,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const dec = new TextDecoder();
    const check = await deno("check");
    assert.equal(check.code, 0, dec.decode(check.stderr));
    assert.equal(
      dec.decode(check.stdout),
      `✓ ${join(dir, ".ferry", "generated", "flow.yaml")}: valid, 3 tasks, 0 errors, 0 warnings\n`,
    );
    const plan = await deno("plan", "--format", "json");
    assert.equal(plan.code, 0, dec.decode(plan.stderr));
    assert.deepEqual(
      JSON.parse(dec.decode(plan.stdout)).tasks.map((t: { id: string }) => t.id),
      ["hi[n=a]", "hi[n=b]", "all"],
    );
    const run = await deno("run");
    assert.equal(run.code, 0, dec.decode(run.stderr));
    assert.equal(await Deno.readTextFile(join(dir, "all.txt")), "hello a\nhello b\n");
    const bad = await deno("run", "--param", "names=3");
    assert.equal(bad.code, 2);
  });
});

Deno.test("builder: references are typed and apps are unique", () => {
  const wf = workflow("t");
  const a = wf.app("a", { outputs: { x: "x.txt", y: { glob: "y/*.txt" } }, command: ["true"] });
  assert.equal(String(a.outputs.x), "${{ apps.a.outputs.x }}");
  assert.equal(`${a.outputs.y}`, "${{ apps.a.outputs.y }}");
  assert.throws(
    // @ts-expect-error: "missing" is not an output of a
    () => a.outputs.missing,
    /builder_test\.ts:\d+:\d+: Cannot use output "missing" of app "a": outputs of app "a": x, y$/,
  );
  assert.throws(() => wf.app("a", { command: ["true"] }), /workflow "t" already has an app "a"/);
  const f = wf.file("ref", { url: "https://example.org/ref.fa", checksum: "sha256:00" });
  assert.equal(f.expr, "${{ files.ref }}");
});

Deno.test("builder: records and an id template give the same short ids as YAML", () => {
  const wf = workflow("t", { params: { runs: [{ name: "r1", lane: 1 }] } });
  wf.app("map", {
    forEach: { sample: [{ name: "A", fastq: "a.fq" }], run: wf.param("runs") },
    outputs: { bam: "mapped/${{ sample.name }}-${{ run.lane }}.bam" },
    command: ["touch", "${{ outputs.bam }}"],
  });
  wf.app("tag", {
    id: "${{ run.name }}",
    forEach: { run: wf.param("runs") },
    command: ["true"],
  });
  const v = validateWorkflow(wf.toDocument());
  assert.deepEqual(v.problems, []);
  const x = expand(v.model, { workspace: "/ws" });
  assert.deepEqual(x.tasks.map((t) => t.id), ["map[sample=A,run=r1]", "tag[r1]"]);
});

Deno.test("builder: a function the script exports runs as a task in its own Deno process", async () => {
  await withTemp(async (dir) => {
    const script = join(dir, "fns.ts");
    await Deno.writeTextFile(
      script,
      [
        `import { workflow } from ${JSON.stringify(join(ROOT, "mod.ts"))};`,
        "export function shout(args: { outputs: { o: string }; bindings: { w: string } }) {",
        "  Deno.writeTextFileSync(args.outputs.o, args.bindings.w.toUpperCase() + ` from pid ${Deno.pid}\\n`);",
        "  return { length: args.bindings.w.length };",
        "}",
        "function hidden() {}",
        "const wf = workflow('fns', { params: { ws: ['hey', 'ho'] } });",
        "wf.app('shout', {",
        "  forEach: { w: wf.param('ws') },",
        "  outputs: { o: 'out/${{ w }}.txt' },",
        "  function: shout,",
        // The script's top level runs in each task's process too: it may read this variable.
        "  permissions: { env: ['WITH_HIDDEN'] },",
        "});",
        "if (Deno.env.get('WITH_HIDDEN')) wf.app('hidden', { function: hidden });",
        "if (import.meta.main) await wf.main();",
        "",
      ].join("\n"),
    );
    const deno = (env: Record<string, string>, ...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-config", script, ...args],
        cwd: dir,
        env: { NO_COLOR: "1", ...env },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const dec = new TextDecoder();
    const run = await deno({}, "run");
    assert.equal(run.code, 0, dec.decode(run.stderr));
    const hey = await Deno.readTextFile(join(dir, "out", "hey.txt"));
    assert.match(hey, /^HEY from pid \d+\n$/);
    const generated = await Deno.readTextFile(join(dir, ".ferry", "generated", "fns.yaml"));
    assert.ok(generated.includes(`"function": ${JSON.stringify(`${script}#shout`)}`), generated);
    const bad = await deno({ WITH_HIDDEN: "1" }, "check");
    assert.equal(bad.code, 1);
    assert.match(
      dec.decode(bad.stderr),
      /app "hidden": its function hidden must be exported by the script that calls main\(\)/,
    );
  });
});

Deno.test("builder: container on an app and in defaults (false opts out), container_runtime on an executor", () => {
  const wf = workflow("boxed", {
    defaults: { container: "docker.io/library/busybox:1.36", executor: "pod" },
    executors: { pod: { container_runtime: { engine: "podman", args: ["--runtime", "runc"] } } },
  });
  wf.app("boxed", { outputs: { o: "o.txt" }, command: ["touch", "o.txt"] });
  wf.app("own", { container: "localhost/tools:1", outputs: { o: "p.txt" }, command: ["true"] });
  wf.app("bare", { container: false, outputs: { o: "q.txt" }, command: ["true"] });
  const v = wf.validate();
  assert.deepEqual(v.problems, []);
  assert.deepEqual(
    Object.values(v.model.apps).map((a) => a.container ?? null),
    ["docker.io/library/busybox:1.36", "localhost/tools:1", null],
  );
  assert.deepEqual(v.model.executors.pod!.containerRuntime, {
    engine: "podman",
    command: "podman",
    args: ["--runtime", "runc"],
    runArgs: [],
  });
});
