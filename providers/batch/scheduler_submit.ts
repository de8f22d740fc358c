/**
 * Submitting a group of attempts that became ready together: each attempt's
 * wrapper is written (and copied to the cluster with `via:` and `filesystem:
 * none`), then one job script goes to the scheduler, for one attempt or as an
 * array. A failure reaches exactly the attempts it concerns: a wrapper that
 * cannot be written fails its attempt only; a refused submission fails the
 * attempts of that script, with the scheduler's words.
 * @module
 */

import { dirname, join } from "node:path";
import type { Executor } from "../../dsl/model.ts";
import type { Dialect } from "./dialect.ts";
import { arrayScript, type JobScript, singleScript } from "./job_scripts.ts";
import { relocate, type RemoteCopies } from "./remote_copy.ts";
import { type CommandRunner, lastLines, type Ran } from "./runner.ts";
import type { RootedJob, SchedulerJob } from "./scheduler_job.ts";
import { wrapperFiles, type WrapperOptions, wrapperScript } from "./wrapper.ts";

/** What a {@linkcode Submitter} works with. */
export interface SubmitterOptions {
  /** The scheduler's dialect. */
  readonly dialect: Dialect;
  /** The executor whose jobs these are (options, `max_jobs`). */
  readonly ex: Executor;
  /** Where scheduler commands run. */
  readonly runner: CommandRunner;
  /** Copies of attempts on a cluster that shares no filesystem with ferry. @default undefined */
  readonly copies?: RemoteCopies;
  /** Options of the job wrapper. @default {} */
  readonly wrapper?: WrapperOptions;
}

/** An attempt ready to submit: the job, and its spec as the cluster sees it. */
interface Prepared {
  readonly job: SchedulerJob;
  readonly far: RootedJob;
}

/** A written job script: where the cluster reads it and where ferry keeps it. */
interface Written {
  readonly path: string;
  readonly local: string;
  readonly script: JobScript;
}

/** Why a submission failed, for the attempts it carried. */
export interface SubmitFailure {
  /** A sentence with the scheduler's own words. */
  readonly message: string;
  /** False when trying again cannot help. */
  readonly retryable: boolean;
}

/** Submits groups of attempts, one job script per group. */
export class Submitter {
  readonly #o: SubmitterOptions;
  #arraySeq = 0;

  constructor(options: SubmitterOptions) {
    this.#o = options;
  }

