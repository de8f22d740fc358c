import assert from "node:assert/strict";
import { fakeJob } from "./_fake_scheduler.ts";
import { SchedulerJob } from "./scheduler_job.ts";
import type { JobResult } from "./types.ts";

function job(signal: AbortSignal) {
  const results: JobResult[] = [];
  const events: string[] = [];
  const j = new SchedulerJob(fakeJob("/run", "a"), signal, (r) => results.push(r), {
    onAbort: () => events.push("abort"),
    onSettled: () => events.push("settled"),
  });
  return { j, results, events };
}

Deno.test("SchedulerJob.finish() resolves once, with the job id, and tells its provider", () => {
  const { j, results, events } = job(new AbortController().signal);
  j.jobId = "12_3";
  j.finish({ outcome: "failed", message: "first" });
  j.finish({ outcome: "succeeded" });
  assert.equal(results.length, 1);
  assert.equal(results[0]!.outcome, "failed");
  assert.equal(results[0]!.message, "first");
  assert.equal(results[0]!.jobId, "12_3");
  assert.equal(results[0]!.startedAt, j.submittedAt);
  assert.deepEqual(events, ["settled"]);
  assert.equal(j.settled, true);
});

Deno.test("SchedulerJob: an abort reaches the provider while the job waits, never after it ended", () => {
  const live = new AbortController(), ended = new AbortController();
  const a = job(live.signal), b = job(ended.signal);
  b.j.finish({ outcome: "succeeded" });
  live.abort();
  ended.abort();
  assert.deepEqual(a.events, ["abort"]);
  assert.deepEqual(b.events, ["settled"]);
});

Deno.test("SchedulerJob.fail() words the error after its prefix", () => {
  const { j, results } = job(new AbortController().signal);
  j.fail('Cannot prepare the job of "a"', new Error("No space left on device (os error 28)"));
  assert.deepEqual(
    {
      outcome: results[0]!.outcome,
      message: results[0]!.message,
      retryable: results[0]!.retryable,
    },
    {
      outcome: "failed",
      message: 'Cannot prepare the job of "a": No space left on device (os error 28)',
      retryable: true,
    },
  );
});
