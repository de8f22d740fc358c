/**
 * The batch-provider interface: what the runtime asks of every way to run a
 * task (local processes, Slurm, PBS, LSF, HTCondor, ssh). A provider gets a
 * job described as data and an AbortSignal, and resolves to what happened.
 * @module
 */

import type { ContainerRuntime, Permissions, Resources } from "../../dsl/model.ts";
import type { ScriptInterpreter } from "../../dsl/script_interpreter.ts";

/** What a task runs, with every expression substituted (the interpreter renders it). */
export type RenderedRun =
  | { readonly kind: "command"; readonly argv: readonly string[] }
  | { readonly kind: "shell"; readonly script: string }
  | {
    readonly kind: "function";
    readonly module: string;
    readonly export: string;
    /** What the app's `permissions:` adds to what ferry derives (paths absolute). */
    readonly permissions?: DenoPermissions;
  }
  | {
    readonly kind: "script";
    /** The script file, absolute. */
    readonly path: string;
    /** The program (argv) that runs it, or `deno`: the provider's Deno, with `permissions`. */
    readonly interpreter: ScriptInterpreter;
    /** The params in effect (the script finds them in its FERRY_TASK file). */
    readonly params: Readonly<Record<string, unknown>>;
    /** The input and output slots written as lists: lists in the FERRY_TASK file, even of one. */
    readonly lists: { readonly inputs: readonly string[]; readonly outputs: readonly string[] };
    /** What the app's `permissions:` adds to what ferry derives (paths absolute). */
    readonly permissions?: DenoPermissions;
  };

/**
 * What the Deno process of a task (a function, a Deno script) may do: the lists of Deno's
 * `--allow-read`, `--allow-write`, ... (an empty list grants nothing), or `all` (`-A`). Also what
 * an app's `permissions:` adds, paths made absolute. The model's type: the same fields.
 */
export type DenoPermissions = Permissions;

/** One attempt of one task, ready to run. */
export interface JobSpec {
  /** The task's id (for messages and job names). */
  readonly taskId: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The attempt's working directory: the task runs and writes its outputs here. */
  readonly dir: string;
  /** What to run, expressions already substituted. */
  readonly run: RenderedRun;
  /** Extra environment (on top of the inherited one). */
  readonly env: Readonly<Record<string, string>>;
  /** Directories to make before the job starts (its working directory among them). */
  readonly mkdirs: readonly string[];
  /**
   * Symbolic links to make once the directories are made, as [target, link] pairs (the inputs
   * the task sees at their workspace-relative paths); only for a provider with `makesLinks`.
   */
  readonly links?: readonly (readonly [string, string])[];
  /** File that receives standard output (an output of the task, or its log). */
  readonly stdout: string;
  /** File that receives standard error. */
  readonly stderr: string;
  /** Resource needs; `walltime` (seconds) is enforced by the provider. */
  readonly resources: Resources;
  /** Shell lines run first, on the node (`worker_init`). */
  readonly workerInit?: string;
  /**
   * What a function's or Deno script's process may do. Absent: everything (`-A`), for calls
   * `submit()` hands over (their arguments are values, not declared files).
   */
  readonly permissions?: DenoPermissions;
  /** For function apps: the call (arguments, and where to write the JSON result). */
  readonly call?: {
    readonly args?: unknown;
    readonly argv?: readonly unknown[];
    readonly result: string;
  };
  /** The attempt's directory (logs, status, job scripts); the working directory is inside it. */
  readonly root?: string;
  /** The run's directory (batch providers keep array job scripts under it). */
  readonly runDir?: string;
  /**
   * Node-local scratch root, as the site file writes it (`${SLURM_TMPDIR}`), for providers that
   * copy the task directory there on the node; the local provider gets its scratch directory as
   * `dir` instead.
   */
  readonly scratch?: string;
  /** Tasks with the same bundle key (one app's `for_each` fan-out) may be submitted as one job array. */
  readonly bundle?: string;
  /** Called once the scheduler accepted the job, with its id (for the event log and `ferry status`). */
  readonly onSubmitted?: (jobId: string) => void;
  /**
   * For an executor with `filesystem: none`: the transfers the job wrapper makes on the node itself
   * (remote inputs fetched into the task directory before the task runs; outputs uploaded after it
   * succeeded). Files of the workspace reach the task directory through the provider instead.
   */
  readonly nodeTransfers?: NodeTransfers;
  /**
   * The run's retry base in ms (`ferry run --retry-base`): a failed node-side transfer waits this
   * long before its first retry, twice as long before each later one, at most 30 s. The wrapper
   * gets it written in; nothing on the node changes it. @default `RETRY_BASE_MS` of
   * providers/_shared/retry.ts
   */
  readonly retryBaseMs?: number;
  /**
   * Run the task in this container: its directory is the working directory inside at the same
   * path, `mounts` are read-only, `env` is passed by name.
   */
  readonly container?: JobContainer;
  /**
   * Outputs that stay on the host after the attempt succeeded, moved to the run's store there
   * for later tasks there, never copied back with the attempt's other files (a provider whose
   * host keeps its own copies of attempts: ssh with `filesystem: none`). `fetchKept` brings one
   * here.
   */
  readonly keep?: readonly KeptFile[];
  /** Inputs an earlier task of the run left on the host (see `keep`): used there, not copied. */
  readonly keptInputs?: readonly KeptFile[];
}

