/**
 * `ferry clean` as data: remove the attempt directories of every run
 * (`.ferry/runs/*\/tasks`), the staged copies (`.ferry/staged`) and the trash
 * (`.ferry/trash`: what `dir:` outputs replaced that ferry had not written),
 * keeping the state and the runs' event logs; or, with `all`, the whole
 * `.ferry/`; or, with `stale`, only the stale outputs in the workspace.
 * Holds the workspace lock while it works, so no run starts meanwhile.
 * @module
 */

import { existsSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { acquireLock, describeHolder, type HeldLock, readLock } from "./lock.ts";
import { GROUPS_FILE } from "../providers/batch/process_groups.ts";
import { FerryFileError } from "./fs_errors.ts";
import { staleOutputs } from "./stale.ts";
import { StateStore } from "./state.ts";

/** Options for {@linkcode cleanWorkspace}. */
export interface CleanOptions {
  /** Remove the whole `.ferry/`: the state too, so the next run runs every task. @default false */
  readonly all?: boolean;
  /** Only say what would be removed. @default false */
  readonly dryRun?: boolean;
  /**
   * Remove only the stale outputs: files earlier runs' glob or dir outputs left in the
   * workspace that no task produces any more (`ferry status` lists them). @default false
   */
  readonly stale?: boolean;
}

/** One directory removed (or that would be). */
export interface CleanEntry {
  /** Its path, relative to the workspace. */
  readonly path: string;
  /** The disk space it takes, as `du` counts it (files hard-linked from elsewhere, which stay, do not count). */
  readonly bytes: number;
}

/** What was removed. */
export interface CleanReport {
  /** The workspace, absolute. */
  readonly workspace: string;
  /** Nothing was removed; `entries` is what would be. */
  readonly dryRun: boolean;
  /** The whole `.ferry/` (with the state). */
  readonly all: boolean;
  /** Stale outputs in the workspace (not `.ferry/`). */
  readonly stale?: boolean;
  /** The directories removed, in order. */
  readonly entries: readonly CleanEntry[];
  /** Their total disk space. */
  readonly bytes: number;
  /** Set when a stale lock (its run is gone) was taken over. */
  readonly warning?: string;
  /** Paths that could not be removed, with why. */
  readonly errors: readonly string[];
}

/** A report, or why nothing was done (a one-line message). */
export type CleanResult =
  | { readonly ok: true; readonly report: CleanReport }
  | { readonly ok: false; readonly message: string };

/**
 * Clean a workspace: attempt directories and staged copies, or (`all`) the
 * whole `.ferry/`. Refuses while a live run holds the workspace lock.
 *
 * @example
 * ```ts
 * import { cleanWorkspace } from "./clean.ts";
 * import assert from "node:assert/strict";
 * const ws = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${ws}/.ferry/runs/r1/tasks/t/attempt-1`, { recursive: true });
 * Deno.writeTextFileSync(`${ws}/.ferry/runs/r1/tasks/t/attempt-1/stdout.log`, "hello\n");
 * Deno.writeTextFileSync(`${ws}/.ferry/runs/r1/events.jsonl`, "{}\n");
 * const r = cleanWorkspace(ws);
 * assert.ok(r.ok);
 * assert.deepEqual(r.report.entries.map((e) => e.path), [".ferry/runs/r1/tasks"]);
 * assert.deepEqual([...Deno.readDirSync(`${ws}/.ferry/runs/r1`)].map((e) => e.name), ["events.jsonl"]);
 * Deno.removeSync(ws, { recursive: true });
 * ```
 */
export function cleanWorkspace(workspace: string, options: CleanOptions = {}): CleanResult {
  const { all = false, dryRun = false, stale = false } = options;
  const ws = resolve(workspace);
  if (!existsSync(ws)) {
    return { ok: false, message: `Cannot clean "${workspace}": no such directory` };
  }
  const dir = join(ws, ".ferry");
  const empty = {
    workspace: ws,
    dryRun,
    all,
    ...(stale ? { stale } : {}),
    entries: [],
    bytes: 0,
    errors: [],
  };
  if (!existsSync(dir)) return { ok: true, report: empty };
  let lock: HeldLock | undefined;
  if (dryRun) {
    const held = readLock(ws);
    if (held?.live) return { ok: false, message: refusal(workspace, held) };
  } else {
    const held = lockForClean(ws);
    if (typeof held === "string") {
      return { ok: false, message: `Cannot clean "${workspace}": ${held}` };
    }
    if (!held.ok) return { ok: false, message: refusal(workspace, held) };
    lock = held.lock;
  }
  try {
    const targets = all ? [dir] : stale ? staleFiles(ws) : attemptDirs(dir);
    if (typeof targets === "string") {
      return { ok: false, message: `Cannot clean "${workspace}": ${targets}` };
    }
    // Our own lock is not what the user asked about: a dry run and a real one report the same.
    const entries = targets.map((p) => ({
      path: relative(ws, p),
      bytes: sizeOf(p) - (p === dir && lock ? sizeOf(join(dir, "lock")) : 0),
    }));
    const errors = !lock ? [] : stale ? removeFiles(targets) : removeTargets(targets, dir, lock);
    const report: CleanReport = {
      ...empty,
      entries,
      bytes: entries.reduce((n, e) => n + e.bytes, 0),
      ...(lock?.warning ? { warning: lock.warning } : {}),
      errors,
    };
    return { ok: true, report };
  } finally {
    lock?.release();
    if (all && !dryRun) {
      try {
        Deno.removeSync(dir); // only if empty: a run may have started since the lock went
      } catch { /* not empty, or gone */ }
    }
  }
}

/**
 * The workspace lock for clean, or why it cannot be written (a read-only
 * `.ferry/`). On a full disk it is taken empty, and names clean once the
 * first removal made room.
 */
function lockForClean(ws: string): ReturnType<typeof acquireLock> | string {
  try {
    return acquireLock(ws, "ferry clean", { emptyOnFullDisk: true });
  } catch (e) {
    if (e instanceof FerryFileError) return e.message;
    throw e;
  }
}

function refusal(
  workspace: string,
  held: {
    readonly holder: Parameters<typeof describeHolder>[0] | undefined;
    readonly path: string;
  },
): string {
  return held.holder
    ? `Cannot clean "${workspace}": a ferry run is using it: ${describeHolder(held.holder)}`
    : `Cannot clean "${workspace}": ${held.path} is being written by another ferry run`;
}

/** The stale outputs of the workspace, absolute, or why the state cannot tell. */
function staleFiles(ws: string): string[] | string {
  if (!existsSync(join(ws, ".ferry", "state.db"))) return [];
  let store: StateStore | undefined;
  try {
    store = StateStore.open(ws);
    return staleOutputs(store.successes().values(), ws).map((p) => join(ws, p));
  } catch (e) {
    if (e instanceof FerryFileError) return e.message;
    throw e;
  } finally {
    store?.close();
  }
}

/** Remove stale files (never a directory); what could not be removed, with why. */
function removeFiles(files: readonly string[]): string[] {
  const errors: string[] = [];
  for (const p of files) {
    try {
      removeIfPresent(p);
    } catch (e) {
      errors.push(`Cannot remove "${p}": ${(e as Error).message}`);
    }
  }
  return errors;
}

/** `.ferry/runs/*\/tasks` (oldest run first), `.ferry/staged` and `.ferry/trash`, those that exist. */
function attemptDirs(dir: string): string[] {
  const out: string[] = [];
  const runs = join(dir, "runs");
  let ids: string[] = [];
  try {
    ids = [...Deno.readDirSync(runs)].filter((e) => e.isDirectory).map((e) => e.name).sort();
  } catch { /* no runs */ }
  for (const id of ids) {
    const tasks = join(runs, id, "tasks");
    if (existsSync(tasks)) out.push(tasks);
  }
  for (const d of ["staged", "trash"]) if (existsSync(join(dir, d))) out.push(join(dir, d));
  return out;
}

/** Remove `path`; one that is not there is fine. */
function removeIfPresent(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Remove `targets` (`dir`: the whole `.ferry/`) holding `lock`; what could not be removed, with why. */
function removeTargets(targets: readonly string[], dir: string, lock: HeldLock): string[] {
  const errors: string[] = [];
  for (const p of targets) {
    try {
      // With `all`, the lock (ours) goes last: a run starting at once must not lose its files.
      if (p === dir) removeEach(dir, "lock", lock);
      else {
        removeEach(p, undefined, lock);
        Deno.removeSync(p);
        // A run's record of its task process groups serves only the run that takes over its
        // lock; holding the lock, clean has ended any survivor already (acquireLock).
        if (basename(p) === "tasks") removeIfPresent(join(dirname(p), GROUPS_FILE));
      }
    } catch (e) {
      errors.push(`Cannot remove "${p}": ${(e as Error).message}`);
    }
  }
  return errors;
}

/**
 * Remove what `dir` holds but `keep`, one entry at a time: on a full disk
 * the first one gone makes room for the lock to name its holder.
 */
function removeEach(dir: string, keep: string | undefined, lock: HeldLock): void {
  for (const e of Deno.readDirSync(dir)) {
    if (e.name === keep) continue;
    Deno.removeSync(join(dir, e.name), { recursive: true });
    lock.fill();
  }
}

/**
 * The disk space `path` takes, as `du` counts it (blocks, directories
 * included: thousands of small attempt directories take far more than their
 * bytes), symlinks not followed, files hard-linked from elsewhere (which stay) not counted.
 */
function sizeOf(path: string): number {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return 0;
  }
  if (info.isFile && (info.nlink ?? 1) > 1) return 0;
  let n = info.blocks !== null ? info.blocks * 512 : info.size;
  if (info.isDirectory) {
    try {
      for (const e of Deno.readDirSync(path)) n += sizeOf(join(path, e.name));
    } catch { /* unreadable: counted as empty */ }
  }
  return n;
}
