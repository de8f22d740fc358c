/**
 * The local batch provider: each job is a process in its own process group
 * (via `setsid`), so a walltime or a Ctrl-C kills everything it started, not
 * just its first process. Jobs start through the spawner, which also ends
 * them if ferry dies; each running job's group is recorded in the run's
 * directory for the run that takes over after a crash.
 * @module
 */

import { join } from "node:path";
import { hostname } from "node:os";
import type { BatchProvider, JobResult, JobSpec, Usage } from "./types.ts";
import { Spawner } from "./spawner.ts";
import { GroupRecord } from "./process_groups.ts";
import { CONTAINER_LIBRARY, containerWords, engineEnv } from "./container.ts";
import { denoPermissionFlags } from "./deno_permissions.ts";
import { FunctionPool } from "./function_pool.ts";
import { sharesWorkers } from "./function_protocol.ts";
import { runnableModule } from "../_shared/urls.ts";
import { execTail } from "../_shared/shell.ts";
import { superviseGroup } from "./supervise.ts";

/** Options for {@linkcode localProvider}. */
export interface LocalProviderOptions {
  /**
   * Seconds between SIGTERM and SIGKILL when a job is cancelled or times out (at most 2 when the
   * spawner ends the jobs of a ferry that died). @default 5
   */
  readonly killGraceSeconds?: number;
  /** The Deno executable for function apps. @default Deno.execPath() */
  readonly deno?: string;
  /** Start tasks through the Perl spawner when perl is available. @default true */
  readonly spawner?: boolean;
  /**
   * Run function calls in persistent Deno workers (function_pool.ts), at most this many idle
   * workers of other permissions kept; `false`: a fresh Deno process per call. @default the
   * machine's cores
   */
  readonly functionWorkers?: number | false;
}

const FUNCTION_RUNNER = runnableModule(new URL("./function_runner.ts", import.meta.url));

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

/** Files a job's argv refers to, written beforehand by {@linkcode localProvider}. */
export interface JobFiles {
  /** A shell script too long to pass as one argument. */
  readonly script?: string;
  /** A function's call (JSON), its standard input. */
  readonly call?: string;
}

/**
 * argv for a job. The first shell redirects its own output to the job's files
 * (cheaper than piping every byte through ferry) and then runs the task:
 * commands and script files with `exec` (no shell in between), shell scripts with bash strict
 * mode, functions through Deno (with the job's permissions), reading their call from `files.call`.
 */
export function argvOf(job: JobSpec, deno: string, files: JobFiles = {}): string[] {
  const run = job.run;
  const { init, redirect } = prelude(job);
  const logs = ["ferry-task", job.stdout, job.stderr];
  if (job.container !== undefined) {
    // The engine's process is a child of a bash that stops the container when it is cancelled.
    const words = containerWords(
      job,
      files.script !== undefined ? { scriptFile: files.script } : {},
    );
    return [
      BASH,
      "-c",
      `${CONTAINER_LIBRARY}${redirect}${init}ferry_container "$@"`,
      ...logs,
      ...words,
    ];
  }
  const denoRun = [deno, "run", ...denoPermissionFlags(job.permissions), "--no-prompt"];
  if (run.kind === "command" || run.kind === "script") {
    const argv = run.kind === "command"
      ? run.argv
      : run.interpreter === "deno"
      ? [...denoRun, run.path]
      : [...run.interpreter, run.path];
    const shell = init ? [BASH, "-c"] : [SH, "-c"];
    return [...shell, `${redirect}${init}exec "$@"`, ...logs, ...argv];
  }
  if (run.kind === "shell") {
    // A script too long for one argument (Linux: 128 KiB) is run from the file it was written to.
    if (files.script !== undefined) {
      return [BASH, "-euo", "pipefail", files.script, ...logs.slice(1)];
    }
    // One command with a redirection: exec'd, not forked (execTail). Nothing may have defined a
    // function or trap before it: no worker_init, no BASH_ENV, no exported function.
    const tail = init || definesShellCode(job.env) ? undefined : execTail(run.script);
    return [BASH, "-euo", "pipefail", "-c", redirect + init + (tail ?? run.script), ...logs];
  }
  const fn = [...denoRun, FUNCTION_RUNNER, run.module, run.export];
  return [
    BASH,
    "-c",
    `${redirect}${init}exec "\${@:2}" <"$1"`,
    ...logs,
    files.call ?? "/dev/null",
    ...fn,
  ];
}

