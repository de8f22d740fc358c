/**
 * The plan as the workspace's state sees it: `ferry plan` and `ferry run`
 * both mark each task to run, may run or cached (with the reason), and expand
 * dynamic fan-outs whose producer is cached from the files it recorded.
 * Shared so that the dry run says exactly what the run will do, and "may run"
 * where only the run can tell.
 * @module
 */

import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Executor, ParamValue } from "../dsl/model.ts";
import { Cache, type Upstream } from "./cache.ts";
import type { CheckResult } from "./check.ts";
import { compile, type CompileOptions } from "./compile.ts";
import {
  buildPlan,
  type BuildPlanOptions,
  type Plan,
  type PlanStatus,
  type PlanTask,
  summarize,
} from "./plan.ts";
import type { StateStore, SuccessRecord } from "./state.ts";
import { expand, type Expansion, type Extra } from "./expand.ts";
import { inferTargets } from "./infer.ts";
import type { Linked } from "./link.ts";
import { resolveTargets } from "./targets.ts";
import { FileValue } from "./values.ts";
import { fitsTask, type ResultStore, workspaceFileUrl } from "./results/store.ts";
import type { Manifest } from "./results/manifest.ts";
import { Limit } from "../providers/staging/limit.ts";

/** Options for {@linkcode statefulPlan}. */
export interface StatefulPlanOptions {
  /** The workflow file (function modules are relative to its folder). */
  readonly file: string;
  /** The plan to start from (already restricted to the targets). */
  readonly plan: Plan;
  /** Executors in effect. */
  readonly executors: Readonly<Record<string, Executor>>;
  /** Param overrides. */
  readonly params: Readonly<Record<string, ParamValue>>;
  /** Targets (task ids, app names, output paths). */
  readonly targets: readonly string[];
  /** The state store. */
  readonly store: StateStore;
  /** Run everything. */
  readonly noCache?: boolean;
  /** Apps or task ids to run again. */
  readonly rerun?: readonly string[];
  /** Aborting (Ctrl-C) stops hashing a large file; the plan then rejects with its reason. */
  readonly signal?: AbortSignal;
  /** A result store: tasks it holds are planned as `cached: store URL` (nothing downloaded). */
  readonly results?: ResultStore;
}

/** The cache for a checked workflow, and its plan with every task's status. */
export async function statefulPlan(
  r: CheckResult,
  o: StatefulPlanOptions,
): Promise<{ plan: Plan; cache: Cache }> {
  const workflow = r.workflow!;
  const cache = new Cache({
    store: o.store,
    workflow,
    params: r.expansion!.params as Record<string, unknown>,
    baseDir: dirname(resolve(o.file)),
    noCache: o.noCache === true,
    rerun: o.rerun ?? [],
    executors: o.executors,
  });
  const plan = await planWithCache(
    o.plan,
    cache,
    o.store,
    (known) => {
      const c = compileKnown(r, o, known);
      return typeof c === "string" ? undefined : c.plan;
    },
    (url) => new FileValue(url),
    o.signal,
  );
  if (!o.results) return { plan, cache };
  const hits = await withStoreHits(plan, cache, o.results, o.store.workspaceUrl, o.signal);
  return { plan: hits, cache };
}

/**
 * Compile the checked workflow again with the files of dynamic outputs now
 * known (restricted to `targets` when given): the plan and its expansion, or
 * the first error's message.
 */
export function compileKnown(
  r: CheckResult,
  o: Pick<StatefulPlanOptions, "executors" | "params" | "targets">,
  known: ReadonlyMap<string, readonly FileValue[]>,
): { plan: Plan; expansion: Expansion } | string {
  const c = compile(r.workflow!, compileOptions(r, o, known));
  const error = c.problems.find((p) => p.severity === "error");
  if (error || !c.plan || !c.linked) return error?.message ?? "the plan could not be built";
  if (o.targets.length === 0) return { plan: c.plan, expansion: c.expansion };
  const t = resolveTargets(o.targets, c.expansion, c.linked, r.workspace);
  if (!t.ok) return compileInferred(r, o, c.expansion, known);
  const only = onlyTasks(r, o.executors, t.tasks);
  return { plan: buildPlan(r.workflow!, c.expansion, c.linked, only).plan, expansion: c.expansion };
}

/**
 * The plan for targets that name paths no task writes yet: the tasks inferred
 * from output templates added (see infer.ts), restricted to the targets; or
 * why not.
 */
export function compileInferred(
  r: CheckResult,
  o: Pick<StatefulPlanOptions, "executors" | "params" | "targets"> & { assumeInputs?: boolean },
  expansion: Expansion,
  known?: ReadonlyMap<string, readonly FileValue[]>,
): { plan: Plan; expansion: Expansion; linked: Linked } | string {
  const workflow = r.workflow!;
  const inferred = inferTargets(workflow, o.targets, expansion, {
    workspace: r.workspace,
    params: expansion.params,
    expandWith: (extra) => expand(workflow, compileOptions(r, o, known, extra)),
    exists: existsSync,
  });
  if (!inferred.ok) return inferred.message;
  const c = compile(workflow, compileOptions(r, o, known, inferred.extra));
  const error = c.problems.find((p) => p.severity === "error");
  if (error || !c.plan || !c.linked) return error?.message ?? "the plan could not be built";
  const t = resolveTargets(o.targets, c.expansion, c.linked, r.workspace);
  if (!t.ok) return t.message;
  const only = onlyTasks(r, o.executors, t.tasks);
  const plan = buildPlan(workflow, c.expansion, c.linked, only).plan;
  return { plan, expansion: c.expansion, linked: c.linked };
}