  /**
   * Submit `group` as one job (one attempt) or one array. Returns the attempts
   * now in the queue, their ids set; every other attempt of the group has its
   * result (cancelled before submission, or failed with the reason).
   */
  async submit(group: readonly SchedulerJob[]): Promise<SchedulerJob[]> {
    const ready: Prepared[] = [];
    for (const job of group) {
      if (job.signal.aborted) job.finish({ outcome: "cancelled" });
      else {
        const far = await this.#prepare(job);
        if (far) ready.push({ job, far });
      }
    }
    if (ready.length === 0) return [];
    const label = this.#o.dialect.label;
    let id: string;
    let written: Written;
    try {
      const w = await this.#write(ready);
      if (typeof w === "string") return this.#failAll(ready, { message: w, retryable: true });
      written = w;
      const inv = this.#o.dialect.submit(w.path, w.script.request);
      const ran = await this.#o.runner.run(inv);
      const parsed = ran.code === 0 ? this.#o.dialect.parseSubmit(ran.stdout) : undefined;
      if (parsed === undefined) {
        return this.#failAll(ready, submitFailure(this.#o.dialect, this.#o.runner, inv.argv, ran));
      }
      id = parsed;
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      return this.#failAll(ready, {
        message: `Cannot submit to ${label}: ${why}`,
        retryable: true,
      });
    }
    return ready.map(({ job }, i) =>
      this.#record(job, { id, index: i, of: ready.length, written })
    );
  }

  /** Write the attempt's wrapper (and copy it to the cluster); undefined when it failed. */
  async #prepare(job: SchedulerJob): Promise<RootedJob | undefined> {
    const { copies } = this.#o;
    try {
      let far: RootedJob = job.spec;
      // With remote copies (`via:` and `filesystem: none`) every path the cluster sees is the copy's.
      if (copies) {
        job.remote = await copies.rootOf(job.spec.root);
        far = relocate(job.spec, job.spec.root, job.remote);
      }
      for (const [path, text] of wrapperScript(far, this.#o.wrapper ?? {})) {
        const here = job.remote !== undefined
          ? job.spec.root + path.slice(job.remote.length)
          : path;
        Deno.mkdirSync(dirname(here), { recursive: true });
        Deno.writeTextFileSync(here, text);
      }
      const sent = copies && job.remote !== undefined
        ? await copies.upload(job.spec.root, job.remote, job.spec.keptInputs)
        : undefined;
      if (sent === undefined) return far;
      job.finish({ outcome: "failed", message: sent, retryable: true });
    } catch (e) {
      job.fail(`Cannot prepare the job of "${job.spec.taskId}"`, e);
    }
    return undefined;
  }

  /** Write the job script (one attempt, or an array); a message when a copy failed. */
  async #write(ready: readonly Prepared[]): Promise<Written | string> {
    const { dialect, ex, copies } = this.#o;
    let written: Written;
    if (ready.length === 1) {
      const { job, far } = ready[0]!;
      const script = singleScript(dialect, ex, far);
      written = { path: join(far.root, "job.sh"), local: join(job.spec.root, "job.sh"), script };
    } else {
      const first = ready[0]!.job.spec;
      const localDir = join(first.runDir ?? dirname(dirname(dirname(first.root))), "jobs");
      const dir = copies ? `${await copies.runDirOf(first.root)}/jobs` : localDir;
      const safe = (first.bundle ?? "array").replace(/[^A-Za-z0-9_.-]+/g, "_");
      const name = `${safe}-${++this.#arraySeq}`;
      const list = join(dir, `${name}.tasks`);
      const listText = ready.map((p) => wrapperFiles(p.far.root).script).join("\n") + "\n";
      Deno.mkdirSync(localDir, { recursive: true });
      Deno.writeTextFileSync(join(localDir, `${name}.tasks`), listText);
      const sent = copies ? await copies.write(list, listText) : undefined;
      if (sent !== undefined) return sent;
      const script = arrayScript(dialect, ex, { name, dir, list }, ready.map((p) => p.far));
      written = { path: join(dir, `${name}.sh`), local: join(localDir, `${name}.sh`), script };
    }
    Deno.writeTextFileSync(written.local, written.script.text);
    return (copies ? await copies.write(written.path, written.script.text) : undefined) ?? written;
  }

  /** Note the ids the scheduler gave the job (in `job.json`, for `ferry status`) and report it. */
  #record(
    job: SchedulerJob,
    at: { id: string; index: number; of: number; written: Written },
  ): SchedulerJob {
    const { dialect, ex } = this.#o;
    const { id, index, of, written } = at;
    job.submitId = id;
    job.jobId = of === 1 ? id : dialect.elementId(id, index);
    const output = written.script.request.output;
    try {
      Deno.writeTextFileSync(
        join(job.spec.root, "job.json"),
        JSON.stringify({
          scheduler: dialect.name,
          executor: ex.name,
          jobId: job.jobId,
          script: written.local,
          ...(job.remote !== undefined ? { remote: job.remote, remoteScript: written.path } : {}),
          output: of === 1
            ? output
            : output.replace("{array}", id).replace("{index}", String(index)),
          submittedAt: job.submittedAt,
        }) + "\n",
      );
      job.spec.onSubmitted?.(job.jobId);
    } catch (e) {
      // The job is queued but ferry cannot keep track of it: the provider cancels it.
      job.fail(`Cannot record the ${dialect.label} job "${job.jobId}"`, e);
    }
    return job;
  }

  #failAll(ready: readonly Prepared[], failure: SubmitFailure): SchedulerJob[] {
    for (const { job } of ready) job.finish({ outcome: "failed", ...failure });
    return [];
  }
}

/** Through ssh (`via:`), these words mean the login node refused ferry: it stays refused. */
const LOGIN_REFUSED = /host key|authenticat|passphrase|permission denied/i;

/**
 * Why a submit command gave no job id, in the scheduler's words: not
 * installed, an id ferry cannot read, a login node out of reach, or the
 * scheduler's refusal (its last lines).
 */
export function submitFailure(
  dialect: Dialect,
  runner: CommandRunner,
  argv: readonly string[],
  ran: Ran,
): SubmitFailure {
  const label = dialect.label, command = argv[0];
  const said = lastLines(ran.stderr) || lastLines(ran.stdout) || "no message";
  if (ran.code === 127) {
    return {
      message:
        `Cannot submit to ${label}: ${command} was not found on ${runner.where} (is ${label} installed there, and on PATH?)`,
      retryable: false,
    };
  }
  if (ran.code === 0) {
    return {
      message: `${label} accepted the job but ferry cannot read its id from: ${
        ran.stdout.trim().slice(0, 200)
      }`,
      retryable: false,
    };
  }
  // Through ssh, exit 255 is ssh's own: the login node was not reached, which a later attempt
  // may get past; anything else is the scheduler's answer.
  if (ran.code === 255 && runner.where !== "this host") {
    return {
      message: `Cannot submit to ${label} through ${runner.where}: ${said}`,
      retryable: !LOGIN_REFUSED.test(ran.stderr + ran.stdout),
    };
  }
  return {
    message: `${label} refused the job (${command} exit ${ran.code}): ${said}`,
    retryable: false,
  };
}
