/**
 * What differs between batch schedulers (Slurm, PBS Pro, LSF, HTCondor): how a
 * job script asks for resources, how it is submitted, how the queue is read
 * and how jobs are cancelled. Everything else (the job wrapper, status files,
 * polling all jobs with one call per interval, bundling fan-outs into arrays,
 * cancelling on Ctrl-C) lives once in `scheduler.ts`; what the scheduler
 * itself prints (its name, state words, error texts) is read here.
 *
 * A dialect is plain functions from data to argv / text and from scheduler
 * output to data, so each is tested on recorded real outputs without running
 * the scheduler.
 * @module
 */

import type { Resources } from "../../dsl/model.ts";
import { hasControl, visible } from "../../dsl/visible.ts";
export { bashQuote, shellQuote } from "../_shared/shell.ts";

/** What a job script is for: one task, or an array of `count` tasks. */
export interface ScriptRequest {
  /** A job name (letters, digits, `-`, `_`, `.`; at most 64 characters). */
  readonly name: string;
  /** Resources of every task in the job. */
  readonly resources: Resources;
  /** Provider options from the site file (`partition`, `account`, `qos`, `constraint`, `extra`, ...). */
  readonly options: Readonly<Record<string, unknown>>;
  /** Working directory of the job (absolute). */
  readonly chdir: string;
  /**
   * Where the scheduler writes the job's own output (stdout and stderr merged).
   * For arrays it holds `{array}` and `{index}` placeholders the dialect turns
   * into its own patterns (Slurm `%A`/`%a`, PBS `^array_index^`, LSF `%J`/`%I`,
   * HTCondor `$(Cluster)`/`$(Process)`).
   */
  readonly output: string;
  /** For an array job: the number of tasks (indices 0..count-1) and the throttle. */
  readonly array?: { readonly count: number; readonly throttle?: number };
  /**
   * For a job over several nodes (a pilot block with `nodes_per_block` > 1): the number of
   * nodes, each given `resources.cores` cores; the script starts on the first and reaches the
   * others through {@linkcode Dialect.perNode}.
   */
  readonly nodes?: number;
  /**
   * The shell body that runs on the node. It reads the array index from
   * `$FERRY_ARRAY_INDEX`, which the dialect's script header sets from the
   * scheduler's own variable.
   */
  readonly body: string;
}

/** A command to run on the submit host (or through `via: ssh://`). */
export interface Invocation {
  /** argv; argv[0] is looked up on PATH. */
  readonly argv: readonly string[];
  /** Text for the command's standard input, if any. */
  readonly stdin?: string;
}

/** A job's state as the scheduler reports it, reduced to what ferry acts on. */
export type SchedState =
  | "pending"
  | "running"
  | "completed"
  | "failed"
  | "timeout"
  | "cancelled"
  | "out-of-memory"
  | "node-fail";

/** One line of the queue: a job (or one element of an array job). */
export interface QueueEntry {
  /** The id as `submit` returned it, or `ARRAYID_INDEX` for array elements (`123_4`). */
  readonly id: string;
  /** The state. */
  readonly state: SchedState;
  /** The scheduler's own state word (`TIMEOUT`, `R`, `DONE`, ...), for messages. */
  readonly raw: string;
  /** The scheduler's reason or hold text, when it gives one. */
  readonly reason?: string;
  /** Exit code when the scheduler knows it. */
  readonly exitCode?: number;
}

/** A scheduler's dialect. */
export interface Dialect {
  /** `slurm`, `pbs`, `lsf` or `htcondor`. */
  readonly name: string;
  /** The scheduler's name in messages (`Slurm`, `PBS`, `LSF`, `HTCondor`). */
  readonly label: string;
  /**
   * What the status and cancel commands say of a job they no longer know (it left the queue):
   * a failing status call saying this still answered, and a failing cancel needs no retry.
   */
  readonly gone: RegExp;
  /** The job script: interpreter line, directives from resources and options, the body. */
  script(req: ScriptRequest): string;
  /**
   * Bash lines, run in a job of `nodes` nodes (see {@linkcode ScriptRequest.nodes}), that start
   * `bash SCRIPT node I NAME` once on each node with the scheduler's own launcher and wait for
   * them all: `I` is the node's number from 1, `NAME` its name as the scheduler calls it (empty
   * when the launcher cannot tell; the node then asks `hostname`). `script` is the job script's
   * path on the filesystem the nodes share; `cores` the cores of each node's part. Undefined for
   * a scheduler that runs no job over several nodes.
   */
  perNode?(nodes: number, cores: number, script: string): string;
  /**
   * How to submit a script written to `scriptPath` (arrays are declared in the
   * script's directives or here, whichever the scheduler needs).
   */
  submit(scriptPath: string, req: ScriptRequest): Invocation;
  /** The job id from the submit command's standard output; undefined if it cannot be read. */
  parseSubmit(stdout: string): string | undefined;
  /** One call that reports every job in `ids` (array ids report all their elements). */
  status(ids: readonly string[]): Invocation;
  /** Queue entries from the status command's standard output. */
  parseStatus(stdout: string): QueueEntry[];
  /**
   * For jobs that left the queue: one call to the scheduler's accounting (Slurm `sacct`), when
   * it has one. A failing call whose stderr matches `historyUnavailable` turns it off for the run.
   */
  history?(ids: readonly string[]): Invocation;
  /** Entries from the history command's standard output. */
  parseHistory?(stdout: string): QueueEntry[];
  /** What the history command says when the site keeps no accounting. */
  readonly historyUnavailable?: RegExp;
  /** Cancel these jobs (one call). */
  cancel(ids: readonly string[]): Invocation;
  /** Element ids of an array job, as `parseStatus` reports them. */
  elementId(arrayId: string, index: number): string;
  /**
   * Problems with provider options (unknown keys, wrong types), each a sentence;
   * `ferry check` reports them at the executor's `options`.
   */
  checkOptions(options: Readonly<Record<string, unknown>>): string[];
}