/** The options that build the plan of `tasks` alone, as the checked workflow's was built. */
export function onlyTasks(
  r: CheckResult,
  executors: Readonly<Record<string, Executor>>,
  tasks: ReadonlySet<number>,
): BuildPlanOptions {
  return {
    workspace: r.workspace,
    executors,
    only: tasks,
    ...(r.images ? { images: r.images } : {}),
    ...(r.baseDir !== undefined ? { baseDir: r.baseDir } : {}),
  };
}

function compileOptions(
  r: CheckResult,
  o: Pick<StatefulPlanOptions, "executors" | "params"> & { assumeInputs?: boolean },
  known?: ReadonlyMap<string, readonly FileValue[]>,
  extra?: Extra,
): CompileOptions {
  return {
    workspace: r.workspace,
    executors: o.executors,
    params: o.params,
    outputRoots: r.site?.outputRoots ?? [],
    ownFiles: r.ownFiles,
    ...(o.assumeInputs ? { assumeInputs: true } : {}),
    ...(known ? { known } : {}),
    ...(extra ? { extra } : {}),
    ...(r.images ? { images: r.images } : {}),
    ...(r.baseDir !== undefined ? { baseDir: r.baseDir } : {}),
  };
}

/** Dynamic outputs of cached tasks, as the runtime's `known` map wants them (`app.output` → files). */
export function knownFrom(
  records: Iterable<{ app: string; record: SuccessRecord }>,
  fileValue: (url: string) => FileValue,
): Map<string, FileValue[]> {
  const known = new Map<string, FileValue[]>();
  for (const { app, record } of records) {
    for (const o of record.outputs) {
      if (!o.files) continue;
      const k = `${app}.${o.name}`;
      known.set(k, [...(known.get(k) ?? []), ...o.files.map(fileValue)]);
    }
  }
  return known;
}

/**
 * The plan with each task's status and the counts updated. Tasks come in
 * dependency order, so each sees what runs (or may run) before it. A task
 * whose temp outputs were deleted (once read) is skipped while every task
 * reading them is; when one of them runs (or may run), so does the task, first.
 */
export function applyCache(plan: Plan, cache: Cache): Plan {
  cache.noteTemps(plan.tasks);
  const needed = new Map<string, string>();
  for (;;) {
    const tasks = withStatuses(plan.tasks, cache, needed);
    const more = cache.hasTemps ? tempsNeeded(tasks, cache, needed) : [];
    if (more.length === 0) {
      if (cache.hasTemps) {
        for (const t of tasks) if (t.status.action !== "run") cache.tempsNotNeeded(t.id);
      }
      return { ...plan, tasks, summary: summarize(tasks, plan.transfers) };
    }
    for (const [id, why] of more) needed.set(id, why);
  }
}

/** Each task with its status; those in `needed` run, for the reason given there. */
function withStatuses(
  planned: readonly PlanTask[],
  cache: Cache,
  needed: ReadonlyMap<string, string>,
): PlanTask[] {
  const before = new Map<string, PlanTask>();
  return planned.map((t) => {
    const deps = t.deps.flatMap((d) => before.get(d) ?? []);
    const why = needed.get(t.id);
    let status: PlanStatus = why !== undefined
      ? { action: "run", reason: why }
      : cache.planStatus(t, deps.length > 0 ? upstreamOf(t, deps, cache) : undefined);
    if (status.action === "run" && why === undefined) status = cache.storeStatus(t) ?? status;
    const task = { ...t, status };
    if (status.action !== "cached") before.set(t.id, task);
    return task;
  });
}

/**
 * Tasks (not yet in `needed`) whose deleted temp outputs a task that runs reads, or one that
 * may run because of another task than theirs (a task that may run only because their producer
 * may, finds them as they were recorded when it does not): each with why it runs
 * (`output bam: temp, deleted, needed by call[A]`).
 */
function tempsNeeded(
  tasks: readonly PlanTask[],
  cache: Cache,
  needed: ReadonlyMap<string, string>,
): [string, string][] {
  const out: [string, string][] = [];
  const action = new Map(tasks.map((t) => [t.id, t.status.action]));
  const needs = (r: PlanTask, producer: string) =>
    r.status.action === "run" || r.status.action === "dynamic" ||
    (r.status.action === "may-run" &&
      r.deps.some((d) => d !== producer && action.get(d) !== "cached"));
  for (const t of tasks) {
    if (t.status.action === "run" || needed.has(t.id)) continue;
    for (const f of cache.deletedTemps(t)) {
      const reader = tasks.find((r) =>
        r.inputs.some((i) => i.url === f.url || i.url.startsWith(`${f.url}/`)) && needs(r, t.id)
      );
      if (reader) {
        out.push([t.id, `output ${f.name}: temp, deleted, needed by ${reader.id}`]);
        break;
      }
    }
  }
  return out;
}

