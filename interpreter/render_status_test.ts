import assert from "node:assert/strict";
import { renderStatusText } from "./render_status.ts";
import {
  type AttemptStatus,
  type RunDetail,
  type RunOverview,
  TASK_STATES,
  type TaskStatus,
} from "./status.ts";

const counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as RunOverview["counts"];

function run(i: number): RunOverview {
  const start = Date.UTC(2026, 10, 21, 12, 0, 0) - i * 60_000;
  return {
    id: `20261121-${String(1200 - i).padStart(4, "0")}00-abcdef`,
    workflow: "/ws/w.yaml",
    status: "succeeded",
    startedAt: new Date(start).toISOString(),
    endedAt: new Date(start + 1500).toISOString(),
    durationMs: 1500,
    pid: 42,
    host: "vm",
    dir: `/ws/.ferry/runs/${i}`,
    counts: { ...counts, succeeded: 2, "not-run": 1 },
  };
}

/** A failed run of one task. */
function failedRun(task: TaskStatus): RunDetail {
  return {
    ...run(0),
    status: "failed",
    counts: { ...counts, failed: 1 },
    logsKept: true,
    tasks: [task],
  };
}

Deno.test("renderStatusText() lists the newest runs and says how many older ones it left out", () => {
  const runs = Array.from({ length: 12 }, (_, i) => run(i));
  const text = renderStatusText({ ferryStatus: 1, workspace: "/ws", runs }, { maxRuns: 2 });
  assert.equal(
    text,
    "runs in /ws, newest first:\n" +
      "  RUN                     STATUS     STARTED (UTC)        TOOK  TASKS\n" +
      "  20261121-120000-abcdef  succeeded  2026-11-21 12:00:00  1.5s  2 succeeded, 0 failed, 1 not run\n" +
      "  20261121-119900-abcdef  succeeded  2026-11-21 11:59:00  1.5s  2 succeeded, 0 failed, 1 not run\n" +
      "  (and 10 older runs)\n" +
      "\n",
  );
  // Ten by default.
  const lines = renderStatusText({ ferryStatus: 1, workspace: "/ws", runs }).split("\n");
  assert.equal(lines.filter((l) => l.startsWith("  2026")).length, 10);
  assert.equal(lines.at(-3), "  (and 2 older runs)");
});

Deno.test("renderStatusText() colours marks and statuses only when asked", () => {
  const detail = failedRun({
    id: "t",
    state: "failed",
    reason: 'Cannot run t: it needs 64 cores and executor "local" has 8',
    attempts: [],
  });
  const plain = renderStatusText({ ferryStatus: 1, workspace: "/ws", run: detail });
  assert.match(plain, /^✗ t: failed: Cannot run t: it needs 64 cores and executor "local" has 8$/m);
  assert.ok(!plain.includes("\x1b"), plain);
  const color = renderStatusText({ ferryStatus: 1, workspace: "/ws", run: detail }, {
    color: true,
  });
  const red = (s: string) => `\x1b[31m${s}\x1b[0m`;
  assert.ok(color.startsWith(`run ${detail.id}: ${red("failed")}\n`), color);
  assert.ok(color.includes(`\n${red("✗")} t: failed`), color);
});

Deno.test("renderStatusText() names the log that holds the error, or says it is gone", () => {
  const attempt = {
    attempt: 1,
    outcome: "failed",
    exitCode: 1,
    startedAt: "2026-11-21T12:00:00.000Z",
    endedAt: "2026-11-21T12:00:01.000Z",
    durationMs: 1000,
    stderr: "/ws/.ferry/runs/r/tasks/t/attempt-1/stderr.log",
  };
  const detail = (a: Partial<AttemptStatus>) =>
    failedRun({
      id: "t",
      state: "failed",
      attempts: [{ ...attempt, ...a }],
      stderrTail: ["[E::hts_open] fail to open file 'x.bam'"],
    });
  const log = "/ws/.ferry/runs/r/tasks/t/attempt-1/work/logs/t.log";
  const text = renderStatusText({
    ferryStatus: 1,
    workspace: "/ws",
    run: detail({ errorLog: log }),
  });
  assert.ok(
    text.endsWith(
      "✗ t: failed: exit code 1\n" +
        "    attempt 1: failed (exit code 1) in 1.0s\n" +
        `      stderr: ${attempt.stderr}\n` +
        `      log:    ${log} (stderr is empty)\n` +
        "      │ [E::hts_open] fail to open file 'x.bam'\n",
    ),
    text,
  );
  const gone = renderStatusText({
    ferryStatus: 1,
    workspace: "/ws",
    run: detail({ errorLogGone: log }),
  });
  assert.ok(gone.includes(`      log:    gone (was ${log})\n`), gone);
});

Deno.test("renderStatusText() names the pilot block and worker of each attempt, escaped", () => {
  const attempt = {
    outcome: "succeeded",
    startedAt: "2026-11-21T12:00:00.000Z",
    endedAt: "2026-11-21T12:00:01.000Z",
    durationMs: 1000,
    host: "node-a",
  };
  const detail: RunDetail = {
    ...run(0),
    counts: { ...counts, succeeded: 1 },
    logsKept: true,
    tasks: [{
      id: "t",
      state: "succeeded",
      attempts: [
        { ...attempt, attempt: 1, pilot: { block: "4711", worker: "node-a/2", node: "node-a" } },
        {
          ...attempt,
          attempt: 2,
          jobId: "99",
          pilot: { block: "b\n\x1b[31m$(x)", worker: "n`1`/1" },
        },
        { ...attempt, attempt: 3, jobId: "100" },
      ],
    }],
  };
  const text = renderStatusText({ ferryStatus: 1, workspace: "/ws", run: detail });
  assert.ok(
    text.endsWith(
      "✓ t: succeeded\n" +
        "    attempt 1 (block 4711, worker node-a/2): succeeded in 1.0s on node-a\n" +
        "    attempt 2 (job 99, block b\\n\\x1b[31m$(x), worker n`1`/1): succeeded in 1.0s on node-a\n" +
        "    attempt 3 (job 100): succeeded in 1.0s on node-a\n",
    ),
    text,
  );
});
