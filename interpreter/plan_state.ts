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
    const c = compile(workflow, {
      workspace: r.workspace,
      executors: o.executors,
      params: o.params,
      outputRoots: r.site?.outputRoots ?? [],
      known,
    });
    if (!c.plan || !c.linked || c.problems.some((p) => p.severity === "error")) return undefined;
    if (o.targets.length === 0) return c.plan;
    const t = resolveTargets(o.targets, c.expansion, c.linked, r.workspace);
    return t.ok
      ? buildPlan(workflow, c.expansion, c.linked, {
        workspace: r.workspace,
        executors: o.executors,
        only: t.tasks,
      }).plan
      : undefined;
  }, (url) => new FileValue(url));
  return { plan, cache };
}
