/**
 * The compiled plan: plain data that `ferry plan` prints and `ferry run`
 * executes. Every task with its dependencies, and for every file the path the
 * task sees and how the file gets there on that executor.
 * @module
 */

import { error, inTemplate, type Problem } from "../dsl/diagnostic.ts";
import type { App, Executor, ParamValue, Resources, Workflow } from "../dsl/model.ts";
import {
  type Capacity,
  capacityOf,
  type Grant,
  grantResources,
  type ScaledDown,
} from "./resources.ts";
import { compact } from "../dsl/compact.ts";
import { BUILTIN_PROVIDERS } from "../dsl/rules/staging_rules.ts";
import { renderArgv, type RenderedRun, renderRun, renderText } from "./command.ts";
import { ExpressionError, type Scope } from "./evaluate.ts";
import type { ExpandedTask, Expansion, LogicalFile, TaskFile } from "./expand.ts";
import type { Linked } from "./link.ts";
import { decide, type DecisionKind, scratchRoot, stagedPath, type Unclaimed } from "./staging.ts";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join, posix, relative, resolve } from "node:path";
import { workspaceUrl } from "./urls.ts";
import { toFileUrl } from "../providers/_shared/urls.ts";
import { FileValue, localPath, type Value } from "./values.ts";
import type { ImageResolver } from "./images.ts";
import { grantOf, scriptRun, type ScriptRunContext, scriptRunContext } from "./script_run.ts";

/** One input or output file of a planned task. */
export interface PlanFile {
  /** The slot name (`ref`, or `reads` for each file of a list). */
  readonly name: string;
  /** Normalised URL. */
  readonly url: string;
  /** The staging action chosen: shared, skip, rewrite, scratch, http, ftp, sftp, rsync, copy, or a module. */
  readonly provider: string;
  /** What kind of work the file needs. */
  readonly staging: DecisionKind;
  /** The path the task sees; relative paths are inside the task's directory. */
  readonly path: string;
  /** The staging rule that decided it (index in the executor's rules) or "default". */
  readonly rule: number | "default";
  /** The id of the transfer step that brings (or takes) the file. */
  readonly transfer?: string;
  /**
   * For an input a transfer brings into the workspace's staging area (`.ferry/staged/...`): where
   * that copy is. The task sees it through a link at `path`, in its own directory.
   */
  readonly staged?: string;
  /** For `shared` inputs placed in the task directory: symlink, hardlink or copy. */
  readonly link?: "symlink" | "hardlink" | "copy";
  /**
   * For a file on the executor's own storage under another name (its `endpoints`): the entry
   * that says so, as `URL = PATH`. An input is read in place at `path`; an output moved to `local`.
   */
  readonly endpoint?: string;
  /**
   * For an output to a URL on the executor's own storage under another name (its `endpoints`):
   * the path there. The task writes it at `path` in its directory; once it succeeded the file is
   * moved to this path (on the node when the executor shares no filesystem), never uploaded.
   */
  readonly local?: string;
  /**
   * For an input staged through intermediate storage (a rule's `via_storage`): the last
   * intermediate copy and the transfer that makes it, which the executor's rules then took from
   * as a local file (with one storage, the first hop's).
   */
  readonly via?: PlanHop;
  /**
   * For an input staged through a chain of intermediate storages (`via_storage` a list of two or
   * more): every intermediate copy and the transfer that makes it, in order (the last is `via`).
   */
  readonly hops?: readonly PlanHop[];
  /** `glob` or `dir`: a dynamic output (or an input gathering one). */
  readonly dynamic?: "glob" | "dir";
  /** An intermediate output. */
  readonly temp?: boolean;
  /** An output registered, once in place, in this replica catalog (absolute), with this site. */
  readonly register?: { readonly catalog: string; readonly site: string };
  /** Declared digest of an input. */
  readonly checksum?: string;
  /** For a logical file (a named file with replicas): its name in `files`. */
  readonly logical?: string;
  /** For a logical file: every replica, how this task's executor would reach it, and which it uses. */
  readonly replicas?: readonly PlanReplica[];
  /** For a logical file fetched on the node (`wrap`): the other replicas to fetch when it fails. */
  readonly fallbacks?: readonly PlanFallback[];
  /**
   * For an input made on an executor that keeps its outputs (its storage is not the
   * workspace's): that executor and task. On the same executor (provider `kept`) the task reads
   * that copy there, in place (see `keep`); elsewhere, the copy `transfer` brings to the workspace.
   */
  readonly kept?: { readonly executor: string; readonly task: string };
  /**
   * For an output read by tasks on its own executor, whose storage is not the workspace's: it
   * stays there for them (`readers`) until the last has succeeded. `deliver`: it also comes to
   * the workspace as usual (not temp, or a reader elsewhere needs it).
   */
  readonly keep?: {
    readonly executor: string;
    readonly readers: readonly string[];
    readonly deliver: boolean;
  };
}

/** One hop of multi-hop staging: the intermediate copy, and the transfer step that makes it. */
export interface PlanHop {
  /** The transfer's id. */
  readonly transfer: string;
  /** Where the copy is. */
  readonly path: string;
}

/** One replica of a logical file, as a task's executor sees it. */
export interface PlanReplica {
  /** Its URL. */
  readonly url: string;
  /** The site holding it, when the workflow or catalog says. */
  readonly site?: string;
  /**
   * How the executor reaches it, cheapest first: `in-place` (no copy), `same-site` (a transfer
   * from the executor's own site), `transfer`, or `unusable` (no rule claims it, or a local
   * copy is absent).
   */
  readonly reach: "in-place" | "same-site" | "transfer" | "unusable";
  /** For `unusable`: why. */
  readonly why?: string;
  /** The replica the task uses. */
  readonly chosen?: boolean;
}

/** Another replica a transfer falls back to when its own fails. */
export interface PlanFallback {
  /** Its URL. */
  readonly url: string;
  /** The staging action that fetches it. */
  readonly provider: string;
  /** The rule of the transfer's executor that chose that action, or "default". */
  readonly rule: number | "default";
}

