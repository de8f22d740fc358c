/**
 * What ferry and its function workers (function_worker.ts, function_pool.ts) send each other; the
 * protocol is described in function_worker.ts and docs/architecture.md.
 * @module
 */

import type { DenoPermissions, JobSpec } from "./types.ts";

/** One call, as ferry sends it. */
export interface WorkerCall {
  readonly module: string;
  readonly export: string;
  /** The one argument of a `function:` app. */
  readonly args?: unknown;
  /** Positional arguments of a submitted call. */
  readonly argv?: readonly unknown[];
  /** The call's working directory. */
  readonly dir: string;
  /** The call's environment, on top of the worker's. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * A least-privilege call's permissions (relative paths name places under `dir`): the worker
   * runs it in a Web Worker of its own with exactly these (function_sandbox.ts). Absent: the
   * call runs in the worker itself, with every permission.
   */
  readonly permissions?: DenoPermissions;
}

/**
 * The Deno flags of a function worker for calls with `permissions`: `-A` for calls with every
 * permission (or none given: a `submit()`); else what any least-privilege call may be granted
 * (never `--allow-import`: remote modules come from Deno's default hosts, as for a process of
 * the call's own), which each call narrows in its own Web Worker.
 */
export function workerFlags(permissions: DenoPermissions | undefined): string[] {
  if (permissions === undefined || permissions.all) return ["-A"];
  return [
    "--allow-read",
    "--allow-write",
    "--allow-net",
    "--allow-env",
    "--allow-run",
    "--unstable-worker-options",
  ];
}

/**
 * What a call used, as its function worker measured it (function_worker.ts): the worker process's CPU
 * time during the call, and its peak resident set during it.
 */
export interface CallUsage {
  readonly userSeconds: number;
  readonly systemSeconds: number;
  /** The process's peak resident set during the call. */
  readonly maxRssBytes: number;
}

/** The mark that ends a call's output on both streams: `\0ferry-worker TOKEN`. */
export function workerMark(token: string): string {
  return `\0ferry-worker ${token}`;
}

/**
 * Whether a job may run in a persistent function worker another call's worker could be: a
 * function call outside a container (a least-privilege call in a Web Worker with exactly its own
 * permissions, see {@linkcode workerFlags}), unless it may start programs without every
 * permission (what it started would outlive it in the worker, beyond Deno's reach; in a process
 * of its own it ends with it). The local provider also keeps calls with `worker_init` (per
 * process there) out; a pilot block ran its `worker_init` once for all its workers.
 */
export function sharesWorkers(job: Pick<JobSpec, "run" | "container" | "permissions">): boolean {
  const p = job.permissions;
  return job.run.kind === "function" && job.container === undefined &&
    (p === undefined || p.all || p.run.length === 0);
}

/** The call's permissions as a worker takes them: absent when it has every one. */
export function callPermissions(
  job: Pick<JobSpec, "permissions">,
): { permissions?: DenoPermissions } {
  const p = job.permissions;
  return p === undefined || p.all ? {} : { permissions: p };
}