/** What the tasks before `t` that run or may run (`deps`) leave unknown to a plan. */
function upstreamOf(t: PlanTask, deps: readonly PlanTask[], cache: Cache): Upstream {
  const first = deps.find((d) => d.status.action === "run") ?? deps[0]!;
  const reason = `${first.id} ${first.status.action === "run" ? "runs" : "may run"} first`;
  // A placeholder's files, and a dynamic input's, are known only once they are written.
  const all = deps.some((d) => d.expandsAfter);
  const written = deps.flatMap((d) => d.outputs.map((o) => o.url));
  const slots = t.inputs.filter((f) =>
    all || f.dynamic !== undefined ||
    written.some((url) => f.url === url || f.url.startsWith(`${url}/`))
  ).map((f) => f.name);
  const results = deps.some((d) => cache.returnsResult(d.app));
  return { reason, slots: new Set(slots), results };
}

/**
 * Plan with the state: statuses from the cache, and dynamic fan-outs whose
 * producer is cached expanded from the files it recorded (compiling again
 * with them known, as the run would). Files are hashed first, asynchronously,
 * so that `signal` can stop the hash of a large one.
 */
export async function planWithCache(
  plan: Plan,
  cache: Cache,
  store: StateStore,
  recompile: (known: ReadonlyMap<string, readonly FileValue[]>) => Plan | undefined,
  fileValue: (url: string) => FileValue,
  signal?: AbortSignal,
): Promise<Plan> {
  await cache.prepare(plan.tasks, signal);
  let current = applyCache(plan, cache);
  let seen = "";
  for (let round = 0; round < 16; round++) {
    // Apps whose dynamic outputs someone waits for: fanned out over, or gathered as inputs.
    const waiting = new Set<string>();
    const byId = new Map(current.tasks.map((t) => [t.id, t]));
    for (const t of current.tasks) {
      if (t.expandsAfter) waiting.add(t.expandsAfter.app);
      if (!t.inputs.some((f) => f.dynamic)) continue;
      for (const d of t.deps) {
        const producer = byId.get(d);
        if (producer) waiting.add(producer.app);
      }
    }
    if (waiting.size === 0) break;
    const cached = current.tasks.filter((t) => t.status.action === "cached" && waiting.has(t.app));
    if (cached.length === 0) break;
    const known = knownFrom(
      cached.map((t) => ({ app: t.app, record: store.successes().get(t.id)! })),
      fileValue,
    );
    // Nothing learned since the last round: compiling again would give the same plan.
    const now = [...known].map(([k, v]) => `${k}:${v.length}`).sort().join(",");
    if (known.size === 0 || now === seen) break;
    seen = now;
    const next = recompile(known);
    if (!next) break;
    const before = current.tasks.length;
    await cache.prepare(next.tasks, signal);
    current = applyCache(next, cache);
    if (current.tasks.length === before && !current.tasks.some((t) => t.expandsAfter)) break;
  }
  return current;
}

/**
 * The plan with the tasks a result store holds marked `cached: store URL`:
 * each task that runs (its key known) is looked up, never downloading a
 * file; a hit stands for the files it restores, so the tasks reading them
 * are looked up in the next round, with the keys they will have.
 */
export async function withStoreHits(
  plan: Plan,
  cache: Cache,
  results: ResultStore,
  workspaceUrl: string,
  signal?: AbortSignal,
): Promise<Plan> {
  const asked = new Set<string>();
  const limit = new Limit(8);
  let current = plan;
  for (;;) {
    const asks: { task: PlanTask; key: string }[] = [];
    for (const t of current.tasks) {
      if (t.status.action !== "run" || t.expandsAfter || cache.isForced(t)) continue;
      const { parts, missing } = cache.parts(t);
      const key = missing === undefined ? Cache.key(parts) : undefined;
      if (key === undefined || asked.has(`${t.id}\0${key}`)) continue;
      asked.add(`${t.id}\0${key}`);
      asks.push({ task: t, key });
    }
    let found = 0;
    await Promise.all(asks.map(({ task, key }) =>
      limit.run(async () => {
        const l = await results.lookup(key, signal).catch(() => undefined);
        if (!l?.hit || fitsTask(task, l.manifest, workspaceUrl) !== true) return;
        cache.noteStoreHit(task.id, storeHit(l.manifest, results.url, workspaceUrl));
        found++;
      }, signal)
    ));
    if (found === 0) return current;
    current = applyCache(current, cache);
  }
}

/** What a store entry gives the workspace, for {@linkcode Cache.noteStoreHit}. */
function storeHit(m: Manifest, store: string, workspaceUrl: string) {
  const files = new Map<string, string>();
  for (const o of m.outputs) {
    for (const f of o.files) {
      files.set(workspaceFileUrl(workspaceUrl, f.path), f.sha256);
    }
  }
  return { key: m.key, store, files, ...(m.result !== undefined ? { result: m.result } : {}) };
}
