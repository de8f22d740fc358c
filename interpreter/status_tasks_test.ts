import assert from "node:assert/strict";
import type { FinishedEvent } from "./events.ts";
import type { AttemptRecord } from "./state.ts";
import { TaskTracker } from "./status_tasks.ts";

const finished: FinishedEvent = {
  time: 3,
  event: "finished",
  task: "t",
  attempt: 1,
  outcome: "succeeded",
  startedAt: 1,
  endedAt: 2,
  host: "node-a",
  stdoutPath: "/o",
  stderrPath: "/e",
};
const record: AttemptRecord = {
  runId: "r",
  taskId: "t",
  attempt: 1,
  outcome: "succeeded",
  startedAt: 1,
  endedAt: 2,
  host: "node-a",
};
const context = { runDir: "/ws/.ferry/runs/r", status: "succeeded" as const };

/** The pilot place status shows for task t's first attempt. */
function shownPilot(event: FinishedEvent | undefined, records: readonly AttemptRecord[]) {
  const tracker = new TaskTracker();
  tracker.add({ time: 0, event: "planned", tasks: ["t"] });
  if (event) tracker.add(event);
  return tracker.statuses(records, context)[0]!.attempts[0]!.pilot;
}

Deno.test("TaskTracker: an attempt's pilot place from the state's record, else from its finished event", () => {
  const logged = { block: "7", worker: "node-a/1", node: "node-a" };
  const kept = { block: "8", worker: "node-b/2" };
  // The store's record wins where it has a place.
  assert.deepEqual(shownPilot({ ...finished, pilot: logged }, [{ ...record, pilot: kept }]), kept);
  // A store older than the place (version 3): the log's.
  assert.deepEqual(shownPilot({ ...finished, pilot: logged }, [record]), logged);
  // No log (removed): the store's.
  assert.deepEqual(shownPilot(undefined, [{ ...record, pilot: kept }]), kept);
  // Neither: none; a place without its worker is none either.
  assert.equal(shownPilot(finished, [record]), undefined);
  assert.equal(
    shownPilot({
      ...finished,
      pilot: { block: "7" } as unknown as NonNullable<FinishedEvent["pilot"]>,
    }, []),
    undefined,
  );
});