/**
 * Whether a task would run, and why. A plan knows this before anything ran,
 * so where the answer depends on what the run finds, it says `may-run`.
 */
export interface PlanStatus {
  /**
   * `run`: it runs, whatever the tasks before it write. `may-run`: it runs
   * unless what it reads comes out as it was last time (a task before it
   * runs, or a transfer fetches an input again). `cached`: skipped, its
   * recorded result is still valid. `dynamic`: a placeholder that expands
   * into tasks once its producer ran.
   */
  readonly action: "run" | "may-run" | "cached" | "dynamic";
  /** Why: `new`, `input X changed`, `command changed`, `prep runs first`, ... */
  readonly reason: string;
}

/** One task of the plan. */
export interface PlanTask {
  /** Stable readable id: `align[sample=a]`. */
  readonly id: string;
  /** The app. */
  readonly app: string;
  /** The human label. */
  readonly label: string;
  /** The executor it runs on. */
  readonly executor: string;
  /** The for_each binding. */
  readonly bindings: Readonly<Record<string, string>>;
  /** Ids of the tasks it waits for. */
  readonly deps: readonly string[];
  /** Inputs, in slot order. */
  readonly inputs: readonly PlanFile[];
  /** Outputs, in slot order. */
  readonly outputs: readonly PlanFile[];
  /** What it runs, substituted (for attempt 1). */
  readonly run?: RenderedRun;
  /** Standard output file (relative to the task directory). */
  readonly stdout?: string;
  /** Standard error file. */
  readonly stderr?: string;
  /** Where its usage figures go after each success (`benchmark:`), relative to the workspace. */
  readonly benchmark?: string;
  /** Environment set for the task. */
  readonly env: Readonly<Record<string, string>>;
  /** Resources granted (see interpreter/resources.ts): memory in bytes, walltime in seconds. */
  readonly resources: Resources;
  /** Where the task got less than the maximum it asked for: what it asked, what the executor has. */
  readonly scaledDown?: { readonly cores?: ScaledDown; readonly memory?: ScaledDown };
  /** Retries after the first attempt. */
  readonly retries: number;
  /** Would it run, and why. */
  readonly status: PlanStatus;
  /** When set, the task's directory is on this node-local scratch root (a `scratch` rule applies). */
  readonly scratch?: string;
  /** A placeholder that expands into tasks once this app's output is known. */
  readonly expandsAfter?: { readonly app: string; readonly output: string };
  /** The container it runs in (`container:`), when it names one. */
  readonly container?: PlanContainer;
  /** For an app with several executors (`executor: any` or a list): why this one. */
  readonly placement?: PlanPlacement;
}

/** Why a task of an app that may run on several executors runs on its executor. */
export interface PlanPlacement {
  /** The executors it could run on, in order. */
  readonly among: readonly string[];
  /** Transfers its inputs would need on each (absent: one cannot reach an input at all). */
  readonly transfers: Readonly<Record<string, number>>;
  /** In words: `its inputs are there: 0 transfers (local: 2)`. */
  readonly reason: string;
}

/** A task's container image, and what identifies it in the cache key. */
export interface PlanContainer {
  /** The image as the app names it. */
  readonly image: string;
  /** The executor's engine (absent when it has no `container_runtime`: `check` refuses that). */
  readonly engine?: string;
  /**
   * The image's ID as the engine tells it (`sha256:...`), a `.sif` file's sha256, else the
   * reference itself (not pulled yet, a remote executor, a `docker://` URL for apptainer).
   */
  readonly identity: string;
}

/**
 * A transfer step: its own DAG node, shared by every task needing the file on
 * that storage under rules with the same action and options.
 */
export interface PlanTransfer {
  /**
   * Stable id: `in:workspace:https://…` or `out:workspace:sftp://…`, then `#` and
   * 8 hex digits for a copy of the same URL under another rule.
   */
  readonly id: string;
  /** `in` before consumers run; `out` after the producer succeeded. */
  readonly direction: "in" | "out";
  /** The remote (or source) URL. */
  readonly url: string;
  /** The staging action. */
  readonly provider: string;
  /** The executor whose rule chose it (of the first task needing it under that rule). */
  readonly executor: string;
  /** The rule of that executor that chose it (its index), or "default". */
  readonly rule: number | "default";
  /** Declared digest of the file, `sha256:<hex>` (from a consumer's input). */
  readonly checksum?: string;
  /** Where the copy lands: `workspace` or `executor:NAME`. */
  readonly storage: string;
  /** The local path of the copy. */
  readonly path: string;
  /** Tasks that read it (in) or the task that writes it (out). */
  readonly consumers: readonly string[];
  /** For a logical file: the other replicas to fetch, in order, when this URL fails. */
  readonly fallbacks?: readonly PlanFallback[];
  /** A later hop of a multi-hop staging: the id of the transfer that brings its source first. */
  readonly after?: string;
}

/** Counts for the summary line. */
export interface PlanSummary {
  /** Tasks in the plan (placeholders count as one). */
  readonly tasks: number;
  /** Tasks that run (status `run`). */
  readonly run: number;
  /** Tasks that run unless what they read comes out unchanged (status `may-run`). */
  readonly mayRun: number;
  /** Tasks that are cached. */
  readonly cached: number;
  /** Placeholder tasks that expand at run time (status `dynamic`). */
  readonly dynamic: number;
  /** Transfer steps. */
  readonly transfers: number;
  /** Per executor: tasks and transfers. */
  readonly executors: Readonly<
    Record<string, { readonly tasks: number; readonly transfers: number }>
  >;
}

/** The plan: what `ferry plan` shows and `ferry run` does. */
export interface Plan {
  /** Plan format version. */
  readonly ferryPlan: 1;
  /** The workflow's name. */
  readonly workflow: string;
  /** The workspace as a file: URL. */
  readonly workspace: string;
  /** Tasks in a valid topological order. */
  readonly tasks: readonly PlanTask[];
  /** Transfer steps, in order of first need. */
  readonly transfers: readonly PlanTransfer[];
  /** Counts. */
  readonly summary: PlanSummary;
}

