import assert from "node:assert/strict";
import { join } from "node:path";
import { taskDirName } from "./attempt.ts";
import type { OutputRecord, SuccessRecord } from "./state.ts";
import { type LogContext, LogLocator } from "./status_logs.ts";
import type { AttemptStatus, TaskStatus } from "./status_types.ts";

const RUN = "20261202-120000-abcdef";

/**
 * A workspace `now` (it ran as `was`), both in a temporary directory holding
 * `files`; `fn` gets a locator of a run whose task `t` succeeded with `outputs`.
 */
async function withRun(
  files: readonly string[],
  outputs: (was: string, tmp: string) => OutputRecord[],
  fn: (l: LogLocator, dirs: { was: string; now: string; work: string; tmp: string }) => void,
  context: Partial<LogContext> = {},
): Promise<void> {
  const tmp = await Deno.makeTempDir();
  try {
    const was = join(tmp, "was"), now = join(tmp, "now");
    for (const f of files) {
      await Deno.mkdir(join(tmp, f, ".."), { recursive: true });
      await Deno.writeTextFile(join(tmp, f), "log\n");
    }
    const success: SuccessRecord = {
      taskId: "t",
      key: "k",
      parts: {},
      runId: RUN,
      attempt: 1,
      finishedAt: 0,
      outputs: outputs(was, tmp),
    };
    const locator = new LogLocator({
      runId: RUN,
      recordedDir: join(was, ".ferry", "runs", RUN),
      dir: join(now, ".ferry", "runs", RUN),
      logsKept: true,
      success: (id) => (id === "t" ? success : undefined),
      ...context,
    });
    const attempt = join(".ferry", "runs", RUN, "tasks", taskDirName("t"), "attempt-1");
    fn(locator, { was, now, work: join(attempt, "work"), tmp });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

const output = (name: string, url: string, more: Partial<OutputRecord> = {}): OutputRecord => ({
  name,
  url,
  size: 4,
  sha256: "",
  ...more,
});

const attempt = (stdout: string, stderr: string): AttemptStatus => ({
  attempt: 1,
  outcome: "succeeded",
  startedAt: "2026-12-02T12:00:00.000Z",
  stdout,
  stderr,
});

const task = (a: AttemptStatus): TaskStatus => ({ id: "t", state: "succeeded", attempts: [a] });

Deno.test("LogLocator.locate() shows a log delivered as an output where it is now, in a moved workspace too", async () => {
  await withRun(
    ["now/out/counts.txt"],
    (was) => [output("o", `file://${was}/out/counts.txt`), output("e", `file://${was}/e.txt`)],
    (l, { was, now, work }) => {
      const t = task(attempt(join(was, work, "out/counts.txt"), join(was, work, "e.txt")));
      assert.deepEqual(l.locate(t).attempts, [{
        attempt: 1,
        outcome: "succeeded",
        startedAt: "2026-12-02T12:00:00.000Z",
        stdout: join(now, "out/counts.txt"),
        stderrGone: join(was, work, "e.txt"),
      }]);
    },
  );
});

Deno.test("LogLocator.locate() finds the files of list outputs outside the workspace", async () => {
  await withRun(
    ["outside/a.log", "outside/b.log"],
    (_, tmp) => [
      output("side", `file://${tmp}/outside/a.log`),
      output("side", `file://${tmp}/outside/b.log`),
    ],
    (l, { was, work, tmp }) => {
      // The task wrote them at _outputs/SLOT/NAME; they stay where their URLs say.
      const t = task(
        attempt(join(was, work, "_outputs/side/0/a.log"), join(was, work, "_outputs/side/1/b.log")),
      );
      const [a] = l.locate(t).attempts;
      assert.equal(a!.stdout, join(tmp, "outside/a.log"));
      assert.equal(a!.stderr, join(tmp, "outside/b.log"));
    },
  );
});

Deno.test("LogLocator.locate() keeps default logs while attempt directories are kept, and paths outside the run", async () => {
  await withRun([], () => [], (l, { was, now }) => {
    const root = join(".ferry", "runs", RUN, "tasks", taskDirName("t"), "attempt-1");
    const t = task(attempt(join(was, root, "stdout.log"), "/scratch/node7/t/stderr.log"));
    assert.deepEqual(l.locate(t).attempts[0], {
      ...attempt(join(now, root, "stdout.log"), "/scratch/node7/t/stderr.log"),
    });
  });
  await withRun([], () => [], (l, { was }) => {
    const root = join(was, ".ferry", "runs", RUN, "tasks", taskDirName("t"), "attempt-1");
    const t = task(attempt(join(root, "stdout.log"), join(root, "stderr.log")));
    const { stdout: _, stderr: __, ...rest } = t.attempts[0]!;
    assert.deepEqual(l.locate(t).attempts[0], {
      ...rest,
      stdoutGone: join(root, "stdout.log"),
      stderrGone: join(root, "stderr.log"),
    });
  }, { logsKept: false });
});

Deno.test("LogLocator.locate() says gone when a later success replaced what the attempt delivered", async () => {
  await withRun(
    ["now/out.txt"],
    (was) => [output("o", `file://${was}/out.txt`)],
    (l, { was, work }) => {
      const t = task(attempt(join(was, work, "out.txt"), join(was, work, "out.txt")));
      assert.equal(l.locate(t).attempts[0]!.stdoutGone, join(was, work, "out.txt"));
    },
    { runId: "a-later-run" },
  );
});

Deno.test("LogLocator.locate() returns the same task when every log is where it was recorded", async () => {
  await withRun([], () => [], (l) => {
    const t = task(attempt("/elsewhere/stdout.log", "/elsewhere/stderr.log"));
    assert.equal(l.locate(t), t);
  });
});
