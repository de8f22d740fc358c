/**
 * What `ferry status` reports, as data: a run's status, each task's final
 * state and attempts, the runs list and the report that holds them. Built by
 * `status.ts`, shown by `render_status.ts` and `report.ts`.
 * @module
 */

import type { PilotPlace, Usage } from "../providers/batch/types.ts";

/** How a run stands. */
export type RunStatus = "running" | "succeeded" | "failed" | "interrupted" | "crashed";

/**
 * A task's final state in a run. `crashed`: it was running when ferry died;
 * `not-run`: the run ended (or died) before it started; `waiting`,
 * `running` and `retrying` only while the run is still going.
 */
export type TaskStatusState =
  | "succeeded"
  | "cached"
  | "failed"
  | "cancelled"
  | "blocked"
  | "not-run"
  | "waiting"
  | "running"
  | "retrying"
  | "crashed";

/** Every task state, in the order counts are shown. */
export const TASK_STATES: readonly TaskStatusState[] = [
  "succeeded",
  "cached",
  "failed",
  "cancelled",
  "blocked",
  "not-run",
  "waiting",
  "running",
  "retrying",
  "crashed",
];

/** One attempt of a task. */
export interface AttemptStatus {
  /** 1 for the first. */
  readonly attempt: number;
  /** succeeded, failed, timeout, cancelled; `running` or `crashed` when it never ended. */
  readonly outcome: string;
  /** Exit code, when the process exited. */
  readonly exitCode?: number;
  /** Signal name, when it was killed by one. */
  readonly signal?: string;
  /** Why it failed, when not the command itself. */
  readonly reason?: string;
  /** Start (ISO 8601, UTC). */
  readonly startedAt: string;
  /** End, when it ended. */
  readonly endedAt?: string;
  /** Wall time in ms, when it ended. */
  readonly durationMs?: number;
  /** The batch scheduler's job id (or array element), for attempts submitted to one. */
  readonly jobId?: string;
  /** Where it ran, when known. */
  readonly host?: string;
  /** The pilot block and worker that ran it (an executor with `bundle: pilot`). */
  readonly pilot?: PilotPlace;
  /** Standard output log, where it is now (a log that was an output: where it was delivered). */
  readonly stdout?: string;
  /** Standard error log, where it is now. */
  readonly stderr?: string;
  /** The standard output log is gone (cleaned, or an output replaced since): where it was. */
  readonly stdoutGone?: string;
  /** The standard error log is gone: where it was. */
  readonly stderrGone?: string;
  /** A failed attempt's log that holds the error, when its standard error was empty, where it is now. */
  readonly errorLog?: string;
  /** That log is gone: where it was. */
  readonly errorLogGone?: string;
  /** What its processes used (wall, CPU, peak memory), when it was measured. */
  readonly usage?: Usage;
}

/** One task of a run. */
export interface TaskStatus {
  /** The task id. */
  readonly id: string;
  /** Its final state. */
  readonly state: TaskStatusState;
  /** Why it failed before it could start (too big, an input transfer failed). */
  readonly reason?: string;
  /** Blocked: the task it waited for that failed (or was itself blocked). */
  readonly blockedBy?: string;
  /** Cached: the result store its outputs were restored from, when they were. */
  readonly store?: string;
  /** Its attempts in this run, in order. */
  readonly attempts: readonly AttemptStatus[];
  /**
   * For a failed or crashed task (the first `maxTails` of them): the last
   * lines of its last attempt's stderr, each at most 500 characters.
   */
  readonly stderrTail?: readonly string[];
}

/** A run in the list. */
export interface RunOverview {
  /** The run id. */
  readonly id: string;
  /** The workflow file, absolute. */
  readonly workflow: string;
  /** How it stands. */
  readonly status: RunStatus;
  /** Start (ISO 8601, UTC). */
  readonly startedAt: string;
  /** End, when it ended. */
  readonly endedAt?: string;
  /** Wall time in ms, when it ended. */
  readonly durationMs?: number;
  /** The ferry process. */
  readonly pid: number;
  /** Its host. */
  readonly host: string;
  /** The run's directory (its `events.jsonl` and attempt directories). */
  readonly dir: string;
  /** How many tasks ended in each state (every state, zeros included). */
  readonly counts: Readonly<Record<TaskStatusState, number>>;
  /** Damaged lines of its `events.jsonl`, skipped (absent when there are none). */
  readonly skippedEventLines?: number;
}

/** A run in detail. */
export interface RunDetail extends RunOverview {
  /** Whether its attempt directories (the logs) are still there: `ferry clean` removes them. */
  readonly logsKept: boolean;
  /** Every task, in plan order. */
  readonly tasks: readonly TaskStatus[];
}

/** What `ferry status` shows (and prints as JSON). */
export interface StatusReport {
  /** Format version. */
  readonly ferryStatus: 1;
  /** The workspace, absolute. */
  readonly workspace: string;
  /** Every run (of the workflow asked for), newest first; absent when one run was asked for. */
  readonly runs?: readonly RunOverview[];
  /** The run asked for, else the latest; absent when there is no run. */
  readonly run?: RunDetail;
  /**
   * Files earlier runs' glob or dir outputs left in the workspace that no task produces any
   * more, relative to it (`ferry clean --stale` removes them); absent when there are none.
   */
  readonly stale?: readonly string[];
}