/** Options for {@linkcode buildPlan}. */
export interface BuildPlanOptions {
  /** The workspace directory. */
  readonly workspace: string;
  /** Executors in effect (workflow's, overridden by the site's); `local` is added if absent. */
  readonly executors: Readonly<Record<string, Executor>>;
  /** Restrict to these tasks (indices) and what they need. @default all */
  readonly only?: ReadonlySet<number>;
  /** Container images' identities (`ferry check` asks no runtime). @default the reference */
  readonly images?: ImageResolver;
  /** The workflow file's folder: `script:` and `permissions:` paths start there. @default workspace */
  readonly baseDir?: string;
}

/** Staging actions that can fetch but not upload. */
const FETCH_ONLY: ReadonlySet<string> = new Set(["http", "https"]);

/** The default `local` executor: the local provider on a shared filesystem. */
export const LOCAL_EXECUTOR: Executor = Object.freeze({
  name: "local",
  provider: "local",
  options: {},
  filesystem: "shared",
  bundle: "none",
  env: {},
  staging: [],
});

/** The built-in providers whose job wrapper stages files on the node or host itself. */
const NODE_SIDE: ReadonlySet<string> = new Set(BUILTIN_PROVIDERS.filter((p) => p !== "local"));

/**
 * Whether outputs made on `ex` stay there for readers on it: a host or cluster whose storage is
 * not the workspace's, to which each attempt is copied (`filesystem: none` with the ssh provider,
 * or with a scheduler reached `via:` ssh). Pilot blocks bring every output back through their
 * queue's sync (not yet kept there).
 */
export function keepsOutputs(ex: Executor | undefined): boolean {
  return ex?.filesystem === "none" && ex.bundle !== "pilot" &&
    (ex.provider === "ssh" || ex.via !== undefined);
}

/** The id of the transfer that brings output `url`, kept on `executor`'s host, to the workspace. */
export function keptTransferId(executor: string, url: string): string {
  return `in:kept:${executor}:${url}`;
}

/**
 * Files made on an executor that keeps its outputs and read by tasks on the same executor: the
 * readers read the maker's copy there in place (`kept`), the maker keeps it for them (`keep`).
 * What comes to the workspace (not temp, or read elsewhere) does so by a transfer of its own
 * after the maker succeeded: readers elsewhere wait for it, readers there do not.
 */
function keepOnExecutors(
  tasks: PlanTask[],
  executors: Readonly<Record<string, Executor>>,
): { tasks: PlanTask[]; transfers: PlanTransfer[] } {
  const maker = new Map<string, PlanTask>();
  for (const t of tasks) {
    if (!keepsOutputs(executors[t.executor])) continue;
    for (const f of t.outputs) if (f.dynamic === undefined) maker.set(f.url, t);
  }
  if (maker.size === 0) return { tasks, transfers: [] };
  const readers = new Map<string, { here: string[]; elsewhere: string[] }>();
  for (const t of tasks) {
    for (const f of t.inputs) {
      const m = maker.get(f.url);
      if (m === undefined || f.dynamic !== undefined) continue;
      const r = readers.get(f.url) ?? { here: [], elsewhere: [] };
      readers.set(f.url, r);
      const list = readsThere(t, m) ? r.here : r.elsewhere;
      if (!list.includes(t.id)) list.push(t.id);
    }
  }
  const transfers: PlanTransfer[] = [];
  const kept = (url: string) => (readers.get(url)?.here.length ?? 0) > 0;
  const out = tasks.map((t) => {
    if (![...t.inputs, ...t.outputs].some((f) => kept(f.url))) return t;
    const inputs = t.inputs.map((f): PlanFile => {
      const m = maker.get(f.url);
      if (m === undefined || f.dynamic !== undefined || !kept(f.url)) return f;
      const from = { executor: m.executor, task: m.id };
      if (!readsThere(t, m)) {
        return { ...f, transfer: keptTransferId(m.executor, f.url), kept: from };
      }
      return {
        ...f,
        provider: "kept",
        staging: "in-place",
        rule: "default",
        kept: from,
      };
    });
    const outputs = t.outputs.map((f): PlanFile => {
      const r = readers.get(f.url);
      if (!r || !kept(f.url) || maker.get(f.url)?.id !== t.id) return f;
      const deliver = !f.temp || r.elsewhere.length > 0;
      if (deliver) transfers.push(keptTransfer(t, f, r.elsewhere));
      return {
        ...f,
        ...(deliver ? { transfer: keptTransferId(t.executor, f.url) } : {}),
        keep: { executor: t.executor, readers: r.here, deliver },
      };
    });
    return { ...t, inputs, outputs };
  });
  return { tasks: out, transfers };
}

/**
 * Whether `reader` reads what `maker` keeps where it is: on the same executor, not in a container
 * (which mounts its own directory only) nor as a function (whose permissions name its paths).
 */
function readsThere(reader: PlanTask, maker: PlanTask): boolean {
  return reader.executor === maker.executor && reader.container === undefined &&
    reader.run?.kind !== "function";
}

/** The transfer that brings a kept output of `t` to the workspace, for `readers` elsewhere. */
function keptTransfer(t: PlanTask, f: PlanFile, readers: readonly string[]): PlanTransfer {
  return {
    id: keptTransferId(t.executor, f.url),
    direction: "in",
    url: f.url,
    provider: "kept",
    executor: t.executor,
    rule: "default",
    storage: "workspace",
    path: localPath(f.url) ?? f.path,
    consumers: readers,
  };
}

/** Build the plan from a linked expansion; problems are staging and rendering failures. */
export function buildPlan(
  w: Workflow,
  x: Expansion,
  l: Linked,
  options: BuildPlanOptions,
): { plan: Plan; problems: Problem[] } {
  const builder = new PlanBuilder(w, x, options);
  const tasks: PlanTask[] = [];
  for (const i of l.order) {
    if (options.only && !options.only.has(i)) continue;
    tasks.push(builder.task(x.tasks[i]!, l.deps[i]!.map((j) => x.tasks[j]!.id)));
  }
  return builder.finish(tasks);
}

