import assert from "node:assert/strict";
import { join } from "node:path";
import {
  endOnNode,
  fakeDialect,
  type FakeDialectFaults,
  fakeExecutor,
  fakeJob,
  FakeScheduler,
  until,
  within,
} from "./_fake_scheduler.ts";
import { type SchedulerOptions, SchedulerProvider } from "./scheduler.ts";
import type { JobResult } from "./types.ts";
import type { Executor } from "../../dsl/model.ts";

const FAST = { pollMs: 5, gatherMs: 1, missingPolls: 2 } as const;

async function withProvider(
  fn: (p: SchedulerProvider, fake: FakeScheduler, runDir: string) => Promise<void>,
  options: SchedulerOptions & { faults?: FakeDialectFaults; ex?: Executor } = {},
): Promise<void> {
  const runDir = await Deno.makeTempDir({ prefix: "ferry-scheduler-" });
  const fake = new FakeScheduler();
  const dialect = fakeDialect(options.faults);
  const p = new SchedulerProvider(dialect, options.ex ?? fakeExecutor(), {
    ...FAST,
    ...options,
    runner: fake,
  });
  try {
    await fn(p, fake, runDir);
  } finally {
    await p.close();
    await Deno.remove(runDir, { recursive: true });
  }
}

Deno.test("SchedulerProvider: a status call that throws once is asked again; later jobs still go", async () => {
  const faults = { statusThrows: 1 };
  await withProvider(async (p, fake, runDir) => {
    const a = fakeJob(runDir, "a");
    const ra = p.execute(a, new AbortController().signal);
    await until(() => faults.statusThrows === 0); // the first status call threw
    const b = fakeJob(runDir, "b");
    const rb = p.execute(b, new AbortController().signal);
    await until(() => fake.callsOf("fsub").length === 2);
    await until(() => fake.callsOf("fstat").length > 0); // and the next one was asked
    endOnNode(a);
    endOnNode(b);
    assert.deepEqual([(await within(ra)).outcome, (await within(rb)).outcome], [
      "succeeded",
      "succeeded",
    ]);
    assert.equal(faults.statusThrows, 0);
  }, { faults });
});

Deno.test("SchedulerProvider: status calls failing past the grace fail their jobs with the words and cancel them", async () => {
  await withProvider(async (p, fake, runDir) => {
    const r = await within(p.execute(fakeJob(runDir, "a"), new AbortController().signal));
    assert.equal(r.outcome, "failed");
    assert.equal(r.message, 'Cannot read the state of Fake job "100": fstat exploded');
    assert.equal(r.jobId, "100");
    await until(() => fake.callsOf("fdel").length === 1);
    assert.deepEqual(fake.callsOf("fdel"), [["fdel", "100"]]);
    // The provider goes on: the next job is submitted and ends normally.
    const b = fakeJob(runDir, "b");
    const rb = p.execute(b, new AbortController().signal);
    await until(() => fake.callsOf("fsub").length === 2);
    endOnNode(b);
    assert.equal((await within(rb)).outcome, "succeeded");
  }, { faults: { statusThrows: 1 }, statusGraceMs: 0 });
});

Deno.test("SchedulerProvider: a refused submission fails exactly its task, with the scheduler's words", async () => {
  await withProvider(async (p, fake, runDir) => {
    const a = fakeJob(runDir, "a"), b = fakeJob(runDir, "b");
    fake.override = (inv) =>
      inv.argv[0] === "fsub" && inv.argv.at(-1) === join(a.root, "job.sh")
        ? { code: 1, stdout: "", stderr: "fsub: error: invalid partition\n" }
        : undefined;
    const signal = new AbortController().signal;
    const ra = p.execute(a, signal), rb = p.execute(b, signal);
    await until(() => fake.callsOf("fsub").length === 2);
    endOnNode(b);
    const [resA, resB] = await within(Promise.all([ra, rb]));
    assert.equal(resA.outcome, "failed");
    assert.equal(
      resA.message,
      "Fake refused the job (fsub exit 1): fsub: error: invalid partition",
    );
    assert.equal(resA.retryable, false);
    assert.equal(resB.outcome, "succeeded");
    assert.equal(resB.jobId, "100");
  });
});

Deno.test("SchedulerProvider: Ctrl-C after finished jobs cancels only the live ones, in one call", async () => {
  await withProvider(async (p, fake, runDir) => {
    const ctrlC = new AbortController();
    const jobs = ["a", "b", "c", "d", "e"].map((t) => fakeJob(runDir, t));
    const results = jobs.map((j) => p.execute(j, ctrlC.signal));
    await until(() => fake.callsOf("fsub").length === 5);
    for (const j of jobs.slice(0, 3)) endOnNode(j);
    const first: JobResult[] = await within(Promise.all(results.slice(0, 3)));
    assert.deepEqual(first.map((r) => r.outcome), ["succeeded", "succeeded", "succeeded"]);
    ctrlC.abort();
    const rest = await within(Promise.all(results.slice(3)));
    assert.deepEqual(rest.map((r) => r.outcome), ["cancelled", "cancelled"]);
    assert.deepEqual(fake.callsOf("fdel"), [["fdel", "103", "104"]]);
  });
});

