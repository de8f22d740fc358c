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
import type { AttemptRecord } from "./state.ts";
import type { AttemptStatus, RunStatus, TaskStatus, TaskStatusState } from "./status.ts";

/** What {@linkcode taskStatuses} needs to know about the run. */
export interface TaskStatusContext {
  /** The run's directory. */
  readonly runDir: string;
  /** How the run stands. */
  readonly status: RunStatus;
}

interface Track {
  last?: "started" | "finished" | "retrying" | "cached" | "blocked";
  outcome?: string;
  reason?: string;
  blockedBy?: string;
  readonly attempts: Map<number, AttemptStatus>;
}

const iso = (ms: number) => new Date(ms).toISOString();
const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown) => (typeof v === "number" ? v : undefined);

/** An attempt from what ended it (a `finished` event or a state-store record). */
function ended(a: Record<string, unknown>, attempt: number): AttemptStatus {
  const startedAt = num(a.startedAt) ?? 0, endedAt = num(a.endedAt) ?? startedAt;
  const exitCode = num(a.exitCode), signal = str(a.signal);
  const reason = str(a.reason) ?? str(a.message), host = str(a.host);
  const stdout = str(a.stdout) ?? str(a.stdoutPath), stderr = str(a.stderr) ?? str(a.stderrPath);
  const jobId = str(a.jobId);
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
    ...(stdout !== undefined ? { stdout } : {}),
    ...(stderr !== undefined ? { stderr } : {}),
  };
}

/** Every task of a run, in plan order, with its final state and attempts. */
export function taskStatuses(
  events: readonly Record<string, unknown>[],
  attempts: readonly AttemptRecord[],
  context: TaskStatusContext,
): TaskStatus[] {
  const tracks = new Map<string, Track>();
  const track = (id: string) => {
    let t = tracks.get(id);
    if (!t) tracks.set(id, t = { attempts: new Map() });
    return t;
  };
  for (const e of events) {
    const id = str(e.task);
    switch (e.event) {
      case "planned":
        for (const t of e.tasks as string[]) track(t);
        break;
      case "expanded":
        // A placeholder of a dynamic fan-out is replaced by the tasks it became.
        if (id !== undefined && tracks.get(id)?.attempts.size === 0) tracks.delete(id);
        for (const t of e.tasks as string[]) track(t);
        break;
      case "started": {
        if (id === undefined) break;
        const t = track(id), n = num(e.attempt) ?? 1;
        t.last = "started";
        const stdout = str(e.stdoutPath), stderr = str(e.stderrPath);
        t.attempts.set(n, {
          attempt: n,
          outcome: "running",
          startedAt: iso(num(e.time) ?? 0),
          ...(stdout !== undefined ? { stdout } : {}),
          ...(stderr !== undefined ? { stderr } : {}),
        });
        break;
      }
      case "submitted": {
        const running = id !== undefined
          ? tracks.get(id)?.attempts.get(num(e.attempt) ?? 1)
          : undefined;
        if (running && str(e.jobId)) {
          tracks.get(id!)!.attempts.set(running.attempt, { ...running, jobId: str(e.jobId)! });
        }
        break;
      }
      case "finished": {
        if (id === undefined) break;
        const t = track(id), n = num(e.attempt) ?? 0;
        t.last = "finished";
        t.outcome = str(e.outcome) ?? "failed";
        // Attempt 0: it failed before it could start (too big, an input transfer failed).
        if (n === 0) t.reason = str(e.reason) ?? str(e.message) ?? "failed before it started";
        else t.attempts.set(n, ended(e, n));
        break;
      }
      case "retrying":
      case "cached":
        if (id !== undefined) track(id).last = e.event;
        break;
      case "blocked":
        if (id !== undefined) {
          const t = track(id);
          t.last = "blocked";
          if (str(e.by)) t.blockedBy = str(e.by)!;
        }
        break;
    }
  }
  for (const a of attempts) {
    const t = track(a.taskId);
    // The store's record wins; what only the event log knows (the job id, a success's exit
    // code) is kept.
    const seen = t.attempts.get(a.attempt);
    const record = ended(a as unknown as Record<string, unknown>, a.attempt);
    t.attempts.set(a.attempt, {
      ...record,
      ...(seen?.jobId !== undefined ? { jobId: seen.jobId } : {}),
      ...(record.exitCode === undefined && seen?.exitCode !== undefined
        ? { exitCode: seen.exitCode }
        : {}),
    });
    if (t.last === undefined) {
      t.last = "finished";
      t.outcome = a.outcome;
    }
  }
  const out: TaskStatus[] = [];
  for (const [id, t] of tracks) {
    const list = [...t.attempts.values()].sort((a, b) => a.attempt - b.attempt)
      .map((a) => a.endedAt !== undefined ? a : unended(a, id, context));
    out.push({
      id,
      state: finalState(t, context.status),
      ...(t.reason !== undefined ? { reason: t.reason } : {}),
      ...(t.blockedBy !== undefined ? { blockedBy: t.blockedBy } : {}),
      attempts: list,
    });
  }
  return out;
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
