/**
 * The PBS Pro / OpenPBS dialect: `#PBS` lines from resources and options,
 * `qsub`, one `qstat -f -F json -x -t` per interval for every job (history
 * included, array subjobs expanded), `qdel`.
 *
 * Resources become one `select` statement: a single task asks for
 * `select=1:ncpus=C:mem=M` (plus `ngpus=G`); an MPI task with R ranks asks for
 * R chunks `select=R:ncpus=C:mpiprocs=1:mem=M`, so R × C cores in all, and the
 * script exports `FERRY_LAUNCH=mpiexec`. The scheduler's walltime is ferry's
 * walltime plus one minute (ferry's wrapper enforces the real limit).
 *
 * Arrays are `#PBS -J 0-N` (with `%T` for a throttle). PBS Pro refuses a `-J`
 * range of one element, so a one-element array is submitted as a plain job:
 * its id has no `[]` and {@linkcode pbs.elementId} of such an id is the id
 * itself.
 *
 * PBS Pro has no pattern for the job id in `-o`, only `^array_index^`. An
 * output path holding `{index}` alone becomes a `#PBS -o` directive with
 * `^array_index^`; a path holding `{array}` is opened by the script itself
 * (`exec >path 2>&1`, `{array}` being `$PBS_ARRAY_ID` or `$PBS_JOBID`, the id
 * `qsub` printed) and PBS's own copy goes to `/dev/null`. PBS Pro also has no
 * working-directory directive, so the script changes to `chdir` itself.
 *
 * Options (site file, executor `options`): `queue` (`-q`), `account` (`-A`),
 * `project` (`-P`), `select_extra` (appended to every chunk, e.g.
 * `model=rome`), `place` (`-l place=`, e.g. `scatter:excl`), `extra` (lines
 * added as `#PBS` directives).
 *
 * Limits: finished jobs are read only while the server keeps job history
 * (`job_history_enable`); some OpenPBS builds answer `qstat -F json` with the
 * first of several ids only (openpbs/openpbs#2672), and jobs missing from the
 * answer are then judged by ferry's own status files.
 * @module
 */

import {
  bashQuote,
  type Dialect,
  directivePath,
  hms,
  mebibytes,
  type QueueEntry,
  type SchedState,
} from "./dialect.ts";
import { checkOptionKinds, type OptionKind } from "./dialect.ts";

/** Options the PBS provider accepts in an executor's `options`. */
const OPTIONS: Record<string, OptionKind> = {
  queue: "string",
  account: "string",
  project: "string",
  select_extra: "string",
  place: "string",
  extra: "lines",
};

/** `job_state` letters of jobs that have not finished. */
const STATES: Record<string, SchedState> = {
  Q: "pending",
  H: "pending",
  W: "pending",
  T: "pending",
  M: "pending",
  R: "running",
  E: "running",
  B: "running",
  S: "running",
  U: "running",
};

/** Negative `Exit_status` values (PBS's JOB_EXEC_* codes) that ferry tells apart. */
const EXEC_CODES: Record<number, SchedState> = {
  [-1]: "node-fail", // JOB_EXEC_FAIL1: could not start, before files
  [-2]: "node-fail", // JOB_EXEC_FAIL2: could not start, after files
  [-3]: "node-fail", // JOB_EXEC_RETRY: start failed, too many attempts
  [-4]: "node-fail", // JOB_EXEC_INITABT: aborted on MoM initialization
  [-5]: "node-fail", // JOB_EXEC_INITRST
  [-6]: "node-fail", // JOB_EXEC_INITRMG
  [-7]: "node-fail", // JOB_EXEC_BADRESRT
  [-20]: "node-fail", // JOB_EXEC_RERUN_MS_FAIL: mother superior unreachable
  [-26]: "out-of-memory", // JOB_EXEC_KILL_VMEM
  [-27]: "out-of-memory", // JOB_EXEC_KILL_MEM
  [-28]: "timeout", // JOB_EXEC_KILL_CPUT
  [-29]: "timeout", // JOB_EXEC_KILL_WALLTIME
};