/** The files of one role of a task: as planned, and as its templates see them. */
interface PlannedFiles {
  readonly out: PlanFile[];
  readonly values: Record<string, Value>;
}

/**
 * Plans tasks one at a time, collecting the problems and the transfer steps
 * they share (one per URL, storage and rule) as it goes.
 */
class PlanBuilder {
  readonly problems: Problem[] = [];
  readonly #transfers = new Map<string, { t: PlanTransfer; consumers: string[]; rule: string }>();
  /** Files no staging rule claims, by executor and URL: reported once each. */
  readonly #unclaimed = new Set<string>();
  /** A checksum declared on a named file holds wherever the file is used. */
  readonly #declared = new Map<string, string>();
  readonly #executors: Record<string, Executor>;
  readonly #capacities = new Map<string, Capacity>();
  /** Resource problems reported, so a literal bound is reported once, not once per task. */
  readonly #reported = new Set<string>();
  readonly #scripts: ScriptRunContext;
  /** Where each output of the tasks planned so far is made: its task's executor. */
  readonly #madeOn = new Map<string, string>();

  constructor(
    readonly w: Workflow,
    readonly x: Expansion,
    readonly options: BuildPlanOptions,
  ) {
    this.#executors = { local: LOCAL_EXECUTOR, ...options.executors };
    const params = x.params as Readonly<Record<string, ParamValue>>;
    this.#scripts = scriptRunContext(options.baseDir ?? options.workspace, params);
    for (const [name, spec] of Object.entries(w.files)) {
      const url = x.files[name];
      if (spec.checksum !== undefined && url !== undefined) this.#declared.set(url, spec.checksum);
    }
  }

  /** One task: its files, what it runs (rendered for attempt 1), and its needs. */
  task(t: ExpandedTask, deps: readonly string[]): PlanTask {
    const app = this.w.apps[t.app]!;
    const { ex, placement } = this.#place(t, app);
    const inputs = this.#files(t, ex, "input");
    const outputs = this.#files(t, ex, "output");
    const grant = this.#grant(t, app, ex);
    const scope = taskScope(this.x, t, grant.resources, inputs.values, outputs.values, 1);
    const rendered = render(t, app, scope, this.problems, this.#scripts);
    for (const f of outputs.out) this.#madeOn.set(f.url, ex.name);
    return compact({
      id: t.id,
      app: t.app,
      label: rendered.label,
      executor: ex.name,
      bindings: t.bindings,
      deps,
      inputs: inputs.out,
      outputs: outputs.out,
      run: rendered.run,
      stdout: rendered.stdout,
      stderr: rendered.stderr,
      benchmark: this.#benchmark(t, rendered.benchmark),
      env: rendered.env,
      resources: grant.resources,
      scaledDown: grant.scaledDown,
      retries: app.retries,
      status: t.expandsAfter
        ? { action: "dynamic", reason: `expands after ${t.expandsAfter.app}` }
        : { action: "run", reason: "new" },
      expandsAfter: t.expandsAfter,
      scratch: [...inputs.out, ...outputs.out].some((f) => f.provider === "scratch")
        ? scratchRoot(ex)
        : undefined,
      container: app.container !== undefined ? this.#container(ex, app.container) : undefined,
      placement,
    });
  }

  /**
   * A task's executor. An app with several (`executor: any` or a list) goes where its inputs
   * need the fewest transfers (a file a task made counts as where that task ran), ties to the
   * first; the plan says why.
   */
  #place(t: ExpandedTask, app: App): { ex: Executor; placement?: PlanPlacement } {
    const among = app.placeAmong === "any"
      ? [...new Set([app.executor, ...Object.keys(this.#executors)])]
      : app.placeAmong;
    const single = this.#executors[app.executor] ?? LOCAL_EXECUTOR;
    if (!among || t.expandsAfter) return { ex: single };
    const transfers: Record<string, number> = {};
    let best: Executor | undefined;
    for (const name of among) {
      const ex = this.#executors[name];
      const n = ex && this.#transfersOn(t, ex);
      if (ex === undefined || n === undefined) continue;
      transfers[name] = n;
      if (best === undefined || n < transfers[best.name]!) best = ex;
    }
    if (!best) return { ex: single };
    const others = among.filter((n) => n !== best.name && transfers[n] !== undefined)
      .map((n) => `${n}: ${transfers[n]}`);
    const n = transfers[best.name]!;
    const beaten = among.some((o) => o !== best.name && (transfers[o] ?? Infinity) > n);
    const reason = `${beaten ? "its inputs are there" : "the first of equals"}: ${n} transfer${
      n === 1 ? "" : "s"
    }${others.length > 0 ? ` (${others.join(", ")})` : ""}`;
    return { ex: best, placement: { among, transfers, reason } };
  }

  /** How many of a task's inputs `ex` would transfer; undefined when it cannot reach one. */
  #transfersOn(t: ExpandedTask, ex: Executor): number | undefined {
    let n = 0;
    for (const slot of Object.values(t.inputs)) {
      for (const f of slot.files) {
        const madeOn = this.#madeOn.get(f.url);
        if (madeOn === ex.name) continue;
        // Made where it stays (its storage is not the workspace's): elsewhere, a transfer.
        if (madeOn !== undefined && keepsOutputs(this.#executors[madeOn])) {
          n++;
          continue;
        }
        const urls = this.x.logical?.get(f.url)?.replicas.map((r) => r.url) ?? [f.url];
        let cost = Infinity;
        for (const url of urls) {
          const d = decide(ex, url, "input", { workspace: this.options.workspace, slot: "" });
          if ("unclaimed" in d) continue;
          cost = Math.min(cost, d.kind === "none" || d.kind === "in-place" ? 0 : 1);
        }
        if (cost === Infinity) return undefined;
        n += cost;
      }
    }
    return n;
  }

  /** A task's image on its executor, identified once per image (the resolver remembers). */
  #container(ex: Executor, image: string): PlanContainer {
    return compact<PlanContainer>({
      image,
      engine: ex.containerRuntime?.engine,
      identity: this.options.images?.(ex, image) ?? image,
    });
  }

  /** A task's benchmark file, when it is one inside the workspace (else a problem). */
  #benchmark(t: ExpandedTask, path: string | undefined): string | undefined {
    if (path === undefined) return undefined;
    const normal = posix.normalize(path);
    const first = normal.split("/")[0];
    const outside = path.startsWith("/") || first === ".." || normal === ".";
    if (!outside && first !== ".ferry") return normal;
    this.problems.push(error(
      outside ? "output-outside-workspace" : "reserved-output",
      ["apps", t.app, "benchmark"],
      `Cannot write benchmark "${path}" of task ${t.id}: ${
        outside ? "it must be a file in the workspace" : "ferry's own folder .ferry is reserved"
      }`,
    ));
    return undefined;
  }

  /** The resources a task gets on its executor; each problem is reported once per place and text. */
  #grant(t: ExpandedTask, app: App, ex: Executor): Grant {
    if (t.expandsAfter) return { resources: {} };
    const problems: Problem[] = [];
    let capacity = this.#capacities.get(ex.name);
    if (!capacity) this.#capacities.set(ex.name, capacity = capacityOf(ex));
    const scope = { ...baseScope(this.x), ...t.vars };
    const grant = grantResources({ task: t.id, app, executor: ex }, scope, capacity, problems);
    for (const p of problems) {
      const k = `${p.path.join("\u0000")}\u0000${p.message}`;
      if (this.#reported.has(k)) continue;
      this.#reported.add(k);
      this.problems.push(p);
    }
    return grant;
  }

  /** The plan of these tasks, with the transfers they need. */
  finish(planned: PlanTask[]): { plan: Plan; problems: Problem[] } {
    const kept = keepOnExecutors(planned, this.#executors);
    const tasks = kept.tasks;
    const transfers: PlanTransfer[] = [...this.#transfers.values()].map(({ t, consumers }) => ({
      ...t,
      consumers,
    }));
    transfers.push(...kept.transfers);
    return {
      plan: {
        ferryPlan: 1,
        workflow: this.w.name,
        workspace: workspaceUrl(this.options.workspace),
        tasks,
        transfers,
        summary: summarize(tasks, transfers),
      },
      problems: this.problems,
    };
  }

  /** A task's inputs or outputs, slot by slot (a list slot's files as `name/0`, `name/1`, ...). */
  #files(t: ExpandedTask, ex: Executor, role: "input" | "output"): PlannedFiles {
    const out: PlanFile[] = [];
    const values: Record<string, Value> = {};
    for (const [name, slot] of Object.entries(role === "input" ? t.inputs : t.outputs)) {
      const list: FileValue[] = [];
      slot.files.forEach((f, n) => {
        const file = this.#file(t.id, f, name, slot.many ? `${name}/${n}` : name, ex, role);
        if (file === undefined) return;
        out.push(file);
        list.push(new FileValue(f.url, file.path));
      });
      values[name] = slot.many ? list : list[0] ?? null;
    }
    return { out, values };
  }

