/**
 * The tasks of one run, as `ferry status` shows them: each task's final
 * state and attempts, worked out from the run's event log (what was planned,
 * started, finished, retried, cached, blocked) and the attempts the state
 * store recorded, which win where both know an attempt.
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { taskDirName } from "./attempt.ts";
import type { FinishedEvent, RunEvent, StartedEvent } from "./events.ts";
import type { AttemptRecord } from "./state.ts";
import type { PilotPlace, Usage } from "../providers/batch/types.ts";
import type { AttemptStatus, RunStatus, TaskStatus, TaskStatusState } from "./status_types.ts";

/** What {@linkcode TaskTracker} needs to know about the run. */
export interface TaskStatusContext {
  /** The run's directory. */
  readonly runDir: string;
  /** How the run stands. */
  readonly status: RunStatus;
}

/**
 * What the log and the store said of one attempt, kept as read: it becomes an
 * {@linkcode AttemptStatus} once, at the end (a 100,000-task run makes no
 * throw-away copies).
 */
interface Seen {
  started?: StartedEvent;
  /** From a `submitted` event. */
  jobId?: string;
  finished?: FinishedEvent;
  record?: AttemptRecord;
}

interface Track {
  last?: "started" | "finished" | "retrying" | "cached" | "blocked";
  outcome?: string;
  reason?: string;
  blockedBy?: string;
  store?: string;
  readonly attempts: Map<number, Seen>;
}

const iso = (ms: number) => new Date(ms).toISOString();
const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown) => (typeof v === "number" ? v : undefined);

/** What ended an attempt: a `finished` event or a state-store record (their fields differ). */
type Ending = Partial<Record<keyof FinishedEvent | keyof AttemptRecord, unknown>>;

/** An attempt from what ended it. */
function ended(a: Ending, attempt: number): AttemptStatus {
  const startedAt = num(a.startedAt) ?? 0, endedAt = num(a.endedAt) ?? startedAt;
  const exitCode = num(a.exitCode), signal = str(a.signal);
  const reason = str(a.reason) ?? str(a.message), host = str(a.host);
  const stdout = str(a.stdout) ?? str(a.stdoutPath), stderr = str(a.stderr) ?? str(a.stderrPath);
  const jobId = str(a.jobId), errorLog = str(a.errorLog), pilot = pilotOf(a.pilot);
  return {
    attempt,
    ...(jobId !== undefined ? { jobId } : {}),
    outcome: str(a.outcome) ?? "failed",
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(signal !== undefined ? { signal } : {}),
    ...(reason !== undefined ? { reason } : {}),
    startedAt: iso(startedAt),
    endedAt: iso(endedAt),
    durationMs: endedAt - startedAt,
    ...(host !== undefined ? { host } : {}),
    ...(pilot !== undefined ? { pilot } : {}),
    ...(stdout !== undefined ? { stdout } : {}),
    ...(stderr !== undefined ? { stderr } : {}),
    ...(errorLog !== undefined ? { errorLog } : {}),
    ...(typeof a.usage === "object" && a.usage !== null ? { usage: a.usage as Usage } : {}),
  };
}

/** A pilot place as recorded: its block and worker, and its node when there is one. */
function pilotOf(v: unknown): PilotPlace | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const p = v as Record<string, unknown>;
  const block = str(p.block), worker = str(p.worker), node = str(p.node);
  if (block === undefined || worker === undefined) return undefined;
  return { block, worker, ...(node !== undefined ? { node } : {}) };
}

/**
 * Builds the tasks of one run from its events, one at a time (so the log is
 * read once, as a stream), then from the attempts the state store recorded.
 */
export class TaskTracker {
  readonly #tracks = new Map<string, Track>();

