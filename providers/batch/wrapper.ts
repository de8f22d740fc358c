/**
 * The job wrapper: the bash script that runs one attempt of one task on a
 * batch node (Slurm, PBS, LSF, HTCondor, ssh). It needs only bash and
 * coreutils on the node; Deno only for `function:` apps (the function runs in
 * a Deno process there too).
 *
 * In order it: sends its own output to `job.out` in the attempt directory,
 * makes the task's directories, exports the task's environment, runs
 * `worker_init`, fetches the job's node-side inputs (`nodeTransfers.fetch`),
 * copies the task directory to node-local scratch when a `scratch` rule
 * applies (and back afterwards), runs the task in its own
 * process group with its output redirected exactly as the local runtime does
 * (commands without a shell, scripts with `set -euo pipefail`; `srun` or
 * `mpiexec` in front when `FERRY_LAUNCH` says so), enforces the walltime to
 * the second, forwards SIGTERM (scancel, a scheduler's time limit) to the
 * task's group, and last writes `exit.json` atomically (temp file, then
 * rename): exit code, signal, start and end times, host, whether the walltime
 * was exceeded, and why a node-side transfer failed. After a task that
 * succeeded it uploads the job's node-side outputs (`nodeTransfers.put`);
 * a failed upload fails the attempt. ferry reads that file; the scheduler's
 * own state is the fallback when the node died before writing it.
 *
 * Node-side transfers use only standard tools: `curl` for http, https, ftp,
 * ftps (explicit TLS) and sftp, `rsync` for rsync:// and rsync+ssh:// (`ssh`
 * too for the latter), `sha256sum` for checksums. Secrets are never in the
 * wrapper: a password (`passwordEnv`) or token (`tokenEnv`) is read on the
 * node from the variable the transfer names, and reaches curl through a
 * temporary netrc or header file (mode 0600, removed as soon as curl exits),
 * rsync through `RSYNC_PASSWORD` in its environment only. See
 * {@linkcode transferLine} for the per-protocol details.
 * @module
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { MAX_BACKOFF_MS, RETRY_BASE_MS } from "../_shared/retry.ts";
import { bashQuote } from "../_shared/shell.ts";
import { runnableModule } from "../_shared/urls.ts";
import { denoPermissionFlags } from "./deno_permissions.ts";
import {
  callPermissions,
  sharesWorkers,
  type WorkerCall,
  workerFlags,
} from "./function_protocol.ts";
import { visible } from "../../dsl/visible.ts";
import type { JobResult, JobSpec, NodeFallback, NodeTransfer, Usage } from "./types.ts";
import { CONTAINER_LIBRARY, containerWords, engineEnv } from "./container.ts";
// The functions every wrapper holds, in a real shell file so that shellcheck reads them. A text
// import, not a file read, so that it works from a published package fetched over https too.
import WRAPPER_LIBRARY from "./wrapper.sh" with { type: "text" };

export { WRAPPER_LIBRARY };

/** The library's shellcheck directive for the whole file: it must come before the first command. */
const FILE_DIRECTIVE = WRAPPER_LIBRARY.match(/^# shellcheck disable=.*$/m)![0];

const RUNNER_URL = new URL("./function_runner.ts", import.meta.url);
// A local path (decoded: a checkout's path may hold spaces), or the URL when ferry itself was
// loaded from one; `deno run` takes either.
const FUNCTION_RUNNER = RUNNER_URL.protocol === "file:"
  ? fileURLToPath(RUNNER_URL)
  : RUNNER_URL.href;
/** The persistent function worker a pilot worker slot keeps (pilot.sh ferry_fn_start). */
const FUNCTION_WORKER = runnableModule(new URL("./function_worker.ts", import.meta.url));

/** Files the wrapper reads and writes in the attempt directory. */
export interface WrapperFiles {
  /** The wrapper itself. */
  readonly script: string;
  /** The status file it writes last. */
  readonly status: string;
  /** Its own output (worker_init, scratch copies, messages). */
  readonly log: string;
  /** A shell task's script. */
  readonly taskScript: string;
  /** A function task's call (arguments and result path), as JSON. */
  readonly call: string;
  /** Marker the walltime watchdog leaves. */
  readonly timedOut: string;
}

/** Where the wrapper's files of an attempt live. */
export function wrapperFiles(root: string): WrapperFiles {
  return {
    script: join(root, "task.sh"),
    status: join(root, "exit.json"),
    log: join(root, "job.out"),
    taskScript: join(root, "task-script.sh"),
    call: join(root, "call.json"),
    timedOut: join(root, "timed-out"),
  };
}

/** Seconds between SIGTERM and SIGKILL when the walltime is exceeded. */
export const KILL_GRACE_SECONDS = 5;

/** Options for {@linkcode wrapperScript}. */
export interface WrapperOptions {
  /** The Deno executable on the node, for function apps. @default `$FERRY_DENO`, else `deno` on PATH */
  readonly deno?: string;
}

/** A job as {@linkcode wrapperScript} gets it: with its attempt directory. */
type RootedJob = JobSpec & { readonly root: string };

/**
 * The wrapper script of one attempt, plus the side files it needs (a shell
 * task's script, a function's call), as path → text.
 */
export function wrapperScript(
  job: RootedJob,
  options: WrapperOptions = {},
): Map<string, string> {
  const f = wrapperFiles(job.root);
  const files = attemptFiles(job, options);
  const header = [
    "#!/bin/bash",
    // The id as a comment: control characters escaped, so that no line break ends the comment.
    `# ferry job wrapper: task ${
      visible(job.taskId)
    }, attempt ${job.attempt}. Written by ferry; runs on the node.`,
    FILE_DIRECTIVE,
    WRAPPER_LIBRARY.trimEnd(),
    ...(job.container !== undefined ? [CONTAINER_LIBRARY.trimEnd()] : []),
  ];
  files.set(f.script, [...header, files.get(f.script)!].join("\n"));
  return files;
}

/**
 * An attempt as a pilot worker runs it (`pilot.sh`): the wrapper's own lines
 * for this attempt without the library, which the worker sourced once, and
 * without `worker_init`, which its block ran once. The worker runs the file
 * in a subshell of its own, or, for a plain attempt, runs it itself with one
 * process ({@linkcode runsDirect}); every value in it is quoted as in the
 * wrapper.
 */
export function pilotTaskScript(
  job: RootedJob,
  options: WrapperOptions = {},
): Map<string, string> {
  const f = wrapperFiles(job.root);
  const pooled = sharesWorkers(job);
  if (!pooled && runsDirect(job)) return directTaskFiles({ ...job, workerInit: "" }, f, options);
  const files = attemptFiles({ ...job, workerInit: "" }, options, pooled);
  const header = `# ferry pilot task: task ${
    visible(job.taskId)
  }, attempt ${job.attempt}. Run by a pilot worker, which holds the job wrapper's library.`;
  // A call that may share a worker says first which Deno function worker it needs: the pilot
  // worker reads this line alone before it runs the file (pilot.sh ferry_fn_prepare).
  const first = pooled ? `ferry_fn_argv=(${functionWorkerArgv(job, options)})\n` : "";
  files.set(f.script, first + header + "\n" + files.get(f.script)!);
  return files;
}

/**
 * The command line of the Deno function worker a pilot worker runs `job`'s call in, as bash
 * words: the node's Deno (the task's `FERRY_DENO`, which its worker does not see otherwise, else
 * the wrapper's, else the block's `$FERRY_DENO` or `deno`), its permission flags, the worker.
 */
function functionWorkerArgv(job: RootedJob, options: WrapperOptions): string {
  const q = bashQuote;
  const named = engineEnv(job).FERRY_DENO ?? options.deno;
  const deno = named !== undefined ? q(named) : '"${FERRY_DENO:-deno}"';
  const flags = workerFlags(job.permissions).map(q);
  return [deno, "run", ...flags, "--no-prompt", q(FUNCTION_WORKER)].join(" ");
}

/** The attempt's own lines of its wrapper (at the wrapper's path), and the side files they read. */
function attemptFiles(
  job: RootedJob,
  options: WrapperOptions,
  pooled = false,
): Map<string, string> {
  const f = wrapperFiles(job.root);
  const files = new Map<string, string>();
  const lines = [
    ...prologueLines(job, f),
    ...transfersBeforeLines(job),
    ...scratchEnterLines(job),
    ...(pooled
      ? pooledCallLines(job, f, files)
      : taskLines(job, f, taskCommand(job, f, files, options))),
    ...afterTaskLines(job),
    'ferry_finish "$ferry_code"',
    "",
  ];
  files.set(f.script, lines.join("\n"));
  return files;
}

/** The attempt's start: its status file, log, directories, environment and worker_init. */
function prologueLines(job: RootedJob, f: WrapperFiles): string[] {
  const q = bashQuote;
  const lines: string[] = [
    "# --- this attempt ---",
    `ferry_status=${q(f.status)}`,
    `ferry_grace=${KILL_GRACE_SECONDS}`,
    "ferry_begin",
    "trap ferry_term TERM INT HUP",
    `exec >>${q(f.log)} 2>&1`,
    `ferry_rm ${q(f.timedOut)}`,
  ];
  const enter = `cd ${q(job.dir)} || ferry_fail ${q(`Cannot enter "${job.dir}" on the node`)}`;
  lines.push(...enterLines(job));
  if (job.workerInit) {
    lines.push("# worker_init", job.workerInit, enter);
    // worker_init may have turned on -e, -u or -x: the wrapper needs none of them (with -e a
    // failed task would end it before it writes the status file; -x would print what the
    // transfers read from the environment).
    lines.push("{ set +euxv; set +o pipefail; } 2>/dev/null");
  }
  return lines;
}

/** The directories an attempt makes on the node: its working directory first. */
function attemptDirs(job: RootedJob): string[] {
  return [job.dir, ...job.mkdirs.filter((d) => d !== job.dir)];
}

/** The attempt's directories made, entered, and its environment exported. */
function enterLines(job: RootedJob): string[] {
  const q = bashQuote;
  const dirs = attemptDirs(job);
  const lines = [
    `ferry_mkdirs ${dirs.map(q).join(" ")} ||`,
    `  ferry_fail ${q(`Cannot make the directories of "${job.dir}" on the node`)}`,
    `cd ${q(job.dir)} || ferry_fail ${q(`Cannot enter "${job.dir}" on the node`)}`,
  ];
  for (const [k, v] of Object.entries(engineEnv(job))) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new Error(`Cannot export "${visible(k)}" on the node: it is not a variable name`);
    }
    lines.push(`export ${k}=${q(v)}`);
  }
  return lines;
}

