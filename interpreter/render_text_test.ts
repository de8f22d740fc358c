import assert from "node:assert/strict";
import { renderMarkdown } from "./render_graph.ts";
import { statusCounts, statusText, summaryLine } from "./render_text.ts";
import { type Plan, type PlanStatus, type PlanTask, summarize } from "./plan.ts";

function task(id: string, app: string, status: PlanStatus, deps: string[] = []): PlanTask {
  return {
    id,
    app,
    label: id,
    executor: "local",
    bindings: {},
    deps,
    inputs: [],
    outputs: [],
    env: {},
    resources: {},
    retries: 0,
    status,
    ...(status.action === "dynamic" ? { expandsAfter: { app: "prep", output: "parts" } } : {}),
  };
}

const tasks = [
  task("prep", "prep", { action: "run", reason: "command changed" }),
  task("score[s=a]", "score", { action: "may-run", reason: "prep runs first" }, ["prep"]),
  task("score[s=b]", "score", { action: "cached", reason: "cached" }),
  task("part[p=*]", "part", { action: "dynamic", reason: "expands after prep" }, ["prep"]),
];
const plan: Plan = {
  ferryPlan: 1,
  workflow: "w",
  workspace: "file:///ws",
  tasks,
  transfers: [],
  summary: summarize(tasks, []),
};

Deno.test("statusText() says run, may run, cached or what a placeholder expands after", () => {
  assert.deepEqual(tasks.map((t) => statusText(t.status)), [
    "run: command changed",
    "may run: prep runs first",
    "cached",
    "expands after prep",
  ]);
});

Deno.test("statusCounts() puts each task in one category, naming may run and dynamic only when there are any", () => {
  assert.equal(statusCounts(plan.summary), "1 to run, 1 may run, 1 cached, 1 expands at run time");
  assert.equal(
    statusCounts(summarize([tasks[0]!, tasks[2]!], [])),
    "1 to run, 1 cached",
  );
  assert.equal(
    summaryLine(plan),
    "4 tasks (1 to run, 1 may run, 1 cached, 1 expands at run time) · 0 transfers · local: 4 tasks, 0 transfers",
  );
});

Deno.test("renderMarkdown() has a column per category the summary line names", () => {
  const table = renderMarkdown(plan).split("\n").slice(4, 9);
  assert.deepEqual(table, [
    "| app | tasks | to run | may run | cached | expands at run time | executor |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    "| `prep` | 1 | 1 | 0 | 0 | 0 | local |",
    "| `score` | 2 | 0 | 1 | 1 | 0 | local |",
    "| `part` | 1 | 0 | 0 | 0 | 1 | local |",
  ]);
});
