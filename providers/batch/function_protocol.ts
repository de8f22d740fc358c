/**
 * What ferry and its function workers (function_worker.ts, function_pool.ts) send each other; the
 * protocol is described in function_worker.ts and docs/architecture.md.
 * @module
 */

import type { JobSpec } from "./types.ts";

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
}

/** The mark that ends a call's output on both streams: `\0ferry-worker TOKEN`. */
export function workerMark(token: string): string {
  return `\0ferry-worker ${token}`;
}

/**
 * Whether a job may run in a persistent function worker another call's worker could be: a
 * function call with every permission (least-privilege permissions name the call's own attempt
 * directory, which no other call shares), outside a container. The local provider also keeps
 * calls with `worker_init` (per process there) out; a pilot block ran its `worker_init` once
 * for all its workers.
 */
export function sharesWorkers(
  job: Pick<JobSpec, "run" | "container" | "permissions">,
): boolean {
  return job.run.kind === "function" && job.container === undefined &&
    (job.permissions === undefined || job.permissions.all);
}
