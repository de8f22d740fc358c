/**
 * The corpus of malformed inputs: every file in `testdata/invalid/` is a
 * workflow or site file with realistic mistakes, and `expected.json` lists
 * every diagnostic each must give, as `code@line`. Site fixtures
 * (`*.site.yaml`, `*.site.toml`) are checked against `_host.yaml`, a valid
 * workflow that uses only the built-in `local` executor.
 *
 * `random-bytes.yaml` holds 512 bytes from a seeded PRNG (mulberry32, seed
 * 0x5eed1234); `utf16.toml` is a workflow saved as UTF-16 LE with a BOM;
 * `deep-nesting.*` nest 20000 lists. They are committed as generated.
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { checkWorkflowFile } from "../interpreter/check.ts";
import { DIAGNOSTIC_CODES } from "../dsl/codes.ts";
import type { Diagnostic } from "../dsl/diagnostic.ts";
import { cli } from "../cli/mod.ts";

const DIR = fileURLToPath(new URL("./testdata/invalid/", import.meta.url));
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const HOST = `${DIR}_host.yaml`;
const EXPECTED: Record<string, string[]> = JSON.parse(
  Deno.readTextFileSync(`${DIR}expected.json`),
);

/** Files in the folder that are not fixtures. */
const NOT_FIXTURES = new Set(["expected.json", "_host.yaml"]);
/** Codes that are warnings: a fixture with only these passes `ferry check`. */
const WARNING_CODES = new Set([
  "unused-param",
  "unused-file",
  "unstaged-file",
  "empty-fan-out",
  "assumed-input",
  "undeclared-redirect",
  "quoted-substitution",
  "snakemake-placeholder",
  "unused-input",
  "unused-permissions",
]);
/** Codes covered by the special tests below rather than by a fixture. */
const SPECIAL_CODES = new Set([
  "read-error",
  "assumed-input",
  "unreachable-input",
  // located in a replica catalog beside the workflow: tests/replicas_test.ts
  "replica-catalog",
  "unknown-logical-file",
]);
/** Codes a TOML file cannot produce (YAML-only syntax, or no TOML file at all). */
const NOT_TOML = new Set([
  "not-a-mapping",
  "yaml-syntax",
  "multiple-documents",
  "alias-limit",
  "unknown-format",
]);
/** Codes a YAML file cannot produce. */
const NOT_YAML = new Set(["toml-syntax", "unknown-format"]);

const FIXTURES: string[] = [...Deno.readDirSync(DIR)]
  .filter((e) => e.isFile && !NOT_FIXTURES.has(e.name))
  .map((e) => e.name)
  .sort();

const isSite = (name: string) => /\.site\.(ya?ml|toml)$/.test(name);
const isToml = (name: string) => name.toLowerCase().endsWith(".toml");
const isYaml = (name: string) => /\.ya?ml$/i.test(name);
const codeOf = (entry: string) => entry.slice(0, entry.lastIndexOf("@"));
const warningOnly = (name: string) =>
  (EXPECTED[name] ?? []).every((e) => WARNING_CODES.has(codeOf(e)));
const show = (ds: readonly Diagnostic[]) =>
  ds.map((d) => `${d.code}@${d.line}:${d.column} ${d.message}`).join("\n");

/** Check a fixture the way its kind is checked; diagnostics of every file. */
async function check(name: string): Promise<readonly Diagnostic[]> {
  const path = DIR + name;
  const r = isSite(name)
    ? await checkWorkflowFile(HOST, { site: path })
    : await checkWorkflowFile(path);
  return r.diagnostics;
}

/** Run the CLI in-process, capturing what it writes. */
async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "", err = "";
  const code = await cli(args, {
    stdout: (s) => (out += s),
    stderr: (s) => (err += s),
    color: false,
  });
  return { code, out, err };
}

const cliArgs = (name: string) =>
  isSite(name) ? ["check", "--site", DIR + name, HOST] : ["check", DIR + name];

function assertNoCrash(text: string, what: string): void {
  assert.ok(!/internal error/i.test(text), `${what}: "internal error" in output:\n${text}`);
  assert.ok(!/\n\s+at /.test(text), `${what}: a stack trace in output:\n${text}`);
}

