import assert from "node:assert/strict";
import { join } from "node:path";
import { loadFile } from "../dsl/load.ts";
import { validateSite, validateWorkflow } from "../dsl/validate.ts";
import { runCli } from "./_cli.ts";
import { copyExamples } from "./_examples.ts";

async function* files(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* files(p);
    // A params file (config.yaml) is no workflow: the example's own test runs it.
    else if (/\.(ya?ml|toml)$/.test(e.name) && !/^config\./.test(e.name)) yield p;
  }
}

/** The workflow and site files of a copy of examples/ (not its params files), sorted. */
async function exampleFiles(tmp: string): Promise<string[]> {
  const out: string[] = [];
  for await (const f of files(join(tmp, "examples"))) out.push(f);
  return out.sort();
}

Deno.test("every example starts with the yaml-language-server schema line", async () => {
  await using ex = await copyExamples();
  const examples = await exampleFiles(ex.tmp);
  assert.ok(examples.length >= 4);
  for (const f of examples) {
    const text = await Deno.readTextFile(f);
    const kind = /site\.(ya?ml|toml)$/.test(f) ? "site" : "workflow";
    const line = `# yaml-language-server: $schema=../../schemas/${kind}.schema.json`;
    const lines = text.split("\n");
    if (f.endsWith(".toml")) {
      assert.equal(lines[0], `#:schema ../../schemas/${kind}.schema.json`, f);
      assert.equal(lines[1], line, f);
    } else {
      assert.equal(lines[0], line, f);
    }
  }
});

Deno.test("every example's YAML and TOML forms load to the identical model", async () => {
  await using ex = await copyExamples();
  const examples = await exampleFiles(ex.tmp);
  let pairs = 0;
  for (const f of examples.filter((f) => f.endsWith(".yaml"))) {
    const twin = f.replace(/\.yaml$/, ".toml");
    const y = await loadFile(f), t = await loadFile(twin);
    assert.ok(y.document && t.document, `${f} and ${twin} both load`);
    const site = /site\.yaml$/.test(f);
    const a = site ? validateSite(y.document.value) : validateWorkflow(y.document.value);
    const b = site ? validateSite(t.document.value) : validateWorkflow(t.document.value);
    assert.deepEqual(a.model, b.model, `${f} vs ${twin}`);
    pairs++;
  }
  assert.equal(pairs * 2, examples.length, "every example has both forms");
});

Deno.test("ferry check accepts every example workflow (with its site file)", async () => {
  await using ex = await copyExamples();
  const examples = await exampleFiles(ex.tmp);
  for (const f of examples.filter((f) => !/site\.(ya?ml|toml)$/.test(f))) {
    const dir = f.slice(0, f.lastIndexOf("/"));
    const ext = f.slice(f.lastIndexOf(".") + 1);
    const site = examples.find((s) => s === `${dir}/site.${ext}`);
    const r = await runCli(site ? ["check", "--site", site, f] : ["check", f]);
    assert.equal(r.code, 0, `${f}\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /valid, \d+ tasks?, 0 errors, 0 warnings\n$/, f);
  }
});