function lines(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** Text for inside double quotes in a shell script. */
function dq(s: string): string {
  return s.replace(/[\\"$`]/g, (c) => `\\${c}`);
}

/** PBS wants job names to start with a letter. */
function jobName(name: string): string {
  return /^[A-Za-z]/.test(name) ? name : `f${name}`;
}

/**
 * A finished job's state from its `Exit_status`: 0 completed, PBS's negative
 * codes for limits and launch failures, 256 + signal for jobs killed by a
 * signal (`qdel` sends SIGTERM, then SIGKILL), anything else failed.
 */
function finished(exit: number | undefined): { state: SchedState; exitCode?: number } {
  if (exit === undefined) return { state: "cancelled" }; // deleted before it ran
  if (exit === 0) return { state: "completed", exitCode: 0 };
  if (exit < 0) return { state: EXEC_CODES[exit] ?? "failed" };
  if (exit >= 256) return { state: exit === 256 + 15 || exit === 256 + 9 ? "cancelled" : "failed" };
  return { state: "failed", exitCode: exit };
}

/** `Exit_status` is a number, or a string in some PBS versions. */
function exitStatus(v: unknown): number | undefined {
  const n = typeof v === "number"
    ? v
    : typeof v === "string" && /^-?\d+$/.test(v.trim())
    ? Number(v)
    : NaN;
  return Number.isInteger(n) ? n : undefined;
}

function entry(
  id: string,
  raw: string,
  exit: number | undefined,
  comment: unknown,
): QueueEntry | undefined {
  const word = raw.trim().toUpperCase();
  let state: SchedState | undefined = STATES[word];
  let exitCode: number | undefined;
  if (word === "F" || word === "X") ({ state, exitCode } = finished(exit));
  if (!state) return undefined;
  const reason = typeof comment === "string" && state !== "running" && state !== "completed"
    ? comment.trim()
    : "";
  return {
    id,
    state,
    raw: word,
    ...(reason ? { reason } : {}),
    ...(exitCode !== undefined ? { exitCode } : {}),
  };
}

/**
 * When `qstat` prints JSON that does not parse (OpenPBS escapes some variable
 * values badly, openpbs/openpbs#2541), read each job's id, state, exit status
 * and comment line by line.
 */
function lenient(text: string): QueueEntry[] {
  const out: QueueEntry[] = [];
  // Job ids start with a digit; nested objects (`Resource_List`, ...) do not.
  const parts = text.split(/^\s*"(\d+(?:\[\d*\])?(?:\.[^"\s]*)?)"\s*:\s*\{\s*$/m);
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const body = parts[i + 1]!;
    const state = /"job_state"\s*:\s*"(\w)"/.exec(body)?.[1];
    if (!state) continue;
    const exit = /"Exit_status"\s*:\s*"?(-?\d+)"?/.exec(body)?.[1];
    const comment = /"comment"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(body)?.[1];
    const e = entry(parts[i]!, state, exit === undefined ? undefined : Number(exit), comment);
    if (e) out.push(e);
  }
  return out;
}