/** ferry's own environment, which its tasks inherit: does it give bash code to run first? */
let inheritsShellCode: boolean | undefined;

function inheritsShell(): boolean {
  try {
    inheritsShellCode ??= Object.keys(Deno.env.toObject()).some(isShellCodeVar);
  } catch {
    inheritsShellCode = true; // not allowed to look: assume it does
  }
  return inheritsShellCode;
}

function isShellCodeVar(name: string): boolean {
  return name === "BASH_ENV" || name === "ENV" || name.startsWith("BASH_FUNC_");
}

/** Does the task's environment hand bash code (functions, a start-up file) to its shell? */
function definesShellCode(env: Readonly<Record<string, string>>): boolean {
  return inheritsShell() || Object.keys(env).some(isShellCodeVar);
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
  const jobs = new LocalJobs(options);
  // A plain object, as before: callers may spread it ({ ...local, execute }) and keep close().
  return {
    name: "local",
    makesLinks: true,
    execute: (job, signal) => jobs.execute(job, signal),
    close: () => jobs.close(),
  };
}

/** {@linkcode localProvider}'s jobs: the spawner and the group records kept between jobs. */
class LocalJobs {
  readonly #killGraceSeconds: number;
  readonly #deno: string;
  readonly #host = hostname();
  /** undefined: not started yet; null: not used (off, or perl missing). */
  #spawner: Spawner | undefined | null;
  readonly #records = new Map<string, GroupRecord | undefined>();
  readonly #pool: FunctionPool | undefined;

  constructor(options: LocalProviderOptions) {
    const { killGraceSeconds = 5, deno = Deno.execPath(), spawner = true } = options;
    this.#killGraceSeconds = killGraceSeconds;
    this.#deno = deno;
    this.#spawner = spawner ? undefined : null;
    const size = options.functionWorkers;
    this.#pool = size === false ? undefined : new FunctionPool({
      deno,
      launch: (argv, place) => this.#launch(place, argv),
      prepare: placeDirs,
      signalGroup,
      killGraceSeconds,
      host: this.#host,
      ...(size !== undefined ? { size } : {}),
    });
  }

  execute(job: JobSpec, signal: AbortSignal): Promise<JobResult> {
    // worker_init and containers are per process: such calls keep a process of their own.
    const pooled = sharesWorkers(job) && !job.workerInit;
    if (pooled && this.#pool) return this.#pool.execute(job, signal);
    return this.#execute(job, signal);
  }

  async #execute(job: JobSpec, signal: AbortSignal): Promise<JobResult> {
    const startedAt = Date.now();
    const files = jobFiles(job);
    const removeFiles = () => {
      for (const f of Object.values(files)) Deno.remove(f).catch(() => {});
    };
    const argv = argvOf(job, this.#deno, files);
    let child: Launched;
    try {
      child = await this.#launch(job, argv);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound
        ? `cannot start "${argv[0]}": not found`
        : String((e as Error).message ?? e);
      removeFiles();
      return { outcome: "failed", message: why, startedAt, endedAt: Date.now(), host: this.#host };
    }
    child.status.finally(removeFiles);
    // Whatever the task left running in its group goes with it (ended by whoever reaps it: the
    // spawner, or the setsid launch below).
    const { value: status, reason } = await superviseGroup(child.pid, child.status, {
      walltime: job.resources.walltime,
      signal,
      graceSeconds: this.#killGraceSeconds,
      signalGroup,
    });
    const endedAt = Date.now();
    const base = {
      startedAt,
      endedAt,
      host: this.#host,
      exitCode: status.code,
      ...(status.signal ? { signal: status.signal } : {}),
      // Without the spawner (setsid), only the wall time is known.
      usage: status.usage ?? { wallSeconds: (endedAt - startedAt) / 1000, measuredBy: "clock" },
    };
    if (reason) return { ...base, outcome: reason };
    return { ...base, outcome: status.code === 0 && !status.signal ? "succeeded" : "failed" };
  }

  async close(): Promise<void> {
    await this.#pool?.close();
    if (this.#spawner) await this.#spawner.close();
    this.#spawner = undefined;
    for (const r of this.#records.values()) r?.close();
    this.#records.clear();
  }

  /** The record of running groups in the job's run directory (opened once per run). */
  #recordOf(job: Place): GroupRecord | undefined {
    if (job.runDir === undefined) return undefined;
    if (!this.#records.has(job.runDir)) {
      this.#records.set(job.runDir, GroupRecord.open(job.runDir));
    }
    return this.#records.get(job.runDir);
  }

  /** Start a process in its own session: through the spawner, else through setsid. */
  async #launch(job: Place, argv: string[]): Promise<Launched> {
    if (this.#spawner === undefined) {
      this.#spawner = Spawner.start(undefined, Math.min(this.#killGraceSeconds, 2)) ?? null;
    }
    const record = this.#recordOf(job);
    if (this.#spawner) {
      // The spawner records the task's group itself: off ferry's thread, and with no gap between
      // the start and the record.
      const p = this.#spawner.spawn(argv, job.dir, {
        env: engineEnv(job),
        mkdirs: job.mkdirs,
        ...(job.links ? { links: job.links } : {}),
        ...(record ? { record: record.path } : {}),
      });
      return { pid: await p.pid, status: p.status };
    }
    return launchWithSetsid(job, argv, record);
  }
}