  /** One file as planned, or undefined (with a problem) when it cannot be staged. */
  #file(
    task: string,
    f: TaskFile,
    name: string,
    slot: string,
    ex: Executor,
    role: "input" | "output",
  ): PlanFile | undefined {
    const checksum = f.checksum ?? (role === "input" ? this.#declared.get(f.url) : undefined);
    const tf = checksum !== undefined && f.checksum === undefined ? { ...f, checksum } : f;
    const o = {
      workspace: this.options.workspace,
      slot,
      baseDir: this.options.baseDir ?? this.options.workspace,
    };
    const logical = role === "input" ? this.x.logical?.get(f.url) : undefined;
    if (logical) return this.#logical(task, tf, logical, name, ex, o);
    const pf = planFile(tf, name, ex, role, o);
    if ("unclaimed" in pf) {
      const k = `${ex.name} ${f.url}`;
      if (!this.#unclaimed.has(k)) {
        this.#unclaimed.add(k);
        this.problems.push(
          error(
            "no-staging-rule",
            f.where,
            `Cannot stage "${f.url}" on executor "${ex.name}": no rule matches it; tried ${
              pf.tried.join(", ")
            }${pf.hint === undefined ? "" : `; ${pf.hint}`}`,
          ),
        );
      }
      return undefined;
    }
    if (role === "output" && FETCH_ONLY.has(pf.file.provider)) {
      this.problems.push(
        error(
          "no-stage-out",
          f.where,
          `Cannot stage output "${name}" out to "${f.url}": the ${pf.file.provider} staging action only fetches; write it to the workspace, or to an ftp:, sftp: or rsync: URL`,
        ),
      );
      return undefined;
    }
    if (pf.file.local !== undefined && pf.file.staging === "wrap" && f.kind !== "file") {
      // The job wrapper moves single files onto the node's storage; a directory it would replace.
      this.problems.push(error(
        "endpoint-output",
        f.where,
        `Cannot move output "${name}" to "${pf.file.local}" on executor "${ex.name}": on a node without a shared filesystem only a file output is moved onto the executor's storage (its endpoints); name a file, or write it to the workspace`,
      ));
      return undefined;
    }
    if (
      role === "output" && f.kind !== "file" && pf.file.staging === "wrap" &&
      pf.file.provider !== "scratch" && pf.file.local === undefined &&
      localPath(pf.file.url) === undefined && NODE_SIDE.has(ex.provider)
    ) {
      // The job wrapper (a scheduler's node, an ssh host) sends single files to their URLs; a
      // directory or glob it would leave there. (ferry itself stages out the local provider's.)
      this.problems.push(error(
        "node-dynamic-output",
        f.where,
        `Cannot stage output "${name}" out to "${f.url}" on executor "${ex.name}": on a node without a shared filesystem only a file output is sent to its URL, not a ${f.kind}; name a file (an archive of it), or write it to the workspace`,
      ));
      return undefined;
    }
    const via = role === "input" ? viaOf(ex, pf.file) : undefined;
    if (via !== undefined) return this.#hops(task, tf, pf.file, via, ex, o);
    if (pf.file.staging !== "transfer") return pf.file;
    return this.#transfer(task, f, pf.file, pf.storage, ex, role);
  }

  /**
   * An input staged through intermediate storage: the rule's transfer brings it to the first of
   * `vias` (a transfer step of its own), a `copy` step brings that copy to each next one, then
   * the executor's rules decide again for the last copy as for a local file there (in place, a
   * `copy` transfer after it, a `scratch` copy on the node). Each hop is shared by every task
   * that needs it, and runs after the hop before.
   */
  #hops(
    task: string,
    f: TaskFile,
    file: PlanFile,
    vias: readonly string[],
    ex: Executor,
    o: { workspace: string; slot: string },
    fallbacks: readonly PlanFallback[] = [],
  ): PlanFile | undefined {
    const first = { ...file, staging: "transfer" as const, path: stagedPath(vias[0]!, f.url) };
    const hop1 = this.#transfer(task, f, first, `via:${vias[0]}`, ex, "input", fallbacks);
    const hops = [{ transfer: hop1.transfer!, path: hop1.path }];
    for (const via of vias.slice(1)) {
      const from: TaskFile = { ...f, url: toFileUrl(hops.at(-1)!.path) };
      const copy: PlanFile = {
        name: file.name,
        url: from.url,
        provider: "copy",
        staging: "transfer",
        path: stagedPath(via, from.url),
        rule: "default",
        ...(file.checksum !== undefined ? { checksum: file.checksum } : {}),
      };
      const hop = this.#transfer(task, from, copy, `via:${via}`, ex, "input");
      this.#after(hop.transfer!, hops.at(-1)!.transfer);
      hops.push({ transfer: hop.transfer!, path: hop.path });
    }
    const last = hops.at(-1)!;
    const local: TaskFile = { ...f, url: toFileUrl(last.path) };
    const next = planFile(local, file.name, ex, "input", o);
    if ("unclaimed" in next) return undefined; // file: URLs are always claimed
    const back = { url: f.url, via: last, ...(hops.length > 1 ? { hops } : {}) };
    if (next.file.staging !== "transfer") return { ...next.file, ...back };
    const final = this.#transfer(task, local, next.file, next.storage, ex, "input");
    this.#after(final.transfer!, last.transfer);
    return { ...final, ...back };
  }

  /** Transfer `id` runs after transfer `before` (the hop that brings its source). */
  #after(id: string, before: string): void {
    const t = this.#transfers.get(id);
    if (t && t.t.after === undefined) t.t = { ...t.t, after: before };
  }

  /**
   * A logical file's input: the replica the executor reaches most cheaply (in place, then one
   * of its own site, then a transfer, each in the order listed), with the others as the
   * transfer's fallbacks; an error when none can reach it.
   */
  #logical(
    task: string,
    f: TaskFile,
    l: LogicalFile,
    name: string,
    ex: Executor,
    o: { workspace: string; slot: string },
  ): PlanFile | undefined {
    const ranked = rankReplicas(f, l, name, ex, o);
    const usable = ranked.filter((r) => r.planned !== undefined);
    const best = usable[0];
    const replicas = l.replicas.map((r, i): PlanReplica => {
      const c = ranked.find((x) => x.index === i)!;
      return compact<PlanReplica>({
        url: r.url,
        site: r.site,
        reach: c.reach,
        why: c.why,
        chosen: c === best ? true : undefined,
      });
    });
    if (!best) {
      const k = `${ex.name} ${f.url} replicas`;
      if (!this.#unclaimed.has(k)) {
        this.#unclaimed.add(k);
        const why = ranked.map((r) => `${r.url} (${r.why})`).join(", ");
        this.problems.push(error(
          "no-replica",
          f.where,
          `Cannot reach file "${l.name}" on executor "${ex.name}": no replica is usable there; ${why}`,
        ));
      }
      return undefined;
    }
    const { file, storage } = best.planned!;
    const chosen = { ...file, logical: l.name, replicas };
    const via = viaOf(ex, file);
    const moved = (r: RankedReplica) => r.planned!.file.staging === file.staging;
    const fallbacks = usable.slice(1).filter(moved)
      .map((r) => ({ url: r.url, provider: r.planned!.file.provider, rule: r.planned!.file.rule }));
    if (file.staging === "wrap" && via === undefined && fallbacks.length > 0) {
      return { ...chosen, fallbacks }; // fetched on the node: the stager tries them in turn
    }
    if (file.staging !== "transfer" && via === undefined) return chosen;
    const at = { ...f, url: best.url };
    if (via !== undefined) {
      const hops = this.#hops(task, at, chosen, via, ex, o, fallbacks);
      return hops && { ...hops, logical: l.name, replicas };
    }
    return this.#transfer(task, at, chosen, storage, ex, "input", fallbacks);
  }

  /** A file moved by a transfer step: the step it shares with the other tasks of its rule. */
  #transfer(
    task: string,
    f: TaskFile,
    file: PlanFile,
    storage: string,
    ex: Executor,
    role: "input" | "output",
    fallbacks: readonly PlanFallback[] = [],
  ): PlanFile {
    let plain = file;
    const direction = role === "input" ? "in" : "out";
    const rule = ruleIdentity(ex, plain);
    let id = `${direction}:${storage}:${f.url}`;
    // Readers of a URL share its transfer, unless their rules differ (other retries,
    // another login): then the transfer (and the copy) of each rule is its own.
    const first = this.#transfers.get(id);
    if (first && first.rule !== rule) {
      const variant = createHash("sha256").update(rule).digest("hex").slice(0, 8);
      id += `#${variant}`;
      if (direction === "in") {
        plain = { ...plain, path: stagedPath(this.options.workspace, f.url, variant) };
      }
    }
    const existing = this.#transfers.get(id);
    if (existing) {
      existing.consumers.push(task);
      if (plain.checksum !== undefined && existing.t.checksum === undefined) {
        existing.t = { ...existing.t, checksum: plain.checksum };
      }
    } else {
      this.#transfers.set(id, {
        t: {
          id,
          direction,
          url: f.url,
          provider: plain.provider,
          executor: ex.name,
          rule: plain.rule,
          ...(plain.checksum !== undefined ? { checksum: plain.checksum } : {}),
          storage,
          path: plain.path,
          consumers: [],
          ...(fallbacks.length > 0 ? { fallbacks } : {}),
        },
        consumers: [task],
        rule,
      });
    }
    if (direction === "out" || storage !== "workspace") return { ...plain, transfer: id };
    // The task sees the copy at a path relative to its directory, the same in every workspace.
    const rel = relative(join(this.options.workspace, ".ferry", "staged"), plain.path);
    return { ...plain, transfer: id, staged: plain.path, path: posix.join("_inputs", rel) };
  }
}