for (const name of FIXTURES) {
  Deno.test(`invalid fixture: ${name}`, async (t) => {
    const expected = EXPECTED[name];
    assert.ok(expected, `${name} is not listed in expected.json`);

    await t.step("diagnostics match expected.json", async () => {
      const all = await check(name);
      const mine = all.filter((d) => d.file === DIR + name);
      const others = all.filter((d) => d.file !== DIR + name);
      assert.deepEqual(others, [], `diagnostics outside ${name}:\n${show(others)}`);
      assert.deepEqual(
        mine.map((d) => `${d.code}@${d.line}`).sort(),
        [...expected].sort(),
        `diagnostics of ${name}:\n${show(mine)}`,
      );
      for (const d of mine) {
        assert.equal(
          d.severity,
          WARNING_CODES.has(d.code) ? "warning" : "error",
          `severity of ${d.code}`,
        );
        assert.ok(d.line >= 1 && d.column >= 1, `position of ${d.code}: ${d.line}:${d.column}`);
        assert.ok(d.message.length > 0 && !d.message.endsWith("."), `message of ${d.code}`);
      }
    });

    await t.step("the CLI exits 0 or 2 without a stack trace", async () => {
      for (const format of ["text", "json"]) {
        const r = await runCli([...cliArgs(name), "--format", format]);
        assertNoCrash(r.out + r.err, `${name} --format ${format}`);
        assert.equal(r.code, warningOnly(name) ? 0 : 2, `exit code, output:\n${r.out}${r.err}`);
      }
    });
  });
}

Deno.test("every fixture is listed in expected.json, and every entry is a fixture", () => {
  assert.deepEqual(FIXTURES, Object.keys(EXPECTED).sort());
  assert.ok(FIXTURES.length >= 90, `only ${FIXTURES.length} fixtures`);
  assert.ok(FIXTURES.some(isSite) && FIXTURES.some((n) => !isSite(n)));
  assert.ok(FIXTURES.some(isToml) && FIXTURES.some(isYaml));
  assert.ok(FIXTURES.some((n) => n.includes(" ") && /[^ -~]/.test(n)));
});

Deno.test("expected.json names only known codes, in code@line form", () => {
  for (const [name, list] of Object.entries(EXPECTED)) {
    for (const entry of list) {
      assert.match(entry, /^[a-z-]+@[1-9][0-9]*$/, `${name}: ${entry}`);
      assert.ok(codeOf(entry) in DIAGNOSTIC_CODES, `${name}: unknown code in ${entry}`);
    }
    assert.ok(list.length > 0, `${name}: a fixture with nothing wrong`);
  }
});

Deno.test("every diagnostic code is covered, in YAML and where possible in TOML", () => {
  const covered = (pick: (n: string) => boolean) =>
    new Set(Object.entries(EXPECTED).filter(([n]) => pick(n)).flatMap(([, l]) => l.map(codeOf)));
  const any = covered(() => true), yaml = covered(isYaml), toml = covered(isToml);
  for (const code of Object.keys(DIAGNOSTIC_CODES)) {
    if (SPECIAL_CODES.has(code)) continue;
    assert.ok(any.has(code), `no fixture expects ${code}`);
    if (!NOT_YAML.has(code)) assert.ok(yaml.has(code), `no YAML fixture expects ${code}`);
    if (!NOT_TOML.has(code)) assert.ok(toml.has(code), `no TOML fixture expects ${code}`);
  }
});

Deno.test("read-error: a path that does not exist, and a directory", async () => {
  const missing = `${DIR}no such workflow.yaml`;
  const r1 = await checkWorkflowFile(missing);
  assert.deepEqual(r1.diagnostics.map((d) => [d.code, d.line, d.column, d.severity, d.message]), [
    ["read-error", 1, 1, "error", `Cannot read "${missing}": no such file`],
  ]);
  const dir = `${DIR}data`;
  const r2 = await checkWorkflowFile(dir);
  assert.deepEqual(r2.diagnostics.map((d) => [d.code, d.line, d.column, d.severity, d.message]), [
    ["read-error", 1, 1, "error", `Cannot read "${dir}": it is a directory`],
  ]);
  const r3 = await checkWorkflowFile(HOST, { site: `${DIR}no-such.site.yaml` });
  assert.deepEqual(r3.diagnostics.map((d) => `${d.file}: ${d.code}@${d.line}`), [
    `${DIR}no-such.site.yaml: read-error@1`,
  ]);
  for (const args of [["check", missing], ["check", dir]]) {
    const r = await runCli(args);
    assertNoCrash(r.out + r.err, args.join(" "));
    assert.equal(r.code, 2);
  }
});

