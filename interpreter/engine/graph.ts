/**
 * The task graph of a run: each task's node, who reads whom, and the ready
 * list fed by finished dependencies. A task is ready when every task it
 * depends on succeeded; a failure blocks every task downstream of it.
 * @module
 */

import type { PlanTask } from "../plan.ts";
import type { Node } from "./types.ts";

/** Nodes by task id, the dependants of each, and the tasks that just became ready. */
export class TaskGraph {
  /** Every node, in plan order (tasks added by a re-plan at the end). */
  readonly nodes: Map<string, Node> = new Map();
  #users = new Map<string, string[]>();
  #ready: string[] = [];

  /** A graph of `tasks`, wired: tasks without dependencies are ready. */
  constructor(tasks: readonly PlanTask[]) {
    for (const t of tasks) this.add(t);
    this.wire();
  }

  /** Add a task, waiting (call {@linkcode wire} once all are added). */
  add(task: PlanTask): Node {
    const node: Node = { task, state: "waiting", attempt: 0, waiting: 0 };
    this.nodes.set(task.id, node);
    return node;
  }

  /** The node of a task id. */
  get(id: string): Node | undefined {
    return this.nodes.get(id);
  }

  /**
   * Count again what each waiting task waits for and who reads whom; a task
   * left waiting for nothing becomes ready. Ready tasks go back to waiting first.
   */
  wire(): void {
    this.#users.clear();
    this.#ready.length = 0;
    for (const n of this.nodes.values()) {
      if (n.state === "ready") n.state = "waiting";
      if (n.state !== "waiting") continue;
      n.waiting = 0;
      for (const d of n.task.deps) {
        if (this.nodes.get(d)?.state !== "succeeded") n.waiting++;
        const users = this.#users.get(d);
        if (users) users.push(n.task.id);
        else this.#users.set(d, [n.task.id]);
      }
    }
    for (const n of this.nodes.values()) {
      if (n.state === "waiting" && n.waiting === 0) this.#makeReady(n);
    }
  }

  #makeReady(n: Node): void {
    n.state = "ready";
    this.#ready.push(n.task.id);
  }

  /** A ready task set aside (waiting for its input transfers) comes back to the ready list. */
  markReady(n: Node): void {
    if (n.state === "ready") this.#ready.push(n.task.id);
  }

  /** Make ready again a task set back to waiting (its dependencies all succeeded). */
  requeue(n: Node): void {
    if (n.state === "waiting" && n.waiting === 0) this.#makeReady(n);
  }

  /**
   * Take every ready task, in the order they became ready, including those
   * that become ready while `visit` runs (a cached task releases its readers).
   */
  drainReady(visit: (n: Node) => void): void {
    for (let i = 0; i < this.#ready.length; i++) {
      const n = this.nodes.get(this.#ready[i]!);
      if (n?.state === "ready") visit(n);
    }
    this.#ready.length = 0;
  }

  /** Whether some task is waiting in the ready list. */
  get hasReady(): boolean {
    return this.#ready.length > 0;
  }

  /** A task succeeded (or was found cached): its readers waiting for nothing else become ready. */
  succeed(node: Node): void {
    node.state = "succeeded";
    for (const u of this.#users.get(node.task.id) ?? []) {
      const n = this.nodes.get(u)!;
      if (n.state === "waiting" && --n.waiting === 0) this.#makeReady(n);
    }
  }

  /**
   * A task failed: every task downstream of it that has not started is
   * blocked; `blocked(id, by)` is told of each, nearest first.
   */
  block(id: string, blocked: (id: string, by: string) => void): void {
    const todo: string[] = [id];
    for (let i = 0; i < todo.length; i++) {
      const by = todo[i]!;
      for (const u of this.#users.get(by) ?? []) {
        const n = this.nodes.get(u)!;
        if (n.state !== "waiting" && n.state !== "ready") continue;
        n.state = "blocked";
        blocked(u, by);
        todo.push(u);
      }
    }
  }

  /** The apps that still have a task not succeeded. */
  pendingApps(): Set<string> {
    const pending = new Set<string>();
    for (const n of this.nodes.values()) if (n.state !== "succeeded") pending.add(n.task.app);
    return pending;
  }

  /** How many tasks a reporter counts (a placeholder replaced by its fan-out does not count). */
  get visibleSize(): number {
    let k = 0;
    for (const n of this.nodes.values()) if (!n.task.expandsAfter) k++;
    return k;
  }
}