/** Walltime seconds as `HH:MM:SS` (hours may exceed 24). */
export function hms(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${
    String(r).padStart(2, "0")
  }`;
}

/** Memory bytes as whole mebibytes, rounded up (what every scheduler accepts). */
export function mebibytes(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / (1024 * 1024)));
}

/** A path no scheduler directive can hold (it has a line break or another control character). */
export class DirectiveError extends Error {
  /** An error saying `message`. */
  constructor(message: string) {
    super(message);
    this.name = "DirectiveError";
  }
}

/**
 * A path as one argument of a scheduler directive (`#SBATCH --chdir=`, `#PBS -o`, `#BSUB -cwd`):
 * bare when it is plain, else in double quotes with `\` and `"` escaped (how sbatch, qsub and bsub
 * read a directive's arguments). A directive is one line and no quoting holds a control character:
 * such a path (a workspace whose name holds a line break) is refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directivePath } from "./dialect.ts";
 * assert.equal(directivePath("/w/.ferry/x", "Slurm"), "/w/.ferry/x");
 * assert.equal(directivePath('/my "w" ☃/x', "Slurm"), '"/my \\"w\\" ☃/x"');
 * assert.throws(() => directivePath("/a\nb", "Slurm"), {
 *   message: 'Cannot write a Slurm directive for the path "/a\\nb": it holds a control character',
 * });
 * ```
 */
export function directivePath(path: string, label: string): string {
  if (hasControl(path)) {
    throw new DirectiveError(
      `Cannot write a ${label} directive for the path "${
        visible(path)
      }": it holds a control character`,
    );
  }
  return /^[A-Za-z0-9_@%^+=:,./-]+$/.test(path)
    ? path
    : `"${path.replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

/** What kind of value a provider option takes. */
export type OptionKind = "string" | "expression" | "lines";

/**
 * Check provider options against their kinds: one sentence per unknown key or
 * wrong value. `string`: one word; `expression`: text on one line; `lines`: a
 * line or a list of lines.
 */
export function checkOptionKinds(
  scheduler: string,
  kinds: Readonly<Record<string, OptionKind>>,
  options: Readonly<Record<string, unknown>>,
): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(options)) {
    const kind = Object.hasOwn(kinds, k) ? kinds[k] : undefined;
    const shown = JSON.stringify(v);
    if (!kind) {
      problems.push(
        `Cannot use the ${scheduler} option "${k}": expected one of ${
          Object.keys(kinds).join(", ")
        }`,
      );
    } else if (kind === "string" && (typeof v !== "string" || v === "" || /\s/.test(v))) {
      problems.push(`Cannot use ${shown} for ${scheduler} option "${k}": expected one word`);
    } else if (kind === "expression" && (typeof v !== "string" || !v.trim() || /[\r\n]/.test(v))) {
      problems.push(
        `Cannot use ${shown} for ${scheduler} option "${k}": expected a ClassAd expression on one line`,
      );
    } else if (
      kind === "lines" &&
      !(typeof v === "string" || (Array.isArray(v) && v.every((x) => typeof x === "string")))
    ) {
      problems.push(
        `Cannot use ${shown} for ${scheduler} option "${k}": expected a line or a list of lines`,
      );
    } else if (kind === "lines" && [v].flat().some((l) => /[\r\n]/.test(l as string))) {
      // One directive per line: a line break would make the rest of a "line" a command.
      problems.push(
        `Cannot use ${shown} for ${scheduler} option "${k}": a line holds a line break (give a list of lines)`,
      );
    }
  }
  return problems;
}
