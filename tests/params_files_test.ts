/**
 * Params files (`--params FILE`): YAML, TOML or JSON, repeatable (a later file
 * wins, `--param` wins over files), checked against the workflow's params with
 * every problem located in the params file; `--param` values are type-checked
 * the same way, and `param_types` types params whose default cannot show one.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./_cli.ts";
import { exists, ferryRun, withTemp, writeWorkflow } from "./_run.ts";

const WF = {
  ferry: 1,
  name: "config",
  params: {
    threads: 2,
    genome: "data/genome.fa",
    samples: { A: "a.fq", B: "b.fq" },
    ratio: 0.5,
    reference: null,
  },
  param_types: { reference: "string" },
  apps: {
    show: {
      outputs: { o: "out.txt" },
      command: [
        "sh",
        "-c",
        'printf "%s|" "$@" > out.txt',
        "sh",
        "${{ params.threads }}",
        "${{ params.genome }}",
        "${{ params.samples.B }}",
        "${{ params.ratio }}",
        "${{ params.reference }}",
      ],
    },
  },
};

/** `ferry check ARGS` in-process: its exit code and the lines it printed. */
async function check(args: string[]): Promise<{ code: number; lines: string[] }> {
  const r = await runCli(["check", ...args]);
  return { code: r.code, lines: r.stdout.split("\n") };
}

Deno.test("params files drive a workflow: YAML, TOML and JSON, a later file wins, --param wins over files", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, WF);
    await Deno.writeTextFile(
      join(ws, "base.yaml"),
      "threads: 4\ngenome: base.fa\nsamples: { A: x.fq, B: y.fq }\n",
    );
    await Deno.writeTextFile(join(ws, "site.toml"), 'genome = "toml.fa"\nratio = 2\n');
    await Deno.writeTextFile(join(ws, "last.json"), '{"genome": "json.fa", "reference": "r.fa"}');
    const files = ["--params", "base.yaml", "--params", "site.toml", "--params", "last.json"];
    const r = await ferryRun([...files.map((f) => f.endsWith("--params") ? f : join(ws, f)), wf]);
    assert.equal(r.code, 0, r.stderr);
    // A whole number where the default is 0.5 is a number too.
    assert.equal(await Deno.readTextFile(join(ws, "out.txt")), "4|json.fa|y.fq|2|r.fa|");
    const over = await ferryRun([
      "--params",
      join(ws, "base.yaml"),
      "--param",
      "threads=9",
      "--params",
      join(ws, "last.json"),
      wf,
    ]);
    assert.equal(over.code, 0, over.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "out.txt")), "9|json.fa|y.fq|0.5|r.fa|");
  });
});

Deno.test("a params file's values reach commands quoted: hostile text stays text", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, WF);
    const hostile = "$(touch pwned) `touch pwned2` 'q\" ;\nnext\u0007";
    await Deno.writeTextFile(join(ws, "p.json"), JSON.stringify({ genome: hostile }));
    const r = await ferryRun(["--params", join(ws, "p.json"), wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await Deno.readTextFile(join(ws, "out.txt")),
      `2|${hostile}|b.fq|0.5||`,
    );
    assert.equal(await exists(join(ws, "pwned")), false);
    assert.equal(await exists(join(ws, "pwned2")), false);
  });
});

