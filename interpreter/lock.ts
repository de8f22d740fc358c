/**
 * One run per workspace: `.ferry/lock`, created exclusively, names its
 * holder (pid, host, start time, run id). A second run is refused with that
 * holder's description; a lock whose holder is dead on this host is stale
 * and is taken over, with a warning, after ending the local tasks the dead
 * run left running (its spawner ends them, unless it died too). A lock that
 * cannot be written (a read-only or full disk) is said to be in one line.
 * @module
 */

import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { endSurvivors } from "../providers/batch/process_groups.ts";
import { FerryFileError, isNoSpace, throwAsFsFault } from "./fs_errors.ts";
import { shellQuote } from "../providers/_shared/shell.ts";
import { processAlive } from "../providers/_shared/process.ts";

/** Who holds a workspace lock. */
export interface LockHolder {
  /** The ferry process. */
  readonly pid: number;
  /** Its host. */
  readonly host: string;
  /** When it started (ms since the epoch). */
  readonly startedAt: number;
  /** Its run id. */
  readonly runId: string;
}

/** A lock held by this process. */
export interface HeldLock {
  /** Remove the lock (only if it is still ours). */
  release(): void;
  /**
   * Name the holder in a lock taken empty on a full disk
   * ({@linkcode AcquireOptions.emptyOnFullDisk}); whether the lock now names it.
   */
  fill(): boolean;
  /** Set when a stale lock was taken over: what to tell the user. */
  readonly warning?: string;
  /** The run whose stale lock was taken over: it died without ending (its batch jobs may live on). */
  readonly crashedRun?: string;
  /** Process groups of the crashed run's local tasks found running, and ended before returning. */
  readonly survivors?: readonly number[];
}

/** A holder in words: `pid 4242 on host vm, started 2026-11-21 13:00:05 UTC (run 2026...)`. */
export function describeHolder(h: LockHolder): string {
  const when = new Date(h.startedAt).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  return `pid ${h.pid} on host ${h.host}, started ${when} (run ${h.runId})`;
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const h = JSON.parse(Deno.readTextFileSync(path)) as LockHolder;
    return typeof h.pid === "number" && typeof h.host === "string" ? h : undefined;
  } catch {
    return undefined;
  }
}

/** The workspace's lock as it stands, without taking it. */
export interface LockState {
  /** The lock file. */
  readonly path: string;
  /** Who holds it (undefined while it is being written, or when it is unreadable). */
  readonly holder: LockHolder | undefined;
  /** Whether the holder may still be running: alive on this host, or on another host (unknown). */
  readonly live: boolean;
}

/** Read the workspace's lock without taking it; undefined when there is none. */
export function readLock(workspace: string): LockState | undefined {
  const path = join(workspace, ".ferry", "lock");
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    return undefined;
  }
  const holder = readHolder(path);
  if (holder === undefined) {
    // As acquireLock judges it: an unreadable lock younger than 5 s is being written.
    return { path, holder, live: Date.now() - (info.mtime?.getTime() ?? 0) < 5_000 };
  }
  return { path, holder, live: holder.host !== hostname() || processAlive(holder.pid) };
}

/** Options for {@linkcode acquireLock}. */
export interface AcquireOptions {
  /**
   * On a full disk, take the lock as an empty file (which needs no data
   * block) and name the holder in it once {@linkcode HeldLock.fill} finds
   * room: for `ferry clean`, which frees space. Meanwhile another run sees a
   * lock being written and refuses (for 5 s, after which it may take it over).
   * @default false
   */
  readonly emptyOnFullDisk?: boolean;
}

/**
 * Take the workspace's lock for run `runId`, or learn who holds it. A full
 * disk or a read-only `.ferry/` throws a {@linkcode FerryFileError} naming the
 * lock file and why.
 */
