/**
 * A batch provider named by module path, end to end: the example of
 * examples/custom_batch (niced.ts) checked and run from a temporary copy,
 * and the ways such a provider can be wrong, each reported before any task runs.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { runCli } from "./_cli.ts";
import { copyExamples } from "./_examples.ts";
import { ferryRun } from "./_run.ts";

const toFileUrl = (path: string) => pathToFileURL(path).href;

/** The niceness a task started with `nice -n 10` from here runs at. */
async function expectedNiceness(): Promise<number> {
  const out = await new Deno.Command("nice", { stdout: "piped" }).output();
  return Math.min(19, Number(new TextDecoder().decode(out.stdout).trim()) + 10);
}

Deno.test("the example custom batch provider (examples/custom_batch) runs the workflow's tasks", async () => {
  await using ex = await copyExamples("custom_batch");
  for (const form of ["yaml", "toml"]) {
    const r = await runCli([
      "check",
      "--site",
      ex.path("custom_batch", `site.${form}`),
      ex.path("custom_batch", `workflow.${form}`),
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  }
  const run = await ferryRun([
    "--site",
    ex.path("custom_batch", "site.yaml"),
    "--progress",
    "lines",
    ex.path("custom_batch", "workflow.yaml"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  const n = await expectedNiceness();
  // Each greeting was written by a task the provider started under nice.
  assert.equal(
    await Deno.readTextFile(ex.path("custom_batch", "greetings.txt")),
    `hello alpha at niceness ${n}\nhello beta at niceness ${n}\n`,
  );
});

/** A copy of the example whose site file declares `executor` instead. */
async function withSite(
  executor: string,
  fn: (paths: { site: string; workflow: string; dir: string }) => Promise<void>,
): Promise<void> {
  await using ex = await copyExamples("custom_batch");
  const dir = ex.path("custom_batch");
  const site = join(dir, "site.yaml");
  await Deno.writeTextFile(site, `ferry-site: 1\nexecutors:\n  background:\n${executor}`);
  await fn({ site, workflow: join(dir, "workflow.yaml"), dir });
}

Deno.test("ferry check reports a custom batch provider's own option problems at the option", async () => {
  await withSite("    provider: ./niced.ts\n    options: { niceness: 40 }\n", async (p) => {
    const r = await runCli(["check", "--site", p.site, p.workflow]);
    assert.equal(r.code, 2);
    assert.match(
      r.stdout,
      /site\.yaml:5:\d+: error\[invalid-value\]: Cannot use 40 for niced option "niceness": expected a whole number from 0 to 19/,
    );
  });
});

Deno.test("a provider module that does not load stops check and run at its provider key", async () => {
  await withSite("    provider: ./nowhere.ts\n", async (p) => {
    const message = `Cannot use batch provider "./nowhere.ts": its provider module ${
      join(p.dir, "nowhere.ts")
    } does not load: Module not found "${toFileUrl(join(p.dir, "nowhere.ts"))}"\n`;
    const check = await runCli(["check", "--site", p.site, p.workflow]);
    assert.equal(check.code, 2);
    assert.ok(
      check.stdout.includes(`site.yaml:4:15: error[unknown-provider]: ${message}`),
      check.stdout,
    );
    const run = await ferryRun(["--site", p.site, p.workflow]);
    assert.equal(run.code, 2);
    assert.ok(run.stderr.includes(message), run.stderr);
    assert.equal(run.stderr.includes("internal error"), false);
  });
});

Deno.test("a provider module without a factory, or whose factory makes none, is named with the fix", async () => {
  await withSite("    provider: ./not_a_factory.ts\n", async (p) => {
    await Deno.writeTextFile(join(p.dir, "not_a_factory.ts"), "export default 42;\n");
    const check = await runCli(["check", "--site", p.site, p.workflow]);
    assert.equal(check.code, 2);
    assert.ok(
      check.stdout.includes(
        `error[unknown-provider]: Cannot use batch provider "./not_a_factory.ts": the default export of its provider module ${
          join(p.dir, "not_a_factory.ts")
        } must be a function (executor, context) returning { name, execute(job, signal) } (see providers/batch/types.ts)`,
      ),
      check.stdout,
    );
  });
  await withSite("    provider: ./makes_nothing.ts\n", async (p) => {
    await Deno.writeTextFile(join(p.dir, "makes_nothing.ts"), "export default () => ({});\n");
    const run = await ferryRun(["--site", p.site, p.workflow]);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(
      run.stderr,
      `ferry: Cannot run on executor "background": its provider module ${
        join(p.dir, "makes_nothing.ts")
      } made no batch provider: expected { name, execute(job, signal) }\n`,
    );
  });
});

Deno.test("a provider whose execute throws (a bug) stops the run: one line, a crash log with the stack, exit 70, the run recorded failed", async () => {
  await withSite("    provider: ./buggy.ts\n", async (p) => {
    await Deno.writeTextFile(
      join(p.dir, "buggy.ts"),
      [
        "export default () => ({",
        '  name: "buggy",',
        "  execute(job) {",
        "    throw new TypeError(`cannot read the queue of ${job.taskId}`);",
        "  },",
        "});",
        "",
      ].join("\n"),
    );
    const run = await ferryRun(["--site", p.site, "--progress", "lines", "-w", p.dir, p.workflow]);
    assert.equal(run.code, 70, run.stderr);
    const lines = run.stderr.trimEnd().split("\n");
    const last = lines.slice(-2);
    assert.equal(
      last[0],
      "ferry: internal error (a bug in ferry): cannot read the queue of greet[word=alpha]",
    );
    const m = last[1]!.match(
      /^ferry: the details are in (.*\/\.ferry\/runs\/[^/]+\/crash-[^/]+\.log); please report it with that file\.$/,
    );
    assert.ok(m, run.stderr);
    assert.ok(m[1]!.startsWith(join(p.dir, ".ferry", "runs")), m[1]);
    assert.match(
      await Deno.readTextFile(m[1]!),
      /TypeError: cannot read the queue of greet\[word=alpha\]\n\s+at Object\.execute \(file:\/\/.*buggy\.ts:4:/,
    );
    assert.equal(run.stderr.includes("    at "), false, "no stack on the terminal");
    const status = await runCli(["status", "-w", p.dir, "--format", "json"]);
    assert.equal(JSON.parse(status.stdout).run.status, "failed", status.stdout);
  });
});
