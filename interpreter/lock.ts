/**
 * One run per workspace: `.ferry/lock`, created exclusively, names its
 * holder (pid, host, start time, run id). A second run is refused with that
 * holder's description; a lock whose holder is dead on this host is stale
 * and is taken over, with a warning, after ending the local tasks the dead
 * run left running (its spawner ends them, unless it died too).
 * @module
 */

import { hostname } from "node:os";
import { join } from "node:path";
import { endSurvivors } from "../providers/batch/process_groups.ts";

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
  /** Set when a stale lock was taken over: what to tell the user. */
  readonly warning?: string;
  /** The run whose stale lock was taken over: it died without ending (its batch jobs may live on). */
  readonly crashedRun?: string;
  /** Process groups of the crashed run's local tasks found running, and ended before returning. */
  readonly survivors?: readonly number[];
}

/** Whether a process of this host is alive. */
function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    // No /proc (not Linux): ask the kernel whether the pid exists.
    if (Deno.build.os === "linux") return false;
    try {
      Deno.kill(pid, "SIGCONT");
      return true;
    } catch (e) {
      return !(e instanceof Deno.errors.NotFound);
    }
  }
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
  return { path, holder, live: holder.host !== hostname() || alive(holder.pid) };
}

/** Take the workspace's lock for run `runId`, or learn who holds it. */
export function acquireLock(
  workspace: string,
  runId: string,
): { ok: true; lock: HeldLock } | { ok: false; holder: LockHolder | undefined; path: string } {
  const dir = join(workspace, ".ferry");
  Deno.mkdirSync(dir, { recursive: true });
  const path = join(dir, "lock");
  const me: LockHolder = { pid: Deno.pid, host: hostname(), startedAt: Date.now(), runId };
  let warning: string | undefined;
  let crashed: string | undefined;
  for (let tries = 0; tries < 3; tries++) {
    try {
      // Written whole under a private name, then linked into place: the lock either exists
      // with its holder in it or not at all, even if this process dies in between.
      const tmp = `${path}.${Deno.pid}-${runId}.tmp`;
      Deno.writeTextFileSync(tmp, JSON.stringify(me) + "\n");
      try {
        Deno.linkSync(tmp, path);
      } finally {
        try {
          Deno.removeSync(tmp);
        } catch { /* gone */ }
      }
      // Its local tasks go before any of them can be started again.
      const survivors =
        crashed !== undefined && /^[\w.:-]+$/.test(crashed) && !/^\.+$/.test(crashed)
          ? endSurvivors(join(dir, "runs", crashed))
          : [];
      if (survivors.length > 0) {
        warning +=
          `; ended ${survivors.length} process group(s) of its tasks that were still running: ${
            survivors.join(" ")
          }`;
      }
      const release = () => {
        if (readHolder(path)?.runId === runId) {
          try {
            Deno.removeSync(path);
          } catch { /* already gone */ }
        }
      };
      return {
        ok: true,
        lock: {
          release,
          ...(warning ? { warning } : {}),
          ...(crashed ? { crashedRun: crashed } : {}),
          ...(survivors.length > 0 ? { survivors } : {}),
        },
      };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    const holder = readHolder(path);
    if (holder === undefined) {
      // Half-written by a holder that died at once, or not ours: treat as stale if old enough.
      const age = Date.now() - (Deno.statSync(path).mtime?.getTime() ?? 0);
      if (age < 5_000) return { ok: false, holder, path };
      warning = `took over an unreadable lock ${path}`;
    } else if (holder.host === me.host && !alive(holder.pid)) {
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