/**
 * Whether a pilot worker may run the attempt itself (pilot.sh `ferry_pilot_direct`): nothing but
 * the task happens on the node, no node-side transfer, no scratch, no container, whose steps run
 * after the task in the attempt's own shell.
 */
function runsDirect(job: RootedJob): boolean {
  const t = job.nodeTransfers;
  return job.container === undefined && job.scratch === undefined &&
    (t?.fetch?.length ?? 0) + (t?.put?.length ?? 0) === 0;
}

/**
 * An attempt a pilot worker runs itself, with one process: the file sets the attempt's status
 * file, grace and walltime, and defines `ferry_attempt_task`, which the worker starts as its
 * task's process (a process group of its own): the attempt's log, directories and environment,
 * then the task in its place (`exec`). The worker waits for it, measures it and writes its status
 * (wrapper.sh `ferry_record`), as the attempt's own shell does on the other path; a step that
 * fails before the task (`ferry_fail`) writes the status itself.
 */
function directTaskFiles(
  job: RootedJob,
  f: WrapperFiles,
  options: WrapperOptions,
): Map<string, string> {
  const q = bashQuote;
  const files = new Map<string, string>();
  const command = taskCommand(job, f, files, options);
  const redirect = logRedirect(job);
  const wall = job.resources.walltime;
  const lines = [
    "ferry_direct=1",
    `# ferry pilot task: task ${visible(job.taskId)}, attempt ${job.attempt}. Run by a pilot ` +
    "worker itself, which holds the job wrapper's library.",
    `ferry_status=${q(f.status)}`,
    `ferry_grace=${KILL_GRACE_SECONDS}`,
    `ferry_walltime=${wall !== undefined ? Math.ceil(wall) : "''"}`,
    `ferry_timed_out_file=${q(f.timedOut)}`,
    // The task's own FERRY_TIME chooses its timer: the worker measures it (ferry_measure_start).
    ...("FERRY_TIME" in engineEnv(job) ? [`ferry_task_time=${q(engineEnv(job).FERRY_TIME!)}`] : []),
    ...spawnLines(job, f),
    "ferry_attempt_task() {",
    ...[`exec >>${q(f.log)} 2>&1`, ...enterLines(job), ': "${FERRY_LAUNCH:=}"', "ferry_task_fds"]
      .map((l) => "  " + l),
    "  # shellcheck disable=SC2086 # FERRY_LAUNCH is a command line (srun, mpiexec): one word each",
    `  ${redirect}`,
    `  ${command}`,
    "}",
    "",
  ];
  files.set(f.script, lines.join("\n"));
  return files;
}

