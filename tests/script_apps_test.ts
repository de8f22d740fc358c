/**
 * Script apps (`script: scripts/plot.py`): the file runs with the interpreter its extension or
 * `#!` line names, reads its task (inputs, outputs, params, bindings, resources, logs, attempt)
 * from the JSON file named by FERRY_TASK, and its content is part of the cache key.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, ferryRun, runDirOf, withTemp, writeWorkflow } from "./_run.ts";
import { bashQuote } from "../providers/_shared/shell.ts";
import { haveService } from "./_services.ts";
import { Ajv2020 } from "../deps/ajv.ts";
import ferryTaskSchema from "../schemas/ferry-task.schema.json" with { type: "json" };

/** The Python helper the guide documents: attribute access to the task (`task.inputs.reads`). */
const PY_TASK = [
  "import json, os",
  "from types import SimpleNamespace",
  'task = json.load(open(os.environ["FERRY_TASK"]), object_hook=lambda d: SimpleNamespace(**d))',
].join("\n");

async function write(path: string, text: string): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, text);
}

/** A workspace with two samples and a Python script counting their lines, times a param. */
async function setUp(ws: string): Promise<string> {
  await write(join(ws, "data", "a.txt"), "1\n2\n");
  await write(join(ws, "data", "b.txt"), "1\n2\n3\n");
  await write(
    join(ws, "scripts", "count.py"),
    [
      PY_TASK,
      "lines = sum(len(open(p).read().splitlines()) for p in task.inputs.texts)",
      "with open(task.outputs.n, 'w') as out:",
      "    out.write(f'{task.bindings.s} {lines * task.params.factor} {task.resources.cores}\\n')",
      "print('attempt', task.attempt, 'of', task.id)",
      "",
    ].join("\n"),
  );
  return await writeWorkflow(ws, {
    ferry: 1,
    name: "scripts",
    params: { factor: 10, unused_by_templates: "x" },
    apps: {
      count: {
        for_each: { s: ["a", "b"] },
        inputs: { texts: ["data/${{ s }}.txt"] },
        outputs: { n: "out/${{ s }}.n" },
        resources: { cores: 1 },
        script: "scripts/count.py",
      },
    },
  });
}

Deno.test("script apps: a Python script reads its inputs, params and bindings from FERRY_TASK and writes its outputs", async () => {
  await withTemp(async (ws) => {
    const wf = await setUp(ws);
    const check = await ferryRun([wf], {}, "check");
    // Every param reaches the script: none is "unused".
    assert.equal(check.code, 0, check.stderr);
    assert.doesNotMatch(check.stdout + check.stderr, /unused-param/);
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "out", "a.n")), "a 20 1\n");
    assert.equal(await Deno.readTextFile(join(ws, "out", "b.n")), "b 30 1\n");
    const attempt = join(runDirOf(r), "tasks");
    const [dir] = [...Deno.readDirSync(attempt)].map((e) => e.name).filter((n) =>
      n.startsWith("count_s=a")
    );
    const root = join(attempt, dir!, "attempt-1");
    assert.equal(await Deno.readTextFile(join(root, "stdout.log")), "attempt 1 of count[s=a]\n");
    // The file stays with the attempt, as the script saw it.
    const task = JSON.parse(await Deno.readTextFile(join(root, "task.json")));
    assert.deepEqual(task, {
      ferryTask: 1,
      id: "count[s=a]",
      app: "count",
      label: "count[s=a]",
      attempt: 1,
      retries: 0,
      bindings: { s: "a" },
      inputs: { texts: ["data/a.txt"] },
      outputs: { n: "out/a.n" },
      params: { factor: 10, unused_by_templates: "x" },
      resources: { cores: 1 },
      log: { stdout: join(root, "stdout.log"), stderr: join(root, "stderr.log") },
      workdir: join(root, "work"),
    });
    // The file is what its reference (generated from this schema) says.
    const validate = new Ajv2020({ strict: true, allowUnionTypes: true }).compile(ferryTaskSchema);
    assert.ok(validate(task), JSON.stringify(validate.errors));
    assert.equal(validate({ ...task, extra: 1 }), false);
  });
});

