/**
 * `ferry status` as data: the runs of a workspace, newest first, and one run
 * in detail (every task's final state and attempts, with log paths and the
 * tail of a failure's stderr). Reads only the state store and the run's
 * `events.jsonl`; a run still "running" whose ferry is gone is `crashed`.
 * @module
 */

import { FerryFileError } from "./fs_errors.ts";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { closest } from "../dsl/suggest.ts";
import type { RunEvent } from "./events.ts";
import { readEventLog } from "./events_reader.ts";
import { readLock } from "./lock.ts";
import { logTail } from "./log_tail.ts";
import { type RunRecord, StateStore, type SuccessRecord } from "./state.ts";
import { staleOutputs } from "./stale.ts";
import { LogLocator } from "./status_logs.ts";
import { TaskTracker } from "./status_tasks.ts";
import {
  type RunDetail,
  type RunOverview,
  type RunStatus,
  type StatusReport,
  TASK_STATES,
  type TaskStatus,
  type TaskStatusState,
} from "./status_types.ts";

export {
  type AttemptStatus,
  type RunDetail,
  type RunOverview,
  type RunStatus,
  type StatusReport,
  TASK_STATES,
  type TaskStatus,
  type TaskStatusState,
} from "./status_types.ts";

/** Options for {@linkcode workspaceStatus}. */
export interface StatusOptions {
  /** A run id, or a prefix of exactly one. @default the latest run, with the list of runs */
  readonly run?: string;
  /** Only the runs of this workflow file. @default every run in the workspace */
  readonly workflow?: string;
  /** Lines of stderr kept for a failed task. @default 10 */
  readonly tailLines?: number;
  /** Failed tasks whose stderr is read for its last lines (the first ones). @default 20 */
  readonly maxTails?: number;
  /** With no run asked for, list every run too (reading each one's log). @default true */
  readonly runsList?: boolean;
}

/** Options for {@linkcode readStatus}: the status's, and a reader of the same log. */
export interface ReadStatusOptions extends StatusOptions {
  /**
   * Called with every event of the run shown in detail, as its log is read
   * (once), for a caller that needs more of the log than the status.
   */
  readonly onEvent?: (e: RunEvent) => void;
}