/**
 * The same attempt as a request to the worker's spawner (pilot.sh `ferry_sp_run`), for a task
 * whose command is known here, word for word: its working directory, the directories to make,
 * its environment, its argv and its logs. None for a task whose command the node completes
 * (Deno's path, a function's call on standard input), whose environment names a launcher or a
 * timer (`FERRY_LAUNCH`, `FERRY_TIME`), or sets `PATH` (the spawner looks the program up in its
 * own): those are forked, as before.
 */
function spawnLines(job: RootedJob, f: WrapperFiles): string[] {
  const q = bashQuote;
  const run = job.run;
  const env = engineEnv(job);
  if ("FERRY_LAUNCH" in env || "FERRY_TIME" in env || "PATH" in env) return [];
  const argv = run.kind === "command"
    ? run.argv
    : run.kind === "shell"
    ? ["bash", "-euo", "pipefail", f.taskScript]
    : run.kind === "script" && run.interpreter !== "deno"
    ? [...run.interpreter, run.path]
    : undefined;
  if (argv === undefined) return [];
  const words = (xs: readonly string[]) => xs.map(q).join(" ");
  return [
    `ferry_spawn_cwd=${q(job.dir)}`,
    `ferry_spawn_dirs=(${words(attemptDirs(job))})`,
    `ferry_spawn_env=(${words(Object.entries(env).map(([k, v]) => `${k}=${v}`))})`,
    `ferry_spawn_argv=(${words(argv)})`,
    `ferry_spawn_out=${q(job.stdout)}`,
    `ferry_spawn_err=${q(job.stderr)}`,
  ];
}

/** The task's standard output and error into its logs (one file when they are the same). */
function logRedirect(job: RootedJob): string {
  const q = bashQuote;
  return job.stderr === job.stdout
    ? `exec >${q(job.stdout)} 2>&1`
    : `exec >${q(job.stdout)} 2>${q(job.stderr)}`;
}

