/**
 * Files kept on an executor between the tasks of a run (an ssh host with
 * `filesystem: none`): an output a task there made for readers there stays in
 * the run's store on the host; they read it in place. It goes once the last
 * of them has succeeded, and whatever is left goes at the run's end.
 * @module
 */

import type { KeptFile } from "../../providers/batch/types.ts";
import { keptKey } from "../attempt.ts";
import type { PlanTask } from "../plan.ts";
import type { Node } from "./types.ts";

/** Deletes kept files (by key) on an executor. */
export type DropKept = (executor: string, keys: readonly string[]) => Promise<void>;

/** What is kept where now, and the readers each still waits for. */
export class KeptCopies {
  /** Kept now (made in this run): URL → executor. */
  readonly #here = new Map<string, string>();
  readonly #readers = new Map<string, number>();
  readonly #drops: Promise<void>[] = [];
  readonly #drop: DropKept;

  /** `drop` deletes kept files on an executor. */
  constructor(drop: DropKept) {
    this.#drop = drop;
  }

  /** Count again the readers still to succeed of each kept file (after a re-plan too). */
  recount(nodes: Iterable<Node>): void {
    this.#readers.clear();
    for (const n of nodes) {
      if (n.state === "succeeded") continue;
      for (const f of n.task.inputs) {
        if (f.kept && f.provider === "kept") {
          this.#readers.set(f.url, (this.#readers.get(f.url) ?? 0) + 1);
        }
      }
    }
  }

  /**
   * The inputs of `task` kept on its executor now, to use there. A file made in an earlier run
   * is not (the task reads the workspace's copy, sent as usual).
   */
  inputsOf(task: PlanTask): KeptFile[] {
    const out = new Map<string, KeptFile>(); // a file read as two inputs: once
    for (const f of task.inputs) {
      if (f.provider !== "kept" || this.#here.get(f.url) !== task.executor) continue;
      out.set(f.path, { path: f.path, key: keptKey(f.url) });
    }
    return [...out.values()];
  }

  /**
   * `task` succeeded on a provider that keeps outputs: its outputs to keep are there now, each
   * kept while its transfer to the workspace (`coming`, by URL) is on its way too.
   */
  made(task: PlanTask, coming: ReadonlyMap<string, Promise<unknown>>): void {
    for (const f of task.outputs) {
      if (!f.keep) continue;
      this.#here.set(f.url, f.keep.executor);
      const transfer = coming.get(f.url);
      if (transfer === undefined) {
        if ((this.#readers.get(f.url) ?? 0) === 0) this.#gone(f.url);
        continue;
      }
      this.#readers.set(f.url, (this.#readers.get(f.url) ?? 0) + 1);
      transfer.catch(() => {}).finally(() => this.#read(f.url));
    }
  }

  /** `task` succeeded: kept files it read last go. */
  succeeded(task: PlanTask): void {
    for (const f of task.inputs) if (f.kept && f.provider === "kept") this.#read(f.url);
  }

  /** One reader of `url` less; the last one's end drops it. */
  #read(url: string): void {
    const left = (this.#readers.get(url) ?? 1) - 1;
    this.#readers.set(url, left);
    if (left === 0) this.#gone(url);
  }

  /** The run is over: what is still kept goes (its readers failed or never ran). */
  async close(): Promise<void> {
    const by = new Map<string, string[]>();
    for (const [url, ex] of this.#here) by.set(ex, [...by.get(ex) ?? [], keptKey(url)]);
    this.#here.clear();
    for (const [ex, keys] of by) this.#drops.push(this.#drop(ex, keys).catch(() => {}));
    await Promise.all(this.#drops);
  }

  #gone(url: string): void {
    const ex = this.#here.get(url);
    if (ex === undefined) return;
    this.#here.delete(url);
    this.#drops.push(this.#drop(ex, [keptKey(url)]).catch(() => {}));
  }
}