/** What starting a process needs of a job: where, with what environment, directories and links. */
type Place = Pick<JobSpec, "dir" | "env" | "mkdirs" | "links" | "runDir" | "container">;

/** Make a job's directories, then its input links. */
function placeDirs(job: Pick<JobSpec, "mkdirs" | "links">): void {
  for (const d of job.mkdirs) Deno.mkdirSync(d, { recursive: true });
  for (const [target, link] of job.links ?? []) {
    try {
      Deno.symlinkSync(target, link);
    } catch (e) {
      throw new Error(
        `Cannot place input "${link}" in the task directory: ${(e as Error).message}`,
      );
    }
  }
}

/** Start a process in its own session with setsid, recording its group in `record`. */
function launchWithSetsid(job: Place, argv: string[], record: GroupRecord | undefined): Launched {
  placeDirs(job);
  const child = new Deno.Command("setsid", {
    args: argv,
    cwd: job.dir,
    env: engineEnv(job),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  record?.started(child.pid);
  const status = child.status.then((s) => {
    signalGroup(child.pid, "SIGKILL");
    record?.ended(child.pid);
    return s;
  });
  return { pid: child.pid, status };
}

/** Write the files a job's argv needs: a long script, a function's call. */
function jobFiles(job: JobSpec): JobFiles {
  const run = job.run;
  if (run.kind === "shell" && run.script.length > MAX_INLINE_SCRIPT) {
    const { init, redirect } = prelude(job);
    const script = jobFile(job, "ferry-script", ".sh");
    // In a container the script file holds the script alone (the redirections happen outside).
    Deno.writeTextFileSync(script, job.container ? run.script : redirect + init + run.script);
    return { script };
  }
  if (run.kind === "function") {
    const call = jobFile(job, "ferry-call", ".json");
    Deno.writeTextFileSync(call, JSON.stringify(job.call ?? {}));
    return { call };
  }
  return {};
}

/**
 * A new file for the job, in its attempt's directory (ferry's own, where a run killed before the
 * file's removal leaves it with the attempt's other files); a temporary file when the job has no
 * attempt directory (a library caller's).
 */
function jobFile(job: JobSpec, name: string, suffix: string): string {
  if (job.root === undefined) return Deno.makeTempFileSync({ prefix: `${name}-`, suffix });
  Deno.mkdirSync(job.root, { recursive: true });
  return join(job.root, name + suffix);
}

interface Launched {
  readonly pid: number;
  readonly status: Promise<
    { readonly code: number; readonly signal?: Deno.Signal | null; readonly usage?: Usage }
  >;
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
