/**
 * Granting resources: what an executor can give, and how much of each
 * elastic resource (`cores`, `memory`) one task gets. A task is granted as
 * much as its executor has, from its minimum to its maximum: `cores: 8` on a
 * 2-core machine runs with 2, like Snakemake's threads under `--cores 2`. A
 * minimum above what the executor has is a `check` error at the key, not a
 * failure at run time. Bounds written as `${{ }}` are evaluated per task.
 *
 * What a task is granted is not part of its cache key (nor are its requests):
 * the same task run with fewer cores on a smaller machine makes the same
 * outputs.
 * @module
 */

import { error, type Problem } from "../dsl/diagnostic.ts";
import type { App, Executor, ResourceBound, ResourceRange, Resources } from "../dsl/model.ts";
import { parseMemory } from "../dsl/quantity.ts";
import { compact } from "../dsl/compact.ts";
import { evaluate, ExpressionError, type Scope } from "./evaluate.ts";
import { formatBytes } from "./format.ts";
import { kindOf } from "./values.ts";

/** What an executor can grant one task: `Infinity` where it does not say (a scheduler decides). */
export interface Capacity {
  /** Cores. */
  readonly cores: number;
  /** Bytes of memory. */
  readonly memory: number;
}

let machineMemory: number | undefined;

/**
 * What an executor can grant: its declared `cores` and `memory`; for the
 * local provider, the machine's where it declares none; for other providers
 * (ssh hosts, schedulers), no bound where it declares none.
 */
export function capacityOf(ex: Executor): Capacity {
  const local = ex.provider === "local";
  const cores = ex.cores ?? (local ? navigator.hardwareConcurrency : Infinity);
  if (ex.memory !== undefined || !local) return { cores, memory: ex.memory ?? Infinity };
  machineMemory ??= Deno.systemMemoryInfo().total;
  return { cores, memory: machineMemory };
}

/** How much of a resource a task gets: as much as there is up to `max`, or none below `min`. */
export function grantAmount(
  min: number,
  max: number,
  capacity: number,
): { readonly granted: number } | { readonly short: true } {
  if (min > capacity) return { short: true };
  return { granted: Math.min(Math.max(min, max), capacity) };
}

/** A resource granted below what was asked: the maximum asked and what the executor has. */
export interface ScaledDown {
  /** The maximum asked (per rank, for cores). */
  readonly asked: number;
  /** What the executor has. */
  readonly has: number;
}

/** The resources granted to one task, and where each was scaled down. */
export interface Grant {
  /** What the task gets: `${{ resources.* }}`, the scheduler's request, the pool's accounting. */
  readonly resources: Resources;
  /** Set for `cores` and `memory` when the task gets less than its maximum. */
  readonly scaledDown?: { readonly cores?: ScaledDown; readonly memory?: ScaledDown };
}

/** Who is asking: for messages. */
export interface Asker {
  /** The task's id. */
  readonly task: string;
  /** Its app. */
  readonly app: App;
  /** The executor it runs on. */
  readonly executor: Executor;
}

/**
 * Grant a task its resources on its executor. `scope` evaluates `${{ }}`
 * bounds; problems are pushed to `problems`: a bound that is no amount (the
 * grant then leaves that resource out), a minimum above capacity (the grant
 * then holds the minimum, so the task's commands still render).
 */