/**
 * The intermediate storages a file's rule stages it through (`via_storage`: one, or a list in
 * the order the file goes through them), as paths.
 */
function viaOf(ex: Executor, f: PlanFile): string[] | undefined {
  if (f.rule === "default" || (f.staging !== "transfer" && f.staging !== "wrap")) return undefined;
  const via = ex.staging[f.rule]?.options.via_storage;
  const list = typeof via === "string" ? [via] : Array.isArray(via) ? via : [];
  const paths = list.filter((v): v is string => typeof v === "string")
    .map((v) => v.startsWith("file:") ? localPath(v) ?? v : v);
  return paths.length > 0 ? paths : undefined;
}

/** What makes transfers of one URL under two rules the same: the action and the rule's options. */
function ruleIdentity(ex: Executor, f: PlanFile): string {
  const options = f.rule === "default" ? {} : ex.staging[f.rule]?.options ?? {};
  const sorted = Object.entries(options).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([f.provider, sorted]);
}

/** One replica as an executor reaches it: its plan, or why it cannot be used. */
interface RankedReplica {
  readonly index: number;
  readonly url: string;
  readonly reach: PlanReplica["reach"];
  readonly why?: string;
  readonly planned?: { file: PlanFile; storage: string };
}

const REACH_ORDER: Readonly<Record<PlanReplica["reach"], number>> = {
  "in-place": 0,
  "same-site": 1,
  transfer: 2,
  unusable: 3,
};

