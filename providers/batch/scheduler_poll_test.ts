import assert from "node:assert/strict";
import { endOnNode, fakeDialect, fakeJob, FakeScheduler } from "./_fake_scheduler.ts";
import { SchedulerJob } from "./scheduler_job.ts";
import { Poller, type PollerOptions } from "./scheduler_poll.ts";
import type { JobResult } from "./types.ts";

/** A job submitted as `id`, and where its result lands. */
function submitted(runDir: string, taskId: string, id: string) {
  const got: { result?: JobResult } = {};
  const spec = fakeJob(runDir, taskId);
  const job = new SchedulerJob(spec, new AbortController().signal, (r) => (got.result = r), {
    onAbort: () => {},
    onSettled: () => {},
  });
  job.submitId = job.jobId = id;
  return { job, spec, got };
}

async function inTemp(fn: (runDir: string) => Promise<void>): Promise<void> {
  const runDir = await Deno.makeTempDir({ prefix: "ferry-poll-" });
  try {
    await fn(runDir);
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
}

function poller(fake: FakeScheduler, extra: Partial<PollerOptions> = {}) {
  const faults = { statusThrows: 0 };
  return { faults, p: new Poller({ dialect: fakeDialect(faults), runner: fake, ...extra }) };
}

Deno.test("Poller.poll(): a status call that throws once is asked again next time", async () => {
  await inTemp(async (runDir) => {
    const fake = new FakeScheduler();
    fake.queue.set("100", "R");
    const { p, faults } = poller(fake);
    const { job, spec, got } = submitted(runDir, "a", "100");
    faults.statusThrows = 1;
    assert.deepEqual(await p.poll([job], new Set()), []);
    assert.equal(job.settled, false);
    assert.deepEqual(await p.poll([job], new Set()), []);
    assert.deepEqual(fake.callsOf("fstat"), [["fstat", "100"]]);
    endOnNode(spec, 3);
    await p.poll([job], new Set());
    assert.equal(got.result?.outcome, "failed");
    assert.equal(got.result?.exitCode, 3);
  });
});

Deno.test("Poller.poll(): status calls failing past the grace fail their jobs with the scheduler's words", async () => {
  await inTemp(async (runDir) => {
    const fake = new FakeScheduler();
    fake.override = () => ({ code: 1, stdout: "", stderr: "fstat: cannot reach the controller\n" });
    const { p } = poller(fake, { statusGraceMs: 0 });
    const a = submitted(runDir, "a", "100"), b = submitted(runDir, "b", "101");
    const abandoned = await p.poll([a.job, b.job], new Set());
    assert.deepEqual(abandoned.map((j) => j.jobId), ["100", "101"]);
    assert.deepEqual(
      a.got.result?.message,
      'Cannot read the state of Fake job "100": fstat exit 1: fstat: cannot reach the controller',
    );
    assert.equal(b.got.result?.outcome, "failed");
  });
});

Deno.test("Poller.poll(): a job gone from the queue without a status file fails after missingPolls", async () => {
  await inTemp(async (runDir) => {
    const fake = new FakeScheduler();
    // The status command's error for a job it no longer knows is an answer, not a failure.
    fake.override = () => ({ code: 1, stdout: "", stderr: "fstat: Unknown job 100\n" });
    const { p } = poller(fake, { missingPolls: 3, statusGraceMs: 0 });
    const { job, got } = submitted(runDir, "a", "100");
    await p.poll([job], new Set());
    await p.poll([job], new Set());
    assert.equal(job.settled, false);
    assert.deepEqual(await p.poll([job], new Set()), []);
    assert.equal(got.result?.outcome, "failed");
    assert.match(
      got.result!.message!,
      /^the Fake job 100 left the queue without the wrapper's status file/,
    );
  });
});

Deno.test("Poller.poll(): the queue's last word decides: time limit, or cancelled by ferry", async () => {
  await inTemp(async (runDir) => {
    const fake = new FakeScheduler();
    fake.queue.set("100", "T");
    fake.queue.set("101", "X");
    const { p } = poller(fake);
    const t = submitted(runDir, "a", "100"), x = submitted(runDir, "b", "101");
    await p.poll([t.job, x.job], new Set(["101"]));
    await p.poll([t.job, x.job], new Set(["101"]));
    assert.deepEqual(t.got.result?.outcome, "timeout");
    assert.equal(t.got.result?.message, "the Fake job 100 ended T: its time limit was exceeded");
    assert.deepEqual(x.got.result?.outcome, "cancelled");
  });
});