/** The node-side fetches, and the uploads that cannot work at all, before the task. */
function transfersBeforeLines(job: RootedJob): string[] {
  const fetches = job.nodeTransfers?.fetch ?? [];
  const puts = job.nodeTransfers?.put ?? [];
  if (fetches.length + puts.length === 0) return [];
  const lines = [
    "# Node-side transfers: inputs first; a failure ends the attempt before the task.",
  ];
  for (const t of fetches) lines.push(transferLine("fetch", t, job.retryBaseMs));
  for (const t of puts) {
    // A put that cannot work (a malformed URL, http) fails now rather than after the task.
    const line = transferLine("put", t, job.retryBaseMs);
    if (line.startsWith("ferry_fail ")) lines.push(line);
  }
  return lines;
}

/** The copy of the task directory to node-local scratch, and the move there. */
function scratchEnterLines(job: RootedJob): string[] {
  if (job.scratch === undefined) return [];
  // Node-local scratch: the site's text (e.g. ${SLURM_TMPDIR}) is expanded here, on the node.
  // $BASHPID, not $$: a pilot worker runs each attempt in a subshell, whose $$ is its block's.
  return [
    `ferry_scratch_root=${scratchWord(job.scratch)}`,
    'if [ -z "$ferry_scratch_root" ]; then ferry_scratch_root=${TMPDIR:-/tmp}; fi',
    `ferry_scratch="$ferry_scratch_root/ferry-$BASHPID-${job.attempt}-$(basename ${
      bashQuote(job.root)
    })"`,
    'ferry_work="$PWD"',
    // Links to workspace files stay links (the filesystem is shared): only scratch inputs are copies.
    'if ! { mkdir -p "$ferry_scratch" && cp -R . "$ferry_scratch"/ && cd "$ferry_scratch"; }; then',
    '  ferry_fail "Cannot copy the task directory to scratch \\"$ferry_scratch\\""',
    "fi",
  ];
}

/** The command that becomes the task (an `exec`), adding the side files it reads to `files`. */
function taskCommand(
  job: RootedJob,
  f: WrapperFiles,
  files: Map<string, string>,
  options: WrapperOptions,
): string {
  const q = bashQuote;
  const run = job.run;
  // "${ferry_timer[@]}": /usr/bin/time when the node has it (ferry_measure_start, wrapper.sh).
  const exec = 'exec "${ferry_timer[@]}"';
  // A container task is not timed: its processes run under the engine, not this shell (ferry_container
  // is a function, and /usr/bin/time would measure only the engine's client).
  if (job.container !== undefined) return containerCommand(job, f, files);
  if (run.kind === "command") return `${exec} $FERRY_LAUNCH ${run.argv.map(q).join(" ")}`;
  if (run.kind === "shell") {
    files.set(f.taskScript, run.script);
    return `${exec} $FERRY_LAUNCH bash -euo pipefail ${q(f.taskScript)}`;
  }
  // `FERRY_DENO` (e.g. from the executor's env) names the node's Deno; else `deno` on PATH.
  const deno = options.deno !== undefined ? q(options.deno) : '"${FERRY_DENO:-deno}"';
  const denoRun = `${deno} run ${
    denoPermissionFlags(job.permissions).map(q).join(" ")
  } --no-prompt`;
  if (run.kind === "script") {
    if (run.interpreter === "deno") return `${exec} ${denoRun} ${q(run.path)}`;
    return `${exec} $FERRY_LAUNCH ${[...run.interpreter, run.path].map(q).join(" ")}`;
  }
  files.set(f.call, JSON.stringify(job.call ?? {}));
  return `${exec} ${denoRun} ${q(FUNCTION_RUNNER)} ${q(run.module)} ${q(run.export)} <${q(f.call)}`;
}

/** Stands for the task directory on node-local scratch, known only on the node (`$PWD`). */
const PWD_MARK = "\0PWD\0";

/**
 * The task in its container, through `ferry_container` (container.sh): a shell task's script
 * from its file, mounted read-only; on scratch, the working directory is the wrapper's `$PWD`.
 */
function containerCommand(job: RootedJob, f: WrapperFiles, files: Map<string, string>): string {
  const shell = job.run.kind === "shell";
  if (job.run.kind === "shell") files.set(f.taskScript, job.run.script);
  const scratch = job.scratch !== undefined;
  const words = containerWords(job, {
    ...(shell ? { scriptFile: f.taskScript } : {}),
    ...(scratch ? { dir: PWD_MARK } : {}),
  });
  const quote = (w: string) =>
    w.split(PWD_MARK).map((p) => (p === "" ? "" : bashQuote(p))).join('"$PWD"');
  return `ferry_container ${words.map(quote).join(" ")}`;
}

