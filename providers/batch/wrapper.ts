/**
 * The job wrapper: the bash script that runs one attempt of one task on a
 * batch node (Slurm, PBS, LSF, HTCondor, ssh). It needs only bash and
 * coreutils on the node; Deno only for `function:` apps (the function runs in
 * a Deno process there too).
 *
 * In order it: sends its own output to `job.out` in the attempt directory,
 * makes the task's directories, exports the task's environment, runs
 * `worker_init`, copies the task directory to node-local scratch when a
 * `scratch` rule applies (and back afterwards), runs the task in its own
 * process group with its output redirected exactly as the local runtime does
 * (commands without a shell, scripts with `set -euo pipefail`; `srun` or
 * `mpiexec` in front when `FERRY_LAUNCH` says so), enforces the walltime to
 * the second, forwards SIGTERM (scancel, a scheduler's time limit) to the
 * task's group, and last writes `exit.json` atomically (temp file, then
 * rename): exit code, signal, start and end times, host, whether the walltime
 * was exceeded. ferry reads that file; the scheduler's own state is the
 * fallback when the node died before writing it.
 * @module
 */

import { join } from "node:path";
import { shellQuote } from "../../interpreter/command.ts";
import type { JobSpec } from "./types.ts";

const FUNCTION_RUNNER = new URL("../../interpreter/function_runner.ts", import.meta.url).pathname;

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

/**
 * The wrapper script of one attempt, plus the side files it needs (a shell
 * task's script, a function's call), as path → text.
 */
export function wrapperScript(
  job: JobSpec & { readonly root: string },
  options: WrapperOptions = {},
): Map<string, string> {
  const f = wrapperFiles(job.root);
  const q = shellQuote;
  const files = new Map<string, string>();
  const lines: string[] = [
    "#!/bin/bash",
    `# ferry job wrapper: task ${job.taskId}, attempt ${job.attempt}. Written by ferry; runs on the node.`,
    `ferry_status=${q(f.status)}`,
    "ferry_start=$(date +%s%3N)",
    "ferry_host=$(hostname 2>/dev/null || uname -n)",
    "ferry_child=",
    "ferry_timed_out=false",
    "ferry_done() {",
    "  local end tmp",
    "  end=$(date +%s%3N)",
    '  tmp="$ferry_status.$$.tmp"',
    `  printf '{"exitCode":%d,"signal":%s,"startedAt":%s,"endedAt":%s,"host":"%s","timedOut":%s}\\n' \\`,
    '    "$1" "$2" "$ferry_start" "$end" "$ferry_host" "$ferry_timed_out" >"$tmp" &&',
    '    mv -f "$tmp" "$ferry_status"',
    "}",
    "ferry_term() {",
    '  if [ -n "$ferry_child" ]; then',
    '    kill -TERM -- "-$ferry_child" 2>/dev/null || kill -TERM "$ferry_child" 2>/dev/null',
    '    wait "$ferry_child" 2>/dev/null',
    "  fi",
    `  ferry_done 143 '"SIGTERM"'`,
    "  exit 143",
    "}",
    "trap ferry_term TERM INT HUP",
    `exec >>${q(f.log)} 2>&1`,
    `rm -f ${q(f.timedOut)}`,
  ];
  const dirs = [job.dir, ...job.mkdirs.filter((d) => d !== job.dir)];
  lines.push(
    `mkdir -p -- ${dirs.map(q).join(" ")} || { ferry_done 1 null; exit 1; }`,
    `cd ${q(job.dir)} || { ferry_done 1 null; exit 1; }`,
  );
  for (const [k, v] of Object.entries(job.env)) lines.push(`export ${k}=${q(v)}`);
  if (job.workerInit) {
    lines.push("# worker_init", job.workerInit, "cd " + q(job.dir));
  }
  if (job.scratch !== undefined) {
    // Node-local scratch: the site's text (e.g. ${SLURM_TMPDIR}) is expanded here, on the node.
    lines.push(
      `ferry_scratch_root=${scratchWord(job.scratch)}`,
      'if [ -z "$ferry_scratch_root" ]; then ferry_scratch_root=${TMPDIR:-/tmp}; fi',
      `ferry_scratch="$ferry_scratch_root/ferry-$$-${job.attempt}-$(basename ${q(job.root)})"`,
      'ferry_work="$PWD"',
      'mkdir -p "$ferry_scratch" && cp -RL . "$ferry_scratch"/ && cd "$ferry_scratch" ||',
      '  { echo "ferry: cannot copy the task directory to scratch $ferry_scratch"; ferry_done 1 null; exit 1; }',
    );
  }
  const redirect = job.stderr === job.stdout
    ? `exec >${q(job.stdout)} 2>&1`
    : `exec >${q(job.stdout)} 2>${q(job.stderr)}`;
  const run = job.run;
  let command: string;
  if (run.kind === "command") {
    command = `exec $FERRY_LAUNCH ${run.argv.map(q).join(" ")}`;
  } else if (run.kind === "shell") {
    files.set(f.taskScript, run.script);
    command = `exec $FERRY_LAUNCH bash -euo pipefail ${q(f.taskScript)}`;
  } else {
    files.set(f.call, JSON.stringify(job.call ?? {}));
    // `FERRY_DENO` (e.g. from the executor's env) names the node's Deno; else `deno` on PATH.
    const deno = options.deno !== undefined ? q(options.deno) : '"${FERRY_DENO:-deno}"';
    command = `exec ${deno} run -A --no-prompt ${q(FUNCTION_RUNNER)} ${q(run.module)} ${
      q(run.export)
    } <${q(f.call)}`;
  }
  lines.push(
    ': "${FERRY_LAUNCH:=}"',
    "# The task, in its own process group (job control), so that a kill reaches all it started.",
    "set -m",
    `( ${redirect}; ${command} ) &`,
    "ferry_child=$!",
    "set +m",
  );
  const wall = job.resources.walltime;
  if (wall !== undefined) {
    lines.push(
      `( sleep ${Math.ceil(wall)}; touch ${
        q(f.timedOut)
      }; kill -TERM -- "-$ferry_child" 2>/dev/null;`,
      `  sleep ${KILL_GRACE_SECONDS}; kill -KILL -- "-$ferry_child" 2>/dev/null ) &`,
      "ferry_watch=$!",
    );
  }
  lines.push('wait "$ferry_child"', "ferry_code=$?");
  if (wall !== undefined) {
    lines.push(
      'kill "$ferry_watch" 2>/dev/null',
      `if [ -e ${q(f.timedOut)} ]; then ferry_timed_out=true; fi`,
    );
  }
  if (job.scratch !== undefined) {
    lines.push(
      'cp -R . "$ferry_work"/ || echo "ferry: cannot copy results back from scratch $ferry_scratch"',
      'cd "$ferry_work" && if [ "$ferry_code" = 0 ]; then rm -rf "$ferry_scratch"; fi',
    );
  }
  lines.push(
    "ferry_signal=null",
    'if [ "$ferry_code" -gt 128 ]; then ferry_signal="\\"SIG$(kill -l $((ferry_code - 128)) 2>/dev/null)\\""; fi',
    'ferry_done "$ferry_code" "$ferry_signal"',
    'exit "$ferry_code"',
    "",
  );
  files.set(f.script, lines.join("\n"));
  return files;
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
    return v as WrapperStatus;
  } catch {
    return undefined;
  }
}
