/**
 * Where an attempt's logs are now, for `ferry status`. A log redirected to a
 * declared output (`stdout: ${{ outputs.o }}`) is written in the attempt's
 * task directory and moved into the workspace when the task succeeds; the
 * attempt directories go with `ferry clean`, and a later run replaces what an
 * earlier one delivered. A log is shown where it is, or said to be gone.
 * @module
 */

import { existsSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { taskDirName } from "./attempt.ts";
import { outputRel } from "./staging.ts";
import type { OutputRecord, SuccessRecord } from "./state.ts";
import type { AttemptStatus, TaskStatus } from "./status_types.ts";
import { localPath } from "./values.ts";

/** What {@linkcode LogLocator} knows of the run. */
export interface LogContext {
  /** The run's id. */
  readonly runId: string;
  /** The run's directory as recorded when it ran (its logs' paths start with it). */
  readonly recordedDir: string;
  /** The run's directory as the workspace has it now. */
  readonly dir: string;
  /** Whether its attempt directories are still there (`ferry clean` removes them). */
  readonly logsKept: boolean;
  /** The recorded success of a task, if it has one: where its outputs were delivered. */
  readonly success: (taskId: string) => SuccessRecord | undefined;
}

/** Where a log is: a path that exists (as far as can be told here), or gone from the one it had. */
type Place = { readonly path: string } | { readonly gone: string };

/**
 * Finds the logs of one run's attempts. Only the redirected logs in task
 * directories are looked for on disk: the default `stdout.log` and
 * `stderr.log` stay with their attempt directory, and logs outside the run's
 * directory (on a node, on another host) are shown as recorded.
 */
export class LogLocator {
  readonly #c: LogContext;
  /** The workspace the run wrote into, and the one it is now (the same unless it moved). */
  readonly #was: string;
  readonly #now: string;

  /** A locator for the run `context` describes. */
  constructor(context: LogContext) {
    this.#c = context;
    this.#was = resolve(context.recordedDir, "..", "..", "..");
    this.#now = resolve(context.dir, "..", "..", "..");
  }

  /** The task with each attempt's logs where they are now (the same object when nothing moved). */
  locate(t: TaskStatus): TaskStatus {
    let changed = false;
    const attempts = t.attempts.map((a) => {
      const b = this.#attempt(t.id, a);
      if (b !== a) changed = true;
      return b;
    });
    return changed ? { ...t, attempts } : t;
  }

  #attempt(taskId: string, a: AttemptStatus): AttemptStatus {
    const stdout = a.stdout === undefined ? undefined : this.#place(taskId, a.attempt, a.stdout);
    const stderr = a.stderr === undefined ? undefined : this.#place(taskId, a.attempt, a.stderr);
    const log = a.errorLog === undefined ? undefined : this.#place(taskId, a.attempt, a.errorLog);
    const same = (p: Place | undefined, was: string | undefined) =>
      p === undefined || ("path" in p && p.path === was);
    if (same(stdout, a.stdout) && same(stderr, a.stderr) && same(log, a.errorLog)) return a;
    const { stdout: _, stderr: __, errorLog: ___, ...rest } = a;
    return {
      ...rest,
      ...(stdout && "path" in stdout ? { stdout: stdout.path } : {}),
      ...(stderr && "path" in stderr ? { stderr: stderr.path } : {}),
      ...(stdout && "gone" in stdout ? { stdoutGone: stdout.gone } : {}),
      ...(stderr && "gone" in stderr ? { stderrGone: stderr.gone } : {}),
      ...(log && "path" in log ? { errorLog: log.path } : {}),
      ...(log && "gone" in log ? { errorLogGone: log.gone } : {}),
    };
  }

  /** Where the log recorded as `path` of attempt `n` of a task is now. */
  #place(taskId: string, n: number, path: string): Place {
    const inRun = within(this.#c.recordedDir, path);
    if (inRun === undefined) return { path }; // not in the run's directory: not ours to check
    const now = join(this.#c.dir, inRun);
    const root = join(this.#c.dir, "tasks", taskDirName(taskId), `attempt-${n}`);
    const inWork = within(join(root, "work"), now);
    if (inWork === undefined) return this.#c.logsKept ? { path: now } : { gone: path };
    if (existsSync(now)) return { path: now };
    const delivered = this.#delivered(taskId, n, inWork);
    return delivered !== undefined && existsSync(delivered) ? { path: delivered } : { gone: path };
  }

  /**
   * Where this attempt delivered the output written at `rel` in its task
   * directory: only while the task's recorded success is this attempt's (a
   * later success replaced what it delivered).
   */
  #delivered(taskId: string, n: number, rel: string): string | undefined {
    const s = this.#c.success(taskId);
    if (!s || s.runId !== this.#c.runId || s.attempt !== n) return undefined;
    const seen = new Map<string, number>();
    const many = new Map<string, number>();
    for (const o of s.outputs) many.set(o.name, (many.get(o.name) ?? 0) + 1);
    for (const o of s.outputs) {
      const k = seen.get(o.name) ?? 0;
      seen.set(o.name, k + 1);
      const here = localPath(o.url);
      if (here === undefined || o.remote) continue;
      // The state names workspace files in the workspace as it is now; others as they were written.
      const ws = within(this.#now, here) !== undefined ? this.#now : this.#was;
      if (!this.#wroteAt(o, k, many.get(o.name)!, rel, ws)) continue;
      const moved = ws === this.#was ? within(this.#was, here) : undefined;
      return moved === undefined ? here : join(this.#now, moved);
    }
    return undefined;
  }

  /**
   * Whether the `k`th file of output `o` (of `count`) is written at `rel` in the task directory,
   * `o` being a file of the workspace `ws`.
   */
  #wroteAt(o: OutputRecord, k: number, count: number, rel: string, ws: string): boolean {
    // The slot of a list output's file is `name/k`; one file may be either.
    const slots = count > 1 ? [`${o.name}/${k}`] : [o.name, `${o.name}/0`];
    return slots.some((slot) => outputRel(o.url, { workspace: ws, slot }) === rel);
  }
}

/** `path` relative to `dir` when it lies inside it, else undefined. */
function within(dir: string, path: string): string | undefined {
  const rel = relative(dir, path);
  return rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)
    ? undefined
    : rel;
}