Deno.test("SchedulerProvider: every abort listener is removed once its job ended", async () => {
  await withProvider(async (p, fake, runDir) => {
    const signal = new AbortController().signal;
    let listening = 0;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = (...args: Parameters<typeof add>) => {
      listening++;
      add(...args);
    };
    signal.removeEventListener = (...args: Parameters<typeof remove>) => {
      listening--;
      remove(...args);
    };
    const jobs = ["a", "b", "c"].map((t) => fakeJob(runDir, t));
    const results = jobs.map((j) => p.execute(j, signal));
    assert.equal(listening, 3);
    await until(() => fake.callsOf("fsub").length === 3);
    for (const j of jobs) endOnNode(j);
    await within(Promise.all(results));
    assert.equal(listening, 0);
  });
});

Deno.test("SchedulerProvider: a job aborted while it is being submitted is cancelled once it has its id", async () => {
  await withProvider(async (p, fake, runDir) => {
    const stop = new AbortController();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    fake.override = async (inv) => {
      if (inv.argv[0] === "fsub") await held;
      return undefined;
    };
    const r = p.execute(fakeJob(runDir, "a"), stop.signal);
    await until(() => fake.callsOf("fsub").length === 1);
    stop.abort();
    release();
    assert.equal((await within(r)).outcome, "cancelled");
    assert.deepEqual(fake.callsOf("fdel"), [["fdel", "100"]]);
  });
});

Deno.test("SchedulerProvider: a cancel the scheduler refuses ends its job with the scheduler's words", async () => {
  await withProvider(async (p, fake, runDir) => {
    fake.override = (inv) =>
      inv.argv[0] === "fdel"
        ? { code: 1, stdout: "", stderr: "fdel: permission denied\n" }
        : undefined;
    const stop = new AbortController();
    const r = p.execute(fakeJob(runDir, "a"), stop.signal);
    await until(() => fake.callsOf("fsub").length === 1);
    stop.abort();
    const res = await within(r);
    assert.equal(res.outcome, "cancelled");
    assert.equal(
      res.message,
      'Cannot cancel Fake job "100" (it may still be queued): fdel exit 1: fdel: permission denied',
    );
  });
});

Deno.test("SchedulerProvider: a job that ends without a status file fails with the scheduler's state", async () => {
  await withProvider(async (p, fake, runDir) => {
    const a = fakeJob(runDir, "a");
    const r = p.execute(a, new AbortController().signal);
    await until(() => fake.queue.has("100"));
    fake.queue.set("100", "F");
    const res = await within(r);
    assert.equal(res.outcome, "failed");
    assert.equal(
      res.message,
      `the Fake job 100 ended F without the wrapper's status file (see ${
        join(a.root, "scheduler.out")
      } and job.out)`,
    );
  });
});

Deno.test("SchedulerProvider: with bundle: array, one fan-out goes as one array; status asks by its id", async () => {
  await withProvider(async (p, fake, runDir) => {
    const jobs = [0, 1, 2].map((i) => fakeJob(runDir, `m[${i}]`, { bundle: "m" }));
    const results = jobs.map((j) => p.execute(j, new AbortController().signal));
    await until(() => fake.callsOf("fstat").length > 0);
    assert.deepEqual(fake.callsOf("fsub"), [[
      "fsub",
      "--array",
      "3",
      join(runDir, "jobs", "m-1.sh"),
    ]]);
    assert.deepEqual(fake.callsOf("fstat")[0], ["fstat", "100"]);
    assert.equal(Deno.readTextFileSync(join(runDir, "jobs", "m-1.tasks")).split("\n").length, 4);
    for (const j of jobs) endOnNode(j);
    assert.deepEqual((await within(Promise.all(results))).map((r) => r.jobId), [
      "100_0",
      "100_1",
      "100_2",
    ]);
  }, { ex: fakeExecutor({ bundle: "array" }) });
});

Deno.test("SchedulerProvider: close() ends jobs not yet submitted as cancelled and submits nothing", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "ferry-scheduler-" });
  const fake = new FakeScheduler();
  const p = new SchedulerProvider(fakeDialect(), fakeExecutor(), {
    ...FAST,
    gatherMs: 10_000,
    runner: fake,
  });
  const r = p.execute(fakeJob(runDir, "a"), new AbortController().signal);
  await p.close();
  assert.equal((await r).outcome, "cancelled");
  assert.deepEqual(fake.calls, []);
  await Deno.remove(runDir, { recursive: true });
});
