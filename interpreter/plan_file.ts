/**
 * `ferry plan` end to end: check the workflow (once, asking remote servers
 * only when told), restrict the plan to the targets, and mark each task with
 * what the workspace's state says. Never throws for bad input.
 * @module
 */

import { imageResolver } from "./images.ts";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Diagnostic } from "../dsl/diagnostic.ts";
import type { Executor, ParamValue } from "../dsl/model.ts";
import { type CheckOptions, type CheckResult, checkWithStats } from "./check.ts";
import { StatCache } from "./stat_cache.ts";
import { buildPlan, LOCAL_EXECUTOR, type Plan } from "./plan.ts";
import { compileInferred, onlyTasks, statefulPlan } from "./plan_state.ts";
import type { Expansion } from "./expand.ts";
import { StateStore } from "./state.ts";
import { resolveTargets } from "./targets.ts";
import { openResultStore, storeLocation } from "./results/open.ts";
import { RETRY_BASE_MS } from "../providers/_shared/retry.ts";

/** Options for {@linkcode planWorkflowFile}. */
export interface PlanFileOptions extends CheckOptions {
  /** Plan only what these task ids, app names or output paths need. @default all */
  readonly targets?: readonly string[];
  /** Show every task as to run, whatever the state says. @default false */
  readonly noCache?: boolean;
  /** Show these apps (or task ids) as to run again, and what depends on them. @default [] */
  readonly rerun?: readonly string[];
  /**
   * A result store's URL (`--store`; else the site file's `store`): tasks it holds are shown as
   * `cached: store URL`. Only manifests are read. @default undefined
   */
  readonly store?: string;
}

/** A plan, or why there is none; the diagnostics either way. */
export type PlanFileResult =
  & {
    /** Every diagnostic (warnings too), sorted by file and position. */
    readonly diagnostics: readonly Diagnostic[];
    /** Source texts by file name, for carets. */
    readonly sources: ReadonlyMap<string, string>;
  }
  & (
    /** The workflow or site file has errors (in `diagnostics`). */
    | { readonly kind: "invalid" }
    /** A target names nothing in the workflow, or the store URL is no store's. */
    | { readonly kind: "unknown-target" | "bad-store"; readonly message: string }
    | {
      readonly kind: "planned";
      /** The plan, each task marked to run or cached when the workspace has a state. */
      readonly plan: Plan;
      /** Executors in effect, `local` included. */
      readonly executors: Readonly<Record<string, Executor>>;
      /** The workspace directory used. */
      readonly workspace: string;
      /** The workflow file's folder (function modules are relative to it). */
      readonly baseDir: string;
    }
  );

/** Plan a workflow file: what `ferry run` with the same options would do. */
export async function planWorkflowFile(
  file: string,
  options: PlanFileOptions = {},
): Promise<PlanFileResult> {
  const { targets = [], params = {} } = options;
  // One look at each file for the whole plan: the check's, then the state's.
  const stats = new StatCache();
  // Each container image is identified once, by asking its runtime.
  const r = await checkWithStats(file, { ...options, stats, images: imageResolver() });
  const shown = { diagnostics: r.diagnostics, sources: r.sources };
  if (
    r.diagnostics.some((d) => d.severity === "error") || !r.plan || !r.expansion || !r.linked
  ) {
    return { kind: "invalid", ...shown };
  }
  const targeted = planForTargets(r, targets, params, options.assumeInputs === true);
  if (!targeted.ok) return { kind: "unknown-target", message: targeted.message, ...shown };
  const executors = { local: LOCAL_EXECUTOR, ...(r.executors ?? {}) };
  let plan = targeted.plan;
  const where = storeLocation(options.store, {
    ...(options.site !== undefined ? { file: options.site } : {}),
    ...(r.site ? { model: r.site } : {}),
  });
  if (!where.ok) return { kind: "bad-store", message: where.message, ...shown };
  // With a state from earlier runs (or a result store), each task is marked cached or to run.
  if (where.location || existsSync(join(r.workspace, ".ferry", "state.db"))) {
    const store = StateStore.open(r.workspace, { stats });
    const results = where.location &&
      openResultStore(where.location, store, { retryBaseMs: RETRY_BASE_MS });
    try {
      plan = (await statefulPlan(r, {
        file,
        plan,
        executors,
        params: r.params ?? params,
        targets,
        store,
        noCache: options.noCache === true,
        rerun: options.rerun ?? [],
        ...(results ? { results } : {}),
      })).plan;
    } finally {
      await results?.backend.close();
      store.close();
    }
  }
  const baseDir = r.baseDir ?? dirname(resolve(file));
  return { kind: "planned", plan, executors, workspace: r.workspace, baseDir, ...shown };
}

/**
 * The checked workflow's plan restricted to what `targets` need (the whole
 * plan without targets), with the expansion it comes from (tasks inferred
 * from target paths added), or the message naming a target that matches
 * nothing.
 */
export function planForTargets(
  r: CheckResult,
  targets: readonly string[],
  params: Readonly<Record<string, ParamValue>> = {},
  assumeInputs = false,
): { ok: true; plan: Plan; expansion: Expansion } | { ok: false; message: string } {
  if (!r.plan || !r.workflow || !r.expansion || !r.linked) {
    throw new Error("planForTargets needs a workflow checked without errors");
  }
  if (targets.length === 0) return { ok: true, plan: r.plan, expansion: r.expansion };
  const t = resolveTargets(targets, r.expansion, r.linked, r.workspace);
  if (!t.ok) {
    const executors = r.executors ?? {};
    const c = compileInferred(r, { executors, params, targets, assumeInputs }, r.expansion);
    return typeof c === "string"
      ? { ok: false, message: c }
      : { ok: true, plan: c.plan, expansion: c.expansion };
  }
  const only = onlyTasks(r, r.executors ?? {}, t.tasks);
  return {
    ok: true,
    plan: buildPlan(r.workflow, r.expansion, r.linked, only).plan,
    expansion: r.expansion,
  };
}
