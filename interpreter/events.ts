/**
 * The event-log contract: every line a run writes to
 * `.ferry/runs/RUN/events.jsonl`, as one tagged union ({@linkcode RunEvent}),
 * and the check that tells a line of the log from a damaged one. The writer
 * is `events_writer.ts`, the reader `events_reader.ts`; the same shapes are
 * documented in `schemas/events.schema.json`.
 * @module
 */

import type { Outcome, PilotBlock, PilotPlace, Usage } from "../providers/batch/types.ts";

/** Fields every event has. */
interface EventBase<E extends string> {
  /** When the event was logged, in ms since the Unix epoch. */
  readonly time: number;
  /** What happened. */
  readonly event: E;
}

/** First line of every run: the workflow's name and the plan's task ids. */
export interface PlannedEvent extends EventBase<"planned"> {
  /** The workflow's name (absent in logs of ferry before the report was titled with it). */
  readonly workflow?: string;
  /** Every task id of the plan, in plan order. */
  readonly tasks: readonly string[];
}

/** One app of the app graph. */
export interface GraphApp {
  /** The app's name. */
  readonly name: string;
  /** The executor its tasks run on. */
  readonly executor: string;
  /** The apps it waits for, sorted. */
  readonly deps: readonly string[];
  /** Its tasks in the plan. */
  readonly tasks: number;
  /** The cores one task requested (the largest among its tasks), when it requested some. */
  readonly cores?: number;
  /** The memory in bytes one task requested (the largest among its tasks), when it requested some. */
  readonly memory?: number;
}

/** The app graph with fan-outs collapsed, for `ferry report`. */
export interface GraphEvent extends EventBase<"graph"> {
  /** One entry per app of the plan. */
  readonly apps: readonly GraphApp[];
}

/** A task skipped because its recorded result is still valid. */
export interface CachedEvent extends EventBase<"cached"> {
  /** The task's id. */
  readonly task: string;
  /** The result store its outputs were restored from (`--store`), when they were. */
  readonly store?: string;
}

/** An attempt starts; its log paths are known from now on. */
export interface StartedEvent extends EventBase<"started"> {
  /** The task's id. */
  readonly task: string;
  /** 1 for the first. */
  readonly attempt: number;
  /** Where its standard output goes (absent in logs older than this field). */
  readonly stdoutPath?: string;
  /** Where its standard error goes (absent in logs older than this field). */
  readonly stderrPath?: string;
}

/** A batch scheduler accepted an attempt's job. */
export interface SubmittedEvent extends EventBase<"submitted"> {
  /** The task's id. */
  readonly task: string;
  /** The attempt. */
  readonly attempt: number;
  /** The scheduler's job id (or array element id). */
  readonly jobId: string;
}

/** An attempt ended, or a task failed before any attempt could start (`attempt` 0). */
export interface FinishedEvent extends EventBase<"finished"> {
  /** The task's id. */
  readonly task: string;
  /** The attempt; 0 when it failed before it could start. */
  readonly attempt: number;
  /** How it ended. */
  readonly outcome: Outcome;
  /** The exit code, when the process exited. */
  readonly exitCode?: number;
  /** The signal's name, when a signal killed the process. */
  readonly signal?: string;
  /** Why the provider itself failed. */
  readonly message?: string;
  /** Why the task failed when not the command itself. */
  readonly reason?: string;
  /** Start, in ms since the epoch. */
  readonly startedAt: number;
  /** End, in ms since the epoch. */
  readonly endedAt: number;
  /** Where it ran ("" when it never started). */
  readonly host: string;
  /** False when trying again cannot help. */
  readonly retryable?: boolean;
  /** The scheduler's job id, when there was one. */
  readonly jobId?: string;
  /** The standard output log ("" when it never started). */
  readonly stdoutPath: string;
  /** The standard error log ("" when it never started). */
  readonly stderrPath: string;
  /** A failed attempt's log that holds the error, when its standard error is empty. */
  readonly errorLog?: string;
  /** What its processes used (wall, CPU, peak RSS), when it ran and was measured. */
  readonly usage?: Usage;
  /** The pilot block and worker that ran it (an executor with `bundle: pilot`). */
  readonly pilot?: PilotPlace;
}

/** A failed attempt will be tried again after a delay. */
export interface RetryingEvent extends EventBase<"retrying"> {
  /** The task's id. */
  readonly task: string;
  /** The attempt that failed. */
  readonly attempt: number;
  /** The backoff before the next attempt, in ms. */
  readonly delayMs: number;
}

