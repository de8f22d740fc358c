/**
 * An executor API in the spirit of Python's `concurrent.futures`: submit
 * calls of exported TypeScript functions, each run as a task in its own Deno
 * process on an executor (local, or one from a site file: Slurm, ssh, ...),
 * and await their JSON results.
 *
 * Every call is a task of the workspace's state like a declared one: its id
 * is the function's name and a digest of its arguments, its cache key covers
 * the function's module (with its local imports), the arguments and the
 * requirements, and its success and result are recorded at once. Submitting
 * the same call again (another run of the script, after a crash) returns the
 * recorded result without running it. Tasks may submit tasks: a task's
 * process finds its workspace in `FERRY_WORKSPACE`.
 *
 * @example
 * ```ts
 * import { executor } from "../mod.ts";
 * import assert from "node:assert/strict";
 * // A function exported by a module (a script's own exports can be passed as functions).
 * const estimatePi = {
 *   module: new URL("../examples/typescript/submit.ts", import.meta.url),
 *   export: "estimatePi",
 * };
 * const workspace = await Deno.makeTempDir();
 * {
 *   await using ex = executor("local", { workspace, requirements: { cores: 1 } });
 *   const t = ex.submit<[number, number], number>(estimatePi, 10_000, 7);
 *   t.label = "pi";
 *   assert.ok(Math.abs((await t) - Math.PI) < 0.1);
 *   assert.equal(t.status, "succeeded");
 * }
 * await Deno.remove(workspace, { recursive: true });
 * ```
 * @module
 */

import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Executor } from "../dsl/model.ts";
import { parseMemory, parseWalltime } from "../dsl/quantity.ts";
import { localProvider } from "../providers/batch/local.ts";
import { type BatchProvider, type JobResult, LOST_RETRIES } from "../providers/batch/types.ts";
import { exportedNames } from "../dsl/exported_names.ts";
import { taskDirName } from "./attempt.ts";
import { LOCAL_EXECUTOR } from "./plan.ts";
import { moduleClosureHash } from "./cache.ts";
import { type AttemptRecord, newRunId, StateStore } from "./state.ts";
import { capLines, logEnd } from "./log_tail.ts";

/** What each submitted task needs; becomes the task's resources. */
export interface Requirements {
  /** Cores per task. */
  readonly cores?: number;
  /** Memory with a unit (`512M`, `4GiB`) or bytes. */
  readonly memory?: string | number;
  /** Time limit (`90s`, `1h30m`) or seconds. */
  readonly walltime?: string | number;
  /** GPUs per task. */
  readonly gpus?: number;
}

/** Options for {@linkcode executor}. */
export interface ExecutorOptions {
  /** What each task needs (a submit may override it). */
  readonly requirements?: Requirements;
  /** The workspace holding `.ferry/` (state, attempts). @default `$FERRY_WORKSPACE`, else the current directory */
  readonly workspace?: string;
  /** A site file naming executors other than `local`. */
  readonly site?: string;
  /** Tasks at once. @default the machine's cores divided by the cores each task needs */
  readonly maxWorkers?: number;
  /** Retries after a failed attempt. @default 0 */
  readonly retries?: number;
  /** Run every call, ignoring recorded results. @default false */
  readonly noCache?: boolean;
  /** Milliseconds between a batch scheduler's status calls. @default 1000 */
  readonly pollMs?: number;
}

/** Where a task stands. */
export type SubmittedTaskStatus =
  | "pending"
  | "running"
  | "succeeded"
  | "cached"
  | "failed"
  | "cancelled";

/** A submitted call: await it for the function's return value. */
export interface Task<T> extends PromiseLike<T> {
  /** Stable id: `name[digest of the arguments]`. */
  readonly id: string;
  /** A name for people (progress, errors); settable. */
  label: string;
  /** Where it stands now. */
  readonly status: SubmittedTaskStatus;
  /** Catch a failure, as a promise's `catch`. */
  catch<U = never>(onRejected: (reason: unknown) => U | PromiseLike<U>): Promise<T | U>;
}

