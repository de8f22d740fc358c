/**
 * Cancelling scheduler jobs. All cancellations of one moment (a Ctrl-C) go in
 * one call, and only for jobs still waiting for their result: a job that ended
 * is never cancelled. A cancel the scheduler refuses ends the jobs it
 * concerns with the scheduler's words (they may still be queued: the message
 * says so), instead of leaving them waiting.
 * @module
 */

import type { Dialect } from "./dialect.ts";
import { type CommandRunner, lastLines } from "./runner.ts";
import type { SchedulerJob } from "./scheduler_job.ts";
import type { SerialLane } from "./serial_lane.ts";
import { TERMINAL } from "./scheduler_poll.ts";

/** What a {@linkcode Canceller} works with. */
export interface CancellerOptions {
  /** The scheduler's dialect. */
  readonly dialect: Dialect;
  /** Where scheduler commands run. */
  readonly runner: CommandRunner;
  /** The provider's lane: a cancel runs after the submission it concerns. */
  readonly lane: SerialLane;
}

/** Options for {@linkcode Canceller.waitGone}. */
export interface WaitGoneOptions {
  /** Status calls at most. @default 60 */
  readonly tries?: number;
  /** Milliseconds between them. @default 250 */
  readonly delayMs?: number;
}

/** Sends cancel calls for jobs whose signal was aborted. */
export class Canceller {
  readonly #o: CancellerOptions;
  readonly #accepted = new Set<string>();
  #pending: SchedulerJob[] = [];

  constructor(options: CancellerOptions) {
    this.#o = options;
  }

  /** Ids the scheduler accepted to cancel. */
  get accepted(): ReadonlySet<string> {
    return this.#accepted;
  }

  /**
   * Cancel `job` (its signal was aborted). A job not submitted yet is only
   * marked: the submitter does not submit it, or asks again once it has an id.
   */
  request(job: SchedulerJob): void {
    if (job.settled) return;
    job.cancelled = true;
    if (job.jobId === undefined || job.cancelSent) return;
    job.cancelSent = true;
    this.#pending.push(job);
    // Every abort of this moment (one Ctrl-C reaches each job's listener) joins one call.
    if (this.#pending.length === 1) queueMicrotask(() => this.#flush());
  }

  /** Cancel jobs ferry stopped waiting for (it could not keep track of them); best effort. */
  discard(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.#o.lane.run(async () => {
      await this.#call(ids);
    });
  }

  /** Cancel jobs by id (jobs a crashed run left): a message when it failed. */
  cancelIds(ids: readonly string[]): Promise<string | undefined> {
    if (ids.length === 0) return Promise.resolve(undefined);
    return this.#o.lane.run(() => this.#call(ids));
  }

  /** Wait (a while) until the scheduler has let go of every job it accepted to cancel. */
  async waitGone(options: WaitGoneOptions = {}): Promise<void> {
    const { tries = 60, delayMs = 250 } = options;
    const { dialect, runner } = this.#o;
    const ids = [...this.#accepted];
    for (let i = 0; ids.length > 0 && i < tries; i++) {
      try {
        const ran = await runner.run(dialect.status(ids));
        if (ran.code !== 0 && ran.stdout.trim() === "") return; // nothing more to learn
        if (dialect.parseStatus(ran.stdout).every((e) => TERMINAL.has(e.state))) return;
      } catch {
        return; // the queue cannot be read: waiting longer cannot help
      }
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }

  #flush(): void {
    const jobs = this.#pending;
    this.#pending = [];
    void this.#o.lane.run(() => this.#cancel(jobs));
  }

  async #cancel(jobs: readonly SchedulerJob[]): Promise<void> {
    // Jobs that ended while this call waited its turn are not cancelled.
    const live = jobs.filter((j) => !j.settled);
    const ids = [...new Set(live.map((j) => j.jobId!))];
    if (ids.length === 0) return;
    const failure = await this.#call(ids);
    if (failure === undefined) {
      for (const id of ids) this.#accepted.add(id);
      return;
    }
    const label = this.#o.dialect.label;
    for (const job of live) {
      job.finish({
        outcome: "cancelled",
        message: `Cannot cancel ${label} job "${job.jobId}" (it may still be queued): ${failure}`,
      });
    }
  }

  /** One cancel call: undefined when it worked or the jobs had already left the queue. */
  async #call(ids: readonly string[]): Promise<string | undefined> {
    const { dialect, runner } = this.#o;
    const inv = dialect.cancel(ids);
    try {
      const ran = await runner.run(inv);
      if (ran.code === 0 || dialect.gone.test(ran.stderr + ran.stdout)) return undefined;
      return `${inv.argv[0]} exit ${ran.code}: ${
        lastLines(ran.stderr) || lastLines(ran.stdout) || "no message"
      }`;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }
}
