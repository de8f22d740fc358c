/**
 * Cache keys and the decision whether a task must run. A task's key is a
 * hash of what defines it: the app's command or shell text (templates, not
 * their rendering, so a param change is named as such), its function
 * module's content or its script file's, the params it refers to (a script: every param), its inputs' content hashes
 * (remote inputs: the declared checksum, else the validators recorded when
 * the copy was fetched), its declared env values, its outputs and the app's
 * `version`. Never a timestamp, nor the resources it asks for or is granted
 * (an env value using `${{ resources.* }}` counts as its template). `cache: { ignore: [...] }` takes parts out.
 *
 * A task is skipped only when its key matches its recorded success and every
 * output is still there with its recorded hash; otherwise it runs, and the
 * decision says why: new, input X changed, command changed, param p changed,
 * output Y missing or modified, --rerun, --no-cache. A plan, made before
 * anything ran, says "may run" where only the run can tell: a task before it
 * runs and may write what it wrote last time (early cutoff), or a transfer
 * fetches an input again and its source may not have changed.
 * @module
 */

import { leftBehind } from "./stale.ts";
import { createHash } from "node:crypto";
import { canonical, sha256 } from "./canonical.ts";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { App, Executor, Workflow } from "../dsl/model.ts";
import type { PlanFile, PlanStatus, PlanTask } from "./plan.ts";
import type { Hashed, OutputRecord, StateStore, SuccessRecord } from "./state.ts";
import { readCacheRecord } from "../providers/staging/transfer.ts";
import { type FileValue, localPath } from "./values.ts";
import { toRecordedUrl, workspaceRelative } from "./urls.ts";
import type { PilotPlace, Usage } from "../providers/batch/types.ts";

/** The parts of a cache key (what `ignore` can name). */
export interface KeyParts {
  /**
   * Hash of the app's run section (templates), redirections and function module content (with
   * every local module it imports).
   */
  command?: string;
  /** The params the app refers to (a script app: every param), each with a hash of its value. */
  params?: Record<string, string>;
  /** A script app's file: the sha256 of its content. */
  script?: string;
  /** Content hashes of each input slot's files. */
  inputs?: Record<string, string[]>;
  /** The app's env, rendered. */
  env?: Record<string, string>;
  /** The app's version. */
  version?: string | null;
  /** The outputs' URLs, those of workspace files relative to it (`./out/a.txt`). */
  outputs: string[];
  /** Hashes of what the function tasks it depends on returned (it reads them), by task id. */
  results?: Record<string, string>;
  /** The executor's `env` (what the app's `env` leaves of it), when it has one. */
  executor_env?: Record<string, string>;
  /** The executor's `worker_init`, when it has one. */
  worker_init?: string;
  /**
   * The paths the task sees where the executor's staging makes them other than the workspace's
   * (`in-place` rules, copies on the node, transfers to the executor's storage), by `in:SLOT` or
   * `out:SLOT`; workspace paths relative to it.
   */
  paths?: Record<string, string[]>;
  /** The container image's identity (its ID, a `.sif` file's sha256, else its reference). */
  container?: string;
}

/** Whether a task runs, and why. */
export interface CacheDecision {
  /** Skip it: its recorded result is still valid. */
  readonly cached: boolean;
  /** Why it runs, or `cached`. */
  readonly reason: string;
  /** The key it runs with (absent when an input is not there yet). */
  readonly key?: string;
  /** The parts of the key. */
  readonly parts?: KeyParts;
  /** The recorded success it reuses. */
  readonly record?: SuccessRecord;
}

/** At plan time: the tasks before a task that run (or may run), whose results the run learns. */
export interface Upstream {
  /** Why the task may run: `prep runs first`, `total may run first`. */
  readonly reason: string;
  /** The task's input slots holding files they write. */
  readonly slots: ReadonlySet<string>;
  /** One of them is a function task: what it returns (part of the key) is not known yet. */
  readonly results: boolean;
}