/** A function to submit: an exported function of the main script, or one named by module and export. */
export type Submittable<A extends unknown[], R> =
  | ((...args: A) => R | Promise<R>)
  | { readonly module: string | URL; readonly export: string };

/**
 * A task failed: its id, label and why (`message`), and its standard error (`stderr`).
 *
 * @example
 * ```ts
 * import { TaskError } from "./submit.ts";
 * import assert from "node:assert/strict";
 * const e = new TaskError("score[0a1b]", "score failed: exit code 1\nferry: score threw Error: no data", "...");
 * assert.ok(e instanceof Error);
 * assert.equal(e.name, "TaskError");
 * assert.equal(e.taskId, "score[0a1b]");
 * ```
 */
export class TaskError extends Error {
  /** The task's id. */
  readonly taskId: string;
  /** The end of its log of standard error (at most its last 64 KiB). */
  readonly stderr: string;
  /** Make one. */
  constructor(taskId: string, message: string, stderr: string) {
    super(message);
    this.name = "TaskError";
    this.taskId = taskId;
    this.stderr = stderr;
  }
}

/** An executor: submit calls, await results; `await using` waits for all of them at scope exit. */
export interface FerryExecutor extends AsyncDisposable {
  /** Run `fn(...args)` as a task; returns at once. */
  submit<A extends unknown[], R>(
    fn: Submittable<A, R>,
    ...args: A
  ): Task<Awaited<R>>;
  /** Like {@linkcode submit}, with requirements for this call. */
  submitWith<A extends unknown[], R>(
    requirements: Requirements,
    fn: Submittable<A, R>,
    ...args: A
  ): Task<Awaited<R>>;
  /** Wait for every submitted task (and, with `cancel`, stop those still running first). */
  shutdown(options?: { readonly cancel?: boolean }): Promise<void>;
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

function resources(r: Requirements): JobResources {
  // Strings are read as the workflow files read them; numbers are bytes and seconds.
  const quantity = (what: string, v: string | number | undefined, parse: typeof parseMemory) => {
    if (v === undefined || typeof v === "number") return v;
    const q = parse(v);
    if ("why" in q) {
      throw new TypeError(`Cannot use ${JSON.stringify(v)} as ${what} in requirements: ${q.why}`);
    }
    return q.value;
  };
  const memory = quantity("memory", r.memory, parseMemory);
  const walltime = quantity("walltime", r.walltime, parseWalltime);
  return {
    ...(r.cores !== undefined ? { cores: r.cores } : {}),
    ...(memory !== undefined ? { memory } : {}),
    ...(walltime !== undefined ? { walltime } : {}),
    ...(r.gpus !== undefined ? { gpus: r.gpus } : {}),
  };
}

type JobResources = { cores?: number; memory?: number; walltime?: number; gpus?: number };

/** Where a submitted function lives: its module's path and its export name. */
function locate(fn: Submittable<never[], unknown>): { module: string; name: string } {
  if (typeof fn !== "function") {
    const m = fn.module instanceof URL || String(fn.module).startsWith("file:")
      ? fileURLToPath(fn.module)
      : resolve(String(fn.module));
    return { module: m, name: fn.export };
  }
  // The main script, or (inside a task) the module whose function this process runs.
  const mainPath = fileURLToPath(Deno.mainModule);
  const candidates = [Deno.env.get("FERRY_FUNCTION_MODULE"), mainPath].filter((m): m is string =>
    m !== undefined && m !== ""
  );
  for (const m of candidates) {
    const path = m.startsWith("file:") ? fileURLToPath(m) : m;
    let names = new Set<string>();
    try {
      names = exportedNames(Deno.readTextFileSync(path));
    } catch { /* not a file */ }
    if (fn.name && names.has(fn.name)) return { module: path, name: fn.name };
  }
  throw new TypeError(
    `Cannot submit ${fn.name || "an anonymous function"}: export it from the main script ` +
      `(${candidates.at(0) ?? mainPath}), or submit { module: import.meta.url, export: "name" }; ` +
      "it runs in its own Deno process, which imports it",
  );
}

/**
 * Make an executor. `name` is `local` or an executor of the site file given in
 * `options.site`.
 */
export function executor(name = "local", options: ExecutorOptions = {}): FerryExecutor {
  const session = new Session(name, options);
  const submitWith = <A extends unknown[], R>(
    req: Requirements,
    fn: Submittable<A, R>,
    ...args: A
  ): Task<Awaited<R>> => session.submitWith(req, fn, args);
  const shutdown = (o: { readonly cancel?: boolean } = {}) => session.shutdown(o);
  return {
    submit: (fn, ...args) => submitWith({}, fn, ...args),
    submitWith,
    shutdown,
    [Symbol.asyncDispose]: () => shutdown(),
  };
}

/** The batch provider of an executor, with the executor it serves. */
interface OpenedProvider {
  readonly p: BatchProvider;
  readonly ex: Executor;
}

/** Open `local`, or the executor `name` of the site file, with its batch provider. */
async function openProvider(name: string, options: ExecutorOptions): Promise<OpenedProvider> {
  if (name === "local") return { p: localProvider(), ex: LOCAL_EXECUTOR };
  if (options.site === undefined) {
    throw new TypeError(
      `Cannot use executor "${name}": give the site file that names it (site:)`,
    );
  }
  const { loadFile } = await import("../dsl/load.ts");
  const { validateSite } = await import("../dsl/validate.ts");
  const loaded = await loadFile(options.site);
  const v = loaded.document ? validateSite(loaded.document.value) : undefined;
  const ex = v?.model.executors[name];
  if (!v || v.problems.length > 0 || !ex) {
    throw new TypeError(
      `Cannot use executor "${name}" of ${options.site}: ${
        !v ? "the file does not load" : v.problems[0]?.message ?? "no executor of that name"
      }`,
    );
  }
  const { BatchProviderError, openBatchProvider } = await import(
    "../providers/batch/registry.ts"
  );
  try {
    // Relative paths of the executor (a provider module, SSH keys) start from the site file.
    const context = {
      baseDir: dirname(resolve(options.site)),
      ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    };
    return { p: await openBatchProvider(ex, context), ex };
  } catch (e) {
    if (!(e instanceof BatchProviderError)) throw e;
    throw new TypeError(`Cannot use executor "${name}": ${e.message}`);
  }
}

/** At most `size` tasks at once; the others wait in order of submission. */
class Slots {
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(readonly size: number) {}

