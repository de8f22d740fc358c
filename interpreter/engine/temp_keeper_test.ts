import assert from "node:assert/strict";
import type { PlanTask } from "../plan.ts";
import { TempKeeper } from "./temp_keeper.ts";
import type { Node } from "./types.ts";

const file = (url: string, temp = false) => ({ url, ...(temp ? { temp } : {}) });
const node = (id: string, inputs: string[], outputs: [string, boolean][]): Node => ({
  task: {
    id,
    inputs: inputs.map((u) => file(u)),
    outputs: outputs.map(([u, t]) => file(u, t)),
  } as unknown as PlanTask,
  state: "waiting",
  attempt: 0,
  waiting: 0,
});

Deno.test("TempKeeper: a temporary output goes when its last reader succeeded, not before", () => {
  const dropped: string[] = [];
  const keeper = new TempKeeper((u) => dropped.push(u));
  const a = node("a", [], [["t.bin", true], ["keep.txt", false]]);
  const b = node("b", ["t.bin"], []);
  const c = node("c", ["t.bin", "keep.txt"], []);
  keeper.recount([a, b, c]);
  keeper.succeeded(a.task);
  keeper.succeeded(b.task);
  assert.deepEqual(dropped, []);
  keeper.succeeded(c.task);
  assert.deepEqual(dropped, ["t.bin"]);
});

Deno.test("TempKeeper: a temporary output nobody reads goes as soon as it is written", () => {
  const dropped: string[] = [];
  const keeper = new TempKeeper((u) => dropped.push(u));
  const a = node("a", [], [["lonely", true]]);
  keeper.recount([a]);
  keeper.succeeded(a.task);
  assert.deepEqual(dropped, ["lonely"]);
});

Deno.test("TempKeeper: readers that already succeeded are not counted again after a re-plan", () => {
  const dropped: string[] = [];
  const keeper = new TempKeeper((u) => dropped.push(u));
  const a = node("a", [], [["t", true]]);
  const b = node("b", ["t"], []);
  keeper.recount([a, b]);
  keeper.succeeded(a.task);
  b.state = "succeeded";
  const late = node("late", ["t"], []);
  keeper.recount([a, b, late]);
  keeper.succeeded(late.task);
  assert.deepEqual(dropped, ["t"]);
});
