/**
 * One attempt handed to a pilot provider, from `execute` until its result:
 * its name in the queue directory, whether it was offered, which worker
 * claimed it. It listens to its signal only while unsettled.
 * @module
 */

import type { Claim } from "./pilot_queue.ts";
import type { RootedJob } from "./scheduler_job.ts";
import type { JobResult } from "./types.ts";

/** What ends a task: at least the outcome; times and host are filled in when missing. */
export type PilotEnding = Omit<JobResult, "startedAt" | "endedAt" | "host"> & Partial<JobResult>;

/** One attempt waiting for a pilot worker. */
export class PilotTask {
  /** Its name in the queue directory (`t1`, `t2`, ...). */
  readonly name: string;
  /** The attempt. */
  readonly spec: RootedJob;
  /** When ferry took it. */
  readonly takenAt: number = Date.now();
  /** It was written into the queue's `new/`. */
  offered = false;
  /** The worker that took it, once ferry saw the claim. */
  claim?: Claim;
  /** When ferry first saw it claimed with no worker's name in the claim yet. */
  unnamedSince?: number;
  /** Its signal was aborted. */
  cancelled = false;
  /** Called once, when it gets its result. */
  onSettled: () => void = () => {};
  #resolve: (r: JobResult) => void;
  #settled = false;
  #unlisten: () => void = () => {};

  constructor(name: string, spec: RootedJob, resolve: (r: JobResult) => void) {
    this.name = name;
    this.spec = spec;
    this.#resolve = resolve;
  }

  /** Whether it has its result. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Call `onAbort` when `signal` is aborted while the task is unsettled. */
  listen(signal: AbortSignal, onAbort: () => void): void {
    signal.addEventListener("abort", onAbort, { once: true });
    this.#unlisten = () => signal.removeEventListener("abort", onAbort);
  }

  /** Give the task its result (once; later calls are ignored). */
  finish(ending: PilotEnding): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#unlisten();
    this.onSettled();
    this.#resolve({ startedAt: this.takenAt, endedAt: Date.now(), host: "", ...ending });
  }

  /** Fail the task because of `error` (an I/O error where ferry expected none). */
  fail(prefix: string, error: unknown): void {
    const why = error instanceof Error ? error.message : String(error);
    this.finish({ outcome: "failed", message: `${prefix}: ${why}`, retryable: true });
  }
}
