import assert from "node:assert/strict";
import { renderTimeline } from "./report_graphics.ts";
import type { AttemptStatus, TaskStatus } from "./status_types.ts";

const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);
const at = (ms: number) => new Date(T0 + ms).toISOString();

function task(id: string, ...attempts: Partial<AttemptStatus>[]): TaskStatus {
  return {
    id,
    state: "succeeded",
    attempts: attempts.map((a, i) => ({
      attempt: i + 1,
      outcome: "succeeded",
      startedAt: at(0),
      endedAt: at(1000),
      durationMs: 1000,
      host: "node-a",
      ...a,
    })),
  };
}

/** The lane labels of a timeline's SVG, top to bottom. */
const lanes = (svg: string) =>
  [...svg.matchAll(/<text class="tl-lane"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
/** Each bar's class and hover text, in drawing order. */
const bars = (svg: string) =>
  [...svg.matchAll(/<rect class="(tl-[a-z]+)"[^>]*><title>([^<]*)<\/title>/g)].map((m) =>
    `${m[1]} ${m[2]}`
  );

const graph = [{ name: "a", executor: "hpc", deps: [], tasks: 3 }];

Deno.test("renderTimeline(): attempts of pilot workers get a lane per worker under their block's lane of states", () => {
  const tasks = [
    task("a[i=1]", {
      pilot: { block: "7", worker: "n/10" },
      startedAt: at(500),
      endedAt: at(1500),
    }),
    task("a[i=2]", { pilot: { block: "7", worker: "n/2" } }),
    task("a[i=3]", { pilot: { block: "8", worker: "n/1" }, jobId: "8" }),
  ];
  const blocks = [
    {
      executor: "hpc",
      block: "7",
      states: [{ time: T0 - 1000, state: "pending" }, { time: T0, state: "running" }, {
        time: T0 + 1500,
        state: "gone",
      }],
    },
    { executor: "hpc", block: "8", states: [{ time: T0 - 500, state: "idle" }] },
  ];
  const svg = renderTimeline(tasks, graph, [], blocks);
  assert.deepEqual(lanes(svg), [
    "hpc · block 7",
    "hpc · block 7 · n/2",
    "hpc · block 7 · n/10",
    "hpc · block 8",
    "hpc · block 8 · n/1",
  ]);
  assert.deepEqual(bars(svg), [
    "tl-task a[i=1] attempt 1: succeeded in 1.0s on block 7, worker n/10",
    "tl-task a[i=2] attempt 1: succeeded in 1.0s on block 7, worker n/2",
    "tl-block block 7: pending for 1.0s",
    "tl-block block 7: running for 1.5s",
    "tl-task a[i=3] attempt 1: succeeded in 1.0s (job 8) on block 8, worker n/1",
    // Still held when the log ends: until the last thing drawn.
    "tl-block block 8: idle for 2.0s",
  ]);
});

Deno.test("renderTimeline(): without pilots the lanes are packed per executor and host, as before", () => {
  const tasks = [
    task("a[i=1]", {}),
    task("a[i=2]", { startedAt: at(500) }),
    task("a[i=3]", { startedAt: at(1000), endedAt: at(2000) }),
  ];
  assert.deepEqual(lanes(renderTimeline(tasks, graph, [])), ["hpc · node-a #1", "hpc · node-a #2"]);
});

Deno.test("renderTimeline(): hostile block ids and worker names appear only escaped", () => {
  const block = `<script>alert("b")</script>'&`;
  const tasks = [task("a[i=1]", { pilot: { block, worker: "<img src=x>/1" } })];
  const svg = renderTimeline(tasks, graph, [], [
    { executor: "hpc", block, states: [{ time: T0, state: "running" }] },
  ]);
  assert.equal(svg.includes("<script"), false);
  assert.equal(svg.includes("<img"), false);
  assert.deepEqual(lanes(svg), [
    "hpc · block &lt;script&gt;alert(&quot;b&quot;)&lt;/script&gt;&#39;&amp;",
    "hpc · block &lt;script&gt;alert(&quot;b&quot;)&lt;/script&gt;&#39;&amp; · &lt;img src=x&gt;/1",
  ]);
});
