/**
 * Temporary outputs (`temp: true`): kept while a task that reads them has
 * yet to succeed, deleted as soon as the last one has.
 * @module
 */

import type { PlanTask } from "../plan.ts";
import type { Node } from "./types.ts";

/** Counts the readers of each temporary output still to succeed, and drops it at zero. */
export class TempKeeper {
  readonly #readers = new Map<string, number>();
  readonly #drop: (url: string) => void;

  /** `drop(url)` deletes a temporary output no task needs any more. */
  constructor(drop: (url: string) => void) {
    this.#drop = drop;
  }

  /** Count again, over every task of the run (after a re-plan added some). */
  recount(nodes: Iterable<Node>): void {
    this.#readers.clear();
    const all = [...nodes];
    const temps = new Set<string>();
    for (const n of all) for (const f of n.task.outputs) if (f.temp) temps.add(f.url);
    if (temps.size === 0) return;
    for (const n of all) {
      if (n.state === "succeeded") continue;
      for (const f of n.task.inputs) {
        if (temps.has(f.url)) this.#readers.set(f.url, (this.#readers.get(f.url) ?? 0) + 1);
      }
    }
    for (const u of temps) if (!this.#readers.has(u)) this.#readers.set(u, 0);
  }

  /** A task succeeded: its temporary outputs nobody reads go, and so do inputs it read last. */
  succeeded(task: PlanTask): void {
    if (this.#readers.size === 0) return;
    for (const f of task.outputs) {
      if (f.temp && this.#readers.get(f.url) === 0) this.#drop(f.url);
    }
    for (const f of task.inputs) {
      const left = this.#readers.get(f.url);
      if (left === undefined) continue;
      this.#readers.set(f.url, left - 1);
      if (left - 1 === 0) this.#drop(f.url);
    }
  }
}
