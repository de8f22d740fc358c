/**
 * Least privilege for function apps: a `function:` task's Deno process may read its working
 * directory, its attempt's directory, its inputs and its module graph, write its working
 * directory and result, read the environment variables its task declares, and nothing else,
 * unless the app's `permissions:` says more. Deno scripts (`script: x.ts`) run the same way.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, ferryRun, withTemp, writeWorkflow } from "./_run.ts";

const STEPS = [
  "type Args = { inputs: Record<string, string>; outputs: Record<string, string> };",
  "export function shadow(args: Args) {",
  '  Deno.writeTextFileSync(args.outputs.o, Deno.readTextFileSync("/etc/shadow"));',
  "}",
  "export function escape(args: Args) {",
  "  Deno.writeTextFileSync(Deno.env.get('FERRY_ESCAPE')!, 'x');",
  "  Deno.writeTextFileSync(args.outputs.o, 'x');",
  "}",
  "export function hostname(args: Args) {",
  '  Deno.writeTextFileSync(args.outputs.o, Deno.readTextFileSync("/etc/hostname"));',
  "}",
  "export function declared(args: Args) {",
  "  const text = Deno.readTextFileSync(args.inputs.i);",
  "  Deno.writeTextFileSync(args.outputs.o, `${text.trim()} ${Deno.env.get('FERRY_ESCAPE')}\\n`);",
  "  return { ok: true };",
  "}",
  "export function home(args: Args) {",
  "  Deno.writeTextFileSync(args.outputs.o, Deno.env.get('HOME') ?? 'unset');",
  "}",
  "",
].join("\n");

/** The lines of `ferry status` that quote the failed tasks' logs, without the stack frames. */
function quoted(status: string): string[] {
  return status.split("\n").filter((l) => /^\s+│ (ferry: |NotCapable)/.test(l)).map((l) =>
    l.trim()
  );
}

Deno.test("function permissions: reading /etc/shadow or writing outside the attempt fails with Deno's permission error in the log and in ferry status", async () => {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(join(ws, "steps.ts"), STEPS);
    const escaped = join(ws, "escaped.txt");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "perms",
      apps: {
        shadow: { outputs: { o: "shadow.txt" }, function: "./steps.ts#shadow" },
        escape: {
          outputs: { o: "escape.txt" },
          env: { FERRY_ESCAPE: escaped },
          function: "./steps.ts#escape",
        },
      },
    });
    const r = await ferryRun(["--keep-going", wf]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(await exists(escaped), false);
    assert.equal(await exists(join(ws, "shadow.txt")), false);
    const status = await ferryRun([wf], {}, "status");
    assert.deepEqual(quoted(status.stdout), [
      `│ NotCapable: Requires read access to "/etc/shadow", run again with the --allow-read flag`,
      `│ ferry: shadow threw NotCapable: Requires read access to "/etc/shadow", run again with the --allow-read flag`,
      `│ NotCapable: Requires write access to "${escaped}", run again with the --allow-write flag`,
      `│ ferry: escape threw NotCapable: Requires write access to "${escaped}", run again with the --allow-write flag`,
    ]);
  });
});

Deno.test("function permissions: permissions: widens them (read /etc/hostname, all); declared inputs and env are readable, others are not", async () => {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(join(ws, "steps.ts"), STEPS);
    await Deno.writeTextFile(join(ws, "in.txt"), "input\n");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "perms",
      apps: {
        hostname: {
          outputs: { o: "hostname.txt" },
          permissions: { read: ["/etc/hostname"] },
          function: "./steps.ts#hostname",
        },
        declared: {
          inputs: { i: "in.txt" },
          outputs: { o: "declared.txt" },
          env: { FERRY_ESCAPE: "declared" },
          function: "./steps.ts#declared",
        },
        home: { outputs: { o: "home.txt" }, function: "./steps.ts#home" },
        home_all: {
          outputs: { o: "home_all.txt" },
          permissions: { all: true },
          function: "./steps.ts#home",
        },
      },
    });
    const r = await ferryRun(["--keep-going", wf]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      await Deno.readTextFile(join(ws, "hostname.txt")),
      await Deno.readTextFile("/etc/hostname"),
    );
    assert.equal(await Deno.readTextFile(join(ws, "declared.txt")), "input declared\n");
    assert.equal(await Deno.readTextFile(join(ws, "home_all.txt")), Deno.env.get("HOME"));
    assert.match(
      r.stderr,
      /^ {4}│ ferry: home threw NotCapable: Requires env access to "HOME", run again with the --allow-env flag$/m,
    );
  });
});

Deno.test("function permissions: a module importing a module outside its folder and an npm package still loads", async () => {
  await withTemp(async (ws) => {
    await Deno.mkdir(join(ws, "lib"));
    await Deno.mkdir(join(ws, "fns"));
    await Deno.writeTextFile(join(ws, "lib", "weight.ts"), "export const WEIGHT = 7;\n");
    await Deno.writeTextFile(
      join(ws, "fns", "steps.ts"),
      [
        'import { WEIGHT } from "../lib/weight.ts";',
        // The npm package ferry itself pins (in Deno's cache already): no read of DENO_DIR needed.
        'import { parse } from "npm:smol-toml@1.9.1";',
        "export function toml(args: { outputs: Record<string, string> }) {",
        '  const n = (parse("n = 6") as { n: number }).n * WEIGHT;',
        "  Deno.writeTextFileSync(args.outputs.o, `${n}\\n`);",
        "}",
        "",
      ].join("\n"),
    );
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "graph",
      apps: { toml: { outputs: { o: "n.txt" }, function: "./fns/steps.ts#toml" } },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "n.txt")), "42\n");
  });
});

Deno.test("function permissions: a Deno script reads FERRY_TASK and its inputs and writes its outputs, and nothing else", async () => {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(join(ws, "in.txt"), "deno\n");
    await Deno.writeTextFile(
      join(ws, "step.ts"),
      [
        'const task = JSON.parse(Deno.readTextFileSync(Deno.env.get("FERRY_TASK")!));',
        "const text = Deno.readTextFileSync(task.inputs.i).trim();",
        "Deno.writeTextFileSync(task.outputs.o, `${text} ${task.params.p}\\n`);",
        'if (task.params.p === "sneak") Deno.readTextFileSync("/etc/shadow");',
        "",
      ].join("\n"),
    );
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "deno-script",
      params: { p: "fine" },
      apps: { step: { inputs: { i: "in.txt" }, outputs: { o: "out.txt" }, script: "step.ts" } },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "out.txt")), "deno fine\n");
    const sneak = await ferryRun(["--param", "p=sneak", wf]);
    assert.equal(sneak.code, 1, sneak.stderr);
    assert.match(
      sneak.stderr,
      /^ {4}│ error: Uncaught \(in promise\) NotCapable: Requires read access to "\/etc\/shadow", run again with the --allow-read flag$/m,
    );
  });
});