/** How a kept file is brought home. */
export interface KeptFetch {
  /** Its sha256 (hex) as hashed where it was made: a copy that differs is refused. */
  readonly sha256?: string;
  /** Stops the copy (the run is cancelled). */
  readonly signal?: AbortSignal;
}

/** A file kept on a host between tasks of a run. */
export interface KeptFile {
  /** Its path in the task's directory (relative). */
  readonly path: string;
  /** Its name in the run's store on the host: `DIGEST/NAME`. */
  readonly key: string;
}

/** The container a job runs in (an app's `container` on an executor with a `container_runtime`). */
export interface JobContainer {
  /** The image, as the app names it. */
  readonly image: string;
  /** How the executor runs containers. */
  readonly runtime: ContainerRuntime;
  /**
   * Files and directories the task reads outside its directory (the targets of its input
   * links, inputs used where they are), mounted read-only at the same paths.
   */
  readonly mounts: readonly string[];
}

/** Transfers a job wrapper makes on the node. */
export interface NodeTransfers {
  /** Inputs to fetch before the task runs. */
  readonly fetch: readonly NodeTransfer[];
  /** Outputs to upload after the task succeeded. */
  readonly put: readonly NodeTransfer[];
}

/** One file a job wrapper moves between the task directory and a server. */
export interface NodeTransfer {
  /** The remote URL (`http:`, `https:`, `ftp:`, `ftps:`, `sftp:`, `rsync:`, `rsync+ssh:`). */
  readonly url: string;
  /** The file's path relative to the task directory. */
  readonly path: string;
  /** The staging action that claimed it (`http`, `ftp`, `sftp`, `rsync`, ...). */
  readonly action: string;
  /** Inputs: the expected digest, `sha256:<hex>` (others are checked by ferry only). */
  readonly checksum?: string;
  /** The rule's login name, if any. */
  readonly user?: string;
  /**
   * The rule's `password_env`: the name of a variable that must hold the password in the node's
   * environment (ferry never sends secrets to nodes).
   */
  readonly passwordEnv?: string;
  /** The rule's `token_env` (a bearer token for http/https), likewise read on the node. */
  readonly tokenEnv?: string;
  /** Attempts after the first. @default 3 */
  readonly retries?: number;
  /**
   * An output whose URL is the node's own storage under another name (an executor's
   * `endpoints`): the path there it is moved to, instead of an upload to `url`.
   */
  readonly local?: string;
  /**
   * Inputs: the other replicas of a logical file, in the plan's order (their `path` is this
   * transfer's): each is fetched when the one before failed after its retries.
   */
  readonly fallbacks?: readonly NodeTransfer[];
}

/** How an attempt ended. */
export type Outcome = "succeeded" | "failed" | "timeout" | "cancelled";

/**
 * Extra attempts an attempt lost with its worker (a function worker, a pilot block) gets, past
 * the task's own retries: see {@linkcode JobResult.lost}.
 */
export const LOST_RETRIES = 2;

/** What happened to a job. */
export interface JobResult {
  /** How it ended. */
  readonly outcome: Outcome;
  /** Exit code, when the process exited. */
  readonly exitCode?: number;
  /** Signal name, when the process was killed by one. */
  readonly signal?: string;
  /** A sentence for people when the provider itself failed (spawn error, refused submission). */
  readonly message?: string;
  /** Start and end, in ms since the epoch. */
  readonly startedAt: number;
  /** End time. */
  readonly endedAt: number;
  /** Where it ran. */
  readonly host: string;
  /** False when trying again cannot help (a submission the scheduler refused). */
  readonly retryable?: boolean;
  /** The scheduler's job id (or array element id), when there was one. */
  readonly jobId?: string;
  /**
   * The attempt was lost with the worker that ran it (killed from outside during the call), not
   * failed by the task: the runtime runs it again, past the task's own retries (`LOST_RETRIES`
   * more at most), with `message` as the reason.
   */
  readonly lost?: boolean;
  /** Where a pilot worker ran the attempt (an executor with `bundle: pilot`). */
  readonly pilot?: PilotPlace;
  /** What the attempt's processes used, when it could be measured. */
  readonly usage?: Usage;
  /** Replicas the job wrapper fetched on the node that failed, another fetched instead. */
  readonly fallbacks?: readonly NodeFallback[];
  /** The outputs moved to the host's store (`JobSpec.keep`), hashed there: by path. */
  readonly kept?: Readonly<Record<string, { readonly sha256: string; readonly size: number }>>;
}

