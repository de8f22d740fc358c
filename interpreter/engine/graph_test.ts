import assert from "node:assert/strict";
import type { PlanTask } from "../plan.ts";
import { TaskGraph } from "./graph.ts";

const task = (id: string, deps: string[] = []) =>
  ({ id, app: id.split("[")[0], deps }) as unknown as PlanTask;

function ready(g: TaskGraph): string[] {
  const out: string[] = [];
  g.drainReady((n) => out.push(n.task.id));
  return out;
}

Deno.test("TaskGraph: tasks without dependencies are ready; a success releases its readers", () => {
  const g = new TaskGraph([task("a"), task("b"), task("c", ["a", "b"]), task("d", ["c"])]);
  assert.deepEqual(ready(g), ["a", "b"]);
  g.succeed(g.get("a")!);
  assert.deepEqual(ready(g), [], "c still waits for b");
  assert.equal(g.get("c")!.waiting, 1);
  g.succeed(g.get("b")!);
  assert.deepEqual(ready(g), ["c"]);
  assert.equal(g.get("d")!.state, "waiting");
});

Deno.test("TaskGraph: drainReady visits tasks made ready while it runs (cached chains)", () => {
  const g = new TaskGraph([task("a"), task("b", ["a"]), task("c", ["b"])]);
  const seen: string[] = [];
  g.drainReady((n) => {
    seen.push(n.task.id);
    g.succeed(n);
  });
  assert.deepEqual(seen, ["a", "b", "c"]);
  assert.equal(g.hasReady, false);
});

Deno.test("TaskGraph: a failure blocks everything downstream, nearest first, and nothing else", () => {
  const g = new TaskGraph([task("a"), task("x"), task("b", ["a"]), task("c", ["b", "x"])]);
  ready(g);
  const blocked: string[] = [];
  g.block("a", (id, by) => blocked.push(`${id}<${by}`));
  assert.deepEqual(blocked, ["b<a", "c<b"]);
  assert.equal(g.get("x")!.state, "ready");
});

Deno.test("TaskGraph: blocking a 100,000-task chain does not overflow the stack", () => {
  const tasks = [task("t0")];
  for (let i = 1; i < 100_000; i++) tasks.push(task(`t${i}`, [`t${i - 1}`]));
  const g = new TaskGraph(tasks);
  let k = 0;
  g.block("t0", () => k++);
  assert.equal(k, 99_999);
});

Deno.test("TaskGraph: wire after adding tasks counts again; ready tasks stay ready once", () => {
  const g = new TaskGraph([task("a"), task("b", ["a"])]);
  g.succeed(g.get("a")!);
  g.add(task("m[0]", ["a"]));
  g.add(task("r", ["m[0]", "b"]));
  g.wire();
  assert.deepEqual(ready(g), ["b", "m[0]"]);
  assert.equal(g.get("r")!.waiting, 2);
  assert.deepEqual([...g.pendingApps()].sort(), ["b", "m", "r"]);
});
