/**
 * The local batch provider: each job is a process in its own process group
 * (via `setsid`), so a walltime or a Ctrl-C kills everything it started, not
 * just its first process.
 * @module
 */

import { fileURLToPath } from "node:url";
import { hostname } from "node:os";
import type { BatchProvider, JobResult, JobSpec } from "./types.ts";
import { Spawner } from "./spawner.ts";

/** Options for {@linkcode localProvider}. */
export interface LocalProviderOptions {
  /** Seconds between SIGTERM and SIGKILL when a job is cancelled or times out. @default 5 */
  readonly killGraceSeconds?: number;
  /** The Deno executable for function apps. @default Deno.execPath() */
  readonly deno?: string;
  /** Start tasks through the Perl spawner when perl is available. @default true */
  readonly spawner?: boolean;
}

const FUNCTION_RUNNER = fileURLToPath(
  new URL("../../interpreter/function_runner.ts", import.meta.url),
);

/** The first place `name` is found among the usual ones, else the bare name (looked up on PATH). */
function which(name: string): string {
  for (const dir of ["/bin", "/usr/bin", "/usr/local/bin"]) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  return name;
}

// Absolute paths: looking bash up on a long PATH costs several failed execs per task.
const BASH = which("bash");
const SH = which("sh");

/**
 * argv for a job. The first shell redirects its own output to the job's files
 * (cheaper than piping every byte through ferry) and then runs the task:
 * commands with `exec` (no shell in between), scripts with bash strict mode,
 * functions through Deno.
 */
export function argvOf(job: JobSpec, deno: string, scriptFile?: string): string[] {
  const run = job.run;
  const { init, redirect } = prelude(job);
  const files = ["ferry-task", job.stdout, job.stderr];
  if (run.kind === "command") {
    const shell = init ? [BASH, "-c"] : [SH, "-c"];
    return [...shell, `${redirect}${init}exec "$@"`, ...files, ...run.argv];
  }
  if (run.kind === "shell") {
    // A script too long for one argument (Linux: 128 KiB) is run from the file it was written to.
    if (scriptFile !== undefined) return [BASH, "-euo", "pipefail", scriptFile, ...files.slice(1)];
    return [BASH, "-euo", "pipefail", "-c", redirect + init + run.script, ...files];
  }
  const fn = [deno, "run", "-A", "--no-prompt", FUNCTION_RUNNER, run.module, run.export];
  return [BASH, "-c", `${redirect}${init}exec "$@"`, ...files, ...fn];
}

/** What runs before the task's own command: its redirections (of "$1", "$2") and worker_init. */
function prelude(job: JobSpec): { init: string; redirect: string } {
  return {
    init: job.workerInit ? `${job.workerInit}\n` : "",
    redirect: job.stderr === job.stdout
      ? 'exec >"$1" 2>&1; shift 2\n'
      : 'exec >"$1" 2>"$2"; shift 2\n',
  };
}

/** Longest shell script passed inline as `bash -c SCRIPT` (one argument may hold 128 KiB). */
const MAX_INLINE_SCRIPT = 64 * 1024;

/** A provider that runs jobs as local processes. */
export function localProvider(options: LocalProviderOptions = {}): BatchProvider {
  const { killGraceSeconds = 5, deno = Deno.execPath(), spawner: useSpawner = true } = options;
  const host = hostname();
  let spawner: Spawner | undefined | null = useSpawner ? undefined : null;
  /** Start a process in its own session: through the spawner, else through setsid. */
  const launch = async (job: JobSpec, argv: string[]): Promise<Launched> => {
    if (spawner === undefined) spawner = Spawner.start() ?? null;
    if (spawner && job.run.kind !== "function") {
      const p = spawner.spawn(argv, job.dir, job.env, job.mkdirs);
      return { pid: await p.pid, status: p.status };
    }
    for (const d of job.mkdirs) Deno.mkdirSync(d, { recursive: true });
    const child = new Deno.Command("setsid", {
      args: argv,
      cwd: job.dir,
      env: job.env,
      stdin: job.run.kind === "function" ? "piped" : "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    if (job.run.kind === "function") {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(JSON.stringify(job.call ?? {})));
      await w.close();
    }
    return { pid: child.pid, status: child.status };
  };
  return {
    name: "local",
    async execute(job: JobSpec, signal: AbortSignal): Promise<JobResult> {
      const startedAt = Date.now();
      let scriptFile: string | undefined;
      if (job.run.kind === "shell" && job.run.script.length > MAX_INLINE_SCRIPT) {
        const { init, redirect } = prelude(job);
        scriptFile = Deno.makeTempFileSync({ prefix: "ferry-script-", suffix: ".sh" });
        Deno.writeTextFileSync(scriptFile, redirect + init + job.run.script);
      }
      const removeScript = () => {
        if (scriptFile !== undefined) Deno.remove(scriptFile).catch(() => {});
      };
      const argv = argvOf(job, deno, scriptFile);
      let child: Launched;
      try {
        child = await launch(job, argv);
      } catch (e) {
        const why = e instanceof Deno.errors.NotFound
          ? `cannot start "${argv[0]}": not found`
          : String((e as Error).message ?? e);
        removeScript();
        return { outcome: "failed", message: why, startedAt, endedAt: Date.now(), host };
      }
      child.status.finally(removeScript);
      let reason: "timeout" | "cancelled" | undefined;
      const kill = (why: "timeout" | "cancelled") => {
        if (reason) return;
        reason = why;
        signalGroup(child.pid, "SIGTERM");
        const hard = setTimeout(() => signalGroup(child.pid, "SIGKILL"), killGraceSeconds * 1000);
        child.status.finally(() => clearTimeout(hard));
      };
      const onAbort = () => kill("cancelled");
      if (signal.aborted) onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      const wall = job.resources.walltime;
      const timer = wall !== undefined ? setTimeout(() => kill("timeout"), wall * 1000) : undefined;
      const status = await child.status;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      // Whatever the task left running in its group goes with it.
      signalGroup(child.pid, "SIGKILL");
      const endedAt = Date.now();
      const base = {
        startedAt,
        endedAt,
        host,
        exitCode: status.code,
        ...(status.signal ? { signal: status.signal } : {}),
      };
      if (reason) return { ...base, outcome: reason };
      return { ...base, outcome: status.code === 0 && !status.signal ? "succeeded" : "failed" };
    },
    async close() {
      if (spawner) await spawner.close();
      spawner = undefined;
    },
  };
}

interface Launched {
  readonly pid: number;
  readonly status: Promise<{ readonly code: number; readonly signal?: Deno.Signal | null }>;
}

/** Signal a task's process group; a task so new that it has no session yet gets the signal itself. */
export function signalGroup(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(-pid, sig);
  } catch {
    try {
      Deno.kill(pid, sig);
    } catch {
      // Gone already.
    }
  }
}
