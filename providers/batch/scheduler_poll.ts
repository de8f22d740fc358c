/**
 * One look at every outstanding job: status files first (a job whose wrapper
 * finished is done, whatever the queue says yet), then one status call for
 * the rest, then the scheduler's accounting for jobs that left the queue.
 *
 * A status call that fails (it throws, or the scheduler answers with an error)
 * is asked again at the next poll; only when it keeps failing for
 * `statusGraceMs` do the jobs it concerns fail, with the scheduler's words.
 * @module
 */

import { join } from "node:path";
import type { Dialect, QueueEntry, SchedState } from "./dialect.ts";
import type { RemoteCopies } from "./remote_copy.ts";
import { type CommandRunner, lastLines } from "./runner.ts";
import type { Ending, SchedulerJob } from "./scheduler_job.ts";
import { readWrapperStatus, resultOfStatus, wrapperFiles, type WrapperStatus } from "./wrapper.ts";

/** What a {@linkcode Poller} works with. */
export interface PollerOptions {
  /** The scheduler's dialect. */
  readonly dialect: Dialect;
  /** Where scheduler commands run. */
  readonly runner: CommandRunner;
  /** Copies of attempts on a cluster that shares no filesystem with ferry. @default undefined */
  readonly copies?: RemoteCopies;
  /** Polls a job may stay unknown to the scheduler without a status file before it fails. @default 5 */
  readonly missingPolls?: number;
  /** How long status calls may keep failing before the jobs they concern fail. @default 600000 */
  readonly statusGraceMs?: number;
}

/** States after which a job never runs again. */
export const TERMINAL: ReadonlySet<SchedState> = new Set<SchedState>([
  "completed",
  "failed",
  "timeout",
  "cancelled",
  "out-of-memory",
  "node-fail",
]);

/** What the queue said: entries by id, or why it could not be read. */
type QueueReading =
  | { readonly ok: true; readonly entries: ReadonlyMap<string, QueueEntry> }
  | { readonly ok: false; readonly why: string };

/** Looks at outstanding jobs and gives each its result once it ended. */
export class Poller {
  readonly #o: PollerOptions;
  readonly #missingPolls: number;
  readonly #graceMs: number;
  #historyOn = true;
  /** When the current run of failing status calls began. */
  #failingSince: number | undefined;

  constructor(options: PollerOptions) {
    this.#o = options;
    this.#missingPolls = options.missingPolls ?? 5;
    this.#graceMs = options.statusGraceMs ?? 600_000;
  }

  /**
   * Look at `jobs` once. Jobs that ended get their result; `cancelled` holds
   * the ids the scheduler accepted to cancel. Returns the jobs given up on
   * because the queue could not be read (the caller cancels them).
   */
  async poll(
    jobs: readonly SchedulerJob[],
    cancelled: ReadonlySet<string>,
  ): Promise<SchedulerJob[]> {
    let reading: QueueReading;
    try {
      await this.#collect(jobs);
      const live = jobs.filter((j) => !j.settled);
      if (live.length === 0) return [];
      reading = await this.#readQueue(live);
      if (reading.ok) {
        this.#failingSince = undefined;
        for (const job of live) this.#judge(job, reading.entries.get(job.jobId!), cancelled);
        return [];
      }
    } catch (e) {
      reading = { ok: false, why: e instanceof Error ? e.message : String(e) };
    }
    return this.#failed(jobs.filter((j) => !j.settled), reading.why);
  }

  /** Jobs whose wrapper wrote its status file are done. */
  async #collect(jobs: readonly SchedulerJob[]): Promise<void> {
    if (this.#o.copies) return await this.#collectRemote(jobs, this.#o.copies);
    for (const job of jobs) if (!job.settled) this.#readStatusFile(job);
  }

