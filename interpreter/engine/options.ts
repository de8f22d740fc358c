/**
 * What a run is given and what it returns: {@linkcode RunOptions} and
 * {@linkcode RunSummary} of `runPlan` (interpreter/run.ts).
 * @module
 */

import type { Executor, OwnFile } from "../../dsl/model.ts";
import type { BatchProvider } from "../../providers/batch/types.ts";
import type { Cache } from "../cache.ts";
import type { AttemptRendering, Plan, PlanTask } from "../plan.ts";
import type { StateStore } from "../state.ts";
import type { ResultStore } from "../results/store.ts";
import type { FileValue } from "../values.ts";
import type { TransferCounts } from "./transfers.ts";
import type { RunEvents, TaskOutcome, TaskState } from "./types.ts";

/** The result of a run. */
export interface RunSummary {
  /** Final state of every task, by id. */
  readonly states: ReadonlyMap<string, TaskState>;
  /** The last outcome of every task that ran. */
  readonly outcomes: ReadonlyMap<string, TaskOutcome>;
  /** The task objects, by id (including those added at run time). */
  readonly tasks: ReadonlyMap<string, PlanTask>;
  /** Whether the run was interrupted. */
  readonly interrupted: boolean;
  /** Wall time in ms. */
  readonly wallMs: number;
  /** Transfers: how many ended which way, and bytes moved. */
  readonly transfers?: TransferCounts;
  /**
   * One of ferry's own files could not be written during the run (a full
   * disk: a task's status, the state, the event log): the first such fault.
   */
  readonly fault?: string;
  /** Uploads to the result store that failed for good (`ferry store push` sends them later). */
  readonly storeFailures?: number;
  /** The run only restored from the result store (`ferry store pull`): blocked means not held. */
  readonly storeOnly?: boolean;
}

/** Options for `runPlan` (interpreter/run.ts). */
export interface RunOptions {
  /** The workspace directory. */
  readonly workspace: string;
  /** The run's directory (`.ferry/runs/<id>`). */
  readonly runDir: string;
  /** The run id. */
  readonly runId: string;
  /** Executors by name (with `local`). */
  readonly executors: Readonly<Record<string, Executor>>;
  /** Batch providers by executor name. */
  readonly providers: ReadonlyMap<string, BatchProvider>;
  /** At most this many tasks at once per executor. @default the executor's max_workers, else its cores */
  readonly jobs?: number;
  /** Keep running independent tasks after a failure. @default false */
  readonly keepGoing?: boolean;
  /** Cancel everything when aborted. */
  readonly signal: AbortSignal;
  /** Progress reporting. */
  readonly events: RunEvents;
  /** First retry delay; doubles each retry, at most 30 s. @default 1000 */
  readonly retryBaseMs?: number;
  /** Render a task again for a later attempt, when it uses `${{ task.attempt }}`. */
  readonly render?: (task: PlanTask, attempt: number) => AttemptRendering | undefined;
  /** Where a custom staging provider module of an executor's rules is resolved from. @default the workspace */
  readonly moduleBase?: (executor: string) => string;
  /** At most this many transfers at once. @default 8 */
  readonly maxTransfers?: number;
  /** Decides which tasks can be skipped, and records successes (with `store`). */
  readonly cache?: Cache;
  /** The state store: every attempt is recorded in it as it ends. */
  readonly store?: StateStore;
  /** The workflow and site files: no output may overwrite them. @default [] */
  readonly ownFiles?: readonly OwnFile[];
  /**
   * A result store (`--store`): a task to run is looked up by its key first and restored on a
   * hit; each success is uploaded to it.
   */
  readonly results?: ResultStore;
  /** Run nothing: restore what the result store holds, leave the rest (`ferry store pull`). */
  readonly storeOnly?: boolean;
  /** Rebuild the plan once dynamic outputs are known (the same compile path as `ferry plan`). */
  readonly replan?: (known: ReadonlyMap<string, readonly FileValue[]>) => Promise<Plan | string>;
}
