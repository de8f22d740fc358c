/**
 * The runtime: executes the compiled plan (the one `ferry plan` prints).
 * A ready queue fed by finished dependencies, resource accounting per
 * executor, retries with backoff, keep-going, dynamic fan-outs expanded when
 * their producer finished, and cancellation that kills whole process groups.
 * The parts live in `engine/`: the task graph, the resource pool and ready
 * queues, the attempt runner, the committer, the temp-output keeper, the
 * re-planner and the transfers; `engine/engine.ts` is the loop joining them.
 * @module
 */

import { Engine } from "./engine/engine.ts";
import type { RunOptions, RunSummary } from "./engine/options.ts";
import type { Plan } from "./plan.ts";

export { appGraph } from "./engine/engine.ts";
export { RunCrashed } from "./engine/crash.ts";
export type { RunOptions, RunSummary } from "./engine/options.ts";
export type { TransferCounts } from "./engine/transfers.ts";
export type { RunEvents, TaskOutcome, TaskState } from "./engine/types.ts";

/**
 * Run a plan to its end (or until cancelled). An internal error stops the
 * run cleanly (jobs cancelled, the run recorded as failed) and rejects with
 * a {@linkcode RunCrashed} naming the log that holds its stack.
 */
export function runPlan(plan: Plan, options: RunOptions): Promise<RunSummary> {
  return new Engine(plan, options).run();
}