/** The task in its own process group, its walltime watchdog, and the wait for it. */
function taskLines(job: RootedJob, f: WrapperFiles, command: string): string[] {
  const q = bashQuote;
  const redirect = logRedirect(job);
  const lines = [
    ': "${FERRY_LAUNCH:=}"',
    "# The task, in its own process group (job control), so that a kill reaches all it started.",
    "ferry_measure_start",
    "set -m",
    "# shellcheck disable=SC2086 # FERRY_LAUNCH is a command line (srun, mpiexec): one word each",
    `( ferry_task_fds; ${redirect}; ${command} ) &`,
    "ferry_child=$!",
    "set +m",
  ];
  const wall = job.resources.walltime;
  if (wall !== undefined) {
    lines.push(
      `ferry_watchdog ${Math.ceil(wall)} ${KILL_GRACE_SECONDS} ${q(f.timedOut)} &`,
      "ferry_watch=$!",
    );
  }
  lines.push('wait "$ferry_child"', "ferry_code=$?", "ferry_measure_end", "ferry_end_group");
  if (wall !== undefined) {
    lines.push("ferry_stop_watch", `if [ -e ${q(f.timedOut)} ]; then ferry_timed_out=true; fi`);
  }
  return lines;
}

/**
 * A function call in the Deno function worker of the pilot worker that runs the attempt
 * (pilot.sh `ferry_fn_call`): the call as the worker takes it (function_protocol.ts), without
 * its directory, which is the attempt's (`$PWD` on node-local scratch).
 */
function pooledCallLines(job: RootedJob, f: WrapperFiles, files: Map<string, string>): string[] {
  const q = bashQuote;
  const run = job.run as Extract<JobSpec["run"], { kind: "function" }>;
  const call: Omit<WorkerCall, "dir"> = {
    module: run.module,
    export: run.export,
    ...(job.call?.argv !== undefined ? { argv: job.call.argv } : { args: job.call?.args ?? {} }),
    env: engineEnv(job),
    ...callPermissions(job),
  };
  files.set(f.call, JSON.stringify(call) + "\n");
  const dir = job.scratch !== undefined ? '"$(ferry_json "$PWD")"' : q(JSON.stringify(job.dir));
  const wall = job.resources.walltime;
  return [
    "# The call, in this pilot worker's Deno function worker (pilot.sh).",
    `ferry_fn_call ${q(wall !== undefined ? String(Math.ceil(wall)) : "")} ${q(f.timedOut)} ${
      q(f.call)
    } ${dir} ${q(job.stdout)} ${q(job.stderr)} ${q(job.call?.result ?? "")}`,
  ];
}

/** The copy back from scratch, and the node-side uploads after a task that succeeded. */
function afterTaskLines(job: RootedJob): string[] {
  const lines: string[] = [];
  if (job.scratch !== undefined) {
    lines.push(
      // The input links go first: nothing copied back may write through one into the workspace.
      'find "$ferry_work" -type l -exec rm -f -- {} +',
      'cp -R . "$ferry_work"/ || echo "ferry: cannot copy results back from scratch $ferry_scratch"',
      'cd "$ferry_work" && if [ "$ferry_code" = 0 ]; then rm -rf "$ferry_scratch"; fi',
    );
  }
  const puts = job.nodeTransfers?.put ?? [];
  if (puts.length > 0) {
    lines.push(
      'if [ "$ferry_code" = 0 ]; then',
      "  # Node-side outputs: a failed upload fails the attempt.",
    );
    for (const t of puts) lines.push("  " + transferLine("put", t, job.retryBaseMs));
    lines.push("fi");
  }
  return lines;
}

/** The scratch setting as a shell word: `$VARS` expand on the node, nothing else does. */
function scratchWord(text: string): string {
  return '"' + text.replace(/[\\"`]/g, (c) => "\\" + c).replace(/\$(?![A-Za-z_{])/g, "\\$") +
    '"';
}

/** What the wrapper's status file says. */
export interface WrapperStatus {
  /** The task's exit code (128 + N when killed by signal N). */
  readonly exitCode: number;
  /** `SIGTERM`, ... when the task was killed by a signal. */
  readonly signal: string | null;
  /** ms since the epoch. */
  readonly startedAt: number;
  /** ms since the epoch. */
  readonly endedAt: number;
  /** The node. */
  readonly host: string;
  /** Whether the walltime was exceeded. */
  readonly timedOut: boolean;
  /**
   * Why a node-side transfer failed (the attempt then has exit code 1), e.g.
   * `Cannot fetch "https://host/x" on the node: curl: (22) The requested URL returned error: 404`.
   */
  readonly reason?: string;
  /** Replicas of inputs that failed on the node, the next fetched instead (ferry_fell_back). */
  readonly fallbacks?: readonly NodeFallback[];
  /** What the task used (ferry_measure_end in wrapper.sh). */
  readonly usage?: Usage;
  /**
   * The attempt was lost with the function worker that ran its call (a pilot's, killed during
   * the call by a signal ferry did not send); `reason` says so.
   */
  readonly lost?: boolean;
}

/** A status file's fallbacks member: the entries that are whole (all five strings). */
function fallbacksOf(v: unknown): NodeFallback[] {
  if (!Array.isArray(v)) return [];
  const keys = ["path", "url", "provider", "error", "fallback"] as const;
  return v.filter((x): x is NodeFallback =>
    typeof x === "object" && x !== null &&
    keys.every((k) => typeof (x as Record<string, unknown>)[k] === "string")
  ).map((x) => ({
    path: x.path,
    url: x.url,
    provider: x.provider,
    error: x.error,
    fallback: x.fallback,
  }));
}

/** A status file's usage member, when it is one (figures ferry cannot read are left out). */
export function usageOf(v: unknown): Usage | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const u = v as Record<string, unknown>;
  const n = (k: string) => {
    const x = u[k];
    return typeof x === "number" && Number.isFinite(x) && x >= 0 ? { [k]: x } : {};
  };
  if (!("wallSeconds" in n("wallSeconds"))) return undefined;
  if (!["time", "bash-times", "clock", "worker", "wait4"].includes(u.measuredBy as string)) {
    return undefined;
  }
  return {
    wallSeconds: u.wallSeconds as number,
    ...n("userSeconds"),
    ...n("systemSeconds"),
    ...n("maxRssBytes"),
    measuredBy: u.measuredBy as Usage["measuredBy"],
  };
}

/** Read a wrapper's status file; undefined while it does not exist (or is not whole). */
export function readWrapperStatus(path: string): WrapperStatus | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text);
    if (typeof v?.exitCode !== "number") return undefined;
    if (v.reason !== undefined && typeof v.reason !== "string") delete v.reason;
    if (v.lost !== true) delete v.lost;
    const usage = usageOf(v.usage);
    if (usage) v.usage = usage;
    else delete v.usage;
    const fallbacks = fallbacksOf(v.fallbacks);
    if (fallbacks.length > 0) v.fallbacks = fallbacks;
    else delete v.fallbacks;
    return v as WrapperStatus;
  } catch {
    return undefined;
  }
}