/** Options for {@linkcode Cache}. */
export interface CacheOptions {
  /** The state store. */
  readonly store: StateStore;
  /** The workflow (apps, for their templates and cache policies). */
  readonly workflow: Workflow;
  /** Params in effect. */
  readonly params: Readonly<Record<string, unknown>>;
  /** The folder function modules are relative to. */
  readonly baseDir: string;
  /** Run everything (`--no-cache`). */
  readonly noCache?: boolean;
  /** Run these apps or task ids whatever their state (`--rerun`). */
  readonly rerun?: readonly string[];
  /** The executors in effect (the workflow's, overridden by the site file's). */
  readonly executors?: Readonly<Record<string, Executor>>;
}

const PARAM_REF = /\bparams\s*\.\s*([A-Za-z_][A-Za-z0-9_-]*)/g;

/** Every template text of an app. */
function templates(app: App): string[] {
  const out: string[] = [];
  if (app.run?.kind === "command") out.push(...app.run.argv);
  else if (app.run?.kind === "shell") out.push(app.run.script);
  out.push(...Object.values(app.env));
  if (app.stdout !== undefined) out.push(app.stdout);
  if (app.stderr !== undefined) out.push(app.stderr);
  if (app.label !== undefined) out.push(app.label);
  for (const slots of [app.inputs, app.outputs]) {
    for (const slot of Object.values(slots)) for (const f of slot.files) out.push(f.value);
  }
  // for_each sources are left out: a task's binding is part of its id, not of its key.
  return out;
}

const USES_RESOURCES = /\bresources\s*\./;

/**
 * The env as rendered, except a value using `resources`: its template. What a task is granted
 * (fewer cores on a smaller machine) is not part of its key, as its command's templates are not
 * rendered for it either.
 */
function envForKey(app: App, env: Readonly<Record<string, string>>): Record<string, string> {
  const out = { ...env };
  for (const [k, text] of Object.entries(app.env)) {
    if (Object.hasOwn(out, k) && USES_RESOURCES.test(text)) out[k] = text;
  }
  return out;
}

/** What a result store holds for a task: its key, where, its outputs' hashes and its result. */
export interface StoreHit {
  readonly key: string;
  /** The store's URL. */
  readonly store: string;
  /** The workspace files it restores (URL → sha256 hex). */
  readonly files: ReadonlyMap<string, string>;
  /** A function task's return value. */
  readonly result?: unknown;
}

/** What the attempt being committed was: when and where it ran, what it used. */
export interface AttemptRan {
  /** 1 for the first attempt (0: restored from a result store). */
  readonly attempt: number;
  /** Start, in ms since the epoch. */
  readonly startedAt: number;
  /** End, in ms since the epoch. */
  readonly endedAt: number;
  /** Where it ran. */
  readonly host: string;
  /** What its processes used, when measured. */
  readonly usage?: Usage;
  /** The pilot worker that ran it, if one did. */
  readonly pilot?: PilotPlace;
  /** Outputs left on its executor's host and never brought here, as hashed there: by path. */
  readonly kept?: Readonly<Record<string, { readonly sha256: string; readonly size: number }>>;
}

/** Decides, for each task, whether it runs; records successes. */
export class Cache {
  readonly #o: CacheOptions;
  readonly #appParts = new Map<string, { command: string; params: string[] }>();
  readonly #rerun: ReadonlySet<string>;
  readonly #paramHashes = new Map<string, string>();
  /** Temp outputs, by URL: the task writing each. */
  readonly #temps = new Map<string, string>();
  /** Tasks whose deleted temp outputs no task of the run needs. */
  readonly #notNeeded = new Set<string>();
  /** The workspace's URL: its files are recorded relative to it. */
  readonly #base: string;
  /** The workspace's path, with a trailing slash. */
  readonly #wsPrefix: string;
  /** Entries a result store holds, by task id (a plan shows them as cached from the store). */
  readonly #storeHits = new Map<string, StoreHit>();
  /** The content a store hit would give a workspace file, by URL: `sha256:...`. */
  readonly #assumed = new Map<string, string>();

  /** A cache over one state store. */
  constructor(options: CacheOptions) {
    this.#o = options;
    this.#base = options.store.workspaceUrl;
    this.#wsPrefix = `${options.store.workspace}/`;
    this.#rerun = new Set(options.rerun ?? []);
  }

