/**
 * The run engine's shared vocabulary: a task's state during a run, how an
 * attempt ended, what a reporter is told, and the engine's node for a task.
 * @module
 */

import type { JobResult, PilotBlock } from "../../providers/batch/types.ts";
import type { PilotBlockState } from "../events.ts";
import type { PlanTask } from "../plan.ts";
import type { TransferEvent } from "../stager.ts";

/** A task's state during a run. */
export type TaskState =
  | "waiting"
  | "ready"
  | "running"
  | "succeeded"
  | "cached"
  | "failed"
  | "blocked"
  | "cancelled";

/** How one attempt ended, with where to read more. */
export interface TaskOutcome extends JobResult {
  /** Why it failed when it was not the command itself (missing output, staging). */
  readonly reason?: string;
  /** The attempt's standard error log (or the output it was redirected to). */
  readonly stderrPath: string;
  /** The attempt's standard output log. */
  readonly stdoutPath: string;
  /** A failed attempt's log that holds the error, when its standard error is empty (a declared log). */
  readonly errorLog?: string;
}

/** What a reporter is told. */
export interface RunEvents {
  /** The run starts with this many tasks. */
  start(total: number): void;
  /** More tasks joined the run (a dynamic fan-out expanded). */
  grow(total: number): void;
  /** An attempt started. */
  started(task: PlanTask, attempt: number): void;
  /** An attempt ended. */
  finished(task: PlanTask, attempt: number, result: TaskOutcome): void;
  /** A failed attempt will be retried after `delayMs`. */
  retrying(task: PlanTask, attempt: number, delayMs: number, result: TaskOutcome): void;
  /** A transfer started, moved bytes, or ended. */
  transfer?(e: TransferEvent): void;
  /** A task was skipped: its recorded result is still valid (or restored from the store `from`). */
  cached?(task: PlanTask, from?: string): void;
  /**
   * An executor's pilot blocks changed (a state, or the tasks they run or ran): all its blocks
   * now, and the blocks whose state changed (`gone`: no longer held).
   */
  blocks?(
    executor: string,
    blocks: readonly PilotBlock[],
    changes: readonly PilotBlockChange[],
  ): void;
}

/** A pilot block whose state changed, with its counts then. */
export type PilotBlockChange = Omit<PilotBlock, "state"> & { readonly state: PilotBlockState };

/** The engine's record of one task. */
export interface Node {
  /** The task (replaced when a re-plan makes its inputs concrete). */
  task: PlanTask;
  /** Where it is. */
  state: TaskState;
  /** Attempts started so far. */
  attempt: number;
  /** Dependencies not yet succeeded. */
  waiting: number;
  /** Its input transfers are done (or it has none). */
  staged?: boolean;
  /** Skipped: its recorded result is still valid. */
  cached?: boolean;
  /** Its cache decision was made (once, when its inputs were in place). */
  checked?: boolean;
  /** The key to look up in the result store (it must run, and may be restored instead). */
  storeKey?: string;
  /** The result store was asked for it. */
  storeChecked?: boolean;
  /** The result store is being asked for it, or its outputs restored. */
  restoring?: boolean;
  /** Its inputs gathering dynamic outputs were compiled again with their files known. */
  gathered?: boolean;
}

/** An outcome for a task that ends without running (too big, a failed transfer, a re-plan). */
export function failedOutcome(reason: string, at: number = Date.now()): TaskOutcome {
  return {
    outcome: "failed",
    reason,
    startedAt: at,
    endedAt: at,
    host: "",
    stderrPath: "",
    stdoutPath: "",
  };
}