/** A logical file's replicas on `ex`, cheapest first (a stable sort: ties keep their order). */
function rankReplicas(
  f: TaskFile,
  l: LogicalFile,
  name: string,
  ex: Executor,
  o: { workspace: string; slot: string },
): RankedReplica[] {
  const site = ex.site ?? ex.name;
  const ranked = l.replicas.map((r, index): RankedReplica => {
    const pf = planFile({ ...f, url: r.url }, name, ex, "input", o);
    if ("unclaimed" in pf) {
      return { index, url: r.url, reach: "unusable", why: "no staging rule claims it" };
    }
    const here = localPath(r.url);
    const inPlace = pf.file.staging === "none" || pf.file.staging === "in-place";
    // A local copy is used or copied from this host (a skip or rewrite rule vouches for the node).
    if (here !== undefined && pf.file.staging !== "in-place" && !existsSync(here)) {
      return { index, url: r.url, reach: "unusable", why: "not present on this host" };
    }
    const reach = inPlace
      ? "in-place"
      : r.site !== undefined && r.site === site
      ? "same-site"
      : "transfer";
    return { index, url: r.url, reach, planned: pf };
  });
  return ranked.sort((a, b) => REACH_ORDER[a.reach] - REACH_ORDER[b.reach]);
}

function planFile(
  f: TaskFile,
  name: string,
  ex: Executor,
  role: "input" | "output",
  o: { workspace: string; slot: string; baseDir?: string },
): { file: PlanFile; storage: string } | Unclaimed {
  const d = decide(ex, f.url, role, o);
  if ("unclaimed" in d) return d;
  // Built field by field (not with compact): this runs for every file of every task.
  const file: { -readonly [K in keyof PlanFile]: PlanFile[K] } = {
    name,
    url: f.url,
    provider: d.action,
    staging: d.kind,
    path: d.path,
    rule: d.rule,
  };
  if (d.link !== undefined) file.link = d.link;
  if (d.endpoint !== undefined) {
    const e = ex.endpoints![d.endpoint]!;
    file.endpoint = `${e.url} = ${e.path}`;
  }
  if (d.local !== undefined) file.local = d.local;
  if (f.kind !== "file") file.dynamic = f.kind;
  if (f.temp) file.temp = true;
  if (f.register !== undefined) {
    file.register = {
      catalog: resolve(o.baseDir ?? o.workspace, f.register),
      site: ex.site ?? ex.name,
    };
  }
  if (f.checksum !== undefined) file.checksum = f.checksum;
  return { file, storage: d.storage ?? "workspace" };
}

const baseScopes = new WeakMap<Expansion, Scope>();

function baseScope(x: Expansion): Scope {
  let s = baseScopes.get(x);
  if (!s) {
    const files: Record<string, Value> = {};
    for (const [name, url] of Object.entries(x.files)) files[name] = new FileValue(url);
    s = { params: x.params, files };
    baseScopes.set(x, s);
  }
  return s;
}

function resourceValues(r: Resources): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const [k, v] of Object.entries(r)) if (v !== undefined) out[k] = v;
  return out;
}

function taskScope(
  x: Expansion,
  t: ExpandedTask,
  resources: Resources,
  inputs: Record<string, Value>,
  outputs: Record<string, Value>,
  attempt: number,
): Scope {
  return {
    ...baseScope(x),
    ...t.vars,
    inputs,
    outputs,
    resources: resourceValues(resources),
    task: { id: t.id, label: t.id, attempt },
  };
}

