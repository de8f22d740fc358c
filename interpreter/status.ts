/**
 * `ferry status` as data: the runs of a workspace, newest first, and one run
 * in detail (every task's final state and attempts, with log paths and the
 * tail of a failure's stderr). Reads only the state store and the run's
 * `events.jsonl`; a run still "running" whose ferry is gone is `crashed`.
 * @module
 */

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { closest } from "../dsl/suggest.ts";
import { readLock } from "./lock.ts";
import { tail } from "./progress.ts";
import { type RunRecord, StateStore } from "./state.ts";
import { taskStatuses } from "./status_tasks.ts";

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
  /** Standard output log. */
  readonly stdout?: string;
  /** Standard error log. */
  readonly stderr?: string;
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
  /** Its attempts in this run, in order. */
  readonly attempts: readonly AttemptStatus[];
  /** For a failed or crashed task: the last lines of its last attempt's stderr. */
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
}

/** Options for {@linkcode workspaceStatus}. */
export interface StatusOptions {
  /** A run id, or a prefix of exactly one. @default the latest run, with the list of runs */
  readonly run?: string;
  /** Only the runs of this workflow file. @default every run in the workspace */
  readonly workflow?: string;
  /** Lines of stderr kept for a failed task. @default 10 */
  readonly tailLines?: number;
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
export async function workspaceStatus(
  workspace: string,
  options: StatusOptions = {},
): Promise<StatusResult> {
  const { run: query, workflow, tailLines = 10 } = options;
  const ws = resolve(workspace);
  const bad = (message: string): StatusResult => ({ ok: false, message });
  if (!existsSync(ws)) return bad(`Cannot show the status of "${workspace}": no such directory`);
  const db = join(ws, ".ferry", "state.db");
  if (!existsSync(db)) {
    return bad(
      `Cannot show the status of "${workspace}": it has no .ferry/state.db (no workflow has run there)`,
    );
  }
  let records: RunRecord[];
  let store: StateStore | undefined;
  try {
    store = StateStore.open(ws);
    records = store.runs();
  } catch (e) {
    store?.close();
    return bad(`Cannot read the state in "${db}": ${(e as Error).message}`);
  }
  const opened = store;
  try {
    if (workflow !== undefined) {
      const file = resolve(workflow);
      const all = records.length;
      records = records.filter((r) => r.workflow === file);
      if (records.length === 0 && all > 0) {
        return bad(
          `Cannot show the status of "${workflow}": none of the ${all} run${
            all === 1 ? "" : "s"
          } in "${ws}" ran it`,
        );
      }
    }
    const lock = readLock(ws);
    const statusOf = (r: RunRecord): RunStatus =>
      r.status !== "running"
        ? r.status as RunStatus
        // A run holds the lock from before it is recorded until after it ends.
        : lock?.holder?.runId === r.id && lock.live
        ? "running"
        : "crashed";
    const detail = (r: RunRecord, lines = tailLines) =>
      runDetail(ws, r, statusOf(r), opened.attempts(r.id), lines);
    if (query !== undefined) {
      const found = findRun(records, query, ws);
      if (typeof found === "string") return bad(found);
      return { ok: true, report: { ferryStatus: 1, workspace: ws, run: await detail(found) } };
    }
    const runs: RunOverview[] = [];
    for (const r of records) {
      const { tasks: _, logsKept: __, ...overview } = await detail(r, 0);
      runs.push(overview);
    }
    const latest = records[0];
    return {
      ok: true,
      report: {
        ferryStatus: 1,
        workspace: ws,
        runs,
        ...(latest ? { run: await detail(latest) } : {}),
      },
    };
  } finally {
    opened.close();
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

/** One run with its tasks (`withAttempts` false: states only, for the list). */
async function runDetail(
  ws: string,
  r: RunRecord,
  status: RunStatus,
  attempts: ReturnType<StateStore["attempts"]>,
  tailLines: number,
): Promise<RunDetail> {
  // The run's directory as the workspace has it now (the workspace may have moved).
  const dir = join(ws, ".ferry", "runs", r.id);
  const tasks = taskStatuses(readEvents(join(dir, "events.jsonl")), attempts, {
    runDir: dir,
    status,
  });
  const counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<
    TaskStatusState,
    number
  >;
  for (const t of tasks) counts[t.state]++;
  const withTails: TaskStatus[] = [];
  for (const t of tasks) {
    const last = t.attempts.at(-1);
    if ((t.state === "failed" || t.state === "crashed") && last?.stderr && tailLines > 0) {
      const text = await tail(last.stderr, tailLines);
      withTails.push(text ? { ...t, stderrTail: text.split("\n") } : t);
    } else withTails.push(t);
  }
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
    logsKept: existsSync(join(dir, "tasks")) || tasks.every((t) => t.attempts.length === 0),
    tasks: withTails,
  };
}

/** The lines of an event log that parse (a live run's last line may be half-written). */
function readEvents(path: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      out.push(JSON.parse(line));
    } catch { /* half-written */ }
  }
  return out;
}
