import assert from "node:assert/strict";
import { FileValue } from "../values.ts";
import type { Plan } from "../plan.ts";
import { TaskGraph } from "./graph.ts";
import { Replanner } from "./replanner.ts";
import { planOf, planTask } from "./_test_tasks.ts";

Deno.test("Replanner: compiles again with only the files of apps that are done, and adds the new tasks", async () => {
  const seen: string[][] = [];
  const r = new Replanner((known) => {
    seen.push([...known.keys()]);
    return Promise.resolve(planOf([
      planTask("split"),
      planTask("map[0]", { deps: ["split"] }),
      planTask("map[1]", { deps: ["split"] }),
    ]) as Plan);
  });
  const g = new TaskGraph([
    planTask("split"),
    planTask("map", { expandsAfter: { app: "split", output: "chunks" } }),
    planTask("other"),
  ]);
  r.collected("split", "chunks", [new FileValue("file:///w/c0")]);
  r.collected("other", "files", [new FileValue("file:///w/o")]);
  g.succeed(g.get("split")!);
  const e = await r.expand(g);
  assert.deepEqual(seen, [["split.chunks"]], "other is not done: its list may still grow");
  assert.equal(e.ok, true);
  assert.deepEqual(e.ok && e.added, ["map[0]", "map[1]"]);
  assert.ok(g.get("map[1]"));
});

Deno.test("Replanner: a re-plan that fails says why; without one the run cannot expand", async () => {
  const g = new TaskGraph([planTask("m", { expandsAfter: { app: "s", output: "o" } })]);
  assert.deepEqual(await new Replanner(() => Promise.resolve("bad glob")).expand(g), {
    ok: false,
    reason: "bad glob",
  });
  assert.deepEqual(await new Replanner().expand(g), {
    ok: false,
    reason: "this run cannot expand dynamic fan-outs",
  });
  assert.equal(Replanner.waits(g.get("m")!), true);
});