Deno.test("params file errors: unknown name with did-you-mean and wrong types, located in the file, exit 2", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, WF);
    const p = join(ws, "bad.yaml");
    await Deno.writeTextFile(
      p,
      "thread: 3\ngenome: 7\nsamples: [a, b]\nthreads: 2.5\nratio: fast\nreference: 3\n",
    );
    const r = await check(["--params", p, wf]);
    assert.equal(r.code, 2);
    assert.deepEqual(r.lines.filter((l) => l.startsWith(ws)), [
      `${p}:1:1: error[unknown-param]: Cannot set param "thread" from "${p}": the workflow has no such param: did you mean "threads"?`,
      `${p}:2:9: error[wrong-type]: Cannot set param "genome" from "${p}": it must be a string like its default "data/genome.fa", not the whole number 7`,
      `${p}:3:10: error[wrong-type]: Cannot set param "samples" from "${p}": it must be a mapping like its default, not a list`,
      `${p}:4:10: error[wrong-type]: Cannot set param "threads" from "${p}": it must be a whole number like its default 2, not the number 2.5`,
      `${p}:5:8: error[wrong-type]: Cannot set param "ratio" from "${p}": it must be a number like its default 0.5, not the string "fast"`,
      `${p}:6:12: error[wrong-type]: Cannot set param "reference" from "${p}": it must be a string (param_types says string), not the whole number 3`,
    ]);
    assert.equal(r.lines.at(-2), `✗ ${p}: 6 errors, 0 warnings`);
    // plan and run refuse the same, before anything runs.
    for (const command of ["plan", "run"]) {
      const x = await ferryRun(["--params", p, wf], {}, command);
      assert.equal(x.code, 2, x.stderr);
      assert.ok(
        (command === "plan" ? x.stdout + x.stderr : x.stderr).includes(
          `${p}:1:1: error[unknown-param]: Cannot set param "thread"`,
        ),
      );
    }
    assert.equal(await exists(join(ws, "out.txt")), false);
  });
});

Deno.test("params files that cannot be read: missing, unknown extension, malformed, not a mapping", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, WF);
    const cases: [string, string | undefined, string][] = [
      ["missing.yaml", undefined, ':1:1: error[read-error]: Cannot read "PATH": no such file'],
      [
        "params.txt",
        "threads: 3\n",
        ':1:1: error[unknown-format]: Cannot read params file "PATH": name it .yaml, .yml, .toml or .json',
      ],
      ["broken.json", '{"threads": 3,,}', ":1:15: error[yaml-syntax]: "],
      ["broken.toml", "threads = = 3\n", ":1:11: error[toml-syntax]: "],
      [
        "list.yaml",
        "- threads\n",
        ':1:1: error[not-a-mapping]: Cannot read "PATH": the top level is a list, not a mapping of keys',
      ],
    ];
    for (const [name, text, expected] of cases) {
      const p = join(ws, name);
      if (text !== undefined) await Deno.writeTextFile(p, text);
      const r = await check(["--params", p, wf]);
      assert.equal(r.code, 2, name);
      assert.ok(
        r.lines[0]!.startsWith(p + expected.replace("PATH", p)),
        `${name}: ${r.lines[0]}`,
      );
    }
  });
});

Deno.test("--param values are type-checked against the declared params, at the param", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, WF);
    const r = await check(["-p", "threads=many", "-p", "samples=[a]", wf]);
    assert.equal(r.code, 2);
    assert.deepEqual(r.lines.filter((l) => l.startsWith(ws)), [
      `${wf}:4:12: error[wrong-type]: Cannot set --param "threads": it must be a whole number like its default 2, not the string "many"`,
      `${wf}:7:5: error[wrong-type]: Cannot set --param "samples": it must be a mapping like its default, not a list`,
    ]);
    const ok = await check(["-p", "threads=3", "-p", "ratio=1", "-p", "reference=x.fa", wf]);
    assert.equal(ok.code, 0, ok.lines.join("\n"));
  });
});

Deno.test("param_types: names a declared param, and the default has the type", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ...WF,
      param_types: { reference: "string", thread: "integer", genome: "list" },
    });
    const r = await check([wf]);
    assert.equal(r.code, 2);
    assert.deepEqual(r.lines.filter((l) => l.startsWith(ws)), [
      `${wf}:5:11: error[wrong-type]: Cannot use the default of param "genome": it must be a list (param_types says list), not the string "data/genome.fa"`,
      `${wf}:13:3: error[unknown-param]: Cannot give param "thread" a type: the workflow has no such param: did you mean "threads"?`,
    ]);
    const bad = await writeWorkflow(ws, { ...WF, param_types: { threads: "int" } }, "bad.yaml");
    const s = await check([bad]);
    assert.equal(s.code, 2);
    assert.equal(
      s.lines[0],
      `${ws}/bad.yaml:12:12: error[invalid-value]: Cannot use "int" for "param_types.threads": expected one of string, number, integer, boolean, list, mapping`,
    );
  });
});