export function acquireLock(
  workspace: string,
  runId: string,
  options: AcquireOptions = {},
): { ok: true; lock: HeldLock } | { ok: false; holder: LockHolder | undefined; path: string } {
  const dir = join(workspace, ".ferry");
  const path = join(dir, "lock");
  try {
    Deno.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throwAsFsFault(e, TAKING, dir);
  }
  const me: LockHolder = { pid: Deno.pid, host: hostname(), startedAt: Date.now(), runId };
  let warning: string | undefined;
  let crashed: string | undefined;
  for (let tries = 0; tries < 3; tries++) {
    const placed = placeLock(path, me, options.emptyOnFullDisk === true);
    if (placed !== undefined) {
      return { ok: true, lock: heldLock(path, me, placed, { warning, crashed }) };
    }
    const holder = readHolder(path);
    if (holder === undefined) {
      // Half-written by a holder that died at once, or not ours: treat as stale if old enough.
      if (ageOf(path) < 5_000) return { ok: false, holder, path };
      warning = `took over an unreadable lock ${path}`;
    } else if (holder.host === me.host && !processAlive(holder.pid)) {
      warning = `took over a stale lock: ${describeHolder(holder)} is no longer running`;
      crashed = holder.runId;
    } else {
      return { ok: false, holder, path };
    }
    try {
      Deno.removeSync(path);
    } catch { /* someone else removed it: try again */ }
  }
  return { ok: false, holder: readHolder(path), path };
}

/** What the messages say ferry was doing. */
const TAKING = "taking the workspace lock";

/** Milliseconds since `path` was last written (0 when it is gone: it was just being replaced). */
function ageOf(path: string): number {
  try {
    return Date.now() - (Deno.statSync(path).mtime?.getTime() ?? 0);
  } catch {
    return 0;
  }
}

/** The lock file as placed: its inode, and whether it is still empty (a full disk). */
interface Placed {
  ino: number | null;
  empty: boolean;
}

/**
 * Write the holder whole under a private name, then link it into place: the
 * lock either exists with its holder in it or not at all, even if this
 * process dies in between. Undefined when a lock exists already.
 */
function placeLock(path: string, me: LockHolder, emptyOnFullDisk: boolean): Placed | undefined {
  const tmp = `${path}.${me.pid}-${me.runId}.tmp`;
  try {
    Deno.writeTextFileSync(tmp, JSON.stringify(me) + "\n");
    Deno.linkSync(tmp, path);
    return { ino: Deno.statSync(path).ino, empty: false };
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return undefined;
    if (!isNoSpace(e)) throwAsFsFault(e, TAKING, path);
    if (!emptyOnFullDisk) {
      const ws = shellQuote(dirname(dirname(path)));
      throw new FerryFileError(
        `no space left on device while ${TAKING} (${path}); "ferry clean -w ${ws}" frees the space earlier runs' attempts take`,
        e,
      );
    }
  } finally {
    removeQuietly(tmp);
  }
  try {
    using _ = Deno.openSync(path, { write: true, createNew: true });
    return { ino: Deno.statSync(path).ino, empty: true };
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return undefined;
    throwAsFsFault(e, TAKING, path);
  }
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* gone, or never made */ }
}

/** The lock just placed, for its holder: release, fill, and what taking it over found. */
function heldLock(
  path: string,
  me: LockHolder,
  placed: Placed,
  found: { readonly warning: string | undefined; readonly crashed: string | undefined },
): HeldLock {
  const { crashed } = found;
  let { warning } = found;
  // Its local tasks go before any of them can be started again.
  const survivors = crashed !== undefined && /^[\w.:-]+$/.test(crashed) && !/^\.+$/.test(crashed)
    ? endSurvivors(join(dirname(path), "runs", crashed))
    : [];
  if (survivors.length > 0) {
    warning +=
      `; ended ${survivors.length} process group(s) of its tasks that were still running: ${
        survivors.join(" ")
      }`;
  }
  const ours = () => {
    if (!placed.empty) return readHolder(path)?.runId === me.runId;
    try {
      return Deno.statSync(path).ino === placed.ino;
    } catch {
      return false;
    }
  };
  const fill = () => {
    if (!placed.empty) return true;
    const tmp = `${path}.${me.pid}-${me.runId}.tmp`;
    try {
      Deno.writeTextFileSync(tmp, JSON.stringify(me) + "\n");
      if (!ours()) return false;
      Deno.renameSync(tmp, path);
      placed.empty = false;
      return true;
    } catch {
      return false;
    } finally {
      removeQuietly(tmp);
    }
  };
  return {
    release: () => {
      if (ours()) removeQuietly(path);
    },
    fill,
    ...(warning ? { warning } : {}),
    ...(crashed ? { crashedRun: crashed } : {}),
    ...(survivors.length > 0 ? { survivors } : {}),
  };
}
