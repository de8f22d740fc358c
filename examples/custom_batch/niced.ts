/**
 * An example custom batch provider: each task runs on this machine as a
 * process at a lower CPU priority (`nice -n <niceness>`), in its own process
 * group, so a Ctrl-C or its walltime ends everything it started. A site file
 * uses it with `provider: ./niced.ts` (relative to the file that declares the
 * executor) and `options: { niceness: 10 }`.
 *
 * The interface is in providers/batch/types.ts: the default export makes the
 * provider from the executor; `execute(job, signal)` runs one attempt and
 * resolves to how it ended (it never rejects for a failing task). The
 * optional `checkOptions` export lets `ferry check` report bad options.
 * @module
 */

import { hostname } from "node:os";
import type { Executor } from "../../dsl/model.ts";
import type { BatchProvider, JobResult, JobSpec } from "../../providers/batch/types.ts";

/** Seconds a cancelled task gets between SIGTERM and SIGKILL. */
const KILL_GRACE_SECONDS = 5;

/** Problems with the executor's `options`, one sentence each (`ferry check` shows them). */
export function checkOptions(options: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    if (key !== "niceness") {
      problems.push(`Cannot use the niced option "${key}": expected one of niceness`);
    } else if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 19) {
      problems.push(
        `Cannot use ${
          JSON.stringify(value)
        } for niced option "niceness": expected a whole number from 0 to 19`,
      );
    }
  }
  return problems;
}

/** argv of one attempt: bash sends its output to the job's files, runs worker_init, then the task. */
export function argvOf(job: JobSpec): string[] {
  const redirect = job.stderr === job.stdout ? 'exec >"$1" 2>&1' : 'exec >"$1" 2>"$2"';
  const init = job.workerInit ? `${job.workerInit}\n` : "";
  const files = ["niced-task", job.stdout, job.stderr];
  if (job.run.kind === "command") {
    return ["bash", "-c", `${redirect}; shift 2\n${init}exec "$@"`, ...files, ...job.run.argv];
  }
  if (job.run.kind === "shell") {
    return [
      "bash",
      "-euo",
      "pipefail",
      "-c",
      `${redirect}; shift 2\n${init}${job.run.script}`,
      ...files,
    ];
  }
  throw new Error("function apps are not run by this provider");
}

/** Signal a task's whole process group (it leads its own session). */
function signalGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch { /* it ended already */ }
}

/** The provider factory (the module's default export). */
export default function niced(ex: Executor): BatchProvider {
  const niceness = typeof ex.options.niceness === "number" ? ex.options.niceness : 10;
  const host = hostname();
  return {
    name: "niced",
    async execute(job: JobSpec, signal: AbortSignal): Promise<JobResult> {
      const startedAt = Date.now();
      const ended = (r: Omit<JobResult, "startedAt" | "endedAt" | "host">): JobResult => ({
        ...r,
        startedAt,
        endedAt: Date.now(),
        host,
      });
      if (job.run.kind === "function") {
        return ended({
          outcome: "failed",
          message: "the niced provider runs shell and command apps, not functions",
          retryable: false,
        });
      }
      if (signal.aborted) return ended({ outcome: "cancelled" });
      for (const dir of job.mkdirs) await Deno.mkdir(dir, { recursive: true });
      const child = new Deno.Command("setsid", {
        args: ["nice", "-n", String(niceness), ...argvOf(job)],
        cwd: job.dir,
        env: job.env,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      let stopped: "cancelled" | "timeout" | undefined;
      let kill: ReturnType<typeof setTimeout> | undefined;
      const stop = (why: "cancelled" | "timeout") => {
        stopped ??= why;
        signalGroup(child.pid, "SIGTERM");
        kill ??= setTimeout(() => signalGroup(child.pid, "SIGKILL"), KILL_GRACE_SECONDS * 1000);
      };
      const onAbort = () => stop("cancelled");
      signal.addEventListener("abort", onAbort, { once: true });
      const walltime = job.resources.walltime;
      const limit = walltime !== undefined
        ? setTimeout(() => stop("timeout"), walltime * 1000)
        : undefined;
      try {
        const status = await child.status;
        return ended({
          outcome: stopped ?? (status.success ? "succeeded" : "failed"),
          exitCode: status.code,
          ...(status.signal ? { signal: status.signal } : {}),
        });
      } finally {
        signal.removeEventListener("abort", onAbort);
        clearTimeout(limit);
        clearTimeout(kill);
      }
    },
  };
}
