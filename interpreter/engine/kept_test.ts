import assert from "node:assert/strict";
import { KeptCopies } from "./kept.ts";
import { keptKey } from "../attempt.ts";
import type { PlanFile, PlanTask } from "../plan.ts";
import type { Node } from "./types.ts";

const url = (n: string) => `file:///ws/${n}`;
const file = (name: string, extra: Partial<PlanFile> = {}): PlanFile => ({
  name,
  url: url(name),
  provider: "copy",
  staging: "wrap",
  path: name,
  rule: "default",
  ...extra,
});
const task = (id: string, executor: string, inputs: PlanFile[], outputs: PlanFile[]) =>
  ({ id, executor, inputs, outputs }) as unknown as PlanTask;
const node = (t: PlanTask) => ({ task: t, state: "waiting" }) as unknown as Node;

const keep = (readers: string[], deliver = false) => ({
  keep: { executor: "host", readers, deliver },
});
const read = (by: string) => ({ provider: "kept", kept: { executor: "host", task: by } });

Deno.test("kept copies: readers use a copy made in this run; it goes after the last reader, or after its transfer home", async () => {
  const dropped: string[] = [];
  const kept = new KeptCopies((ex, keys) => {
    dropped.push(...keys.map((k) => `${ex}:${k}`));
    return Promise.resolve();
  });
  const a = task("a", "host", [], [file("mid", keep(["b", "c"])), file("res", keep(["b"], true))]);
  const b = task("b", "host", [file("mid", read("a")), file("res", read("a"))], []);
  const c = task("c", "host", [file("mid", read("a"))], []);
  kept.recount([a, b, c].map(node));
  // Nothing made yet in this run: a reader would read the workspace's copy.
  assert.deepEqual(kept.inputsOf(b), []);
  let home!: () => void;
  kept.made(a, new Map([[url("res"), new Promise<void>((r) => home = r)]]));
  assert.deepEqual(kept.inputsOf(b), [
    { path: "mid", key: keptKey(url("mid")) },
    { path: "res", key: keptKey(url("res")) },
  ]);
  kept.succeeded(b);
  assert.deepEqual(dropped, []); // c still reads mid; res is still on its way home
  home();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(dropped, [`host:${keptKey(url("res"))}`]);
  kept.succeeded(c);
  assert.deepEqual(dropped, [`host:${keptKey(url("res"))}`, `host:${keptKey(url("mid"))}`]);
  await kept.close();
  assert.equal(dropped.length, 2);
});

Deno.test("kept copies: what a failed reader left goes at the run's end; keys are safe names", async () => {
  const dropped: string[] = [];
  const kept = new KeptCopies((_ex, keys) => {
    dropped.push(...keys);
    return Promise.resolve();
  });
  const a = task("a", "host", [], [file("m", keep(["b"]))]);
  const b = task("b", "host", [file("m", read("a"))], []);
  kept.recount([a, b].map(node));
  kept.made(a, new Map());
  assert.deepEqual(dropped, []);
  await kept.close();
  assert.deepEqual(dropped, [keptKey(url("m"))]);
  assert.match(keptKey("file:///ws/a%20%24(x)%0A'q'.txt"), /^[0-9a-f]{16}\/a_x_q_\.txt$/);
});