/** A replica of an input that failed on the node, the next one fetched instead. */
export interface NodeFallback {
  /** The input's path, relative to the task directory. */
  readonly path: string;
  /** The failed replica's URL (without a password). */
  readonly url: string;
  /** The staging action that fetched it. */
  readonly provider: string;
  /** Why it failed, after its retries. */
  readonly error: string;
  /** The next replica's URL, fetched instead. */
  readonly fallback: string;
}

/**
 * What one attempt's process tree used. CPU times and peak RSS come from the kernel's
 * accounting of the task's first process as it was reaped: they cover it and every descendant
 * it waited for (a shell's commands, a pipeline), not processes that outlived it or that
 * nobody waited for. `maxRssBytes` is the largest resident set of any one of those processes,
 * not their sum.
 */
export interface Usage {
  /** Wall-clock seconds from the start of the task's process to its end. */
  readonly wallSeconds: number;
  /** CPU seconds in user mode. */
  readonly userSeconds?: number;
  /** CPU seconds in the kernel. */
  readonly systemSeconds?: number;
  /** Peak resident set size in bytes (the largest process of the tree). */
  readonly maxRssBytes?: number;
  /**
   * What measured it: `wait4` (the local spawner, spawner.py), `times` (spawner.pl: CPU only),
   * `clock` (no spawner: wall time only), `time` (`/usr/bin/time` in the job wrapper),
   * `bash-times` (the job wrapper's bash without `/usr/bin/time`: CPU only), `worker` (a function
   * call in a persistent function worker: the worker process's CPU time during the call, and its
   * peak resident set during it where Linux lets it be reset).
   */
  readonly measuredBy: MeasuredBy;
}

/** The ways an attempt's usage is measured (see {@linkcode Usage.measuredBy}). */
export type MeasuredBy = "wait4" | "times" | "clock" | "time" | "bash-times" | "worker";

/** A way to run jobs. Effects live only in `execute`; aborting the signal cancels the job. */
export interface BatchProvider {
  /** The provider's name, as in the site file. */
  readonly name: string;
  /** Run one job to its end; never rejects for a failing job (only for a bug). */
  execute(job: JobSpec, signal: AbortSignal): Promise<JobResult>;
  /** Release what the provider holds (helper processes, connections) once the run is over. */
  close?(): Promise<void>;
  /**
   * True for providers whose wrapper does node-side staging (scratch copies) itself: the runtime
   * then keeps the task directory in the attempt directory and passes `scratch`.
   */
  readonly nodeSide?: boolean;
  /**
   * True for providers that make a job's `links` themselves, where they make its directories;
   * for the others the runtime places every input before it hands the job over.
   */
  readonly makesLinks?: boolean;
  /**
   * How many tasks of one executor the runtime keeps started at once (for a node-side provider;
   * the local provider is bounded by cores and memory instead). @default max_jobs, else 10,000
   */
  readonly capacity?: number;
  /**
   * Cancel jobs by the ids the scheduler gave them (jobs a crashed run left, whose directory is
   * `runDir`); a message when it failed.
   */
  cancelJobs?(ids: readonly string[], runDir?: string): Promise<string | undefined>;
  /** The pilot blocks this provider holds now (`bundle: pilot`), for progress; undefined otherwise. */
  pilotBlocks?(): readonly PilotBlock[] | undefined;
  /**
   * Whether this provider keeps outputs on its host for later tasks there (`JobSpec.keep`,
   * `JobSpec.keptInputs`).
   */
  readonly keeps?: boolean;
  /** Delete files kept on the host for run `runId` (by key); the run's store goes once empty. */
  dropKept?(runId: string, keys: readonly string[]): Promise<void>;
  /** Copy a file kept on the host for run `runId` to `dest` here; its size in bytes. */
  fetchKept?(runId: string, key: string, dest: string, how?: KeptFetch): Promise<number>;
}

/** Where a pilot worker ran an attempt. */
export interface PilotPlace {
  /** The block: the scheduler's id of the pilot job. */
  readonly block: string;
  /** The worker in the block, as the block names it (`NODE/SLOT`, slots counted from 1). */
  readonly worker: string;
  /** The node the worker ran on (the host name it reported). */
  readonly node?: string;
}

/** One pilot block as ferry knows it now. */
export interface PilotBlock {
  /** The scheduler's id of the block's job. */
  readonly id: string;
  /**
   * `pending`: queued; `running`: some worker is running a task; `idle`: started, no task
   * running; `ending`: cancelled or past its idle timeout, not yet gone from the queue.
   */
  readonly state: "pending" | "running" | "idle" | "ending";
  /** Workers the block runs (nodes × workers per node). */
  readonly workers: number;
  /** Tasks running in it now. */
  readonly busy: number;
  /** Tasks it has finished (any outcome). */
  readonly done: number;
}
