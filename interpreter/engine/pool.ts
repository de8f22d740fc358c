/**
 * The resource pool and the ready queues. Each executor has slots (tasks at
 * once), cores and memory; a task takes its cores × ranks and its memory
 * while it runs and gives them back when its attempt ends (also between
 * retries). Ready tasks wait in one queue per executor, in plan order; a big
 * task at the head that does not fit yet lets smaller ones a little behind
 * it start, but not far behind (so it is not starved).
 * @module
 */

import type { Executor } from "../../dsl/model.ts";
import type { BatchProvider } from "../../providers/batch/types.ts";
import { formatBytes } from "../format.ts";
import type { PlanTask } from "../plan.ts";
import type { Node } from "./types.ts";
import { type Capacity, capacityOf } from "../resources.ts";

/** What a task holds while it runs. */
export interface Need {
  /** Cores: its cores times its ranks. */
  readonly cores: number;
  /** Bytes of memory. */
  readonly memory: number;
}

/** What a task holds while it runs. */
export function needOf(task: PlanTask): Need {
  return {
    cores: (task.resources.cores ?? 1) * (task.resources.ranks ?? 1),
    memory: task.resources.memory ?? 0,
  };
}

/** What is free on an executor now. */
interface Free {
  slots: number;
  cores: number;
  memory: number;
}

/** How far past a head that does not fit the queue looks for a task that does. */
const LOOKAHEAD = 64;

/** The slots, cores and memory of each executor, taken and given back as tasks run. */
export class ResourcePool {
  readonly #executors: Readonly<Record<string, Executor>>;
  readonly #providers: ReadonlyMap<string, BatchProvider>;
  readonly #jobs: number | undefined;
  readonly #oneAtATime = new Map<string, boolean>();
  readonly #free = new Map<string, Free>();
  readonly #full = new Map<string, Capacity>();

  /** A pool over `executors`; `jobs` bounds the tasks at once of every executor. */
  constructor(
    executors: Readonly<Record<string, Executor>>,
    providers: ReadonlyMap<string, BatchProvider>,
    jobs?: number,
  ) {
    this.#executors = executors;
    this.#providers = providers;
    this.#jobs = jobs;
  }

  /**
   * All the cores and memory of an executor, as the plan granted from them (this machine's for
   * the local provider, unless the executor says; no bound for others that do not say).
   */
  full(name: string): Capacity {
    let f = this.#full.get(name);
    if (!f) this.#full.set(name, f = capacityOf(this.#executors[name]!));
    return f;
  }

  /** What is free on an executor now. */
  free(name: string): Readonly<Free> {
    let c = this.#free.get(name);
    if (!c) {
      c = this.#initial(name);
      this.#free.set(name, c);
    }
    return c;
  }

  #initial(name: string): Free {
    const ex = this.#executors[name]!;
    const provider = this.#providers.get(name);
    // A scheduler accounts cores and memory itself; ferry only bounds the jobs it keeps queued
    // (with `bundle: array`, max_jobs throttles each array instead: all of a fan-out goes at once).
    if (provider?.nodeSide) {
      const slots = this.#jobs ?? provider.capacity ??
        (ex.bundle === "array" ? undefined : ex.maxJobs) ?? 10_000;
      return { slots, cores: Infinity, memory: Infinity };
    }
    const full = this.full(name);
    return {
      slots: this.#jobs ?? ex.maxWorkers ??
        (Number.isFinite(full.cores) ? full.cores : navigator.hardwareConcurrency),
      cores: full.cores,
      memory: full.memory,
    };
  }

  /** Why a task can never run on its executor (it needs more than the executor has), if so. */
  tooBig(task: PlanTask): string | undefined {
    const full = this.full(task.executor);
    const need = needOf(task);
    if (need.cores > full.cores) {
      return `it needs ${need.cores} cores and executor "${task.executor}" has ${full.cores}`;
    }
    if (need.memory > full.memory) {
      return `it needs ${formatBytes(need.memory)} of memory and executor "${task.executor}" has ${
        formatBytes(full.memory)
      }`;
    }
    return undefined;
  }

  /** Whether a slot, the cores and the memory of a task are free now. */
  fits(task: PlanTask): boolean {
    const c = this.free(task.executor);
    const need = needOf(task);
    return c.slots > 0 && c.cores >= need.cores && c.memory >= need.memory;
  }

  /** Whether an executor runs tasks one at a time (`--jobs 1`, or a single core or worker). */
  oneAtATime(name: string): boolean {
    let one = this.#oneAtATime.get(name);
    if (one === undefined) this.#oneAtATime.set(name, one = this.#initial(name).slots <= 1);
    return one;
  }

  /** Whether an executor has a free slot. */
  hasSlot(name: string): boolean {
    return this.free(name).slots > 0;
  }

  /** A task starts: it holds a slot, its cores and its memory. */
  take(task: PlanTask): void {
    this.#add(task, -1);
  }

  /** A task's attempt ended: its slot, cores and memory are free again. */
  give(task: PlanTask): void {
    this.#add(task, 1);
  }

  #add(task: PlanTask, sign: 1 | -1): void {
    const c = this.free(task.executor) as Free;
    const need = needOf(task);
    c.slots += sign;
    c.cores += sign * need.cores;
    c.memory += sign * need.memory;
  }
}

/** One queue of ready tasks per executor, read from `head` so taking the next costs nothing. */
export class ReadyQueues {
  #queues = new Map<string, { items: Node[]; head: number }>();

  /** A ready task joins its executor's queue, at the end (or at the front, for a retry). */
  push(node: Node, front = false): void {
    const name = node.task.executor;
    let q = this.#queues.get(name);
    if (!q) this.#queues.set(name, q = { items: [], head: 0 });
    if (front && q.head > 0) q.items[--q.head] = node;
    else if (front) q.items.unshift(node);
    else q.items.push(node);
  }

  /**
   * Start, in queue order, every task that fits now (see the module's note on
   * look-ahead); with `only`, only the tasks it accepts.
   */
  startFitting(
    pool: ResourcePool,
    start: (node: Node) => void,
    only?: (node: Node) => boolean,
  ): void {
    for (const [name, q] of this.#queues) {
      for (let k = q.head; pool.hasSlot(name) && k < q.items.length && k < q.head + LOOKAHEAD;) {
        const node = q.items[k]!;
        if (node.state !== "ready") {
          if (k === q.head) q.head++;
          k++;
          continue;
        }
        if (!pool.fits(node.task) || (only !== undefined && !only(node))) {
          k++;
          continue;
        }
        if (k === q.head) q.head++;
        else q.items.splice(k, 1);
        start(node);
        if (k !== q.head - 1) continue; // spliced: the next one moved into k
        k = q.head;
      }
      if (q.head > 1024 && q.head * 2 > q.items.length) {
        q.items = q.items.slice(q.head);
        q.head = 0;
      }
    }
  }

  /** Empty every queue and hand back the tasks still queued (a re-plan wires them again). */
  clear(): Node[] {
    const left: Node[] = [];
    for (const q of this.#queues.values()) {
      for (let k = q.head; k < q.items.length; k++) left.push(q.items[k]!);
    }
    this.#queues.clear();
    return left;
  }
}