/** A report, or why there is none (a one-line message). */
export type StatusResult =
  | { readonly ok: true; readonly report: StatusReport }
  | { readonly ok: false; readonly message: string };

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The runs of a workspace and one run in detail, from its state store and
 * event logs.
 *
 * @example
 * ```ts
 * import { workspaceStatus } from "./status.ts";
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * const r = await workspaceStatus(dir);
 * assert.equal(r.ok, false);
 * assert.match(!r.ok ? r.message : "", /^Cannot show the status of ".*": it has no \.ferry\/state\.db/);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function workspaceStatus(
  workspace: string,
  options: StatusOptions = {},
): Promise<StatusResult> {
  return readStatus(workspace, options);
}

/** {@linkcode workspaceStatus}, handing the events of the run in detail to `onEvent` too. */
export async function readStatus(
  workspace: string,
  options: ReadStatusOptions = {},
): Promise<StatusResult> {
  const ws = resolve(workspace);
  const opened = openState(workspace, ws);
  if (typeof opened === "string") return bad(opened);
  const { store } = opened;
  try {
    const records = ofWorkflow(opened.records, options.workflow, ws);
    if (typeof records === "string") return bad(records);
    const report = await statusReport(ws, records, new RunDetails(ws, store, options), options);
    if (typeof report === "string") return bad(report);
    const stale = staleOutputs(store.successes().values(), ws);
    return { ok: true, report: stale.length > 0 ? { ...report, stale } : report };
  } catch (e) {
    if (e instanceof EventLogError) return bad(e.message);
    throw e;
  } finally {
    store.close();
  }
}

const bad = (message: string): StatusResult => ({ ok: false, message });

/** The workspace's state store and its runs, newest first, or why they cannot be read. */
function openState(
  workspace: string,
  ws: string,
): { store: StateStore; records: RunRecord[] } | string {
  if (!existsSync(ws)) return `Cannot show the status of "${workspace}": no such directory`;
  const db = join(ws, ".ferry", "state.db");
  if (!existsSync(db)) {
    return `Cannot show the status of "${workspace}": it has no .ferry/state.db (no workflow has run there)`;
  }
  let store: StateStore | undefined;
  try {
    store = StateStore.open(ws);
    return { store, records: store.runs() };
  } catch (e) {
    store?.close();
    // A fault of the state file already names it (and the way to recover).
    return e instanceof FerryFileError
      ? e.message
      : `Cannot read the state in "${db}": ${(e as Error).message}`;
  }
}

/** Only the runs of `workflow` (every run without one), or why there is none. */
function ofWorkflow(
  records: RunRecord[],
  workflow: string | undefined,
  ws: string,
): RunRecord[] | string {
  if (workflow === undefined) return records;
  const file = resolve(workflow);
  const mine = records.filter((r) => r.workflow === file);
  if (mine.length === 0 && records.length > 0) {
    const all = records.length;
    return `Cannot show the status of "${workflow}": none of the ${all} run${
      all === 1 ? "" : "s"
    } in "${ws}" ran it`;
  }
  return mine;
}

/** The report: the run asked for, or the latest with (unless not wanted) the list of runs. */
async function statusReport(
  ws: string,
  records: readonly RunRecord[],
  details: RunDetails,
  { run: query, runsList = true }: StatusOptions,
): Promise<StatusReport | string> {
  if (query !== undefined) {
    const found = findRun(records, query, ws);
    if (typeof found === "string") return found;
    return { ferryStatus: 1, workspace: ws, run: await details.detail(found, true) };
  }
  // Each run's log is read once: the latest's for its detail and its line in the list.
  const latest = records[0] ? await details.detail(records[0], true) : undefined;
  if (!runsList) return { ferryStatus: 1, workspace: ws, ...(latest ? { run: latest } : {}) };
  const runs: RunOverview[] = [];
  for (const r of records) {
    const { tasks: _, logsKept: __, ...overview } = r === records[0]
      ? latest!
      : await details.detail(r, false);
    runs.push(overview);
  }
  return { ferryStatus: 1, workspace: ws, runs, ...(latest ? { run: latest } : {}) };
}

/** The runs of one workspace in detail, as the store and the lock tell how each stands. */
class RunDetails {
  readonly #lock: ReturnType<typeof readLock>;

  constructor(
    readonly ws: string,
    readonly store: StateStore,
    readonly options: ReadStatusOptions,
  ) {
    this.#lock = readLock(ws);
  }

  /** How a run stands: as recorded, or for a run still "running" whose ferry is gone, crashed. */
  statusOf(r: RunRecord): RunStatus {
    if (r.status !== "running") return r.status as RunStatus;
    // A run holds the lock from before it is recorded until after it ends.
    const lock = this.#lock;
    return lock?.holder?.runId === r.id && lock.live ? "running" : "crashed";
  }

  /** One run; `shown` in full (its failures' stderr tails, its events handed on). */
  detail(r: RunRecord, shown: boolean): Promise<RunDetail> {
    const { tailLines = 10, maxTails = 20, onEvent } = this.options;
    return runDetail(this.ws, r, this.statusOf(r), this.store.attempts(r.id), {
      tailLines: shown ? tailLines : 0,
      maxTails,
      ...(shown && onEvent ? { onEvent } : {}),
      // Only a run shown in detail has its logs looked for (the list shows no paths).
      ...(shown ? { successes: () => this.store.successes() } : {}),
    });
  }
}

/** The run `query` names (its id or a unique prefix), or a message saying why none. */
function findRun(runs: readonly RunRecord[], query: string, ws: string): RunRecord | string {
  const exact = runs.find((r) => r.id === query);
  if (exact) return exact;
  const matches = query === "" ? [] : runs.filter((r) => r.id.startsWith(query));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    const shown = matches.slice(0, 5).map((r) => r.id).join(", ");
    const more = matches.length > 5 ? ` and ${matches.length - 5} more` : "";
    return `Cannot show run "${query}": ${matches.length} runs start with it: ${shown}${more}`;
  }
  // A typo in a prefix: compare with the runs' prefixes of the same length.
  const prefixes = new Set(runs.map((r) => r.id.slice(0, query.length)));
  const near = closest(query, prefixes);
  const candidates = near === undefined ? [] : runs.filter((r) => r.id.startsWith(near));
  const hint = candidates.length === 1
    ? `: did you mean "${candidates[0]!.id}"?`
    : near !== undefined
    ? `: did you mean "${near}"?`
    : runs.length === 0
    ? " (there is none yet)"
    : "";
  return `Cannot show run "${query}": no run with that id in "${ws}"${hint}`;
}

/** An event log that exists but cannot be read. */
class EventLogError extends Error {}

/** What {@linkcode runDetail} shows beyond the states. */
interface DetailOptions {
  readonly tailLines: number;
  readonly maxTails: number;
  readonly onEvent?: (e: RunEvent) => void;
  /** Look for each attempt's logs where they are now, with the tasks' recorded successes. */
  readonly successes?: () => ReadonlyMap<string, SuccessRecord>;
}

/** One run with its tasks, from one read of its event log. */
async function runDetail(
  ws: string,
  r: RunRecord,
  status: RunStatus,
  attempts: ReturnType<StateStore["attempts"]>,
  { tailLines, maxTails, onEvent, successes }: DetailOptions,
): Promise<RunDetail> {
  // The run's directory as the workspace has it now (the workspace may have moved).
  const dir = join(ws, ".ferry", "runs", r.id);
  const { tasks, skipped } = await readTasks(dir, status, attempts, onEvent);
  const counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<
    TaskStatusState,
    number
  >;
  for (const t of tasks) counts[t.state]++;
  const logsKept = existsSync(join(dir, "tasks")) || tasks.every((t) => t.attempts.length === 0);
  const logs = successes
    ? new LogLocator({
      runId: r.id,
      recordedDir: r.dir,
      dir,
      logsKept,
      success: (id) => successes().get(id),
    })
    : undefined;
  return {
    id: r.id,
    workflow: r.workflow,
    status,
    startedAt: iso(r.startedAt),
    ...(r.endedAt !== undefined
      ? { endedAt: iso(r.endedAt), durationMs: r.endedAt - r.startedAt }
      : {}),
    pid: r.pid,
    host: r.host,
    dir,
    counts,
    ...(skipped > 0 ? { skippedEventLines: skipped } : {}),
    logsKept,
    tasks: await withTails(logs ? tasks.map((t) => logs.locate(t)) : tasks, tailLines, maxTails),
  };
}

/** The tasks of a run from its event log (read once) and the attempts the store recorded. */
async function readTasks(
  dir: string,
  status: RunStatus,
  attempts: ReturnType<StateStore["attempts"]>,
  onEvent: ((e: RunEvent) => void) | undefined,
): Promise<{ tasks: TaskStatus[]; skipped: number }> {
  const tracker = new TaskTracker();
  const log = join(dir, "events.jsonl");
  let read;
  try {
    read = await readEventLog(log, (e) => {
      tracker.add(e);
      onEvent?.(e);
    });
  } catch (e) {
    const unreadable = e instanceof Deno.errors.PermissionDenied ||
      e instanceof Deno.errors.IsADirectory || e instanceof Deno.errors.NotADirectory;
    if (!unreadable) throw e;
    throw new EventLogError(`Cannot read the event log "${log}": ${e.message}`);
  }
  // A live run may be writing its last line; a torn last line of a finished one is damage.
  const skipped = read.damaged + (read.torn && status !== "running" ? 1 : 0);
  return { tasks: tracker.statuses(attempts, { runDir: dir, status }), skipped };
}

/** The tasks, the first `maxTails` failed or crashed ones with their stderr's last lines. */
async function withTails(
  tasks: readonly TaskStatus[],
  tailLines: number,
  maxTails: number,
): Promise<TaskStatus[]> {
  let tails = 0;
  const out: TaskStatus[] = [];
  for (const t of tasks) {
    const last = t.attempts.at(-1);
    const log = last?.errorLog ?? last?.stderr;
    if ((t.state === "failed" || t.state === "crashed") && log && tailLines > 0) {
      const lines = tails++ < maxTails ? await logTail(log, { lines: tailLines }) : [];
      out.push(lines.length > 0 ? { ...t, stderrTail: lines } : t);
    } else out.push(t);
  }
  return out;
}