/** A variable name the wrapper may read with bash's `${!name}` (nothing that could run code). */
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A URL without its password, for messages and job.out. */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === "") return u.href;
    u.password = "";
    return u.href;
  } catch {
    return url.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/@\s:]*):[^/@\s]*@/g, "$1@");
  }
}

/** A quoted argument for a curl sftp quote command (`rename "a b" "c"`). */
function sftpQuoteArg(path: string): string {
  return `"${path.replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

/**
 * The wrapper line that carries out one node-side transfer (a call of the
 * `ferry_transfer` shell function), or a `ferry_fail` line when the transfer
 * cannot work at all (a malformed URL, an unsupported scheme, an invalid
 * variable name). Per protocol:
 *
 * - `http:`, `https:` (fetch only): `curl --location`, resumed with `-C -` and
 *   `If-Range` (the strong ETag, else Last-Modified, of the response that
 *   started the partial file). `user` + `passwordEnv` → Basic through a netrc
 *   file; `tokenEnv` → `Authorization: Bearer` through a `-H @file` header
 *   file. curl drops both on a redirect to another host.
 * - `ftp:`, `ftps:` (explicit TLS: curl gets `ftp://` with `--ssl-reqd`):
 *   fetch resumed with `REST`; upload with `--ftp-create-dirs` to
 *   `.NAME.ferry-part` in the target directory, then `RNFR`/`RNTO` to NAME.
 *   Login `user` (default anonymous) with the password through a netrc file.
 * - `sftp:`: fetch resumed from the partial file; upload to `.NAME.ferry-part`
 *   with `--ftp-create-dirs`, then `rm NAME` (failure ignored: SFTP v3 renames
 *   do not overwrite) and `rename`. Keys and host keys come from the node's
 *   curl configuration (`~/.curlrc` or `$CURL_HOME/.curlrc`: `key`, `pubkey`,
 *   `hostpubsha256`) and `~/.ssh/known_hosts`.
 * - `rsync://` (daemon): `rsync -s`, the password in `RSYNC_PASSWORD` of
 *   rsync's environment only. `rsync+ssh://`: `rsync -s -e "$FERRY_SSH -p PORT
 *   -o BatchMode=yes"` (`FERRY_SSH` on the node, default `ssh`, may add options
 *   such as `-i key` or `-F config`). Fetches use `--partial` into the partial
 *   file; uploads rsync's own temporary name with `--partial-dir=.ferry-partial
 *   --mkpath` (rsync ≥ 3.2.3 on both sides).
 *
 * Every fetch goes to `PATH.ferry-part` and is renamed to PATH only once
 * complete and, with a `sha256:` checksum, verified with `sha256sum`.
 *
 * A failed attempt is retried after a wait of `retryBaseMs` (ms; the run's
 * `--retry-base`, {@linkcode RETRY_BASE_MS} unless told), doubled for each
 * attempt before, at most 30 s, up to a fifth shorter at random.
 */
export function transferLine(
  direction: "fetch" | "put",
  t: NodeTransfer,
  retryBaseMs: number = RETRY_BASE_MS,
): string {
  const q = bashQuote;
  // The node's own storage under the URL's name: moved there, never uploaded onto itself.
  if (direction === "put" && t.local !== undefined) return `ferry_place ${q(t.path)} ${q(t.local)}`;
  // A logical file's replicas, in the plan's order: each after the one before failed.
  const sources = direction === "fetch" ? [t, ...(t.fallbacks ?? [])] : [t];
  return sources.map((s, i) => {
    const next = sources[i + 1];
    return oneTransfer(direction, { ...s, path: t.path }, {
      retryBaseMs,
      ...(next !== undefined ? { next: shownUrl(next.url) } : {}),
    });
  }).join(" ||\n  ");
}

/** One source's `ferry_transfer` call; with `next`, its failure falls back to that replica. */
function oneTransfer(
  direction: "fetch" | "put",
  t: NodeTransfer,
  o: { retryBaseMs: number; next?: string },
): string {
  const q = bashQuote;
  const shown = shownUrl(t.url);
  const what = direction === "fetch"
    ? `Cannot fetch "${shown}" on the node`
    : `Cannot upload "${t.path}" to "${shown}" on the node`;
  try {
    const { tool, fields, extra } = transferArgs(direction, t, shown);
    // Whole ms; past the longest wait a larger base changes nothing (and stays in bash's range).
    fields.push([
      "base",
      String(Math.min(MAX_BACKOFF_MS, Math.max(0, Math.round(o.retryBaseMs)))),
    ]);
    if (o.next !== undefined) fields.push(["next", o.next], ["action", t.action]);
    return [
      `ferry_transfer ${direction} ${tool}`,
      ...fields.map(([k, v]) => q(`${k}=${v}`)),
      "--",
      ...extra.map(q),
    ].join(" ");
  } catch (e) {
    if (!(e instanceof Unworkable)) throw e;
    const why = `${what}: ${e.message}`;
    // A replica the node cannot fetch at all: the next one is fetched instead.
    if (o.next !== undefined) {
      return `ferry_fell_back ${[t.path, shown, t.action, why, o.next].map(q).join(" ")}`;
    }
    return `ferry_fail ${q(why)}`;
  }
}

/** Why a node-side transfer cannot work at all: {@linkcode transferLine} makes it a ferry_fail line. */
class Unworkable extends Error {}

function refuse(why: string): never {
  throw new Unworkable(why);
}

/** What `ferry_transfer` is called with: the tool, its KEY=VALUE fields, and the tool's own arguments. */
interface TransferArgs {
  readonly tool: "curl" | "rsync";
  readonly fields: [string, string][];
  readonly extra: string[];
}

/** A transfer's URL, taken apart. */
interface Remote {
  readonly u: URL;
  readonly scheme: string;
  /** The login: the URL's user, else the rule's, else "". */
  readonly user: string;
  /** Whether a password is read on the node (`passwordEnv`). */
  readonly secret: boolean;
  /** The decoded path on the server. */
  readonly remotePath: string;
  /** Its last part: the file's name. */
  readonly name: string;
}

function decodeOr(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The arguments of one transfer's `ferry_transfer` call; throws Unworkable when it cannot work. */
function transferArgs(direction: "fetch" | "put", t: NodeTransfer, shown: string): TransferArgs {
  let u: URL;
  try {
    u = new URL(t.url);
  } catch {
    return refuse("it is not a URL");
  }
  for (const [key, name] of [["password_env", t.passwordEnv], ["token_env", t.tokenEnv]]) {
    if (name !== undefined && !VARIABLE.test(name)) {
      refuse(`${key} ${JSON.stringify(name)} is not a variable name`);
    }
  }
  if (t.path === "" || t.path.endsWith("/")) refuse(`the path "${t.path}" names no file`);
  const sum = direction === "fetch" ? sha256Hex(t.checksum) : "";
  const user = u.username !== "" ? decodeOr(u.username) : t.user ?? "";
  if (u.password !== "" && t.passwordEnv === undefined) {
    // ferry sends no secret to nodes (and check refuses passwords in URLs anyway).
    refuse("the URL holds a password, which is not sent to nodes: use password_env");
  }
  const remotePath = decodeOr(u.pathname);
  const name = remotePath.slice(remotePath.lastIndexOf("/") + 1);
  if (/[\r\n]/.test(remotePath)) refuse("the URL's path holds a line break");
  if (direction === "put" && name === "") refuse("the URL names a directory, not a file");
  const r: Remote = {
    u,
    scheme: u.protocol.slice(0, -1),
    user,
    secret: t.passwordEnv !== undefined,
    remotePath,
    name,
  };
  const path = t.path.startsWith("-") ? `./${t.path}` : t.path;
  const how = schemeArgs(direction, r);
  const fields: [string, string][] = [
    ["url", how.url],
    ["shown", shown],
    ["path", path],
    ...how.fields,
    ...credentialFields(how.tool, r, t),
  ];
  if (sum !== "") fields.push(["sum", sum]);
  fields.push(["tries", String(Math.max(0, Math.floor(t.retries ?? 3)) + 1)]);
  return { tool: how.tool, fields, extra: how.extra };
}

/** A fetch's `sha256:` checksum as lower-case hex ("" without one). */
function sha256Hex(checksum: string | undefined): string {
  if (!checksum?.startsWith("sha256:")) return "";
  const hex = checksum.slice("sha256:".length);
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    refuse(`the checksum "${checksum}" is not sha256: and 64 hex digits`);
  }
  return hex.toLowerCase();
}

/** The tool, the URL it gets, and the fields and arguments the URL's scheme needs. */
function schemeArgs(
  direction: "fetch" | "put",
  r: Remote,
): TransferArgs & { readonly url: string } {
  const { scheme } = r;
  if (scheme === "http" || scheme === "https") {
    if (direction === "put") refuse(`uploads over ${scheme} are not supported`);
    const plain = new URL(r.u.href);
    plain.username = "";
    plain.password = "";
    return {
      tool: "curl",
      url: plain.href,
      fields: [],
      extra: ["--location", "--proto-redir", "=http,https"],
    };
  }
  if (scheme === "ftp" || scheme === "ftps" || scheme === "sftp") return curlFileArgs(direction, r);
  if (scheme === "rsync" || scheme === "rsync+ssh") return rsyncArgs(r);
  return refuse(`the node cannot transfer ${scheme}: URLs`);
}

/** `user@` for a URL, "" without a user. */
function withUser(r: Remote): string {
  return r.user !== "" ? `${encodeURIComponent(r.user)}@` : "";
}

/** ftp, ftps and sftp with curl; an upload goes to `.NAME.ferry-part`, then is renamed. */
function curlFileArgs(
  direction: "fetch" | "put",
  r: Remote,
): TransferArgs & { readonly url: string } {
  const { scheme, u, name } = r;
  const base = `${scheme === "sftp" ? "sftp" : "ftp"}://${r.secret ? "" : withUser(r)}${u.host}`;
  const extra: string[] = [];
  if (scheme === "ftps") extra.push("--ssl-reqd");
  // With a password and no user, ftp logs in as anonymous.
  const fields: [string, string][] = r.secret && r.user === "" && scheme !== "sftp"
    ? [["user", "anonymous"]]
    : [];
  if (direction === "fetch") return { tool: "curl", url: base + u.pathname, fields, extra };
  const dir = u.pathname.slice(0, u.pathname.lastIndexOf("/") + 1);
  const tmpName = `.${name}.ferry-part`;
  extra.push("--ftp-create-dirs");
  if (scheme === "sftp") {
    const remoteDir = r.remotePath.slice(0, r.remotePath.lastIndexOf("/") + 1);
    const [from, to] = [sftpQuoteArg(remoteDir + tmpName), sftpQuoteArg(r.remotePath)];
    extra.push("-Q", `-*rm ${to}`, "-Q", `-rename ${from} ${to}`);
  } else {
    // After the upload curl is in the target directory (multicwd): rename there.
    extra.push("--ftp-method", "multicwd", "-Q", `-RNFR ${tmpName}`, "-Q", `-RNTO ${name}`);
  }
  return { tool: "curl", url: base + dir + encodeURIComponent(tmpName), fields, extra };
}