  /** Finished copies on the cluster (one call for all): their results come back, then done. */
  async #collectRemote(jobs: readonly SchedulerJob[], copies: RemoteCopies): Promise<void> {
    const waiting = jobs.filter((j) => j.remote !== undefined && !j.settled);
    const found = await copies.statuses(waiting.map((j) => j.remote!));
    if (!found) return; // the login node did not answer: ask again next time
    for (const job of waiting) {
      if (!found.has(job.remote!)) continue;
      try {
        // What later tasks there read stays in the run's store there (`keep`).
        const back = await copies.bringBack(job.spec.root, job.remote!, job.spec.keep);
        if ("status" in back && back.status) {
          const kept = back.kept ? { kept: back.kept } : {};
          job.finish({ ...resultOfStatus(back.status, job.cancelled), ...kept });
          continue;
        }
        job.finish({
          outcome: "failed",
          message: "failed" in back
            ? back.failed
            : `Cannot read the status the job left in ${job.remote}`,
          retryable: true,
        });
      } catch (e) {
        job.fail(`Cannot copy the results of "${job.spec.taskId}" back`, e);
      }
    }
  }

  /** Finish `job` from its wrapper's status file, if there is one. */
  #readStatusFile(job: SchedulerJob): WrapperStatus | undefined {
    const st = readWrapperStatus(wrapperFiles(job.spec.root).status);
    if (st) job.finish(resultOfStatus(st, job.cancelled));
    return st;
  }

  /** One status call for every job (array ids report all their elements), then the history. */
  async #readQueue(jobs: readonly SchedulerJob[]): Promise<QueueReading> {
    const { dialect, runner } = this.#o;
    const inv = dialect.status([...new Set(jobs.map((j) => j.submitId!))]);
    const ran = await runner.run(inv);
    // An error with no answer, unless it says the jobs left the queue.
    if (ran.code !== 0 && ran.stdout.trim() === "" && !dialect.gone.test(ran.stderr)) {
      return {
        ok: false,
        why: `${inv.argv[0]} exit ${ran.code}: ${lastLines(ran.stderr) || "no message"}`,
      };
    }
    const entries = new Map<string, QueueEntry>();
    for (const e of dialect.parseStatus(ran.stdout)) entries.set(e.id, e);
    const gone = jobs.filter((j) => !entries.has(j.jobId!));
    if (gone.length > 0 && dialect.history && this.#historyOn) {
      const h = await runner.run(dialect.history(gone.map((j) => j.jobId!)));
      if (h.code !== 0 && dialect.historyUnavailable?.test(h.stderr + h.stdout)) {
        this.#historyOn = false;
      }
      for (const e of dialect.parseHistory?.(h.stdout) ?? []) entries.set(e.id, e);
    }
    return { ok: true, entries };
  }

  /** Decide on one job from what the queue said of it. */
  #judge(job: SchedulerJob, entry: QueueEntry | undefined, cancelled: ReadonlySet<string>): void {
    if (entry) job.last = entry;
    // Still queued or running: its status file is read again next time.
    if (entry && !TERMINAL.has(entry.state)) {
      job.missing = 0;
      return;
    }
    // Read again: the job may have finished between the two looks.
    if (this.#readStatusFile(job)) return;
    // Ended (or gone from the queue) without a status file: wait a few polls for a slow shared
    // filesystem, then go by the scheduler's word.
    if (++job.missing < (entry ? 2 : this.#missingPolls)) return;
    job.finish(this.#endedWithoutStatus(job, entry ?? job.last, cancelled));
  }

  #endedWithoutStatus(
    job: SchedulerJob,
    last: QueueEntry | undefined,
    cancelled: ReadonlySet<string>,
  ): Ending {
    const label = this.#o.dialect.label;
    if (job.cancelled || cancelled.has(job.jobId!)) return { outcome: "cancelled" };
    const why = last
      ? `the ${label} job ${job.jobId} ended ${last.raw}${last.reason ? ` (${last.reason})` : ""}`
      : `the ${label} job ${job.jobId} left the queue`;
    if (last?.state === "timeout") {
      return { outcome: "timeout", message: `${why}: its time limit was exceeded` };
    }
    return {
      outcome: "failed",
      message: `${why} without the wrapper's status file (see ${
        join(job.spec.root, "scheduler.out")
      } and job.out)`,
      ...(last?.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
    };
  }

  /** The queue could not be read: ask again next time, or give up once the grace is over. */
  #failed(live: readonly SchedulerJob[], why: string): SchedulerJob[] {
    const now = Date.now();
    this.#failingSince ??= now;
    if (now - this.#failingSince < this.#graceMs) return [];
    const label = this.#o.dialect.label;
    for (const job of live) {
      job.finish({
        outcome: "failed",
        message: `Cannot read the state of ${label} job "${job.jobId}": ${why}`,
        retryable: true,
      });
    }
    this.#failingSince = undefined;
    return [...live];
  }
}