Deno.test("script apps: the script's content is in the cache key: an edit re-runs its tasks, a touch does not; a param only the script reads is in it too", async () => {
  await withTemp(async (ws) => {
    const wf = await setUp(ws);
    assert.equal((await ferryRun([wf])).code, 0);
    const script = join(ws, "scripts", "count.py");
    const later = new Date(Date.now() + 5000);
    await Deno.utime(script, later, later);
    const touched = await ferryRun([wf], {}, "plan");
    assert.match(touched.stdout, /^2 tasks \(0 to run, 2 cached\)/m);
    await Deno.writeTextFile(script, (await Deno.readTextFile(script)) + "# edited\n");
    const edited = await ferryRun([wf], {}, "plan");
    assert.match(edited.stdout, /^ {2}count\[s=a\] {2}\[run: script changed\]$/m);
    assert.equal((await ferryRun([wf])).code, 0);
    // A param only the script reads is part of its key too.
    const param = await ferryRun(["--param", "unused_by_templates=y", wf], {}, "plan");
    assert.match(param.stdout, /^ {2}count\[s=a\] {2}\[run: param unused_by_templates changed\]$/m);
  });
});

Deno.test("script apps: a file with no known extension runs with its #! line; .sh runs with bash", async () => {
  await withTemp(async (ws) => {
    await write(
      join(ws, "bin", "tool"),
      [
        "#!/usr/bin/env python3",
        PY_TASK,
        "open(task.outputs.o, 'w').write('python via #!: ' + task.id + '\\n')",
        "",
      ].join("\n"),
    );
    // Not executable: ferry runs the program the #! line names, as the kernel would.
    await write(
      join(ws, "bin", "shout"),
      "#!/bin/bash -eu\nprintf 'bash via #!: %s\\n' \"$FERRY_TASK_ID\" > out/shout.txt\n",
    );
    // A .sh file runs with bash whatever its first line says.
    await write(join(ws, "bin", "arrays.sh"), 'a=(x y)\necho "${a[1]}" > out/arrays.txt\n');
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "shebang",
      apps: {
        tool: { outputs: { o: "out/tool.txt" }, script: "bin/tool" },
        shout: { outputs: { o: "out/shout.txt" }, script: "bin/shout" },
        arrays: { outputs: { o: "out/arrays.txt" }, script: "bin/arrays.sh" },
      },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "out", "tool.txt")), "python via #!: tool\n");
    assert.equal(await Deno.readTextFile(join(ws, "out", "shout.txt")), "bash via #!: shout\n");
    assert.equal(await Deno.readTextFile(join(ws, "out", "arrays.txt")), "y\n");
  });
});

Deno.test("script apps: a script path with expressions is checked per task when ferry plans", async () => {
  await withTemp(async (ws) => {
    await write(join(ws, "scripts", "a.py"), "print(1)\n");
    await write(join(ws, "scripts", "b.txt"), "no interpreter here\n");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "templated",
      apps: {
        run: { for_each: { s: ["a.py", "b.txt", "c.txt"] }, script: "scripts/${{ s }}" },
      },
    });
    const r = await ferryRun([wf], {}, "check");
    assert.equal(r.code, 2, r.stdout);
    assert.equal(
      r.stdout.split("\n").filter((l) => l.includes("error[")).join("\n"),
      [
        `${wf}:10:13: error[missing-script]: Cannot find script "scripts/c.txt": there is no such file (in task run[s=c.txt])`,
        `${wf}:10:13: error[unknown-interpreter]: Cannot run script "scripts/b.txt": its extension names no interpreter (.py, .R, .r, .sh, .bash, .jl, .ts, .js, .mjs) and it has no #! line (in task run[s=b.txt])`,
      ].join("\n"),
    );
  });
});