  /** Resolves when a slot is free, and takes it. */
  acquire(): Promise<void> {
    return new Promise<void>((go) => {
      if (this.#running < this.size) {
        this.#running++;
        go();
      } else this.#waiting.push(go);
    });
  }

  /** Give a slot back (to the next waiting task, if any). */
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#running--;
  }
}

/** One submitted call: what identifies it, and how to run it. */
interface Call {
  /** `name[digest of the arguments]`. */
  readonly id: string;
  /** The cache key: module closure, export, arguments, requirements. */
  readonly key: string;
  readonly where: { readonly module: string; readonly name: string };
  readonly args: readonly unknown[];
  readonly argsText: string;
  readonly requirements: Requirements;
}

/** What the session updates and its {@linkcode Task} shows. */
interface TaskState {
  status: SubmittedTaskStatus;
  label: string;
}

/**
 * An executor's session: one run of the state store (`RUN-submit`) in which
 * every submitted call is a task, run at most `slots` at a time.
 */
class Session {
  readonly #name: string;
  readonly #options: ExecutorOptions;
  readonly #workspace: string;
  readonly #runId = `${newRunId()}-submit`;
  readonly #runDir: string;
  readonly #store: StateStore;
  readonly #base: Requirements;
  readonly #slots: Slots;
  readonly #abort = new AbortController();
  /** Tasks not yet settled. */
  readonly #all = new Set<Promise<unknown>>();
  #provider: Promise<OpenedProvider> | undefined;
  #closed = false;
  /** A task failed (or could not start): the run is recorded as failed. */
  #failed = false;
  /** A task was cancelled (`shutdown({ cancel: true })`): the run was interrupted. */
  #cancelled = false;
  /**
   * Each module's closure hash, found at its first call: a worker imports a module once, so the
   * code that runs the session's calls is the code its first call saw.
   */
  readonly #moduleHashes = new Map<string, string>();
  /** Where each function submitted so far lives. */
  readonly #located = new Map<Submittable<never[], unknown>, { module: string; name: string }>();