Deno.test("assumed-input: absent inputs become warnings under assumeInputs", async () => {
  const yaml = await checkWorkflowFile(`${DIR}missing-input.yaml`, { assumeInputs: true });
  assert.deepEqual(yaml.diagnostics.map((d) => `${d.code}@${d.line} ${d.severity}`), [
    "assumed-input@10 warning",
    "assumed-input@10 warning",
    "assumed-input@16 warning",
  ]);
  assert.equal(
    yaml.diagnostics[0]!.message,
    'Input "data/a.fq" of align[sample=a] does not exist; assuming it will (--assume-inputs)',
  );
  const toml = await checkWorkflowFile(`${DIR}missing-input.toml`, { assumeInputs: true });
  assert.deepEqual(toml.diagnostics.map((d) => `${d.code}@${d.line} ${d.severity}`), [
    "assumed-input@6 warning",
  ]);
  const r = await runCli(["check", "--assume-inputs", `${DIR}missing-input.yaml`]);
  assertNoCrash(r.out + r.err, "--assume-inputs");
  assert.equal(r.code, 0);
});

Deno.test("unreachable-input: ferry plan --check-inputs asks the server", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => new Response(null, { status: new URL(req.url).pathname === "/ok.fa" ? 200 : 404 }),
  );
  const dir = await Deno.makeTempDir({ prefix: "ferry-invalid-" });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const file = `${dir}/workflow.yaml`;
    const inputs = `    inputs: { ok: "${base}/ok.fa", gone: "${base}/ref/genome.fa" }`;
    const command = '    command: [bwa, mem, "${{ inputs.ok }}", "${{ inputs.gone }}"]';
    await Deno.writeTextFile(
      file,
      ["ferry: 1", "name: remote", "apps:", "  align:", inputs, command, ""].join("\n"),
    );
    const column = inputs.indexOf('gone: "') + 'gone: "'.length + 1;
    const r = await runCli(["plan", "--check-inputs", file]);
    assertNoCrash(r.out + r.err, "plan --check-inputs");
    assert.equal(r.code, 2);
    const lines = r.err.split("\n").filter((l) => l.startsWith(file));
    assert.deepEqual(lines, [
      `${file}:5:${column}: error[unreachable-input]: Cannot reach input "${base}/ref/genome.fa": the server answered 404 Not Found`,
    ]);
    assert.equal((await runCli(["plan", file])).code, 0, "without --check-inputs");
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ferry check --format json over every workflow fixture, in a subprocess", async () => {
  const workflows = FIXTURES.filter((n) => !isSite(n));
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "check", "--format", "json", ...workflows.map((n) => DIR + n)],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(stderr);
  const out = new TextDecoder().decode(stdout);
  assertNoCrash(err, "subprocess stderr");
  assert.equal(code, 2, `exit code; stderr:\n${err}`);
  const rows: Diagnostic[] = JSON.parse(out);
  assert.ok(Array.isArray(rows));
  for (const name of workflows) {
    assert.deepEqual(
      rows.filter((d) => d.file === DIR + name).map((d) => `${d.code}@${d.line}`).sort(),
      [...EXPECTED[name]!].sort(),
      `JSON rows of ${name}`,
    );
  }
  for (const d of rows) {
    assert.deepEqual(Object.keys(d).sort(), [
      "code",
      "column",
      "file",
      "line",
      "message",
      "path",
      "severity",
    ]);
  }
});

/** The diagnostics of one fixture, as `line:column message` of one code. */
async function messages(name: string, code: string): Promise<string[]> {
  return (await check(name)).filter((d) => d.code === code).map((d) =>
    `${d.line}:${d.column} ${d.message}`
  );
}

Deno.test("message: unknown key with did-you-mean", async () => {
  assert.deepEqual(await messages("unknown-key-app.yaml", "unknown-key"), [
    '6:5 Cannot use unknown key "inptus" in app "align": did you mean "inputs"?',
  ]);
  assert.deepEqual(await messages("unknown-key-top.yaml", "unknown-key"), [
    '3:1 Cannot use unknown key "descripton" in the top level: did you mean "description"?',
    '4:1 Cannot use unknown key "app" in the top level: did you mean "apps"?',
  ]);
});

Deno.test("message: unknown param with did-you-mean", async () => {
  assert.deepEqual(await messages("unknown-param.yaml", "unknown-param"), [
    '11:30 Cannot resolve "${{ params.thread }}": no param "thread": did you mean "threads"?',
    '14:22 Cannot resolve "${{ params.smaples }}": no param "smaples": did you mean "samples"?',
  ]);
});

Deno.test("message: unknown executor, with did-you-mean or the known ones", async () => {
  assert.deepEqual(await messages("unknown-executor.yaml", "unknown-executor"), [
    '8:15 Cannot find executor "clustr": did you mean "cluster"?',
    '11:15 Cannot find executor "gpu": known executors are local, cluster (pass a site file with --site)',
  ]);
});

