import assert from "node:assert/strict";
import { fakeDialect, fakeJob, FakeScheduler, until } from "./_fake_scheduler.ts";
import { Canceller } from "./scheduler_cancel.ts";
import { SchedulerJob } from "./scheduler_job.ts";
import { SerialLane } from "./serial_lane.ts";
import type { JobResult } from "./types.ts";

function setup() {
  const fake = new FakeScheduler();
  const lane = new SerialLane();
  const canceller = new Canceller({ dialect: fakeDialect(), runner: fake, lane });
  const results = new Map<string, JobResult>();
  const job = (taskId: string, id?: string) => {
    const j = new SchedulerJob(
      fakeJob("/run", taskId),
      new AbortController().signal,
      (r) => results.set(taskId, r),
      { onAbort: () => {}, onSettled: () => {} },
    );
    if (id !== undefined) j.submitId = j.jobId = id;
    return j;
  };
  return { fake, lane, canceller, results, job };
}

Deno.test("Canceller.request(): the requests of one moment go in one call, for live jobs only", async () => {
  const { fake, lane, canceller, job } = setup();
  const [a, b, c, notYet] = [job("a", "7"), job("b", "8_1"), job("c", "9"), job("d")];
  c.finish({ outcome: "succeeded" });
  for (const j of [a, b, c, notYet, a]) canceller.request(j);
  await until(() => fake.calls.length === 1);
  await lane.idle();
  assert.deepEqual(fake.calls, [["fdel", "7", "8_1"]]);
  assert.deepEqual([...canceller.accepted], ["7", "8_1"]);
  // Not submitted yet: only marked, so the submitter cancels it once it has an id.
  assert.equal(notYet.cancelled, true);
  assert.equal(notYet.cancelSent, false);
});

Deno.test("Canceller.request(): a job that ends before its cancel's turn is not cancelled", async () => {
  const { fake, lane, canceller, job } = setup();
  let release!: () => void;
  void lane.run(() => new Promise<void>((r) => (release = r)));
  const a = job("a", "7"), b = job("b", "8");
  canceller.request(a);
  canceller.request(b);
  await Promise.resolve();
  a.finish({ outcome: "succeeded" });
  release();
  await until(() => fake.calls.length === 1);
  assert.deepEqual(fake.calls, [["fdel", "8"]]);
});

Deno.test("Canceller.request(): a refused cancel ends its jobs with the scheduler's words; a gone job is fine", async () => {
  const { fake, lane, canceller, results, job } = setup();
  fake.override = (inv) =>
    inv.argv[1] === "7"
      ? { code: 1, stdout: "", stderr: "fdel: Unknown job 7\n" }
      : { code: 2, stdout: "", stderr: "fdel: not your job\n" };
  const gone = job("gone", "7");
  canceller.request(gone);
  await until(() => fake.calls.length === 1);
  await lane.idle();
  assert.equal(gone.settled, false); // the poll reads how it ended
  assert.deepEqual([...canceller.accepted], ["7"]);
  canceller.request(job("theirs", "8"));
  await until(() => results.has("theirs"));
  assert.deepEqual(results.get("theirs"), {
    ...results.get("theirs"),
    outcome: "cancelled",
    message: 'Cannot cancel Fake job "8" (it may still be queued): fdel exit 2: fdel: not your job',
  });
});

Deno.test("Canceller.cancelIds() reports a failure; waitGone() stops once the queue let go", async () => {
  const { fake, canceller, job } = setup();
  fake.override = (inv) =>
    inv.argv[0] === "fdel" && inv.argv[1] === "1"
      ? { code: 1, stdout: "", stderr: "fdel: access denied\n" }
      : undefined;
  assert.equal(await canceller.cancelIds(["1"]), "fdel exit 1: fdel: access denied");
  assert.equal(await canceller.cancelIds([]), undefined);
  fake.queue.set("5", "R");
  canceller.request(job("a", "5"));
  await until(() => canceller.accepted.has("5"));
  fake.queue.set("5", "R"); // the scheduler still shows it running for a while
  setTimeout(() => fake.queue.set("5", "X"), 20);
  await canceller.waitGone({ delayMs: 5 });
  assert.equal(fake.queue.get("5"), "X");
  assert.ok(fake.callsOf("fstat").length >= 2);
});
