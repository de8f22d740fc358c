import assert from "node:assert/strict";
import { join } from "node:path";
import { fakeDialect, fakeExecutor, fakeJob, FakeScheduler } from "./_fake_scheduler.ts";
import type { CommandRunner } from "./runner.ts";
import { SchedulerJob } from "./scheduler_job.ts";
import { submitFailure, Submitter } from "./scheduler_submit.ts";
import type { JobResult, JobSpec } from "./types.ts";

const dialect = fakeDialect();
const here: CommandRunner = { where: "this host", run: () => Promise.reject(new Error("unused")) };
const login: CommandRunner = { ...here, where: "me@login.example.org" };

Deno.test("submitFailure() words each way a submit gives no id", () => {
  const argv = ["fsub", "/w/job.sh"];
  assert.deepEqual(submitFailure(dialect, here, argv, { code: 127, stdout: "", stderr: "" }), {
    message:
      "Cannot submit to Fake: fsub was not found on this host (is Fake installed there, and on PATH?)",
    retryable: false,
  });
  assert.deepEqual(
    submitFailure(dialect, here, argv, { code: 0, stdout: "queued as job twelve\n", stderr: "" }),
    {
      message: "Fake accepted the job but ferry cannot read its id from: queued as job twelve",
      retryable: false,
    },
  );
  assert.deepEqual(
    submitFailure(dialect, here, argv, {
      code: 1,
      stdout: "",
      stderr: "fsub: one\nfsub: two\n\nfsub: three\nfsub: four\n",
    }),
    {
      message: "Fake refused the job (fsub exit 1): fsub: two; fsub: three; fsub: four",
      retryable: false,
    },
  );
  const unreachable = {
    code: 255,
    stdout: "",
    stderr: "ssh: connect to host login: Connection refused",
  };
  assert.deepEqual(submitFailure(dialect, login, argv, unreachable), {
    message:
      "Cannot submit to Fake through me@login.example.org: ssh: connect to host login: Connection refused",
    retryable: true,
  });
  const refused = { code: 255, stdout: "", stderr: "me@login: Permission denied (publickey)." };
  assert.equal(submitFailure(dialect, login, argv, refused).retryable, false);
  // Exit 255 on this host is the scheduler's own answer.
  assert.equal(
    submitFailure(dialect, here, argv, unreachable).message,
    "Fake refused the job (fsub exit 255): ssh: connect to host login: Connection refused",
  );
});

/** Jobs of `specs` as the provider hands them over, with their results as they come. */
function waiting(specs: readonly (JobSpec & { root: string })[], signal: AbortSignal) {
  const results = new Map<string, JobResult>();
  const jobs = specs.map((s) =>
    new SchedulerJob(s, signal, (r) => results.set(s.taskId, r), {
      onAbort: () => {},
      onSettled: () => {},
    })
  );
  return { jobs, results };
}

Deno.test("Submitter.submit() fails only the job whose wrapper cannot be written", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "ferry-submit-" });
  try {
    const fake = new FakeScheduler();
    const submitter = new Submitter({ dialect, ex: fakeExecutor(), runner: fake });
    const blocked = fakeJob(runDir, "b");
    // Its task directory's parent is a file: nothing can be written there.
    Deno.mkdirSync(join(runDir, "tasks"), { recursive: true });
    Deno.writeTextFileSync(join(runDir, "tasks", "b"), "");
    const ids: string[] = [];
    const ok = fakeJob(runDir, "a", { onSubmitted: (id) => ids.push(id) });
    const { jobs, results } = waiting([ok, blocked], new AbortController().signal);
    const queued = [
      ...await submitter.submit([jobs[0]!]),
      ...await submitter.submit([jobs[1]!]),
    ];
    assert.deepEqual(queued.map((j) => j.jobId), ["100"]);
    assert.deepEqual(ids, ["100"]);
    assert.equal(results.get("b")!.outcome, "failed");
    assert.match(results.get("b")!.message!, /^Cannot prepare the job of "b": Not a directory/);
    assert.deepEqual(fake.callsOf("fsub"), [["fsub", join(ok.root, "job.sh")]]);
    const record = JSON.parse(Deno.readTextFileSync(join(ok.root, "job.json")));
    assert.equal(record.jobId, "100");
    assert.equal(record.scheduler, "fake");
    assert.equal(Deno.readTextFileSync(join(ok.root, "job.sh")).split("\n")[1], "#FAKE ferry-a");
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("Submitter.submit() ends aborted jobs as cancelled without submitting them", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "ferry-submit-" });
  try {
    const fake = new FakeScheduler();
    const submitter = new Submitter({ dialect, ex: fakeExecutor(), runner: fake });
    const stop = new AbortController();
    stop.abort();
    const { jobs, results } = waiting([fakeJob(runDir, "a")], stop.signal);
    assert.deepEqual(await submitter.submit(jobs), []);
    assert.equal(results.get("a")!.outcome, "cancelled");
    assert.deepEqual(fake.calls, []);
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("Submitter.submit() fails every job of a script whose submit call throws", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "ferry-submit-" });
  try {
    const fake = new FakeScheduler();
    fake.override = () => {
      throw new Error("the login node went away");
    };
    const submitter = new Submitter({
      dialect,
      ex: fakeExecutor({ bundle: "array" }),
      runner: fake,
    });
    const specs = [0, 1].map((i) => fakeJob(runDir, `m[${i}]`, { bundle: "m" }));
    const { jobs, results } = waiting(specs, new AbortController().signal);
    assert.deepEqual(await submitter.submit(jobs), []);
    for (const id of ["m[0]", "m[1]"]) {
      assert.equal(results.get(id)!.message, "Cannot submit to Fake: the login node went away");
      assert.equal(results.get(id)!.retryable, true);
    }
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});
