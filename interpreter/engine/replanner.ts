/**
 * The re-planner for dynamic outputs. It keeps the files each app's dynamic
 * outputs collected (this run's, or recorded for a cached task); when a task
 * waits on them (a fan-out over a producer's files, or a task gathering
 * them), it compiles the workflow again with those files known — the same
 * compile path as `ferry plan` — once every task of the producing app is done.
 * @module
 */

import type { FileValue } from "../values.ts";
import { FileValue as FileValueClass } from "../values.ts";
import type { Plan } from "../plan.ts";
import type { SuccessRecord } from "../state.ts";
import type { TaskGraph } from "./graph.ts";
import type { Node } from "./types.ts";

/** Rebuild the plan with these dynamic outputs known; a message when it cannot be. */
export type Replan = (known: ReadonlyMap<string, readonly FileValue[]>) => Promise<Plan | string>;

/** What a re-plan did. */
export type Expansion =
  | { readonly ok: true; readonly plan: Plan; readonly added: readonly string[] }
  | { readonly ok: false; readonly reason: string };

/** Dynamic outputs known so far (by `app.output`), and the re-plans they allow. */
export class Replanner {
  readonly #known = new Map<string, FileValue[]>();
  readonly #replan: Replan | undefined;

  /** A re-planner calling `replan` (none: a run that cannot expand dynamic fan-outs). */
  constructor(replan?: Replan) {
    this.#replan = replan;
  }

  /** Whether a ready task must wait for a re-plan before it can run. */
  static waits(node: Node): boolean {
    return node.task.expandsAfter !== undefined ||
      (!node.gathered && node.task.inputs.some((f) => f.dynamic));
  }

  /** A task of `app` collected these files for its dynamic output `output`. */
  collected(app: string, output: string, files: readonly FileValue[]): void {
    const k = `${app}.${output}`;
    const list = this.#known.get(k);
    if (list) list.push(...files);
    else this.#known.set(k, [...files]);
  }

  /** A cached task: what its record says its dynamic outputs collected. */
  recorded(app: string, record: SuccessRecord): void {
    for (const o of record.outputs) {
      if (o.files) this.collected(app, o.name, o.files.map((u) => new FileValueClass(u)));
    }
  }

  /**
   * Compile again for a task waiting on dynamic outputs and add the new tasks to `graph` (tasks still
   * waiting take their new, concrete form). Only the files of apps whose
   * every task is done count: a list still growing would expand a fan-out or
   * fill a gathering task's inputs with part of it.
   */
  async expand(graph: TaskGraph): Promise<Expansion> {
    const pending = graph.pendingApps();
    const complete = new Map(
      [...this.#known].filter(([k]) => !pending.has(k.slice(0, k.indexOf(".")))),
    );
    const next = this.#replan
      ? await this.#replan(complete)
      : "this run cannot expand dynamic fan-outs";
    if (typeof next === "string") return { ok: false, reason: next };
    const added: string[] = [];
    for (const t of next.tasks) {
      const n = graph.get(t.id);
      if (!n) {
        graph.add(t);
        added.push(t.id);
      } else if (n.state === "waiting" || n.state === "ready") n.task = t; // inputs may have become concrete
    }
    return { ok: true, plan: next, added };
  }
}
