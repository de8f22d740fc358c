/**
 * A batch provider for any scheduler dialect (Slurm, PBS Pro, LSF, HTCondor).
 *
 * - Jobs that become ready together are submitted together (`scheduler_submit.ts`):
 *   with `bundle: array`, the tasks of one app's fan-out with the same
 *   resources go as one job array (throttled by `max_jobs`); otherwise one job
 *   per task. Each attempt's wrapper and job script are kept in its directory.
 * - One status call per interval covers every outstanding job
 *   (`scheduler_poll.ts`). A job is done when its wrapper's status file
 *   appears; the scheduler's state is the fallback (a job that ended without
 *   writing it: node failure, time limit, cancelled by an admin).
 * - Aborting a job's signal cancels it (`scheduler_cancel.ts`); all
 *   cancellations of one moment go in one call, and `close()` waits until the
 *   queue has let go of every job ferry cancelled.
 *
 * Submissions, status calls and cancellations run one at a time on one lane;
 * each step's failure reaches only the jobs it concerns, and the steps after
 * it still run, so no job waits forever.
 * @module
 */

import type { Executor } from "../../dsl/model.ts";
import type { Dialect } from "./dialect.ts";
import type { RemoteCopies } from "./remote_copy.ts";
import { type CommandRunner, localRunner } from "./runner.ts";
import { Canceller } from "./scheduler_cancel.ts";
import { type RootedJob, SchedulerJob } from "./scheduler_job.ts";
import { Poller } from "./scheduler_poll.ts";
import { Submitter } from "./scheduler_submit.ts";
import { SerialLane } from "./serial_lane.ts";
import type { BatchProvider, JobResult, JobSpec, KeptFetch } from "./types.ts";
import type { WrapperOptions } from "./wrapper.ts";

export { arrayScript, jobName, singleScript } from "./job_scripts.ts";

/** Milliseconds between status calls unless told: ferry's one default of this setting. */
export const POLL_MS = 1000;

/** Options for {@linkcode SchedulerProvider}. */
export interface SchedulerOptions extends WrapperOptions {
  /** Where scheduler commands run. @default this host */
  readonly runner?: CommandRunner;
  /** Milliseconds between status calls. @default {@linkcode POLL_MS} */
  readonly pollMs?: number;
  /** Milliseconds to gather jobs that become ready together before submitting. @default 50 */
  readonly gatherMs?: number;
  /** Status polls a job may stay unknown to the scheduler without a status file before it fails. @default 5 */
  readonly missingPolls?: number;
  /** How long status calls may keep failing before the jobs they concern fail. @default 600000 */
  readonly statusGraceMs?: number;
  /**
   * The cluster shares no filesystem with ferry (`via:` with `filesystem: none`): attempts are
   * copied to the cluster through the login node and run there; results come back the same way.
   */
  readonly copies?: RemoteCopies;
}

/** A batch provider that drives one scheduler, through its dialect, for one executor. */
export class SchedulerProvider implements BatchProvider {
  /** The dialect's name. */
  readonly name: string;
  /** The job wrapper does node-side staging itself. */
  readonly nodeSide = true;
  readonly #ex: Executor;
  readonly #label: string;
  readonly #runner: CommandRunner;
  readonly #pollMs: number;
  readonly #gatherMs: number;
  readonly #lane = new SerialLane();
  readonly #submitter: Submitter;
  readonly #poller: Poller;
  readonly #canceller: Canceller;
  /** Jobs gathered for the next submission. */
  #gathered: SchedulerJob[] = [];
  /** Jobs in the scheduler's queue, waiting for their result. */
  readonly #outstanding = new Set<SchedulerJob>();
  #gatherTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #copies: RemoteCopies | undefined;

