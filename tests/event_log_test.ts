/**
 * A damaged event log end to end: a real run's `events.jsonl` with a `null`
 * line, a truncated line, a line of garbage and a block of zeros from a
 * crash. `ferry status` (text and JSON) and `ferry report` still show the run
 * from what is whole, and say how many lines they skipped.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./_cli.ts";
import { ferryRun, runDirOf, withTemp, writeWorkflow } from "./_run.ts";

/** A run with a success and a failure; returns its directory. */
async function twoTaskRun(ws: string): Promise<string> {
  const wf = await writeWorkflow(ws, {
    ferry: 1,
    name: "damaged",
    apps: {
      ok: { outputs: { o: "ok.txt" }, shell: "echo ok > ${{ outputs.o }}" },
      broken: { outputs: { o: "broken.txt" }, shell: "echo 'it broke' >&2; exit 4" },
    },
  });
  const r = await ferryRun(["--keep-going", "--quiet", wf]);
  assert.equal(r.code, 1, r.stderr);
  return runDirOf(r);
}

/** Damage the log: four bad lines after the first, the rest kept whole. */
async function damage(runDir: string): Promise<void> {
  const path = join(runDir, "events.jsonl");
  const [first, ...rest] = (await Deno.readTextFile(path)).trimEnd().split("\n");
  const bad = ["null", '{"time":1,"event":"finis', "garbage", "\0".repeat(8192)];
  await Deno.writeTextFile(path, [first, ...bad, ...rest].join("\n") + "\n");
}

Deno.test("status and report skip and count damaged event-log lines, never crash", async () => {
  await withTemp(async (ws) => {
    const runDir = await twoTaskRun(ws);
    await damage(runDir);

    const text = await runCli(["status", "-w", ws]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stderr, "");
    assert.match(text.stdout, /^ {2}skipped: {2}4 damaged lines of events\.jsonl$/m);
    assert.match(text.stdout, /^✓ ok: succeeded$/m);
    assert.match(text.stdout, /^✗ broken: failed: exit code 4$/m);
    assert.match(text.stdout, /^ {6}│ it broke$/m);

    const json = await runCli(["status", "-w", ws, "--format", "json"]);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.equal(report.run.skippedEventLines, 4);
    assert.equal(report.runs[0].skippedEventLines, 4);
    assert.deepEqual(
      report.run.tasks.map((t: { id: string; state: string }) => [t.id, t.state]),
      [["ok", "succeeded"], ["broken", "failed"]],
    );

    const out = join(ws, "report.html");
    const html = await runCli(["report", "-w", ws, "-o", out]);
    assert.equal(html.code, 0, html.stderr);
    assert.match(
      html.stderr,
      /^report of run \S+ \(failed, 2 tasks\): .*report\.html; 4 damaged lines of events\.jsonl skipped\n$/,
    );
    const page = await Deno.readTextFile(out);
    assert.match(
      page,
      /<dt>event log<\/dt><dd class="skipped">4 damaged lines of events\.jsonl skipped<\/dd>/,
    );
    assert.match(page, /<article class="failure" data-task="broken">/);
  });
});

Deno.test("a torn last line is damage once the run is over", async () => {
  await withTemp(async (ws) => {
    const runDir = await twoTaskRun(ws);
    // ferry died while writing a line: no newline at the end of the log.
    await Deno.writeTextFile(join(runDir, "events.jsonl"), '{"time":1,"event":"star', {
      append: true,
    });
    const r = await runCli(["status", "-w", ws]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {2}skipped: {2}1 damaged line of events\.jsonl$/m);
  });
});

Deno.test("status says which event log it cannot read", async () => {
  await withTemp(async (ws) => {
    const runDir = await twoTaskRun(ws);
    const log = join(runDir, "events.jsonl");
    await Deno.remove(log);
    await Deno.mkdir(log);
    const r = await runCli(["status", "-w", ws]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, new RegExp(`^ferry: Cannot read the event log "${log}": .+\\n$`));
  });
});