  #app(name: string): { command: string; params: string[] } {
    let a = this.#appParts.get(name);
    if (!a) {
      const app = this.#o.workflow.apps[name]!;
      const params = new Set<string>();
      for (const t of templates(app)) for (const m of t.matchAll(PARAM_REF)) params.add(m[1]!);
      // A script reads its params from its FERRY_TASK file, where it gets every one.
      if (app.run?.kind === "script") {
        for (const p of Object.keys(this.#o.params)) params.add(p);
      }
      let moduleHash = "";
      if (app.run?.kind === "function") {
        moduleHash = moduleClosureHash(resolve(this.#o.baseDir, app.run.module));
      }
      const command = sha256(canonical({
        run: app.run ?? null,
        module: moduleHash,
        stdout: app.stdout ?? null,
        stderr: app.stderr ?? null,
      }));
      a = { command, params: [...params].sort() };
      this.#appParts.set(name, a);
    }
    return a;
  }

  /** The content hash of a script file (`missing` once it is gone: the task then fails). */
  #scriptHash(path: string): string {
    const h = this.#o.store.hashPath(path);
    return h ? `sha256:${h.sha256}` : "missing";
  }

  /** The content hash of one input file, or undefined when it is not there (yet). */
  #inputHash(f: PlanFile): string | undefined {
    if (f.checksum !== undefined) return f.checksum;
    // Made on an executor that keeps it: as its maker recorded it (hashed there; the
    // workspace's copy, if one comes, may be on its way).
    const made = f.kept && this.#o.store.successes().get(f.kept.task)?.outputs
      .find((o) => o.url === f.url && !o.glob && !o.remote);
    if (made) return `sha256:${made.sha256}`;
    // On the executor's own storage under another name: the file it reads in place, when seen here.
    const here = f.endpoint !== undefined ? f.path : localPath(f.url);
    if (here !== undefined && f.staging !== "transfer") {
      const h = this.#o.store.hashPath(here);
      return h ? `sha256:${h.sha256}` : this.#deletedTemp(f.url) ?? this.#assumed.get(f.url);
    }
    // A remote file: what the provider recorded when it fetched the copy.
    const copy = f.staged ?? f.path; // the run's copy (the task sees it through a link)
    const rec = f.via !== undefined
      ? readCacheRecord((f.hops?.[0] ?? f.via).path, f.url) // the first hop's copy of it
      : f.staging === "transfer" && copy.startsWith("/")
      ? readCacheRecord(copy, f.url)
      : undefined;
    if (!rec) return undefined;
    if (rec.sha256) return `sha256:${rec.sha256}`;
    return `validators:${canonical(rec.validators)}`;
  }

  /**
   * The hash a deleted temp output had when its producer's success was recorded (its readers
   * compare it with what they read), or undefined when `url` is no temp output with one.
   */
  #deletedTemp(url: string): string | undefined {
    const producer = this.#temps.get(url);
    const o = producer === undefined
      ? undefined
      : this.#o.store.successes().get(producer)?.outputs.find((o) => o.url === url && !o.glob);
    return o ? `sha256:${o.sha256}` : undefined;
  }

  /** The temp outputs of these tasks (a plan's): their readers may find them deleted. */
  noteTemps(tasks: readonly PlanTask[]): void {
    for (const t of tasks) for (const f of t.outputs) if (f.temp) this.#temps.set(f.url, t.id);
  }

  /** Whether any task noted (see {@linkcode noteTemps}) has a temp output. */
  get hasTemps(): boolean {
    return this.#temps.size > 0;
  }

  /**
   * Let `task` be skipped though temp outputs of its are deleted: no task of the run reads them
   * (a plan found every reader cached). Without it, a deleted temp output runs its task.
   */
  tempsNotNeeded(task: string): void {
    this.#notNeeded.add(task);
  }

  /**
   * The temp outputs of `task` deleted since its recorded success, when that is all that
   * keeps it from being skipped (its key aside).
   */
  deletedTemps(task: PlanTask): PlanFile[] {
    const record = this.#o.store.successes().get(task.id);
    if (!record || !task.outputs.some((f) => f.temp)) return [];
    const check = this.#checkOutputs(task, record.outputs);
    return check.bad === undefined ? check.temps : [];
  }

