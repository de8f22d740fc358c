/**
 * What ferry and its function workers (function_worker.ts, function_pool.ts) send each other; the
 * protocol is described in function_worker.ts and docs/architecture.md.
 * @module
 */

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
