/**
 * The plan as the workspace's state sees it: `ferry plan` and `ferry run`
 * both mark each task cached or to run (with the reason), and expand dynamic
 * fan-outs whose producer is cached from the files it recorded. Shared so
 * that the dry run says exactly what the run will do.
 * @module
 */

import { dirname, resolve } from "node:path";
import type { Executor, ParamValue } from "../dsl/model.ts";
import { Cache, planWithCache } from "./cache.ts";
import type { CheckResult } from "./check.ts";
import { compile } from "./compile.ts";
import { buildPlan, type Plan } from "./plan.ts";
import type { StateStore } from "./state.ts";
import type { Expansion } from "./expand.ts";
import { resolveTargets } from "./targets.ts";
import { FileValue } from "./values.ts";

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
}

/** The cache for a checked workflow, and its plan with every task's status. */
export function statefulPlan(
  r: CheckResult,
  o: StatefulPlanOptions,
): { plan: Plan; cache: Cache } {
  const workflow = r.workflow!;
  const cache = new Cache({
    store: o.store,
    workflow,
    params: r.expansion!.params as Record<string, unknown>,
    baseDir: dirname(resolve(o.file)),
    noCache: o.noCache === true,
    rerun: o.rerun ?? [],
  });
  const plan = planWithCache(o.plan, cache, o.store, (known) => {
    const c = compileKnown(r, o, known);
    return typeof c === "string" ? undefined : c.plan;
  }, (url) => new FileValue(url));
  return { plan, cache };
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
  const workflow = r.workflow!;
  const c = compile(workflow, {
    workspace: r.workspace,
    executors: o.executors,
    params: o.params,
    outputRoots: r.site?.outputRoots ?? [],
    known,
  });
  const error = c.problems.find((p) => p.severity === "error");
  if (error || !c.plan || !c.linked) return error?.message ?? "the plan could not be built";
  if (o.targets.length === 0) return { plan: c.plan, expansion: c.expansion };
  const t = resolveTargets(o.targets, c.expansion, c.linked, r.workspace);
  if (!t.ok) return t.message;
  const only = { workspace: r.workspace, executors: o.executors, only: t.tasks };
  return { plan: buildPlan(workflow, c.expansion, c.linked, only).plan, expansion: c.expansion };
}
