import assert from "node:assert/strict";
import { blockCounts, describeTransfer, plainProgress, renderSummary } from "./progress.ts";
import { blockLines } from "./progress_live.ts";
import type { PilotBlock } from "../providers/batch/types.ts";
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

const block = (id: string, state: PilotBlock["state"], busy = 0, done = 0): PilotBlock => ({
  id,
  state,
  workers: 2,
  busy,
  done,
});

Deno.test("plainProgress() prints a line when a pilot block's state changes, with its executor's blocks counted", () => {
  let out = "";
  const p = plainProgress({ write: (s) => out += s, color: false });
  p.start(3);
  const pending = [block("7", "pending"), block("8", "pending")];
  p.blocks!("hpc", pending, pending);
  const running = [block("7", "running", 1, 0), block("8", "pending")];
  p.blocks!("hpc", running, [running[0]!]);
  // Tasks come and go: counts change, no state does, nothing is printed.
  p.blocks!("hpc", [block("7", "running", 2, 1), block("8", "pending")], []);
  p.finished(task, 1, outcome(850));
  const idle = [block("7", "idle", 0, 3), block("8", "ending", 0, 1)];
  p.blocks!("hpc", idle, idle);
  p.blocks!("hpc", [], [{ ...block("7", "idle", 0, 3), state: "gone" }, {
    ...block("8", "ending", 0, 1),
    state: "gone",
  }]);
  assert.equal(
    out,
    "[0/3] block 7 pending (2 workers); hpc: 2 pending\n" +
      "[0/3] block 8 pending (2 workers); hpc: 2 pending\n" +
      "[0/3] block 7 running: 1/2 workers busy, 0 tasks done; hpc: 1 pending, 1 running\n" +
      "[1/3] done  count[word=alpha] 850ms\n" +
      "[1/3] block 7 idle: 0/2 workers busy, 3 tasks done; hpc: 1 idle, 1 ending\n" +
      "[1/3] block 8 ending: 0/2 workers busy, 1 task done; hpc: 1 idle, 1 ending\n" +
      "[1/3] block 7 gone: 3 tasks done; hpc: no blocks\n" +
      "[1/3] block 8 gone: 1 task done; hpc: no blocks\n",
  );
});

Deno.test("plainProgress() and the live display escape hostile block ids and executor names", () => {
  let out = "";
  const p = plainProgress({ write: (s) => out += s, color: true });
  p.start(1);
  const b = { ...block("b\n\x1b[2J$(x)", "idle"), workers: 1 };
  p.blocks!("h\rpc", [b], [b]);
  assert.equal(
    out,
    "[0/1] \x1b[35mblock\x1b[0m b\\n\\x1b[2J$(x) idle: 0/1 worker busy, 0 tasks done; h\\rpc: 1 idle\n",
  );
  assert.deepEqual(blockLines(new Map([["h\rpc", [b]]]), (_, s) => s), [
    "  ⧉ h\\rpc blocks: 1 idle",
    "    block b\\n\\x1b[2J$(x) idle: 0/1 worker busy, 0 tasks done",
  ]);
});

Deno.test("the live display shows each executor's blocks counted, its first four blocks, and how many more", () => {
  const blocks = [
    block("1", "running", 2, 5),
    block("2", "running", 1, 4),
    block("3", "idle", 0, 6),
    block("4", "pending"),
    block("5", "pending"),
    block("6", "ending", 0, 2),
  ];
  assert.equal(blockCounts(blocks), "2 pending, 2 running, 1 idle, 1 ending");
  const lines = blockLines(
    new Map([["hpc", blocks], ["gpu", [block("9", "pending")]]]),
    (_, s) => s,
  );
  assert.deepEqual(lines, [
    "  ⧉ hpc blocks: 2 pending, 2 running, 1 idle, 1 ending",
    "    block 1 running: 2/2 workers busy, 5 tasks done",
    "    block 2 running: 1/2 workers busy, 4 tasks done",
    "    block 3 idle: 0/2 workers busy, 6 tasks done",
    "    block 4 pending (2 workers)",
    "    … 2 more blocks",
    "  ⧉ gpu blocks: 1 pending",
    "    block 9 pending (2 workers)",
  ]);
});