/** The PBS Pro / OpenPBS dialect. */
export const pbs: Dialect = {
  name: "pbs",
  label: "PBS",
  gone: /unknown job id|job has finished/i,
  script(req) {
    const r = req.resources, o = req.options;
    const ranks = r.ranks ?? 1;
    const array = req.array && req.array.count > 1 ? req.array : undefined;
    const out: string[] = ["#!/bin/bash", `#PBS -N ${jobName(req.name)}`, "#PBS -j oe"];
    const ownOutput = req.output.includes("{array}");
    if (ownOutput) out.push("#PBS -o /dev/null");
    else {
      const output = req.output.replaceAll("{index}", array ? "^array_index^" : "0");
      out.push(`#PBS -o ${directivePath(output, "PBS")}`);
    }
    if (array) {
      const t = array.throttle !== undefined ? `%${array.throttle}` : "";
      out.push(`#PBS -J 0-${array.count - 1}${t}`);
    }
    const chunk = [`ncpus=${r.cores ?? 1}`];
    if (ranks > 1 || req.nodes !== undefined) chunk.push("mpiprocs=1");
    if (r.memory !== undefined) chunk.push(`mem=${mebibytes(r.memory)}mb`);
    if (r.gpus !== undefined && r.gpus > 0) chunk.push(`ngpus=${r.gpus}`);
    if (o.select_extra !== undefined) chunk.push(String(o.select_extra));
    out.push(`#PBS -l select=${req.nodes ?? ranks}:${chunk.join(":")}`);
    // A job over several nodes: a chunk on each (unless the site's `place` says otherwise).
    const place = o.place ?? (req.nodes !== undefined ? "scatter" : undefined);
    if (place !== undefined) out.push(`#PBS -l place=${place}`);
    // ferry's wrapper enforces the walltime; PBS's limit is the backstop, one minute later.
    if (r.walltime !== undefined) out.push(`#PBS -l walltime=${hms(r.walltime + 60)}`);
    if (o.queue !== undefined) out.push(`#PBS -q ${o.queue}`);
    if (o.account !== undefined) out.push(`#PBS -A ${o.account}`);
    if (o.project !== undefined) out.push(`#PBS -P ${o.project}`);
    for (const l of lines(o.extra)) out.push(l.startsWith("#PBS") ? l : `#PBS ${l}`);
    // Directives end at the first command line.
    out.push(`cd ${bashQuote(req.chdir)} || exit 1`);
    if (ownOutput) {
      const path = dq(req.output)
        .replaceAll("{array}", "${PBS_ARRAY_ID:-$PBS_JOBID}")
        .replaceAll("{index}", "${PBS_ARRAY_INDEX:-0}");
      out.push(`exec >"${path}" 2>&1`);
    }
    out.push(
      array ? 'FERRY_ARRAY_INDEX="$PBS_ARRAY_INDEX"' : "FERRY_ARRAY_INDEX=0",
      "export FERRY_ARRAY_INDEX",
      ranks > 1 ? "export FERRY_LAUNCH=mpiexec" : "export FERRY_LAUNCH=",
      req.body,
    );
    return out.join("\n") + "\n";
  },
  perNode(nodes, _cores, script) {
    // pbsdsh -n I: a task on the job's I-th node (from 0; a chunk per node, one line each in
    // $PBS_NODEFILE). pbsdsh does not tell the node's name: the node asks hostname.
    return [
      `for ((ferry_i = 0; ferry_i < ${nodes}; ferry_i++)); do`,
      `  pbsdsh -n "$ferry_i" -- /bin/bash ${bashQuote(script)} node "$((ferry_i + 1))" '' &`,
      "done",
      "wait",
    ].join("\n");
  },
  submit(scriptPath) {
    return { argv: ["qsub", scriptPath] };
  },
  parseSubmit(stdout) {
    // `1234.server`, `1234[].server` for arrays; warnings may come first.
    const ids = stdout.match(/^\s*\d+(?:\[\])?(?:\.[\w.-]+)?\s*$/gm);
    return ids?.at(-1)?.trim();
  },
  status(ids) {
    return { argv: ["qstat", "-f", "-F", "json", "-x", "-t", ...ids] };
  },
  parseStatus(stdout) {
    const start = stdout.indexOf("{"), end = stdout.lastIndexOf("}");
    if (start < 0 || end < start) return [];
    const text = stdout.slice(start, end + 1);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return lenient(text);
    }
    const jobs = (doc as { Jobs?: unknown }).Jobs;
    if (!jobs || typeof jobs !== "object") return [];
    const entries: QueueEntry[] = [];
    for (const [id, job] of Object.entries(jobs as Record<string, Record<string, unknown>>)) {
      if (!job || typeof job.job_state !== "string") continue;
      const e = entry(id, job.job_state, exitStatus(job.Exit_status), job.comment);
      if (e) entries.push(e);
    }
    return entries;
  },
  cancel(ids) {
    return { argv: ["qdel", ...ids] };
  },
  elementId(arrayId, index) {
    if (arrayId.includes("[]")) return arrayId.replace("[]", `[${index}]`);
    // A one-element array was submitted as a plain job.
    return arrayId;
  },
  checkOptions(options) {
    return checkOptionKinds(pbs.label, OPTIONS, options);
  },
};