Deno.test("message: a cycle names its path", async () => {
  assert.deepEqual(await messages("cycle-files.yaml", "cycle"), [
    "6:20 Cannot order tasks in a cycle: index → align → index",
  ]);
  assert.deepEqual(await messages("cycle-after.yaml", "cycle"), [
    "11:5 Cannot order tasks in a cycle: align → report → prepare → align",
  ]);
  assert.deepEqual(await messages("cycle-after-self.yaml", "cycle"), [
    '5:13 Cannot wait for app "align" after itself: a cycle align → align',
  ]);
});

Deno.test("message: two writers of one file name both tasks", async () => {
  assert.deepEqual(await messages("duplicate-output-for-each.yaml", "duplicate-output"), [
    '10:21 Cannot let two tasks write "out/aligned.bam": both align[sample=a] and align[sample=b] output it',
    '10:21 Cannot let two tasks write "out/aligned.bam": both align[sample=a] and align[sample=c] output it',
  ]);
  assert.deepEqual(await messages("duplicate-output-apps.yaml", "duplicate-output"), [
    '9:21 Cannot let two tasks write "out/reads.bam": both align and realign output it',
  ]);
});

Deno.test("text format: the source line and a caret under the column", async () => {
  const file = `${DIR}unknown-key-app.yaml`;
  const r = await runCli(["check", file]);
  assert.equal(r.code, 2);
  assert.equal(r.err, "");
  assert.equal(
    r.out,
    `${file}:6:5: error[unknown-key]: Cannot use unknown key "inptus" in app "align": did you mean "inputs"?\n` +
      "    6 |     inptus:\n" +
      "      |     ^\n" +
      `✗ ${file}: 1 error, 0 warnings\n`,
  );
});

Deno.test("text format: warnings only, valid", async () => {
  const file = `${DIR}warnings-only.toml`;
  const r = await runCli(["check", file]);
  assert.equal(r.code, 0);
  assert.equal(
    r.out,
    `${file}:6:1: warning[unused-param]: Param "threads" is never used\n` +
      "    6 | threads = 4\n" +
      "      | ^\n" +
      `${file}:10:1: warning[unused-file]: File "unused" is never used\n` +
      '   10 | unused = "https://data.example.org/ref/unused.fa.gz"\n' +
      "      | ^\n" +
      `${file}:13:18: warning[empty-fan-out]: for_each "x" of app "align" is an empty list, so the app has no tasks\n` +
      "   13 | for_each = { x = [] }\n" +
      "      |                  ^\n" +
      `${file}:14:18: warning[unstaged-file]: "files.genome" is used in shell but is not an input, so it is not staged to the task: declare it under inputs and use \${{ inputs.NAME }}\n` +
      '   14 | shell = "bwa mem ${{ files.genome }} ${{ x }}"\n' +
      "      |                  ^\n" +
      `✓ ${file}: valid, 0 tasks, 0 errors, 4 warnings\n`,
  );
});

/** A value escaped as GitHub workflow-command properties escape it. */
const ghProp = (s: string) =>
  s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/:/g, "%3A")
    .replace(/,/g, "%2C");

Deno.test("github format: one annotation per diagnostic", async () => {
  const file = `${DIR}unknown-executor.yaml`;
  const warn = `${DIR}warnings-only.yaml`;
  const r = await runCli(["check", "--format", "github", file, warn]);
  assert.equal(r.code, 2);
  assert.equal(
    r.out,
    `::error file=${ghProp(file)},line=8,col=15,title=ferry unknown-executor::` +
      'Cannot find executor "clustr": did you mean "cluster"?\n' +
      `::error file=${ghProp(file)},line=11,col=15,title=ferry unknown-executor::` +
      'Cannot find executor "gpu": known executors are local, cluster (pass a site file with --site)\n' +
      `::warning file=${ghProp(warn)},line=6,col=3,title=ferry unused-param::` +
      'Param "threads" is never used\n' +
      `::warning file=${ghProp(warn)},line=9,col=3,title=ferry unused-file::` +
      'File "unused" is never used\n' +
      `::warning file=${ghProp(warn)},line=12,col=26,title=ferry empty-fan-out::` +
      'for_each "sample" of app "align" iterates over an empty list, so the app has no tasks\n' +
      `::warning file=${ghProp(warn)},line=13,col=26,title=ferry unstaged-file::` +
      '"files.genome" is used in command but is not an input, so it is not staged to the task: declare it under inputs and use ${{ inputs.NAME }}\n',
  );
});
