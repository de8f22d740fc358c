import assert from "node:assert/strict";
import { join } from "node:path";
import type { JobSpec } from "../../providers/batch/types.ts";
import type { NewEvent } from "../events.ts";
import type { Stager } from "../stager.ts";
import { taskDirName } from "../attempt.ts";
import { AttemptRunner } from "./attempt_runner.ts";
import { localExecutor, planTask, ScriptedProvider } from "./_test_tasks.ts";

function runner(runDir: string, log: NewEvent[], results: Record<string, unknown> = {}) {
  return new AttemptRunner({
    runDir,
    runId: "r",
    stager: {} as Stager,
    log: (e) => log.push(e),
    started: () => {},
    resultsOf: (deps) =>
      Object.fromEntries(deps.filter((d) => d in results).map((d) => [d, results[d]])),
    retryBaseMs: 250,
  });
}

Deno.test("AttemptRunner: logs where the attempt's logs go, then hands the job to the provider", async () => {
  const dir = await Deno.makeTempDir();
  const jobs: JobSpec[] = [];
  const p = new ScriptedProvider({ t: [{ outcome: "failed", exitCode: 2 }] }, (j) => jobs.push(j));
  const log: NewEvent[] = [];
  const run = await runner(dir, log).run(
    planTask("t"),
    1,
    localExecutor(1),
    p,
    new AbortController().signal,
  );
  const root = join(dir, "tasks", taskDirName("t"), "attempt-1");
  assert.deepEqual(log, [{
    event: "started",
    task: "t",
    attempt: 1,
    stdoutPath: join(root, "stdout.log"),
    stderrPath: join(root, "stderr.log"),
  }]);
  assert.equal(run.outcome.outcome, "failed");
  assert.equal(run.outcome.exitCode, 2);
  assert.equal(jobs[0]?.dir, join(root, "work"));
  assert.equal(jobs[0]?.env.FERRY_ATTEMPT, "1");
  assert.equal(jobs[0]?.retryBaseMs, 250, "the run's retry base reaches the job wrapper");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("AttemptRunner: a command reading a function task's result finds it in FERRY_RESULTS", async () => {
  const dir = await Deno.makeTempDir();
  const jobs: JobSpec[] = [];
  const p = new ScriptedProvider({}, (j) => jobs.push(j));
  await runner(dir, [], { f: { n: 42 } }).run(
    planTask("t", { deps: ["f"] }),
    1,
    localExecutor(1),
    p,
    new AbortController().signal,
  );
  const file = jobs[0]?.env.FERRY_RESULTS;
  assert.equal(file, join(dir, "tasks", taskDirName("t"), "attempt-1", "results-in.json"));
  assert.deepEqual(JSON.parse(Deno.readTextFileSync(file!)), { f: { n: 42 } });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("AttemptRunner: an input its rule says must exist on the node fails the attempt before it starts", async () => {
  const dir = await Deno.makeTempDir();
  const p = new ScriptedProvider();
  const ex = { ...localExecutor(1), staging: [{ options: { check: true } }] } as never;
  const task = planTask("t", {
    inputs: [{ name: "ref", path: "/nonexistent/ref.fa", provider: "skip", rule: 0 } as never],
  });
  const run = await runner(dir, []).run(task, 1, ex, p, new AbortController().signal);
  assert.equal(
    run.outcome.reason,
    'Cannot find input "ref" at /nonexistent/ref.fa on this node (staging rule 0 of executor "local", action skip with check: true)',
  );
  assert.deepEqual(p.log, []);
  await Deno.remove(dir, { recursive: true });
});
