/**
 * A batch provider for any scheduler dialect (Slurm, PBS Pro, LSF, HTCondor).
 *
 * - Each attempt's job wrapper (`wrapper.ts`) and job script are written into
 *   the attempt directory and kept there with the scheduler's output.
 * - Jobs that become ready together are submitted together: with `bundle:
 *   array`, the tasks of one app's fan-out with the same resources go as one
 *   job array (throttled by `max_jobs`); otherwise one job per task.
 * - One status call per interval covers every outstanding job. A job is done
 *   when its wrapper's status file appears; the scheduler's state is the
 *   fallback (a job that ended without writing it: node failure, time limit,
 *   cancelled by an admin).
 * - Aborting a job's signal cancels it; all cancellations of one moment (a
 *   Ctrl-C) go in one call, and `close()` waits until the queue has let go of
 *   every job ferry cancelled.
 * @module
 */

import { dirname, join } from "node:path";
import type { Executor } from "../../dsl/model.ts";
import type { Dialect, QueueEntry, ScriptRequest } from "./dialect.ts";
import type { BatchProvider, JobResult, JobSpec } from "./types.ts";
import { type CommandRunner, localRunner } from "./runner.ts";
import {
  readWrapperStatus,
  resultOfStatus,
  wrapperFiles,
  type WrapperOptions,
  wrapperScript,
} from "./wrapper.ts";
import { relocate, type RemoteCopies } from "./remote_copy.ts";

/** Options for {@linkcode schedulerProvider}. */
export interface SchedulerOptions extends WrapperOptions {
  /** Where scheduler commands run. @default this host */
  readonly runner?: CommandRunner;
  /** Milliseconds between status calls. @default 1000 (FERRY_POLL_MS overrides) */
  readonly pollMs?: number;
  /** Milliseconds to gather jobs that become ready together before submitting. @default 50 */
  readonly gatherMs?: number;
  /** Status polls a job may stay unknown to the scheduler without a status file before it fails. @default 5 */
  readonly missingPolls?: number;
  /**
   * The cluster shares no filesystem with ferry (`via:` with `filesystem: none`): attempts are
   * copied to the cluster through the login node and run there; results come back the same way.
   */
  readonly copies?: RemoteCopies;
}

interface Waiting {
  readonly job: JobSpec & { readonly root: string };
  readonly signal: AbortSignal;
  readonly resolve: (r: JobResult) => void;
  readonly submittedAt: number;
  /** The id the scheduler reports this job (or array element) under. */
  id?: string;
  /** The id to cancel it by. */
  cancelId?: string;
  cancelled?: boolean;
  missing: number;
  last?: QueueEntry;
  /** The attempt's copy on the cluster (`via:` with `filesystem: none`). */
  remote?: string;
}

/** A job name the schedulers accept: letters, digits, `-`, `_`, `.`; at most 64 characters. */
export function jobName(text: string): string {
  return ("ferry-" + text.replace(/[^A-Za-z0-9_.-]+/g, "_")).slice(0, 64);
}

const TERMINAL = new Set([
  "completed",
  "failed",
  "timeout",
  "cancelled",
  "out-of-memory",
  "node-fail",
]);

/** The job script of one attempt submitted on its own. */
export function singleScript(
  dialect: Dialect,
  ex: Executor,
  job: JobSpec & { readonly root: string },
): { request: ScriptRequest; text: string } {
  const files = wrapperFiles(job.root);
  const request: ScriptRequest = {
    name: jobName(job.taskId),
    resources: job.resources,
    options: ex.options,
    chdir: job.root,
    output: join(job.root, "scheduler.out"),
    body: `exec bash ${shellWord(files.script)}`,
  };
  return { request, text: dialect.script(request) };
}