/** What a task runs, rendered again for a later attempt (`${{ task.attempt }}`). */
export type AttemptRendering = Pick<PlanTask, "run" | "env" | "stdout" | "stderr">;

/** Whether an app's run section, env or redirections mention `task.attempt`. */
export function usesAttempt(app: Workflow["apps"][string]): boolean {
  const texts = [
    ...(app.run?.kind === "command"
      ? app.run.argv
      : app.run?.kind === "shell"
      ? [app.run.script]
      : []),
    ...Object.values(app.env),
    app.stdout ?? "",
    app.stderr ?? "",
  ];
  return texts.some((s) => /\$\{\{\s*task\s*\.\s*attempt\b/.test(s));
}

/** Render a planned task for attempt `attempt` (the plan holds attempt 1). */
export function renderAttempt(
  w: Workflow,
  x: Expansion,
  task: PlanTask,
  attempt: number,
): AttemptRendering | undefined {
  const app = w.apps[task.app];
  const t = x.tasks.find((e) => e.id === task.id);
  if (!app || !t || !usesAttempt(app)) return undefined;
  const values = (files: readonly PlanFile[], slots: ExpandedTask["inputs"]) => {
    const out: Record<string, Value> = {};
    for (const [name, slot] of Object.entries(slots)) {
      const list = files.filter((f) => f.name === name).map((f) => new FileValue(f.url, f.path));
      out[name] = slot.many ? list : list[0] ?? null;
    }
    return out;
  };
  const scope = taskScope(
    x,
    t,
    task.resources,
    values(task.inputs, t.inputs),
    values(task.outputs, t.outputs),
    attempt,
  );
  const r = render(t, app, scope, []);
  // A script's path and permissions do not change between attempts (nor may they use the attempt).
  const run = app.run?.kind === "command" || app.run?.kind === "shell" ? r.run : task.run;
  return compact<AttemptRendering>({ run, env: r.env, stdout: r.stdout, stderr: r.stderr });
}

function render(
  t: ExpandedTask,
  app: Workflow["apps"][string],
  taskScope: Scope,
  problems: Problem[],
  scripts?: ScriptRunContext,
) {
  let scope = taskScope;
  const base = ["apps", t.app];
  const attempt = <T>(where: (string | number)[], text: string, f: () => T): T | undefined => {
    if (t.expandsAfter) return undefined;
    try {
      return f();
    } catch (e) {
      if (!(e instanceof ExpressionError)) throw e;
      problems.push(
        inTemplate(error(e.code, where, `${e.message} (in task ${t.id})`), text, e.offset),
      );
      return undefined;
    }
  };
  const label =
    (app.label !== undefined
      ? attempt([...base, "label"], app.label, () => renderText(app.label!, scope))
      : undefined) ?? t.id;
  // The label is known now: the rest may use it.
  scope = { ...scope, task: { ...(scope.task as Record<string, Value>), label } };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(app.env)) {
    const r = attempt([...base, "env", k], v, () => renderText(v, scope));
    if (r !== undefined) env[k] = r;
  }
  return {
    label,
    run: renderRunAt(app, scope, attempt, scripts && { scripts, problems, taskId: t.id }),
    stdout: app.stdout !== undefined
      ? attempt([...base, "stdout"], app.stdout, () => renderText(app.stdout!, scope))
      : undefined,
    stderr: app.stderr !== undefined
      ? attempt([...base, "stderr"], app.stderr, () => renderText(app.stderr!, scope))
      : undefined,
    benchmark: app.benchmark !== undefined
      ? attempt([...base, "benchmark"], app.benchmark, () => renderText(app.benchmark!, scope))
      : undefined,
    env,
  };
}

/** Render the run section, attributing a failure to the argv element or script it comes from. */
function renderRunAt(
  app: Workflow["apps"][string],
  scope: Scope,
  attempt: <T>(where: (string | number)[], text: string, f: () => T) => T | undefined,
  ctx?: { scripts: ScriptRunContext; problems: Problem[]; taskId: string },
): RenderedRun | undefined {
  const run = app.run;
  const base = ["apps", app.name];
  if (run?.kind === "command") {
    const argv: string[] = [];
    for (const [i, arg] of run.argv.entries()) {
      const r = attempt([...base, "command", i], arg, () => renderArgv([arg], scope));
      if (r === undefined) return undefined;
      for (const w of r) argv.push(w); // no spread: `r` may be 100,000 files
    }
    return { kind: "command", argv };
  }
  if (run?.kind === "shell") {
    return attempt([...base, "shell"], run.script, () => renderRun(app, scope));
  }
  if (run?.kind === "script") {
    const path = attempt([...base, "script"], run.path, () => renderText(run.path, scope));
    if (path === undefined || ctx === undefined) return undefined;
    const r = scriptRun(app, path, ctx.scripts, ctx.taskId);
    if (r.problem) ctx.problems.push(r.problem);
    return r.run;
  }
  const permissions = ctx && grantOf(app.permissions, ctx.scripts.baseDir);
  return run && permissions ? { ...run, permissions } : run;
}

/** Counts of a plan's tasks and transfers, for its summary. */
export function summarize(
  tasks: readonly PlanTask[],
  transfers: readonly PlanTransfer[],
): PlanSummary {
  const executors: Record<string, { tasks: number; transfers: number }> = {};
  for (const t of tasks) (executors[t.executor] ??= { tasks: 0, transfers: 0 }).tasks++;
  for (const t of transfers) (executors[t.executor] ??= { tasks: 0, transfers: 0 }).transfers++;
  const count = (action: PlanStatus["action"]) =>
    tasks.filter((t) => t.status.action === action).length;
  return {
    tasks: tasks.length,
    run: count("run"),
    mayRun: count("may-run"),
    cached: count("cached"),
    dynamic: count("dynamic"),
    transfers: transfers.length,
    executors: Object.fromEntries(Object.entries(executors).sort(([a], [b]) => a.localeCompare(b))),
  };
}