/** A task will not run because a task it needs failed. */
export interface BlockedEvent extends EventBase<"blocked"> {
  /** The task's id. */
  readonly task: string;
  /** The failed (or blocked) task it needed. */
  readonly by: string;
}

/** A dynamic output is known: the tasks that fan out over it (or gather it) were added. */
export interface ExpandedEvent extends EventBase<"expanded"> {
  /** The placeholder the new tasks replace; absent when a gathering task was completed. */
  readonly task?: string;
  /** The ids of the tasks added. */
  readonly tasks: readonly string[];
}

/** The fields of both transfer events. */
interface TransferFields<K extends "started" | "finished"> {
  /** The same as `event` without its `transfer-` prefix. */
  readonly kind: K;
  /** The transfer's id. */
  readonly id: string;
  /** `in`: fetched for a task; `out`: uploaded from one. */
  readonly direction: "in" | "out";
  /** The remote URL (secrets redacted). */
  readonly url: string;
  /** The staging action that moves it. */
  readonly provider: string;
  /** Bytes moved so far; when finished, the file's size. */
  readonly bytes: number;
  /** The total size, when known. */
  readonly total?: number;
}

/** A file transfer starts. */
export interface TransferStartedEvent
  extends EventBase<"transfer-started">, TransferFields<"started"> {}

/** A file transfer ended, moved or failed after its retries. */
export interface TransferFinishedEvent
  extends EventBase<"transfer-finished">, TransferFields<"finished"> {
  /** A cached copy was still current: nothing moved. */
  readonly reused?: boolean;
  /** Attempts made. */
  readonly attempts?: number;
  /** Why it failed (secrets redacted). */
  readonly error?: string;
  /** How long it took, in ms. */
  readonly ms?: number;
  /** With `error`: the next replica of a logical file, fetched instead under the same id. */
  readonly fallback?: string;
}

/** A pilot block's state as the log records it: the provider's, or `gone` once it no longer holds it. */
export type PilotBlockState = PilotBlock["state"] | "gone";

/** A pilot block of an executor appeared, changed state, or is gone. */
export interface PilotBlockEvent extends EventBase<"pilot-block"> {
  /** The executor whose provider holds the block. */
  readonly executor: string;
  /** The block: the scheduler's id of its job. */
  readonly block: string;
  /** Its new state. */
  readonly state: PilotBlockState;
  /** Workers it runs. */
  readonly workers: number;
  /** Tasks running in it now. */
  readonly busy: number;
  /** Tasks it has finished. */
  readonly done: number;
}

/** A temporary output was deleted: every task reading it has succeeded. */
export interface TempDeletedEvent extends EventBase<"temp-deleted"> {
  /** The file's URL. */
  readonly url: string;
}

/**
 * The result store could not be used for a task: an upload failed after its retries, or an
 * entry was unusable (the task runs).
 */
export interface StoreWarningEvent extends EventBase<"store-warning"> {
  /** The task's id. */
  readonly task: string;
  /** What went wrong, secrets redacted. */
  readonly message: string;
}

/** Last line of a run that ended (a run whose process was killed has none). */
export interface RunEndedEvent extends EventBase<"run-ended"> {
  /** The run was interrupted (Ctrl-C, SIGTERM). */
  readonly interrupted: boolean;
  /**
   * The run stopped on an internal error (a bug in ferry): its first line;
   * the stack is in a crash-*.log in the run's directory.
   */
  readonly error?: string;
}

/** One line of a run's event log. */
export type RunEvent =
  | PlannedEvent
  | GraphEvent
  | CachedEvent
  | StartedEvent
  | SubmittedEvent
  | FinishedEvent
  | RetryingEvent
  | BlockedEvent
  | ExpandedEvent
  | TransferStartedEvent
  | TransferFinishedEvent
  | TempDeletedEvent
  | PilotBlockEvent
  | StoreWarningEvent
  | RunEndedEvent;

/** The name of an event: the `event` field of its line. */
export type EventName = RunEvent["event"];

/** An event as the run hands it to the writer, which adds the time. */
export type NewEvent = RunEvent extends infer E ? E extends RunEvent ? Omit<E, "time"> : never
  : never;