/** The job script of an array: element i runs the i-th wrapper listed in `list`. */
export function arrayScript(
  dialect: Dialect,
  ex: Executor,
  name: string,
  dir: string,
  list: string,
  members: readonly JobSpec[],
): { request: ScriptRequest; text: string } {
  const request: ScriptRequest = {
    name: jobName(name),
    resources: members[0]!.resources,
    options: ex.options,
    chdir: dir,
    output: join(dir, `${name}-{array}_{index}.out`),
    array: {
      count: members.length,
      ...(ex.maxJobs !== undefined ? { throttle: ex.maxJobs } : {}),
    },
    body: [
      `ferry_task=$(sed -n "$((FERRY_ARRAY_INDEX + 1))p" ${shellWord(list)})`,
      'exec bash "$ferry_task"',
    ].join("\n"),
  };
  return { request, text: dialect.script(request) };
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A batch provider that drives `dialect`'s scheduler for executor `ex`. */
export function schedulerProvider(
  dialect: Dialect,
  ex: Executor,
  options: SchedulerOptions = {},
): BatchProvider {
  const runner = options.runner ?? localRunner();
  const pollMs = options.pollMs ?? (Number(Deno.env.get("FERRY_POLL_MS")) || 1000);
  const gatherMs = options.gatherMs ?? 50;
  const missingPolls = options.missingPolls ?? 5;
  const copies = options.copies;
  const label = dialect.name === "slurm"
    ? "Slurm"
    : dialect.name === "pbs"
    ? "PBS"
    : dialect.name === "lsf"
    ? "LSF"
    : dialect.name === "htcondor"
    ? "HTCondor"
    : dialect.name;
  const queue: Waiting[] = [];
  const outstanding = new Set<Waiting>();
  const toCancel = new Set<Waiting>();
  const cancelledIds = new Set<string>();
  let gatherTimer: ReturnType<typeof setTimeout> | undefined;
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  let polling = false;
  let arraySeq = 0;
  let historyOn = true;
  let busy: Promise<unknown> = Promise.resolve();

  const finish = (
    w: Waiting,
    r: Omit<JobResult, "startedAt" | "endedAt" | "host"> & Partial<JobResult>,
  ) => {
    outstanding.delete(w);
    toCancel.delete(w);
    const now = Date.now();
    w.resolve({
      startedAt: w.submittedAt,
      endedAt: now,
      host: "",
      ...(w.id ? { jobId: w.id } : {}),
      ...r,
    } as JobResult);
  };

  const schedulePoll = () => {
    if (pollTimer !== undefined || outstanding.size === 0) return;
    pollTimer = setTimeout(() => {
      pollTimer = undefined;
      busy = busy.then(poll).finally(schedulePoll);
    }, pollMs);
  };

  const submitGroup = async (group: Waiting[]) => {
    const live = group.filter((w) => {
      if (!w.signal.aborted) return true;
      finish(w, { outcome: "cancelled" });
      return false;
    });
    if (live.length === 0) return;
    // With remote copies (`via:` and `filesystem: none`) every path the cluster sees is the copy's.
    const far = new Map<Waiting, JobSpec & { root: string }>();
    for (const w of [...live]) {
      let job = w.job;
      if (copies) {
        try {
          w.remote = await copies.rootOf(w.job.root);
        } catch (e) {
          finish(w, { outcome: "failed", message: (e as Error).message, retryable: true });
          live.splice(live.indexOf(w), 1);
          continue;
        }
        job = relocate(w.job, w.job.root, w.remote);
      }
      for (const [path, text] of wrapperScript(job, options)) {
        const here = w.remote !== undefined ? w.job.root + path.slice(w.remote.length) : path;
        Deno.mkdirSync(dirname(here), { recursive: true });
        Deno.writeTextFileSync(here, text);
      }
      if (copies && w.remote !== undefined) {
        const sent = await copies.upload(w.job.root, w.remote);
        if (sent !== undefined) {
          finish(w, { outcome: "failed", message: sent, retryable: true });
          live.splice(live.indexOf(w), 1);
          continue;
        }
      }
      far.set(w, job);
    }
    if (live.length === 0) return;
    let scriptPath: string, req: ScriptRequest, text: string;
    let localScript: string;
    if (live.length === 1) {
      const w = live[0]!;
      ({ request: req, text } = singleScript(dialect, ex, far.get(w)!));
      scriptPath = join(far.get(w)!.root, "job.sh");
      localScript = join(w.job.root, "job.sh");
    } else {
      const first = live[0]!.job;
      const localDir = join(first.runDir ?? dirname(dirname(dirname(first.root))), "jobs");
      const dir = copies ? `${await copies.runDirOf(first.root)}/jobs` : localDir;
      Deno.mkdirSync(localDir, { recursive: true });
      const name = `${(first.bundle ?? "array").replace(/[^A-Za-z0-9_.-]+/g, "_")}-${++arraySeq}`;
      const list = join(dir, `${name}.tasks`);
      const listText = live.map((w) => wrapperFiles(far.get(w)!.root).script).join("\n") + "\n";
      Deno.writeTextFileSync(join(localDir, `${name}.tasks`), listText);
      if (copies) {
        const sent = await copies.write(list, listText);
        if (sent !== undefined) {
          for (const w of live) finish(w, { outcome: "failed", message: sent, retryable: true });
          return;
        }
      }
      ({ request: req, text } = arrayScript(
        dialect,
        ex,
        name,
        dir,
        list,
        live.map((w) => far.get(w)!),
      ));
      scriptPath = join(dir, `${name}.sh`);
      localScript = join(localDir, `${name}.sh`);
    }
    Deno.writeTextFileSync(localScript, text);
    if (copies) {
      const sent = await copies.write(scriptPath, text);
      if (sent !== undefined) {
        for (const w of live) finish(w, { outcome: "failed", message: sent, retryable: true });
        return;
      }
    }
    const ran = await runner.run(dialect.submit(scriptPath, req));
    const id = ran.code === 0 ? dialect.parseSubmit(ran.stdout) : undefined;
    if (id === undefined) {
      const said = (ran.stderr.trim() || ran.stdout.trim()).split("\n").filter(Boolean);
      // Through ssh (`via:`), exit 255 is ssh's own: the login node was not reached, which a
      // later attempt may get past; anything else is the scheduler's answer.
      const unreachable = ran.code === 255 && runner.where !== "this host";
      const command = dialect.submit(scriptPath, req).argv[0];
      const message = ran.code === 127
        ? `Cannot submit to ${label}: ${command} was not found on ${runner.where} (is ${label} installed there, and on PATH?)`
        : ran.code === 0
        ? `${label} accepted the job but ferry cannot read its id from: ${
          ran.stdout.trim().slice(0, 200)
        }`
        : unreachable
        ? `Cannot submit to ${label} through ${runner.where}: ${
          said.slice(-3).join("; ") || "no message"
        }`
        : `${label} refused the job (${command} exit ${ran.code}): ${
          said.slice(-3).join("; ") || "no message"
        }`;
      // A host key or login the login node refuses stays refused; a connection may come back.
      const retryable = unreachable &&
        !/host key|authenticat|passphrase|permission denied/i.test(said.join(" "));
      for (const w of live) finish(w, { outcome: "failed", message, retryable });
      return;
    }
    live.forEach((w, i) => {
      w.cancelId = id;
      w.id = live.length === 1 ? id : dialect.elementId(id, i);
      Deno.writeTextFileSync(
        join(w.job.root, "job.json"),
        JSON.stringify({
          scheduler: dialect.name,
          executor: ex.name,
          jobId: w.id,
          script: localScript,
          ...(w.remote !== undefined ? { remote: w.remote, remoteScript: scriptPath } : {}),
          output: live.length === 1
            ? req.output
            : req.output.replace("{array}", id).replace("{index}", String(i)),
          submittedAt: w.submittedAt,
        }) + "\n",
      );
      outstanding.add(w);
      w.job.onSubmitted?.(w.id);
      if (w.signal.aborted) requestCancel(w);
    });
    schedulePoll();
  };

  const flush = () => {
    gatherTimer = undefined;
    const batch = queue.splice(0);
    const groups = new Map<string, Waiting[]>();
    for (const w of batch) {
      const key = ex.bundle === "array" && w.job.bundle !== undefined
        ? `${w.job.bundle}\u0000${JSON.stringify(w.job.resources)}`
        : `single\u0000${groups.size}\u0000${w.job.taskId}`;
      const g = groups.get(key);
      if (g) g.push(w);
      else groups.set(key, [w]);
    }
    for (const g of groups.values()) {
      busy = busy.then(() =>
        submitGroup(g).catch((e) => {
          for (const w of g) {
            if (!outstanding.has(w)) {
              finish(w, {
                outcome: "failed",
                message: `Cannot submit to ${label}: ${(e as Error).message}`,
              });
            }
          }
        })
      );
    }
  };

  const requestCancel = (w: Waiting) => {
    if (w.cancelled) return;
    w.cancelled = true;
    if (!w.cancelId) return; // not submitted yet: submitGroup sees the signal
    toCancel.add(w);
    queueMicrotask(() => {
      if (toCancel.size === 0) return;
      const ids = [...new Set([...toCancel].map((x) => x.id!))];
      toCancel.clear();
      for (const i of ids) cancelledIds.add(i);
      busy = busy.then(() => runner.run(dialect.cancel(ids)));
    });
  };

  const poll = async () => {
    if (polling || outstanding.size === 0) return;
    polling = true;
    try {
      // Status files first: a job whose wrapper finished is done, whatever the queue says yet.
      if (copies) await collectRemote();
      else {
        for (const w of [...outstanding]) {
          const st = readWrapperStatus(wrapperFiles(w.job.root).status);
          if (st) done(w, st);
        }
      }
      if (outstanding.size === 0) return;
      const ids = [...new Set([...outstanding].map((w) => w.cancelId!))];
      const ran = await runner.run(dialect.status(ids));
      const entries = new Map<string, QueueEntry>();
      for (const e of dialect.parseStatus(ran.stdout)) entries.set(e.id, e);
      // Jobs the queue no longer knows (their status files were looked at just now): ask the
      // accounting, if any.
      const gone = [...outstanding].filter((w) => !entries.has(w.id!));
      if (gone.length > 0 && dialect.history && historyOn) {
        const h = await runner.run(dialect.history(gone.map((w) => w.id!)));
        if (h.code !== 0 && dialect.historyUnavailable?.test(h.stderr + h.stdout)) {
          historyOn = false;
        }
        for (const e of dialect.parseHistory?.(h.stdout) ?? []) entries.set(e.id, e);
      }
      for (const w of [...outstanding]) {
        const e = entries.get(w.id!);
        if (e) w.last = e;
        // Still queued or running: its status file is read again next time.
        if (e && !TERMINAL.has(e.state)) {
          w.missing = 0;
          continue;
        }
        // Read again: the job may have finished between the two looks.
        const st = readWrapperStatus(wrapperFiles(w.job.root).status);
        if (st) {
          done(w, st);
          continue;
        }
        // Ended (or gone from the queue) without a status file: wait a few polls for a
        // slow shared filesystem, then go by the scheduler's word.
        if (
          ran.code !== 0 && !e && ran.stdout.trim() === "" &&
          !/invalid job id|unknown job/i.test(ran.stderr)
        ) {
          continue; // the status call itself failed: ask again next time
        }
        if (++w.missing < (e ? 2 : missingPolls)) continue;
        const last = e ?? w.last;
        const why = last
          ? `the ${label} job ${w.id} ended ${last.raw}${last.reason ? ` (${last.reason})` : ""}`
          : `the ${label} job ${w.id} left the queue`;
        if (w.cancelled || cancelledIds.has(w.cancelId!)) finish(w, { outcome: "cancelled" });
        else if (last?.state === "timeout") {
          finish(w, { outcome: "timeout", message: `${why}: its time limit was exceeded` });
        } else {
          finish(w, {
            outcome: "failed",
            message: `${why} without the wrapper's status file (see ${
              join(w.job.root, "scheduler.out")
            } and job.out)`,
            ...(last?.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
          });
        }
      }
    } finally {
      polling = false;
    }
  };

  /** Finished copies on the cluster (one call for all): their results come back, then done. */
  const collectRemote = async () => {
    const waiting = [...outstanding].filter((w) => w.remote !== undefined);
    const found = await copies!.statuses(waiting.map((w) => w.remote!));
    if (!found) return; // the login node did not answer: ask again next time
    for (const w of waiting) {
      if (!found.has(w.remote!)) continue;
      const got = await copies!.download(w.job.root, w.remote!);
      const st = readWrapperStatus(wrapperFiles(w.job.root).status);
      if (!st) {
        finish(w, {
          outcome: "failed",
          message: got ?? `Cannot read the status the job left in ${w.remote}`,
          retryable: true,
        });
        continue;
      }
      done(w, st);
      // The cluster's copy goes once its results are here (a failed attempt's stays, for a look).
      if (st.exitCode === 0 && !st.timedOut) await copies!.remove(w.remote!);
    }
  };

  const done = (w: Waiting, st: NonNullable<ReturnType<typeof readWrapperStatus>>) =>
    finish(w, resultOfStatus(st, w.cancelled === true));

  return {
    name: dialect.name,
    nodeSide: true,
    async cancelJobs(ids: readonly string[]): Promise<string | undefined> {
      if (ids.length === 0) return undefined;
      const ran = await runner.run(dialect.cancel(ids));
      return ran.code === 0
        ? undefined
        : (ran.stderr.trim() || ran.stdout.trim() || `exit ${ran.code}`);
    },
    execute(job: JobSpec, signal: AbortSignal): Promise<JobResult> {
      if (job.root === undefined) {
        throw new Error("internal: batch jobs need their attempt directory");
      }
      return new Promise<JobResult>((resolve) => {
        const w: Waiting = {
          job: job as JobSpec & { root: string },
          signal,
          resolve,
          submittedAt: Date.now(),
          missing: 0,
        };
        signal.addEventListener("abort", () => requestCancel(w), { once: true });
        queue.push(w);
        gatherTimer ??= setTimeout(flush, gatherMs);
      });
    },
    async close() {
      if (gatherTimer !== undefined) clearTimeout(gatherTimer);
      gatherTimer = undefined;
      for (const w of queue.splice(0)) finish(w, { outcome: "cancelled" });
      await busy.catch(() => {});
      // Wait (a while) until the scheduler has let go of every job ferry cancelled.
      const ids = [...cancelledIds];
      for (let i = 0; ids.length > 0 && i < 60; i++) {
        const ran = await runner.run(dialect.status(ids));
        const live = dialect.parseStatus(ran.stdout).filter((e) => !TERMINAL.has(e.state));
        if (live.length === 0) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      if (pollTimer !== undefined) clearTimeout(pollTimer);
      pollTimer = undefined;
      await runner.close?.();
    },
  };
}