Deno.test("script apps: hostile names of scripts and inputs reach the script as data, never as code", async () => {
  await withTemp(async (ws) => {
    const hostile = `we'ird $(touch PWNED) \`touch PWNED\` "q"; *`;
    await write(join(ws, "data", `${hostile}.txt`), "payload\n");
    await write(
      join(ws, "scripts", `${hostile}.py`),
      [
        PY_TASK,
        "open(task.outputs.o, 'w').write(open(task.inputs.i).read() + task.inputs.i + '\\n')",
        "",
      ].join("\n"),
    );
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "hostile",
      executors: { hpc: { provider: "slurm" } },
      apps: {
        run: {
          inputs: { i: `data/${hostile}.txt` },
          outputs: { o: "out.txt" },
          script: `scripts/${hostile}.py`,
        },
        batch: { executor: "hpc", outputs: { o: "b.txt" }, script: `scripts/${hostile}.py` },
      },
    });
    const r = await ferryRun([wf, "run"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await Deno.readTextFile(join(ws, "out.txt")),
      `payload\ndata/${hostile}.txt\n`,
    );
    // The job wrapper a batch executor runs quotes the script's path as one word.
    const shown = await ferryRun(["--show-scripts", wf, "batch"], {}, "plan");
    assert.equal(shown.code, 0, shown.stderr);
    const line = shown.stdout.split("\n").find((l) =>
      l.includes('exec "${ferry_timer[@]}" $FERRY_LAUNCH python3')
    );
    assert.ok(line?.endsWith(`python3 ${bashQuote(join(ws, "scripts", `${hostile}.py`))} ) &`));
    const bash = await new Deno.Command("bash", {
      args: ["-c", `printf '%s' ${bashQuote(join(ws, "scripts", `${hostile}.py`))}`],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(bash.stdout), join(ws, "scripts", `${hostile}.py`));
    assert.equal(await exists(join(ws, "PWNED")), false);
  });
});

Deno.test("script apps: each attempt gets its own FERRY_TASK file, which says which attempt it is", async () => {
  await withTemp(async (ws) => {
    await write(
      join(ws, "flaky.py"),
      [
        PY_TASK,
        "import sys",
        "if task.attempt < 2: sys.exit(3)",
        "open(task.outputs.o, 'w').write(f'attempt {task.attempt} of {task.retries + 1}\\n')",
        "",
      ].join("\n"),
    );
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "retry",
      apps: { flaky: { outputs: { o: "o.txt" }, retries: 1, script: "flaky.py" } },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "o.txt")), "attempt 2 of 2\n");
    const dir = join(
      runDirOf(r),
      "tasks",
      [...Deno.readDirSync(join(runDirOf(r), "tasks"))][0]!.name,
    );
    const attempts = [1, 2].map((n) =>
      JSON.parse(Deno.readTextFileSync(join(dir, `attempt-${n}`, "task.json"))).attempt
    );
    assert.deepEqual(attempts, [1, 2]);
  });
});

const HAVE_R = haveService("R", ["Rscript"]);

Deno.test({
  name: "script apps: an R script reads its task with jsonlite, as the guide shows",
  ignore: !HAVE_R,
  fn: () =>
    withTemp(async (ws) => {
      await write(join(ws, "data", "a.txt"), "1\n2\n3\n");
      await write(
        join(ws, "scripts", "count.R"),
        [
          'task <- jsonlite::read_json(Sys.getenv("FERRY_TASK"))',
          "n <- length(readLines(task$inputs$texts[[1]]))",
          "cat(task$bindings$s, n * task$params$factor, unlist(task$params$tags), '\\n',",
          "  file = task$outputs$n)",
          "",
        ].join("\n"),
      );
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "r",
        params: { factor: 10, tags: ["x", "y"] },
        apps: {
          count: {
            for_each: { s: ["a"] },
            inputs: { texts: ["data/${{ s }}.txt"] },
            outputs: { n: "out/${{ s }}.n" },
            script: "scripts/count.R",
          },
        },
      });
      const r = await ferryRun([wf]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(join(ws, "out", "a.n")), "a 30 x y \n");
    }),
});