  /** The key parts of a task as things are now; `missing` names an input that is not there. */
  parts(task: PlanTask): { parts: KeyParts; missing?: string } {
    const app = this.#o.workflow.apps[task.app]!;
    const a = this.#app(task.app);
    const inputs: Record<string, string[]> = {};
    let missing: string | undefined;
    for (const f of task.inputs) {
      const h = this.#inputHash(f);
      if (h === undefined) missing ??= f.name;
      (inputs[f.name] ??= []).push(h ?? "missing");
    }
    const params: Record<string, string> = {};
    for (const p of a.params) {
      let h = this.#paramHashes.get(p);
      if (h === undefined) {
        h = sha256(canonical(this.#o.params[p] ?? null));
        this.#paramHashes.set(p, h);
      }
      params[p] = h;
    }
    const parts: KeyParts = {
      command: a.command,
      ...(task.run?.kind === "script" ? { script: this.#scriptHash(task.run.path) } : {}),
      params,
      inputs,
      env: envForKey(app, task.env),
      version: app.version ?? null,
      outputs: task.outputs.map((f) => toRecordedUrl(f.url, this.#base)),
    };
    // Function results it is handed (args.results, FERRY_RESULTS) are inputs too.
    const successes = this.#o.store.successes();
    const results: Record<string, string> = {};
    for (const d of task.deps) {
      const r = successes.get(d)?.result ?? this.#storeHits.get(d)?.result;
      if (r !== undefined) results[d] = sha256(canonical(r));
    }
    if (Object.keys(results).length > 0) parts.results = results;
    this.#executorParts(task, parts);
    for (const ig of app.cache.ignore) {
      const [part, name] = ig.split(".") as [keyof KeyParts, string | undefined];
      if (name === undefined) delete parts[part];
      else {
        const sub = parts[part] as Record<string, unknown> | undefined;
        if (sub && typeof sub === "object") delete sub[name];
        // The executor's parts are left out when empty: as if the executor had none.
        if (part === "executor_env" && sub && Object.keys(sub).length === 0) delete parts[part];
      }
    }
    return missing !== undefined ? { parts, missing } : { parts };
  }

  /**
   * What the executor changes of what the task sees: its env, its worker_init, the paths its
   * staging gives files. Each part is left out when empty, so tasks on executors without them
   * keep their keys.
   */
  #executorParts(task: PlanTask, parts: KeyParts): void {
    const ex = this.#o.executors?.[task.executor];
    if (!ex) return;
    const env = Object.entries(ex.env).filter(([k]) => !(k in task.env));
    if (env.length > 0) parts.executor_env = Object.fromEntries(env);
    if (ex.workerInit !== undefined && ex.workerInit !== "") parts.worker_init = ex.workerInit;
    const paths: Record<string, string[]> = {};
    for (const [role, files] of [["in", task.inputs], ["out", task.outputs]] as const) {
      for (const f of files) {
        const seen = this.#stagedPath(f);
        if (seen !== undefined) (paths[`${role}:${f.name}`] ??= []).push(seen);
      }
    }
    if (Object.keys(paths).length > 0) parts.paths = paths;
    if (task.container !== undefined) parts.container = task.container.identity;
  }

  /**
   * The path a task sees for `f` when its executor's staging chose it (an in-place rule, a copy
   * on the node, a transfer to the executor's storage), workspace paths relative to it; undefined
   * for a file seen where it is in the workspace, or fetched into the workspace.
   */
  #stagedPath(f: PlanFile): string | undefined {
    if (f.staging === "none") return undefined;
    const inWorkspace = f.path.startsWith(this.#wsPrefix);
    if (f.staging === "transfer" && (inWorkspace || f.staged !== undefined)) return undefined;
    // In the task's directory (relative) or in the workspace: as the workspace file's own path, the
    // task sees nothing different (a copy on scratch, a link).
    const rel = inWorkspace ? f.path.slice(this.#wsPrefix.length) : f.path;
    if (!inWorkspace && rel.startsWith("/")) return rel;
    return rel === workspaceRelative(f.url, this.#base) ? undefined : rel;
  }

  /** The key of a set of parts. */
  static key(parts: KeyParts): string {
    return sha256(canonical(parts));
  }

  /** Whether `task` must run, as things are now (at run time: its inputs are in place). */
  decide(task: PlanTask): CacheDecision {
    if (task.expandsAfter) {
      return { cached: false, reason: `expands after ${task.expandsAfter.app}` };
    }
    const { parts, missing } = this.parts(task);
    const key = missing === undefined ? Cache.key(parts) : undefined;
    const base = { ...(key !== undefined ? { key } : {}), parts };
    const forced = this.#forced(task);
    if (forced !== undefined) return { cached: false, reason: forced, ...base };
    const record = this.#o.store.successes().get(task.id);
    if (!record) return { cached: false, reason: "new", ...base };
    if (key === undefined) return { cached: false, reason: `input ${missing} missing`, ...base };
    if (key !== record.key) {
      return { cached: false, reason: why(record.parts as unknown as KeyParts, parts), ...base };
    }
    const check = this.#checkOutputs(task, record.outputs);
    const bad = check.bad ??
      (check.temps.length > 0 && !this.#notNeeded.has(task.id)
        ? `output ${check.temps[0]!.name} missing`
        : undefined);
    if (bad) return { cached: false, reason: bad, ...base };
    return { cached: true, reason: tempReason(check.temps) ?? "cached", ...base, record };
  }

  /**
   * A plan learned that a result store holds `task`'s entry: what it holds stands for the files
   * it restores (its readers' keys), and {@linkcode storeStatus} shows it.
   */
  noteStoreHit(task: string, hit: StoreHit): void {
    this.#storeHits.set(task, hit);
    for (const [url, sha] of hit.files) this.#assumed.set(url, `sha256:${sha}`);
  }

  /** `cached: store URL` when a store holds the task's entry for its key as things are now. */
  storeStatus(task: PlanTask): PlanStatus | undefined {
    const hit = this.#storeHits.get(task.id);
    if (!hit || this.#forced(task) !== undefined) return undefined;
    const { parts, missing } = this.parts(task);
    if (missing !== undefined || Cache.key(parts) !== hit.key) return undefined;
    return { action: "cached", reason: `store ${hit.store}` };
  }

  /** Whether the task runs whatever its state (or a result store) says. */
  isForced(task: PlanTask): boolean {
    return this.#forced(task) !== undefined;
  }

  /** Why the task runs whatever its state says: `--no-cache`, `--rerun`, `cache: false`. */
  #forced(task: PlanTask): string | undefined {
    if (this.#o.noCache) return "--no-cache";
    if (this.#rerun.has(task.app) || this.#rerun.has(task.id)) return "--rerun";
    if (!this.#o.workflow.apps[task.app]!.cache.enabled) return "cache: false";
    return undefined;
  }

  /**
   * Whether `task` runs, as a plan made before anything ran can tell. It is
   * `may-run` when what differs from its recorded success (if anything) is
   * only what the run learns: the files and results of the tasks before it
   * that run (`upstream`), or inputs a transfer fetches again with no
   * checksum to pin them.
   * The run then decides with {@linkcode decide}, its inputs in place.
   */
  planStatus(task: PlanTask, upstream?: Upstream): PlanStatus {
    if (task.expandsAfter) {
      return { action: "dynamic", reason: `expands after ${task.expandsAfter.app}` };
    }
    const record = this.#o.store.successes().get(task.id);
    const forced = this.#forced(task);
    if (forced !== undefined || !record) return { action: "run", reason: forced ?? "new" };
    const fetched = task.inputs.filter((f) => f.staging === "transfer" && f.checksum === undefined)
      .map((f) => f.name);
    // Tasks before it that leave its key alone (an `after:` without files) change nothing.
    const learns = upstream !== undefined && (upstream.slots.size > 0 || upstream.results);
    if (!learns && fetched.length === 0) {
      const d = this.decide(task);
      if (d.cached) return { action: "cached", reason: d.reason };
      // Deleted temp outputs: skipped unless a task reads them (the plan looks at its readers).
      const temps = d.reason.startsWith("output ") ? this.deletedTemps(task) : [];
      if (temps.length > 0 && d.key === record.key) {
        return { action: "cached", reason: tempReason(temps)! };
      }
      return { action: "run", reason: d.reason };
    }
    const unknown = new Set([...(upstream?.slots ?? []), ...fetched]);
    const { parts } = this.parts(task);
    const gone = Object.entries(parts.inputs ?? {}).find(([slot, hashes]) =>
      !unknown.has(slot) && hashes.includes("missing")
    );
    if (gone) return { action: "run", reason: `input ${gone[0]} missing` };
    const known = (p: KeyParts) => knownParts(p, unknown, upstream?.results === true);
    const was = known(record.parts as unknown as KeyParts), now = known(parts);
    if (canonical(was) !== canonical(now)) return { action: "run", reason: why(was, now) };
    const bad = this.#checkOutputs(task, record.outputs).bad;
    if (bad) return { action: "run", reason: bad };
    return {
      action: "may-run",
      reason: learns ? upstream.reason : `input ${fetched[0]} is checked with its source first`,
    };
  }

  /** Whether the app's tasks return a result (function apps): their readers' keys include it. */
  returnsResult(app: string): boolean {
    return this.#o.workflow.apps[app]?.run?.kind === "function";
  }

  /**
   * Whether the recorded outputs of `task` are there as recorded: `bad` says why not; `temps`
   * are its temp outputs that are gone (deleted once read).
   */
  #checkOutputs(
    task: PlanTask,
    outputs: readonly OutputRecord[],
  ): { bad?: string; temps: PlanFile[] } {
    const temps: PlanFile[] = [];
    for (const o of outputs) {
      if (o.remote) continue; // uploaded: checking would mean asking the server
      const here = localPath(o.url);
      if (here === undefined) continue;
      const h = o.glob ? this.#hashFiles(o.files ?? []) : this.#o.store.hashPath(here);
      const temp = !h && !o.glob ? task.outputs.find((f) => f.temp && f.url === o.url) : undefined;
      if (temp) temps.push(temp);
      else if (!h) return { bad: `output ${o.name} missing`, temps };
      else if (h.sha256 !== o.sha256) return { bad: `output ${o.name} modified`, temps };
    }
    return { temps };
  }

  /** The hash of a list of files (their URLs and contents); undefined when one is missing. */
  #hashFiles(urls: readonly string[]): Hashed | undefined {
    return combineFiles(urls, (url) => {
      const here = localPath(url);
      return here !== undefined ? this.#o.store.hashPath(here) : undefined;
    }, this.#base);
  }

  /** {@linkcode #hashFiles} of files just written, read again whatever was known of them. */
  async #hashFilesFresh(
    urls: readonly string[],
    signal?: AbortSignal,
  ): Promise<Hashed | undefined> {
    const hashes = new Map<string, Hashed | undefined>();
    for (const url of urls) {
      const here = localPath(url);
      hashes.set(
        url,
        here !== undefined ? await this.#o.store.hashPathAsync(here, true, signal) : undefined,
      );
    }
    return combineFiles(urls, (url) => hashes.get(url), this.#base);
  }

  /**
   * Hash, asynchronously, the files a plan of `tasks` looks at (local inputs, the outputs their
   * recorded successes name), so that {@linkcode planStatus} finds them hashed: a large file's
   * hash can then be interrupted by `signal` (Ctrl-C), which rejects with its reason.
   */
  async prepare(tasks: readonly PlanTask[], signal?: AbortSignal): Promise<void> {
    const paths = new Set<string>();
    const successes = this.#o.store.successes();
    for (const t of tasks) {
      // Forced tasks are included: the run computes their key, inputs hashed, all the same.
      if (t.expandsAfter) continue;
      for (const f of t.inputs) {
        const here = f.checksum === undefined && f.staging !== "transfer"
          ? localPath(f.url)
          : undefined;
        if (here !== undefined) paths.add(here);
      }
      for (const o of successes.get(t.id)?.outputs ?? []) {
        for (const url of o.remote ? [] : o.glob ? o.files ?? [] : [o.url]) {
          const here = localPath(url);
          if (here !== undefined) paths.add(here);
        }
      }
    }
    for (const p of paths) await this.#o.store.hashPathAsync(p, false, signal);
  }

  /**
   * Record a success: hash the delivered outputs (a large one interruptibly, by `signal`) and
   * commit, with its attempt.
   */
  async commit(
    task: PlanTask,
    run: { runId: string } & AttemptRan,
    logs: { stdout?: string; stderr?: string },
    dynamic: ReadonlyMap<string, readonly FileValue[]>,
    result?: unknown,
    signal?: AbortSignal,
    beforeRecord?: (success: SuccessRecord) => Promise<void>,
  ): Promise<void> {
    const { parts } = this.parts(task);
    const key = Cache.key(parts);
    const outputs: OutputRecord[] = [];
    const before = this.#o.store.successes().get(task.id);
    for (const f of task.outputs) {
      // A temp output is recorded like any other: once deleted, its producer runs again when
      // asked (its readers then find the same content and are skipped).
      const here = localPath(f.url);
      const staged = here === undefined || f.staging === "transfer";
      if (staged) {
        outputs.push({ name: f.name, url: f.url, size: 0, sha256: "", remote: true });
        continue;
      }
      const there = f.keep ? run.kept?.[f.path] : undefined;
      if (there) {
        // Kept on its executor (its transfer brings it here later, if at all): recorded as hashed
        // there. Not here (yet) is then like a deleted temp output, or a missing one.
        outputs.push({ name: f.name, url: f.url, size: there.size, sha256: there.sha256 });
        continue;
      }
      const files = dynamic.get(f.name)?.map((v) => v.url);
      // A glob is no path to hash: its content is the files it collected.
      const glob = f.dynamic === "glob";
      const h = (glob
        ? await this.#hashFilesFresh(files ?? [], signal)
        : await this.#o.store.hashPathAsync(here!, true, signal)) ?? { sha256: "missing", size: 0 };
      const stale = files
        ? leftBehind(before?.outputs.find((o) => o.name === f.name), files)
        : [];
      outputs.push({
        name: f.name,
        url: f.url,
        size: h.size,
        sha256: h.sha256,
        ...(files ? { files } : {}),
        ...(glob ? { glob: true } : {}),
        ...(stale.length > 0 ? { stale } : {}),
      });
    }
    const success: SuccessRecord = {
      taskId: task.id,
      key,
      parts: parts as unknown as Record<string, unknown>,
      runId: run.runId,
      attempt: run.attempt,
      finishedAt: run.endedAt,
      outputs,
      ...(result !== undefined ? { result } : {}),
    };
    // Before the record (the result store's upload): once recorded, a task is wherever it goes.
    await beforeRecord?.(success);
    this.#o.store.recordSuccess(success, {
      runId: run.runId,
      taskId: task.id,
      attempt: run.attempt,
      key,
      outcome: "succeeded",
      startedAt: run.startedAt,
      endedAt: run.endedAt,
      host: run.host,
      ...logs,
      ...(run.usage ? { usage: run.usage } : {}),
      ...(run.pilot ? { pilot: run.pilot } : {}),
    });
  }
}

/**
 * The hash of a list of files (their URLs, workspace files relative to `base`, and contents);
 * undefined when one is missing.
 */
function combineFiles(
  urls: readonly string[],
  hashOf: (url: string) => Hashed | undefined,
  base: string,
): Hashed | undefined {
  const h = createHash("sha256");
  let size = 0;
  for (const url of urls) {
    const f = hashOf(url);
    if (!f) return undefined;
    size += f.size;
    h.update(`${toRecordedUrl(url, base)}\0${f.sha256}\n`);
  }
  return { sha256: h.digest("hex"), size };
}

/** Why a task with deleted temp outputs is skipped: `output bam: temp, deleted, not needed`. */
function tempReason(temps: readonly PlanFile[]): string | undefined {
  return temps.length > 0
    ? `output ${[...new Set(temps.map((f) => f.name))].join(", ")}: temp, deleted, not needed`
    : undefined;
}

/** Key parts without what only the run learns: these input slots, and the results when asked. */
function knownParts(p: KeyParts, slots: ReadonlySet<string>, results: boolean): KeyParts {
  const { inputs, results: returned, ...rest } = p;
  return {
    ...rest,
    ...(inputs
      ? { inputs: Object.fromEntries(Object.entries(inputs).filter(([k]) => !slots.has(k))) }
      : {}),
    ...(returned && !results ? { results: returned } : {}),
  };
}

/** What differs between the recorded parts and the current ones, in a few words. */
function why(before: KeyParts, now: KeyParts): string {
  const bi = before.inputs ?? {}, ni = now.inputs ?? {};
  for (const k of Object.keys(ni)) {
    if (!(k in bi)) return `input ${k} added`;
    if (canonical(bi[k]) !== canonical(ni[k])) return `input ${k} changed`;
  }
  for (const k of Object.keys(bi)) if (!(k in ni)) return `input ${k} removed`;
  const br = before.results ?? {}, nr = now.results ?? {};
  for (const k of Object.keys(nr)) if (br[k] !== nr[k]) return `result of ${k} changed`;
  if (before.command !== now.command) return "command changed";
  if (before.script !== now.script) return "script changed";
  const bp = before.params ?? {}, np = now.params ?? {};
  for (const k of new Set([...Object.keys(bp), ...Object.keys(np)])) {
    if (canonical(bp[k]) !== canonical(np[k])) return `param ${k} changed`;
  }
  const be = before.env ?? {}, ne = now.env ?? {};
  for (const k of new Set([...Object.keys(be), ...Object.keys(ne)])) {
    if (be[k] !== ne[k]) return `env ${k} changed`;
  }
  const bx = before.executor_env ?? {}, nx = now.executor_env ?? {};
  for (const k of new Set([...Object.keys(bx), ...Object.keys(nx)])) {
    if (bx[k] !== nx[k]) return `executor env ${k} changed`;
  }
  if (before.worker_init !== now.worker_init) return "worker_init changed";
  if (before.container !== now.container) return "container image changed";
  const bs = before.paths ?? {}, ns = now.paths ?? {};
  for (const k of new Set([...Object.keys(bs), ...Object.keys(ns)])) {
    if (canonical(bs[k]) !== canonical(ns[k])) {
      const [role, slot] = [k.slice(0, k.indexOf(":")), k.slice(k.indexOf(":") + 1)];
      return `path of ${role === "in" ? "input" : "output"} ${slot} changed`;
    }
  }
  if ((before.version ?? null) !== (now.version ?? null)) return "version changed";
  if (canonical(before.outputs) !== canonical(now.outputs)) return "outputs changed";
  return "definition changed";
}

/** Relative specifiers a module imports or re-exports, statically or with `import("...")`. */
const LOCAL_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"'\n]+)["']/g;
/** The same, and absolute paths and file URLs. */
const FILE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']((?:\.{1,2}\/|\/|file:\/\/)[^"'\n]+)["']/g;

/**
 * The content hash of a function's module and of every local module it imports, recursively (a
 * change to a helper it imports re-runs its tasks). Remote and npm imports are left to `version:`.
 */
export function moduleClosureHash(entry: string): string {
  const base = dirname(entry);
  return sha256(
    [...moduleClosure(entry)].map(([p, h]) => `${relative(base, p)} ${h}`).sort().join("\n"),
  );
}

/**
 * A module and every local module it imports by a relative specifier (with `absolute`, also by
 * an absolute path or a file URL), recursively: absolute path → sha256 of its text
 * (`unreadable` for one that cannot be read).
 */
export function moduleClosure(entry: string, absolute = false): Map<string, string> {
  const specifiers = absolute ? FILE_IMPORT : LOCAL_IMPORT;
  const seen = new Map<string, string>();
  const visit = (path: string) => {
    if (seen.has(path)) return;
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch {
      seen.set(path, "unreadable");
      return;
    }
    seen.set(path, sha256(text));
    for (const m of text.matchAll(specifiers)) {
      const spec = m[1]!;
      visit(spec.startsWith("file:") ? fileURLToPath(spec) : resolve(dirname(path), spec));
    }
  };
  visit(entry);
  return seen;
}