  constructor(dialect: Dialect, ex: Executor, options: SchedulerOptions = {}) {
    const { runner = localRunner(), pollMs = POLL_MS, gatherMs = 50, copies } = options;
    this.name = dialect.name;
    this.#label = dialect.label;
    this.#ex = ex;
    this.#runner = runner;
    this.#pollMs = pollMs;
    this.#gatherMs = gatherMs;
    const shared = { dialect, runner, ...(copies ? { copies } : {}) };
    this.#submitter = new Submitter({ ...shared, ex, wrapper: options });
    this.#poller = new Poller({
      ...shared,
      ...(options.missingPolls !== undefined ? { missingPolls: options.missingPolls } : {}),
      ...(options.statusGraceMs !== undefined ? { statusGraceMs: options.statusGraceMs } : {}),
    });
    this.#canceller = new Canceller({ dialect, runner, lane: this.#lane });
    this.#copies = copies;
  }

  /** Whether outputs stay on the cluster for later tasks there (`via:`, `filesystem: none`). */
  get keeps(): boolean {
    return this.#copies !== undefined;
  }

  /** Delete files kept on the cluster for run `runId`. */
  async dropKept(runId: string, keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.#copies?.dropKept(runId, keys);
  }

  /** Copy a file kept on the cluster for run `runId` here. */
  fetchKept(runId: string, key: string, dest: string, how?: KeptFetch): Promise<number> {
    if (!this.#copies) throw new Error(`internal: ${this.#label} keeps no files on its cluster`);
    return this.#copies.fetchKept(runId, key, dest, how);
  }

  /** Run one attempt as a scheduler job; resolves with how it ended, never rejects for the job. */
  execute(job: JobSpec, signal: AbortSignal): Promise<JobResult> {
    if (job.root === undefined) {
      throw new Error("internal: batch jobs need their attempt directory");
    }
    if (this.#closed) throw new Error("internal: the scheduler provider was closed");
    return new Promise<JobResult>((resolve) => {
      const waiting = new SchedulerJob(job as RootedJob, signal, resolve, {
        onAbort: (j) => this.#canceller.request(j),
        onSettled: (j) => this.#outstanding.delete(j),
      });
      this.#gathered.push(waiting);
      this.#gatherTimer ??= setTimeout(() => this.#flush(), this.#gatherMs);
    });
  }

  /** Cancel jobs by the ids the scheduler gave them (jobs a crashed run left). */
  cancelJobs(ids: readonly string[]): Promise<string | undefined> {
    return this.#canceller.cancelIds(ids);
  }

  /**
   * Stop: jobs not submitted yet end cancelled; wait for the work under way
   * and until the queue let go of the jobs ferry cancelled; jobs still
   * outstanding (none after a run) are cancelled and end so.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#gatherTimer);
    this.#gatherTimer = undefined;
    for (const job of this.#gathered.splice(0)) job.finish({ outcome: "cancelled" });
    await this.#lane.idle();
    clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    const left = [...this.#outstanding];
    for (const job of left) job.finish({ outcome: "cancelled" });
    await this.#canceller.discard(left.map((j) => j.jobId!));
    await this.#canceller.waitGone();
    await this.#runner.close?.();
  }

  /** Submit what was gathered: bundles of one fan-out as arrays, the rest one job each. */
  #flush(): void {
    this.#gatherTimer = undefined;
    const groups = new Map<string, SchedulerJob[]>();
    for (const job of this.#gathered.splice(0)) {
      const key = this.#ex.bundle === "array" && job.spec.bundle !== undefined
        ? `${job.spec.bundle}\u0000${JSON.stringify(job.spec.resources)}`
        : `single\u0000${groups.size}\u0000${job.spec.taskId}`;
      const group = groups.get(key);
      if (group) group.push(job);
      else groups.set(key, [job]);
    }
    for (const group of groups.values()) void this.#lane.run(() => this.#submit(group));
  }

  async #submit(group: readonly SchedulerJob[]): Promise<void> {
    let queued: SchedulerJob[];
    try {
      queued = await this.#submitter.submit(group);
    } catch (e) {
      // A bug in the submitter: the group's jobs end with it rather than wait forever.
      for (const job of group) job.fail(`Cannot submit to ${this.#label}`, e);
      return;
    }
    const lost: string[] = [];
    for (const job of queued) {
      if (job.settled) lost.push(job.jobId!); // queued, but ferry could not keep track of it
      else {
        this.#outstanding.add(job);
        // Aborted while it was being submitted: the cancel goes now that it has an id.
        if (job.cancelled) this.#canceller.request(job);
      }
    }
    // Not awaited: the cancel is a later step of this same lane.
    void this.#canceller.discard(lost);
    this.#schedulePoll();
  }

  #schedulePoll(): void {
    if (this.#closed || this.#pollTimer !== undefined || this.#outstanding.size === 0) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      void this.#lane.run(() => this.#poll()).finally(() => this.#schedulePoll());
    }, this.#pollMs);
  }

  async #poll(): Promise<void> {
    const jobs = [...this.#outstanding];
    try {
      const abandoned = await this.#poller.poll(jobs, this.#canceller.accepted);
      // Given up on (the queue could not be read): they must not run on beside a retry.
      void this.#canceller.discard(abandoned.map((j) => j.jobId!));
    } catch (e) {
      // A bug in the poller: the jobs it looked at end with it rather than wait forever.
      for (const job of jobs) job.fail(`Cannot read the state of ${this.#label} jobs`, e);
    }
  }
}

/** A batch provider that drives `dialect`'s scheduler for executor `ex`. */
export function schedulerProvider(
  dialect: Dialect,
  ex: Executor,
  options: SchedulerOptions = {},
): BatchProvider {
  return new SchedulerProvider(dialect, ex, options);
}
