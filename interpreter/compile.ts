/**
 * Compile: model + executors → expanded tasks → linked DAG → plan. The one
 * path that `ferry check`, `ferry plan` and `ferry run` share, also used at
 * run time to expand fan-outs over outputs that just became known.
 * @module
 */

import type { Problem } from "../dsl/diagnostic.ts";
import type { Executor, OwnFile, ParamValue, Workflow } from "../dsl/model.ts";
import { expand, type Expansion, type Extra } from "./expand.ts";
import { link, type Linked } from "./link.ts";
import { buildPlan, type Plan } from "./plan.ts";
import { firstMatch, IN_PLACE_ACTIONS } from "./rules_match.ts";
import { onEndpoint } from "./staging.ts";
import type { FileValue } from "./values.ts";
import type { StatCache } from "./stat_cache.ts";
import type { ImageResolver } from "./images.ts";

/** Options for {@linkcode compile}. */
export interface CompileOptions {
  /** The workspace directory. */
  readonly workspace: string;
  /** Executors in effect. */
  readonly executors: Readonly<Record<string, Executor>>;
  /** Param overrides. @default {} */
  readonly params?: Readonly<Record<string, ParamValue>>;
  /** Roots outside the workspace that outputs may use. @default [] */
  readonly outputRoots?: readonly string[];
  /** The workflow and site files: no output may overwrite them (nor `.ferry/`). @default [] */
  readonly ownFiles?: readonly OwnFile[];
  /** Treat absent local inputs as present. @default false */
  readonly assumeInputs?: boolean;
  /** Files of dynamic outputs already produced (`app.output` → files). @default none */
  readonly known?: ReadonlyMap<string, readonly FileValue[]>;
  /** Files' metadata seen so far in this plan or run. @default a new, empty cache */
  readonly stats?: StatCache;
  /** Tasks inferred from targets' paths, added to their apps' fan-outs. @default none */
  readonly extra?: Extra;
  /** Container images' identities (plan and run ask the runtimes). @default the reference */
  readonly images?: ImageResolver;
  /** The workflow file's folder: `script:` and `permissions:` paths start there. @default workspace */
  readonly baseDir?: string;
}

/** What compiling gives: each phase's result as far as it got, and the problems of all. */
export interface Compiled {
  /** Expanded tasks. */
  readonly expansion: Expansion;
  /** The DAG, when expansion had no errors. */
  readonly linked?: Linked;
  /** The plan, when linking had no errors. */
  readonly plan?: Plan;
  /** Problems by key path, in phase order. */
  readonly problems: readonly Problem[];
}

const hasError = (ps: readonly Problem[]) => ps.some((p) => p.severity === "error");

/** Compile a workflow into a plan; stops after the first phase with errors. */
export function compile(workflow: Workflow, options: CompileOptions): Compiled {
  const {
    workspace,
    executors,
    params = {},
    outputRoots = [],
    ownFiles = [],
    assumeInputs = false,
    known,
    stats,
    extra,
    images,
    baseDir,
  } = options;
  const expansion = expand(workflow, {
    workspace,
    params,
    outputRoots,
    ownFiles,
    ...(known ? { known } : {}),
    ...(extra ? { extra } : {}),
  });
  const problems: Problem[] = [...expansion.problems];
  if (hasError(problems)) return { expansion, problems };
  const inPlace = (i: number, url: string) => {
    // A logical file's copies are checked per executor when the plan picks one.
    if (expansion.logical?.has(url)) return true;
    const app = workflow.apps[expansion.tasks[i]!.app];
    const among = app?.placeAmong === "any"
      ? Object.keys(executors)
      : app?.placeAmong ?? [app?.executor ?? "local"];
    return among.some((name) => {
      const ex = executors[name];
      if (ex && onEndpoint(ex, url)) return true; // the executor's own storage: its nodes see it
      const m = ex ? firstMatch(ex, url) : undefined;
      return m !== undefined && IN_PLACE_ACTIONS.has(m.rule.action);
    });
  };
  const linked = link(workflow, expansion, {
    workspace,
    assumeInputs,
    inPlace,
    ...(stats ? { stats } : {}),
  });
  for (const p of linked.problems) problems.push(p);
  if (hasError(problems)) return { expansion, linked, problems };
  const built = buildPlan(workflow, expansion, linked, {
    workspace,
    executors,
    ...(images ? { images } : {}),
    ...(baseDir !== undefined ? { baseDir } : {}),
  });
  for (const p of built.problems) problems.push(p);
  return { expansion, linked, plan: built.plan, problems };
}