/** rsync:// (a daemon) and rsync+ssh:// (the node's ssh keys, never a password). */
function rsyncArgs(r: Remote): TransferArgs & { readonly url: string } {
  if (r.scheme === "rsync") {
    return {
      tool: "rsync",
      url: `rsync://${withUser(r)}${r.u.host}${r.remotePath}`,
      fields: [],
      extra: [],
    };
  }
  if (r.secret) refuse("rsync+ssh logs in with the node's ssh keys, not a password");
  return {
    tool: "rsync",
    url: `${withUser(r)}${r.u.hostname}:${r.remotePath}`,
    fields: [["ssh", r.u.port || "22"]],
    extra: [],
  };
}

/** The fields naming what the node reads secrets from: host and user for a netrc, the variables. */
function credentialFields(
  tool: "curl" | "rsync",
  r: Remote,
  t: NodeTransfer,
): [string, string][] {
  const fields: [string, string][] = [];
  if (tool === "curl" && r.secret) {
    if (r.user === "" && !(r.scheme === "ftp" || r.scheme === "ftps")) {
      refuse("a password needs a user name (the rule's user, or user@ in the URL)");
    }
    fields.push(["host", r.u.hostname.replace(/^\[(.*)\]$/, "$1")]);
    if (r.user !== "") fields.push(["user", r.user]);
  }
  if (t.passwordEnv !== undefined) fields.push(["pwvar", t.passwordEnv]);
  if (t.tokenEnv !== undefined) {
    if (r.scheme !== "http" && r.scheme !== "https") {
      refuse("token_env (a bearer token) works only over http and https");
    }
    fields.push(["tokvar", t.tokenEnv]);
  }
  return fields;
}

/** What a wrapper's status file says happened, as a provider reports it (`cancelled`: ferry asked). */
export function resultOfStatus(st: WrapperStatus, cancelled: boolean): JobResult {
  return {
    startedAt: st.startedAt,
    endedAt: st.endedAt,
    host: st.host,
    exitCode: st.exitCode,
    ...(st.signal ? { signal: st.signal } : {}),
    // The wrapper's own failure (a node-side transfer), worded by it.
    ...(st.reason ? { message: st.reason } : {}),
    ...(st.usage ? { usage: st.usage } : {}),
    ...(st.lost && !cancelled ? { lost: true, retryable: true } : {}),
    ...(st.fallbacks ? { fallbacks: st.fallbacks } : {}),
    outcome: st.timedOut
      ? "timeout"
      : st.exitCode === 0
      ? "succeeded"
      : cancelled
      ? "cancelled"
      : "failed",
  };
}
