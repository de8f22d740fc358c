import assert from "node:assert/strict";
import { describeTransfer, plainProgress, renderSummary } from "./progress.ts";
import type { PlanTask } from "./plan.ts";
import type { RunSummary, TaskOutcome, TaskState } from "./run.ts";
import type { TransferEvent } from "./stager.ts";

const fetched: TransferEvent = {
  kind: "finished",
  id: "in:workspace:https://example.org/words.txt",
  direction: "in",
  url: "https://example.org/words.txt",
  provider: "http",
  bytes: 1500,
  ms: 13_000,
};

Deno.test("describeTransfer() gives size, time and rate in the shared formats", () => {
  assert.equal(
    describeTransfer(fetched),
    "fetched https://example.org/words.txt (1.5 KiB in 13s, 115 B/s)",
  );
  assert.equal(
    describeTransfer({ ...fetched, bytes: 5 * 1024 ** 2, ms: 4_540, attempts: 2 }),
    "fetched https://example.org/words.txt (5.0 MiB in 4.5s, 1.1 MiB/s, 2 attempts)",
  );
  // Too quick to time: no rate rather than an infinite one.
  assert.equal(
    describeTransfer({ ...fetched, direction: "out", bytes: 12, ms: 0 }),
    "uploaded https://example.org/words.txt (12 B in 0ms)",
  );
  assert.equal(
    describeTransfer({ ...fetched, reused: true }),
    "reused https://example.org/words.txt (unchanged, 1.5 KiB)",
  );
});

const task = { id: "count[word=alpha]" } as PlanTask;
const outcome = (ms: number): TaskOutcome => ({
  outcome: "succeeded",
  exitCode: 0,
  startedAt: 1_000_000,
  endedAt: 1_000_000 + ms,
  host: "vm",
  stderrPath: "/ws/err",
  stdoutPath: "/ws/out",
});

Deno.test("plainProgress() prints each task's time and a retry's delay in the shared format", () => {
  let out = "";
  const p = plainProgress({ write: (s) => out += s, color: false });
  p.start(2);
  p.finished(task, 1, outcome(850));
  p.retrying(task, 1, 1500, { ...outcome(71_000), outcome: "failed", exitCode: 3 });
  p.finished(task, 2, outcome(71_000));
  assert.equal(
    out,
    "[1/2] done  count[word=alpha] 850ms\n" +
      "[1/2] retry count[word=alpha]: attempt 1 failed (exit code 3); again in 1.5s\n" +
      "[2/2] done  count[word=alpha] 1m11s\n",
  );
});

Deno.test("renderSummary() ends with the wall time and the bytes moved in the shared formats", async () => {
  const summary: RunSummary = {
    states: new Map([["a", "succeeded"], ["b", "cached"]]),
    outcomes: new Map(),
    tasks: new Map(),
    interrupted: false,
    wallMs: 7_380_000,
    transfers: { fetched: 2, reused: 1, uploaded: 0, failed: 0, fellBack: 0, bytes: 1_258_291 },
  };
  assert.equal(
    await renderSummary(summary, false),
    "done: 1 succeeded, 1 cached, 0 failed in 2h03m\n" +
      "transfers: 2 fetched, 1 reused, 1.2 MiB moved\n",
  );
});

Deno.test("renderSummary() shows 20 failures with their logs' capped last lines, then counts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-summary-test-" });
  try {
    const states = new Map<string, TaskState>();
    const outcomes = new Map<string, TaskOutcome>();
    for (let i = 0; i < 23; i++) {
      const stderrPath = `${dir}/${i}.log`;
      await Deno.writeTextFile(stderrPath, `first\n${"e".repeat(600)}\n`);
      states.set(`t${i}`, "failed");
      outcomes.set(`t${i}`, { ...outcome(5), outcome: "failed", exitCode: 1, stderrPath });
    }
    const summary = { states, outcomes, tasks: new Map(), interrupted: false, wallMs: 1000 };
    const lines = (await renderSummary(summary, false)).split("\n");
    assert.deepEqual(lines.slice(0, 4), [
      "✗ t0: exit code 1",
      "    │ first",
      `    │ ${"e".repeat(500)}… (100 more bytes)`,
      `    full log: ${dir}/0.log`,
    ]);
    assert.equal(lines.filter((l) => l.startsWith("    full log: ")).length, 20);
    assert.deepEqual(lines.slice(80), [
      "✗ and 3 more failed: ferry status lists them",
      "failed: 0 succeeded, 23 failed in 1.0s",
      "",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("describeTransfer() caps a long error at 500 characters", () => {
  assert.equal(
    describeTransfer({ ...fetched, error: `Cannot fetch: ${"<html>".repeat(100)}` }),
    `Cannot fetch: ${"<html>".repeat(100).slice(0, 486)}… (114 more bytes)`,
  );
});