  #track(id: string): Track {
    let t = this.#tracks.get(id);
    if (!t) this.#tracks.set(id, t = { attempts: new Map() });
    return t;
  }

  /** Take in the next event of the log. */
  add(e: RunEvent): void {
    switch (e.event) {
      case "planned":
        for (const t of e.tasks) this.#track(t);
        break;
      case "expanded":
        // A placeholder of a dynamic fan-out is replaced by the tasks it became.
        if (e.task !== undefined && this.#tracks.get(e.task)?.attempts.size === 0) {
          this.#tracks.delete(e.task);
        }
        for (const t of e.tasks) this.#track(t);
        break;
      case "started": {
        const t = this.#track(e.task);
        t.last = "started";
        t.attempts.set(e.attempt, { started: e });
        break;
      }
      case "submitted": {
        const seen = this.#tracks.get(e.task)?.attempts.get(e.attempt);
        if (seen?.started && e.jobId !== "") seen.jobId = e.jobId;
        break;
      }
      case "finished": {
        const t = this.#track(e.task);
        t.last = "finished";
        t.outcome = e.outcome;
        // Attempt 0: it failed before it could start (too big, an input transfer failed).
        if (e.attempt === 0) {
          t.reason = str(e.reason) ?? str(e.message) ?? "failed before it started";
        } else t.attempts.set(e.attempt, { ...t.attempts.get(e.attempt), finished: e });
        break;
      }
      case "retrying":
        this.#track(e.task).last = e.event;
        break;
      case "cached": {
        const t = this.#track(e.task);
        t.last = "cached";
        if (typeof e.store === "string") t.store = e.store;
        break;
      }
      case "blocked": {
        const t = this.#track(e.task);
        t.last = "blocked";
        if (e.by !== "") t.blockedBy = e.by;
        break;
      }
    }
  }

  /** Every task, in plan order, with its final state and attempts. */
  statuses(attempts: readonly AttemptRecord[], context: TaskStatusContext): TaskStatus[] {
    for (const a of attempts) {
      const t = this.#track(a.taskId);
      const seen = t.attempts.get(a.attempt);
      if (seen) seen.record = a;
      else t.attempts.set(a.attempt, { record: a });
      if (t.last === undefined) {
        t.last = "finished";
        t.outcome = a.outcome;
      }
    }
    const out: TaskStatus[] = [];
    for (const [id, t] of this.#tracks) {
      const list = [...t.attempts].sort(([a], [b]) => a - b)
        .map(([n, seen]) => attemptStatus(n, seen, id, context));
      out.push({
        id,
        state: finalState(t, context.status),
        ...(t.reason !== undefined ? { reason: t.reason } : {}),
        ...(t.blockedBy !== undefined ? { blockedBy: t.blockedBy } : {}),
        ...(t.store !== undefined ? { store: t.store } : {}),
        attempts: list,
      });
    }
    return out;
  }
}

/** One attempt as shown, from what was seen of it. */
function attemptStatus(
  n: number,
  seen: Seen,
  id: string,
  context: TaskStatusContext,
): AttemptStatus {
  const { started, finished, record } = seen;
  if (record) {
    // The store's record wins; what only the event log knows (the job id, a success's exit
    // code, the log that holds the error, a pilot place the store did not keep) is kept.
    const shown = ended(record, n);
    const jobId = finished ? str(finished.jobId) : seen.jobId;
    const exitCode = finished?.exitCode, errorLog = str(finished?.errorLog);
    const pilot = shown.pilot ?? pilotOf(finished?.pilot);
    return {
      ...shown,
      ...(jobId !== undefined ? { jobId } : {}),
      ...(pilot !== undefined ? { pilot } : {}),
      ...(errorLog !== undefined ? { errorLog } : {}),
      ...(shown.exitCode === undefined && exitCode !== undefined ? { exitCode } : {}),
    };
  }
  if (finished) return ended(finished, n);
  const stdout = str(started?.stdoutPath), stderr = str(started?.stderrPath);
  return unended(
    {
      attempt: n,
      outcome: "running",
      startedAt: iso(started?.time ?? 0),
      ...(stdout !== undefined ? { stdout } : {}),
      ...(stderr !== undefined ? { stderr } : {}),
      ...(seen.jobId !== undefined ? { jobId: seen.jobId } : {}),
    },
    id,
    context,
  );
}

/**
 * An attempt that never ended: still running, or its ferry died. An event log
 * older than the log paths in `started` events: the default paths, where they exist.
 */
function unended(a: AttemptStatus, id: string, context: TaskStatusContext): AttemptStatus {
  const outcome = context.status === "running" ? "running" : "crashed";
  if (a.stdout !== undefined || a.stderr !== undefined) return { ...a, outcome };
  const dir = join(context.runDir, "tasks", taskDirName(id), `attempt-${a.attempt}`);
  const stdout = join(dir, "stdout.log"), stderr = join(dir, "stderr.log");
  return {
    ...a,
    outcome,
    ...(existsSync(stdout) ? { stdout } : {}),
    ...(existsSync(stderr) ? { stderr } : {}),
  };
}

function finalState(t: Track, status: RunStatus): TaskStatusState {
  const live = status === "running";
  switch (t.last) {
    case undefined:
      return live ? "waiting" : "not-run";
    case "cached":
    case "blocked":
      return t.last;
    case "started":
      return live ? "running" : status === "crashed" ? "crashed" : "failed";
    case "retrying":
      return live ? "retrying" : status === "interrupted" ? "cancelled" : "failed";
    default: // finished
      return t.outcome === "succeeded"
        ? "succeeded"
        : t.outcome === "cancelled"
        ? "cancelled"
        : "failed";
  }
}