  constructor(name: string, options: ExecutorOptions) {
    this.#name = name;
    this.#options = options;
    this.#workspace = resolve(options.workspace ?? Deno.env.get("FERRY_WORKSPACE") ?? Deno.cwd());
    this.#runDir = join(this.#workspace, ".ferry", "runs", this.#runId);
    this.#store = StateStore.open(this.#workspace);
    this.#store.beginRun({
      id: this.#runId,
      workflow: fileURLToPath(Deno.mainModule),
      startedAt: Date.now(),
      pid: Deno.pid,
      host: hostname(),
      dir: this.#runDir,
    });
    this.#base = options.requirements ?? {};
    const cores = navigator.hardwareConcurrency;
    this.#slots = new Slots(
      Math.max(1, options.maxWorkers ?? Math.floor(cores / Math.max(1, this.#base.cores ?? 1))),
    );
  }

  /** Run `fn(...args)` as a task with these requirements (over the executor's). */
  submitWith<A extends unknown[], R>(
    req: Requirements,
    fn: Submittable<A, R>,
    args: A,
  ): Task<Awaited<R>> {
    if (this.#closed) throw new Error("Cannot submit: the executor was shut down");
    const f = fn as Submittable<never[], unknown>;
    const where = this.#located.get(f) ?? locate(f);
    if (typeof f === "function") this.#located.set(f, where);
    const argsText = JSON.stringify(args);
    if (argsText === undefined) throw new TypeError("Cannot submit: the arguments are not JSON");
    const requirements = { ...this.#base, ...req };
    const id = `${where.name}[${sha(argsText).slice(0, 12)}]`;
    const key = sha(JSON.stringify({
      module: this.#moduleHash(where.module),
      export: where.name,
      args: argsText,
      requirements,
    }));
    const state: TaskState = { status: "pending", label: id };
    const done = this.#run({ id, key, where, args, argsText, requirements }, state) as Promise<
      Awaited<R>
    >;
    this.#all.add(done);
    done.then(() => {}, () => {
      if (state.status === "cancelled") this.#cancelled = true;
      else this.#failed = true;
    }).finally(() => this.#all.delete(done));
    return {
      id,
      get label() {
        return state.label;
      },
      set label(v: string) {
        state.label = v;
      },
      get status() {
        return state.status;
      },
      then: (ok, bad) => done.then(ok, bad),
      catch: (bad) => done.catch(bad),
    };
  }

  #moduleHash(module: string): string {
    let hash = this.#moduleHashes.get(module);
    if (hash === undefined) this.#moduleHashes.set(module, hash = moduleClosureHash(module));
    return hash;
  }

  /** Wait for every task (cancelling them first with `cancel`), then end the run. */
  async shutdown(o: { readonly cancel?: boolean }): Promise<void> {
    this.#closed = true;
    if (o.cancel) this.#abort.abort();
    while (this.#all.size > 0) await Promise.allSettled([...this.#all]);
    if (this.#provider) await (await this.#provider.catch(() => undefined))?.p.close?.();
    // As `ferry run` records its runs, so that `ferry status` lists the session as it ended.
    this.#store.endRun(
      this.#runId,
      this.#cancelled ? "interrupted" : this.#failed ? "failed" : "succeeded",
    );
    this.#store.close();
  }

  /** A call's result: recorded, else from its attempts (with the session's retries). */
  async #run(call: Call, state: TaskState): Promise<unknown> {
    const recorded = this.#options.noCache ? undefined : this.#store.successes().get(call.id);
    if (recorded && recorded.key === call.key) {
      state.status = "cached";
      return recorded.result;
    }
    await this.#slots.acquire();
    try {
      const opened = await (this.#provider ??= openProvider(this.#name, this.#options));
      for (let attempt = 1;; attempt++) {
        if (this.#abort.signal.aborted) {
          state.status = "cancelled";
          throw new TaskError(call.id, `${state.label}: cancelled`, "");
        }
        state.status = "running";
        const root = join(this.#runDir, "tasks", taskDirName(call.id), `attempt-${attempt}`);
        const r = await this.#execute(call, attempt, root, opened);
        const record = attemptRecord(this.#runId, call.id, attempt, root, r);
        if (r.outcome === "succeeded") {
          const value = this.#commit(call, record, join(root, "result.json"));
          state.status = "succeeded";
          return value;
        }
        this.#store.recordAttempt(record);
        // A call lost with its worker runs again, past the session's retries.
        const retries = (this.#options.retries ?? 0) + (r.lost ? LOST_RETRIES : 0);
        if (r.outcome !== "cancelled" && !this.#abort.signal.aborted && attempt <= retries) {
          continue;
        }
        state.status = r.outcome === "cancelled" ? "cancelled" : "failed";
        throw await taskFailure(call.id, state.label, r, join(root, "stderr.log"));
      }
    } finally {
      this.#slots.release();
    }
  }

  /** One attempt of a call, in `root` (its work directory, logs and result file). */
  #execute(call: Call, attempt: number, root: string, { p, ex }: OpenedProvider) {
    const work = join(root, "work");
    const { id, where } = call;
    return p.execute({
      taskId: id,
      attempt,
      dir: work,
      run: { kind: "function", module: where.module, export: where.name },
      env: {
        ...ex.env,
        FERRY_TASK_ID: id,
        FERRY_ATTEMPT: String(attempt),
        FERRY_WORKSPACE: this.#workspace,
      },
      mkdirs: [work],
      stdout: join(root, "stdout.log"),
      stderr: join(root, "stderr.log"),
      resources: resources(call.requirements),
      call: { argv: call.args as unknown[], result: join(root, "result.json") },
      root,
      runDir: this.#runDir,
      bundle: where.name,
    }, this.#abort.signal);
  }

  /** Record a success with its result (what the function returned, else null); the result. */
  #commit(call: Call, record: AttemptRecord, resultPath: string): unknown {
    let value: unknown = null;
    try {
      value = JSON.parse(Deno.readTextFileSync(resultPath));
    } catch { /* returned nothing */ }
    const { where, argsText, requirements } = call;
    this.#store.recordSuccess({
      taskId: call.id,
      key: call.key,
      parts: { module: where.module, export: where.name, args: argsText, requirements },
      runId: this.#runId,
      attempt: record.attempt,
      finishedAt: record.endedAt,
      outputs: [],
      result: value,
    }, record);
    return value;
  }
}

/** The state store's record of an attempt that ended with `r`. */
function attemptRecord(
  runId: string,
  taskId: string,
  attempt: number,
  root: string,
  r: JobResult,
): AttemptRecord {
  return {
    runId,
    taskId,
    attempt,
    outcome: r.outcome,
    ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
    ...(r.signal !== undefined ? { signal: r.signal } : {}),
    // Why, when it was not the function itself (a worker lost, a provider that failed).
    ...(r.message !== undefined ? { reason: r.message } : {}),
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    host: r.host,
    stdout: join(root, "stdout.log"),
    stderr: join(root, "stderr.log"),
  };
}

/** The error of a failed task: why, and the function's last word (or its log's last lines). */
async function taskFailure(
  id: string,
  label: string,
  r: JobResult,
  stderrLog: string,
): Promise<TaskError> {
  // Its end only: a function that wrote 200 MB to stderr must not cost 200 MB here.
  const stderr = await logEnd(stderrLog);
  const why = r.message ??
    (r.outcome === "timeout"
      ? "exceeded its walltime and was killed"
      : r.signal
      ? `killed by ${r.signal}`
      : `exit code ${r.exitCode}`);
  // The function's own last word (the runner's "threw" line), else the log's last lines.
  const lines = stderr.trim().split("\n");
  const threw = lines.findLast((l) => l.startsWith("ferry: ") && l.includes(" threw "));
  const tail = capLines(threw ?? lines.slice(-3).join("\n"));
  return new TaskError(id, `${label} failed: ${why}${tail ? `\n${tail}` : ""}`, stderr);
}
