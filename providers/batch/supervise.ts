/**
 * Ending a local process group at its walltime or when its attempt is cancelled: what the local
 * provider does for a task's process and the function pool for a worker running a call.
 * @module
 */

/** How {@linkcode superviseGroup} ends a group, and when. */
export interface Supervision {
  /** Seconds from now to the walltime; none: no limit. */
  readonly walltime?: number | undefined;
  /** Aborted: the attempt is cancelled. */
  readonly signal: AbortSignal;
  /** Seconds between SIGTERM and SIGKILL. */
  readonly graceSeconds: number;
  /** Signal a process group (the process alone when it has no group yet). */
  readonly signalGroup: (pid: number, sig: Deno.Signal) => void;
}

/**
 * Wait for `done`, ending the group `pid` leads at the walltime or on the signal (SIGTERM, then
 * SIGKILL after the grace period unless `done` settled first); why it was ended, if it was.
 */
export async function superviseGroup<T>(
  pid: number,
  done: Promise<T>,
  o: Supervision,
): Promise<{ value: T; reason?: "timeout" | "cancelled" }> {
  let reason: "timeout" | "cancelled" | undefined;
  const kill = (why: "timeout" | "cancelled") => {
    if (reason) return;
    reason = why;
    o.signalGroup(pid, "SIGTERM");
    const hard = setTimeout(() => o.signalGroup(pid, "SIGKILL"), o.graceSeconds * 1000);
    done.finally(() => clearTimeout(hard));
  };
  const onAbort = () => kill("cancelled");
  if (o.signal.aborted) onAbort();
  o.signal.addEventListener("abort", onAbort, { once: true });
  const timer = o.walltime !== undefined
    ? setTimeout(() => kill("timeout"), o.walltime * 1000)
    : undefined;
  try {
    const value = await done;
    return { value, ...(reason ? { reason } : {}) };
  } finally {
    clearTimeout(timer);
    o.signal.removeEventListener("abort", onAbort);
  }
}
