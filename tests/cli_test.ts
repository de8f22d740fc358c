import assert from "node:assert/strict";
import { join } from "node:path";
import { matchSnapshot, ROOT, runCli } from "./_cli.ts";
import { copyExamples, EXAMPLES } from "./_examples.ts";
import denoJson from "../deno.json" with { type: "json" };

Deno.test("ferry --help lists every command with examples", async () => {
  const r = await runCli(["--help"]);
  assert.equal(r.code, 0);
  await matchSnapshot("help.txt", r.stdout);
});

Deno.test("ferry check --help lists every flag with an example", async () => {
  const r = await runCli(["check", "--help"]);
  assert.equal(r.code, 0);
  await matchSnapshot("help_check.txt", r.stdout);
});

Deno.test("ferry schema --help", async () => {
  const r = await runCli(["schema", "--help"]);
  assert.equal(r.code, 0);
  await matchSnapshot("help_schema.txt", r.stdout);
});

Deno.test("ferry --version prints the version from deno.json", async () => {
  const r = await runCli(["--version"]);
  assert.deepEqual(r, { code: 0, stdout: `${denoJson.version}\n`, stderr: "" });
});

Deno.test("ferry with an unknown command or flag is a usage error with a suggestion", async () => {
  assert.deepEqual(await runCli(["chek", "x.yaml"]), {
    code: 2,
    stdout: "",
    stderr: "error: unknown command 'chek'\n(Did you mean check?)\n(run ferry --help for usage)\n",
  });
  const flag = await runCli(["check", "--sit", "s.yaml", "w.yaml"]);
  assert.equal(flag.code, 2);
  assert.equal(
    flag.stderr,
    "error: unknown option '--sit'\n(Did you mean --site?)\n(run ferry --help for usage)\n",
  );
  const format = await runCli(["check", "--format", "xml", "w.yaml"]);
  assert.equal(format.code, 2);
  assert.match(
    format.stderr,
    /^error: option '-f, --format <format>' argument 'xml' is invalid\. Allowed choices are text, json, github\./,
  );
  const none = await runCli([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^Usage: ferry \[options\] \[command\]/);
});

Deno.test("ferry check --param needs name=value", async () => {
  await using ex = await copyExamples("quickstart");
  const r = await runCli(["check", "--param", "novalue", ex.path("quickstart", "workflow.yaml")]);
  assert.deepEqual(r, {
    code: 2,
    stdout: "",
    stderr: 'ferry: Cannot read --param "novalue": write it as name=value\n',
  });
});

Deno.test("ferry schema prints the schema files unchanged", async () => {
  for (const kind of ["workflow", "site"]) {
    const r = await runCli(["schema", kind]);
    assert.equal(r.code, 0);
    const file = JSON.parse(await Deno.readTextFile(`${ROOT}schemas/${kind}.schema.json`));
    assert.deepEqual(JSON.parse(r.stdout), file);
  }
  assert.equal((await runCli(["schema", "plan2"])).code, 2);
});

Deno.test("ferry check reads a missing file as a diagnostic, not a crash", async () => {
  const r = await runCli(["check", "/nonexistent/w.yaml"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stdout,
    '/nonexistent/w.yaml:1:1: error[read-error]: Cannot read "/nonexistent/w.yaml": no such file\n✗ /nonexistent/w.yaml: 1 error, 0 warnings\n',
  );
});

Deno.test("ferry check works with spaces and unicode in folder and file names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry cli é " });
  try {
    const ws = join(dir, "my work ☃");
    await Deno.mkdir(join(ws, "data"), { recursive: true });
    await Deno.copyFile(join(EXAMPLES, "quickstart/data/poem.txt"), join(ws, "data", "poem.txt"));
    for (const ext of ["yaml", "toml"]) {
      const file = join(ws, `wörk flow.${ext}`);
      await Deno.copyFile(join(EXAMPLES, `quickstart/workflow.${ext}`), file);
      const r = await runCli(["check", file]);
      assert.equal(r.stdout, `✓ ${file}: valid, 7 tasks, 0 errors, 0 warnings\n`);
      assert.equal(r.code, 0);
    }
    // A broken copy points at the right file, line and column.
    const bad = join(ws, "bröken flow.yaml");
    await Deno.writeTextFile(bad, "ferry: 1\nname: x\napps:\n  a: { comand: [echo] }\n");
    const r = await runCli(["check", "--format", "json", bad]);
    assert.equal(r.code, 2);
    assert.deepEqual(
      JSON.parse(r.stdout).map((
        d: { file: string; line: number; column: number; code: string },
      ) => [d.file, d.line, d.column, d.code]),
      [
        [bad, 4, 3, "missing-command"],
        [bad, 4, 8, "unknown-key"],
      ],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ferry check prints text diagnostics with the source line and a caret", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "w.yaml");
    await Deno.writeTextFile(
      file,
      "ferry: 1\nname: x\napps:\n  a:\n    shell: echo ${{ params.nope }}\n",
    );
    const r = await runCli(["check", file]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stdout,
      `${file}:5:17: error[unknown-param]: Cannot resolve "\${{ params.nope }}": no param "nope"; none is declared\n` +
        "    5 |     shell: echo ${{ params.nope }}\n" +
        "      |                 ^\n" +
        `✗ ${file}: 1 error, 0 warnings\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ferry check --assume-inputs turns absent inputs into warnings", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "w.yaml");
    await Deno.writeTextFile(
      file,
      "ferry: 1\nname: x\napps:\n  a: { inputs: { i: data/big.h5 }, command: [x, '${{ inputs.i }}'] }\n",
    );
    const strict = await runCli(["check", "--format", "github", file]);
    assert.equal(strict.code, 2);
    assert.equal(
      strict.stdout,
      `::error file=${file},line=4,col=21,title=ferry missing-input::Cannot find input "data/big.h5" of a: no such file, and no app writes it\n`,
    );
    const assumed = await runCli(["check", "--assume-inputs", "--format", "github", file]);
    assert.equal(assumed.code, 0);
    assert.equal(
      assumed.stdout,
      `::warning file=${file},line=4,col=21,title=ferry assumed-input::Input "data/big.h5" of a does not exist; assuming it will (--assume-inputs)\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ferry as a subprocess exits 2 on bad input without a stack trace", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "w.toml");
    await Deno.writeTextFile(file, "ferry = 1\nname = [\n");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}main.ts`, "check", file],
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2);
    assert.match(text, /w\.toml:3:1: error\[toml-syntax\]: Cannot parse TOML: invalid value\n/);
    assert.doesNotMatch(text, /\n\s+at /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const command of ["plan", "run", "report"]) {
  Deno.test(`ferry ${command} --help lists every flag with examples`, async () => {
    const r = await runCli([command, "--help"]);
    assert.equal(r.code, 0);
    await matchSnapshot(`help_${command}.txt`, r.stdout);
  });
}

Deno.test("a reader that went away silences its cli() call only: the next call still writes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = join(dir, "twice.ts");
    await Deno.writeTextFile(
      script,
      [
        `import { cli } from ${JSON.stringify(`${ROOT}cli/mod.ts`)};`,
        // Wait until the test has closed the reading end of our stdout.
        "await Deno.stdin.read(new Uint8Array(1));",
        'const first = await cli(["schema", "workflow"]);',
        'const second = await cli(["chek"]);',
        "await Deno.stderr.write(new TextEncoder().encode(`codes ${first} ${second}\\n`));",
      ].join("\n"),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", `${ROOT}deno.json`, script],
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await child.stdout.cancel();
    const stdin = child.stdin.getWriter();
    await stdin.write(new Uint8Array([10]));
    await stdin.close();
    const out = await child.output();
    assert.equal(
      new TextDecoder().decode(out.stderr),
      "error: unknown command 'chek'\n(Did you mean check?)\n(run ferry --help for usage)\ncodes 0 2\n",
    );
    assert.equal(out.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