/** What a field must hold; `?` marks one that may be absent. */
type FieldType =
  | "string"
  | "number"
  | "boolean"
  | "strings"
  | "apps"
  | "outcome"
  | "direction"
  | "usage"
  | "pilot"
  | "blockState";
type Fields = Readonly<Record<string, FieldType | `${FieldType}?`>>;

const TRANSFER: Fields = {
  kind: "string",
  id: "string",
  direction: "direction",
  url: "string",
  provider: "string",
  bytes: "number",
  total: "number?",
};

/**
 * The fields of each event a reader relies on. Only what an older ferry may
 * not have written is optional; unknown extra fields are allowed (a newer
 * ferry may add some).
 */
const FIELDS: Readonly<Record<EventName, Fields>> = {
  planned: { workflow: "string?", tasks: "strings" },
  graph: { apps: "apps" },
  cached: { task: "string", store: "string?" },
  started: { task: "string", attempt: "number", stdoutPath: "string?", stderrPath: "string?" },
  submitted: { task: "string", attempt: "number", jobId: "string" },
  finished: {
    task: "string",
    attempt: "number",
    outcome: "outcome",
    exitCode: "number?",
    signal: "string?",
    message: "string?",
    reason: "string?",
    startedAt: "number",
    endedAt: "number",
    host: "string",
    retryable: "boolean?",
    jobId: "string?",
    stdoutPath: "string",
    stderrPath: "string",
    errorLog: "string?",
    usage: "usage?",
    pilot: "pilot?",
  },
  retrying: { task: "string", attempt: "number", delayMs: "number" },
  blocked: { task: "string", by: "string" },
  expanded: { task: "string?", tasks: "strings" },
  "transfer-started": TRANSFER,
  "transfer-finished": {
    ...TRANSFER,
    reused: "boolean?",
    attempts: "number?",
    error: "string?",
    ms: "number?",
    fallback: "string?",
  },
  "temp-deleted": { url: "string" },
  "pilot-block": {
    executor: "string",
    block: "string",
    state: "blockState",
    workers: "number",
    busy: "number",
    done: "number",
  },
  "store-warning": { task: "string", message: "string" },
  "run-ended": { interrupted: "boolean", error: "string?" },
};

/** Every event name, in the order the schema lists them. */
export const EVENT_NAMES: readonly EventName[] = Object.keys(FIELDS) as EventName[];

const OUTCOMES: ReadonlySet<unknown> = new Set(["succeeded", "failed", "timeout", "cancelled"]);
const BLOCK_STATES: ReadonlySet<unknown> = new Set([
  "pending",
  "running",
  "idle",
  "ending",
  "gone",
]);

function holds(value: unknown, type: FieldType): boolean {
  switch (type) {
    case "strings":
      return Array.isArray(value) && value.every((v) => typeof v === "string");
    case "apps":
      return Array.isArray(value) &&
        value.every((a) =>
          isObject(a) && typeof a.name === "string" && typeof a.executor === "string" &&
          holds(a.deps, "strings")
        );
    case "outcome":
      return OUTCOMES.has(value);
    case "direction":
      return value === "in" || value === "out";
    case "usage":
      return isObject(value) && holds(value.wallSeconds, "number");
    case "pilot":
      return isObject(value) && typeof value.block === "string" &&
        typeof value.worker === "string" &&
        (value.node === undefined || typeof value.node === "string");
    case "blockState":
      return BLOCK_STATES.has(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Whether a parsed line is an event of the log: an object naming a known
 * event, with its time and the fields readers rely on, of the right types.
 * Anything else (`null`, a number, a torn or zeroed line that happened to
 * parse) is damaged.
 *
 * @example
 * ```ts
 * import { isRunEvent } from "./events.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isRunEvent({ time: 1, event: "cached", task: "a" }), true);
 * assert.equal(isRunEvent(null), false);
 * assert.equal(isRunEvent({ time: 1, event: "cached" }), false);
 * ```
 */
export function isRunEvent(value: unknown): value is RunEvent {
  if (!isObject(value) || typeof value.time !== "number") return false;
  const fields = Object.hasOwn(FIELDS, String(value.event))
    ? FIELDS[value.event as EventName]
    : undefined;
  if (fields === undefined) return false;
  for (const [name, spec] of Object.entries(fields)) {
    const optional = spec.endsWith("?");
    const v = value[name];
    if (v === undefined ? !optional : !holds(v, spec.replace("?", "") as FieldType)) return false;
  }
  return true;
}