export function grantResources(
  who: Asker,
  scope: Scope,
  capacity: Capacity,
  problems: Problem[],
): Grant {
  const { cores: written, memory: memRange, ranksWhere, ...fixed } = who.app.resources;
  // Without `cores`, each rank takes one: ranks beyond the executor's cores are reported at ranks.
  const coreRange = written ??
    (ranksWhere && { min: 1, max: 1, minWhere: ranksWhere, maxWhere: ranksWhere });
  const ranks = fixed.ranks ?? 1;
  const scaled: { cores?: ScaledDown; memory?: ScaledDown } = {};
  const one = (kind: "cores" | "memory", r: ResourceRange | undefined, perTask: number) => {
    if (r === undefined) return undefined;
    const min = bound(kind, r.min, r.minWhere, who, scope, problems);
    const max = r.max === r.min ? min : bound(kind, r.max, r.maxWhere, who, scope, problems);
    if (min === undefined || max === undefined) return undefined;
    const g = grantAmount(min, max, perTask);
    if ("short" in g) {
      problems.push({
        ...error(
          "resources-exceed",
          r.minWhere,
          short(
            kind,
            min,
            typeof r.min === "string" ? who : { ...who, task: who.app.name },
            capacity,
          ),
        ),
        at: "key",
      });
      return min; // reported: the rest of the task still renders, without errors about it
    }
    if (g.granted < max) scaled[kind] = { asked: max, has: capacity[kind] };
    return g.granted;
  };
  const cores = one("cores", coreRange, Math.floor(capacity.cores / ranks));
  const memory = one("memory", memRange, capacity.memory);
  return compact<Grant>({
    resources: compact<Resources>({
      cores: written && cores,
      memory,
      walltime: fixed.walltime,
      gpus: fixed.gpus,
      ranks: fixed.ranks,
    }),
    scaledDown: Object.keys(scaled).length > 0 ? scaled : undefined,
  });
}

/** Why a minimum cannot be granted; it names the task only when the minimum is a template. */
function short(kind: "cores" | "memory", min: number, who: Asker, cap: Capacity): string {
  const ex = who.executor, ranks = who.app.resources.ranks ?? 1;
  const inTask = who.task === who.app.name ? "" : ` (in task ${who.task})`;
  const need = kind === "memory"
    ? `${formatBytes(min)} of memory and it has ${formatBytes(cap.memory)}`
    : ranks > 1
    ? `${min * ranks} cores (${ranks} ranks × ${min}) and it has ${cap.cores}`
    : `${min} ${min === 1 ? "core" : "cores"} and it has ${cap.cores}`;
  return `Cannot run "${who.app.name}" on executor "${ex.name}": it needs at least ${need}${inTask}`;
}

/** One bound as an amount (cores, or bytes), or undefined with a problem. */
function bound(
  kind: "cores" | "memory",
  b: ResourceBound,
  where: (string | number)[] | readonly (string | number)[],
  who: Asker,
  scope: Scope,
  problems: Problem[],
): number | undefined {
  if (typeof b === "number") return b;
  const inTask = who.task === who.app.name ? "" : ` (in task ${who.task})`;
  let v;
  try {
    v = evaluate(b, scope);
  } catch (e) {
    if (!(e instanceof ExpressionError)) throw e;
    problems.push(error(e.code, where, `${e.message}${inTask}`));
    return undefined;
  }
  const fail = (why: string) => {
    problems.push(
      error("invalid-value", where, `Cannot use ${JSON.stringify(b)} as ${kind}: ${why}${inTask}`),
    );
    return undefined;
  };
  if (kind === "cores") {
    const n = typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
    if (typeof n === "number" && Number.isInteger(n) && n >= 1) return n;
    return fail(`it gives ${kindOf(v)}, not a whole number of 1 or more`);
  }
  if (typeof v !== "string") return fail(`it gives ${kindOf(v)}, not a memory size like 4GiB`);
  const q = parseMemory(v);
  return "value" in q ? q.value : fail(`${JSON.stringify(v)}: ${q.why}`);
}

/** `cores 2 (asked 8; executor "local" has 2)`: what a task got where it got less than it asked. */
export function scaledDownText(
  resources: Resources,
  scaled: Grant["scaledDown"],
  executor: string,
): string[] {
  const out: string[] = [];
  if (scaled?.cores) {
    const { asked, has } = scaled.cores;
    out.push(`cores ${resources.cores} (asked ${asked}; executor "${executor}" has ${has})`);
  }
  if (scaled?.memory) {
    const { asked, has } = scaled.memory;
    out.push(
      `memory ${formatBytes(resources.memory ?? 0)} (asked ${
        formatBytes(asked)
      }; executor "${executor}" has ${formatBytes(has)})`,
    );
  }
  return out;
}
