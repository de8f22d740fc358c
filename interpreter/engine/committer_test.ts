import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Cache } from "../cache.ts";
import type { AttemptRun } from "./attempt_runner.ts";
import { Committer } from "./committer.ts";
import { output, planTask } from "./_test_tasks.ts";
import type { TaskOutcome } from "./types.ts";

async function attemptIn(dir: string, files: Record<string, string>, outcome = "succeeded") {
  const root = join(dir, ".ferry", "runs", "r", "tasks", "t", "attempt-1");
  const work = join(root, "work");
  await Deno.mkdir(work, { recursive: true });
  for (const [rel, text] of Object.entries(files)) await Deno.writeTextFile(join(work, rel), text);
  const task = planTask("t", { outputs: [output(dir, "a", "a.txt"), output(dir, "b", "b.txt")] });
  const run: AttemptRun = {
    task,
    attempt: 1,
    paths: {
      root,
      work,
      stdoutLog: join(root, "stdout.log"),
      stderrLog: join(root, "stderr.log"),
      result: join(root, "result.json"),
    },
    outcome: {
      outcome,
      startedAt: 1,
      endedAt: 2,
      host: "h",
      stdoutPath: join(root, "stdout.log"),
      stderrPath: join(root, "stderr.log"),
    } as TaskOutcome,
  };
  return run;
}

function status(run: AttemptRun): Record<string, unknown> {
  return JSON.parse(Deno.readTextFileSync(join(run.paths.root, "status.json")));
}

Deno.test("Committer: every declared output moves into the workspace, then the success is recorded", async () => {
  const dir = await Deno.makeTempDir();
  const run = await attemptIn(dir, { "a.txt": "A", "b.txt": "B" });
  const committed: string[] = [];
  const cache = { commit: (t: { id: string }) => committed.push(t.id) } as unknown as Cache;
  const c = new Committer({ workspace: dir, runId: "r", cache });
  const r = await c.commit(run);
  assert.equal(r.outcome.outcome, "succeeded");
  assert.equal(Deno.readTextFileSync(join(dir, "a.txt")), "A");
  assert.equal(Deno.readTextFileSync(join(dir, "b.txt")), "B");
  assert.deepEqual(committed, ["t"]);
  assert.equal(status(run).outcome, "succeeded");
  assert.equal(c.fault, undefined);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Committer: a missing output fails the attempt and delivers none of the others", async () => {
  const dir = await Deno.makeTempDir();
  const run = await attemptIn(dir, { "a.txt": "A" });
  const r = await new Committer({ workspace: dir, runId: "r" }).commit(run);
  assert.equal(r.outcome.outcome, "failed");
  assert.equal(r.outcome.reason, 'the task did not write its output "b" (b.txt)');
  assert.equal(existsSync(join(dir, "a.txt")), false);
  assert.equal(status(run).reason, 'the task did not write its output "b" (b.txt)');
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Committer: a full disk while recording fails that task with 'no space left on device'; a bug is thrown", async () => {
  const dir = await Deno.makeTempDir();
  const full = Object.assign(new Error("database or disk is full"), { code: "ERR_SQLITE_ERROR" });
  const cache = {
    commit: () => {
      throw full;
    },
  } as unknown as Cache;
  const r = await new Committer({ workspace: dir, runId: "r", cache }).commit(
    await attemptIn(dir, { "a.txt": "A", "b.txt": "B" }),
  );
  assert.equal(r.outcome.outcome, "failed");
  assert.equal(
    r.outcome.reason,
    "no space left on device while delivering its outputs (database or disk is full)",
  );
  const buggy = {
    commit: () => {
      throw new TypeError("parts is undefined");
    },
  } as unknown as Cache;
  await assert.rejects(
    new Committer({ workspace: dir, runId: "r", cache: buggy }).commit(
      await attemptIn(dir, { "a.txt": "A", "b.txt": "B" }),
    ),
    /parts is undefined/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Committer: an attempt whose stderr says the disk is full fails so, and its partial outputs go", async () => {
  const dir = await Deno.makeTempDir();
  const run = await attemptIn(dir, { "a.txt": "partial" }, "failed");
  await Deno.writeTextFile(run.outcome.stderrPath, "head: write error: No space left on device\n");
  const r = await new Committer({ workspace: dir, runId: "r" }).commit(run);
  assert.equal(r.outcome.reason, `no space left on device (in ${run.paths.work})`);
  assert.equal(existsSync(join(run.paths.work, "a.txt")), false);
  assert.equal(existsSync(run.outcome.stderrPath), true, "the logs stay");
  await Deno.remove(dir, { recursive: true });
});
