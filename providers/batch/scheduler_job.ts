/**
 * One attempt handed to a scheduler provider, from `execute` until its result:
 * the ids the scheduler gave it, what the queue last said, and its promise.
 * It listens to its signal only while it is unsettled, so aborting a run
 * later never reaches a job that already ended.
 * @module
 */

import type { QueueEntry } from "./dialect.ts";
import type { JobResult, JobSpec } from "./types.ts";

/** A job with its attempt directory (scheduler jobs always have one). */
export type RootedJob = JobSpec & { readonly root: string };

/** What ends a job: at least the outcome; times, host and job id are filled in. */
export type Ending = Omit<JobResult, "startedAt" | "endedAt" | "host"> & Partial<JobResult>;

/** What a {@linkcode SchedulerJob} tells its provider. */
export interface SchedulerJobHooks {
  /** Its signal was aborted while it was unsettled. */
  readonly onAbort: (job: SchedulerJob) => void;
  /** It got its result. */
  readonly onSettled: (job: SchedulerJob) => void;
}

/** One attempt waiting for its scheduler job. */
export class SchedulerJob {
  /** The attempt. */
  readonly spec: RootedJob;
  /** Aborting it cancels the job. */
  readonly signal: AbortSignal;
  /** When ferry took the job (the start of its result until the wrapper says better). */
  readonly submittedAt: number = Date.now();
  /** The id the scheduler reports this job (or array element) under, once submitted. */
  jobId?: string;
  /** The id the submit command printed (an array's id for its elements): status is asked by it. */
  submitId?: string;
  /** Cancellation was asked for (its signal aborted). */
  cancelled = false;
  /** A cancel call for it went out (or is about to). */
  cancelSent = false;
  /** Polls in a row that found it neither queued nor with a status file. */
  missing = 0;
  /** What the queue said of it last. */
  last?: QueueEntry;
  /** The attempt's copy on the cluster (`via:` with `filesystem: none`). */
  remote?: string;
  #resolve: (r: JobResult) => void;
  #hooks: SchedulerJobHooks;
  #settled = false;
  #onAbort = () => this.#hooks.onAbort(this);

  constructor(
    spec: RootedJob,
    signal: AbortSignal,
    resolve: (r: JobResult) => void,
    hooks: SchedulerJobHooks,
  ) {
    this.spec = spec;
    this.signal = signal;
    this.#resolve = resolve;
    this.#hooks = hooks;
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Whether it has its result. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Give the job its result (once; later calls are ignored) and stop listening to its signal. */
  finish(ending: Ending): void {
    if (this.#settled) return;
    this.#settled = true;
    this.signal.removeEventListener("abort", this.#onAbort);
    this.#hooks.onSettled(this);
    this.#resolve({
      startedAt: this.submittedAt,
      endedAt: Date.now(),
      host: "",
      ...(this.jobId !== undefined ? { jobId: this.jobId } : {}),
      ...ending,
    });
  }

  /** Fail the job because of `error` (a bug or an I/O error where ferry expected none). */
  fail(prefix: string, error: unknown, retryable = true): void {
    const why = error instanceof Error ? error.message : String(error);
    this.finish({ outcome: "failed", message: `${prefix}: ${why}`, retryable });
  }
}
