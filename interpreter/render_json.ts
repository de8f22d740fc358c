/**
 * The plan as JSON (described by schemas/plan.schema.json): one task and one
 * transfer per line, so a plan of 100,000 tasks stays small, greps well and
 * diffs line by line in a pull request.
 * @module
 */

import type { Plan } from "./plan.ts";

/**
 * Render a plan as JSON text; `JSON.parse` gives the plan back unchanged.
 *
 * @example
 * ```ts
 * import { renderPlanJson } from "./render_json.ts";
 * import assert from "node:assert/strict";
 * const plan = { ferryPlan: 1 as const, workflow: "w", workspace: "file:///ws", tasks: [], transfers: [],
 *   summary: { tasks: 0, run: 0, mayRun: 0, cached: 0, dynamic: 0, transfers: 0, executors: {} } };
 * assert.deepEqual(JSON.parse(renderPlanJson(plan)), plan);
 * ```
 */
export function renderPlanJson(plan: Plan): string {
  return [...planJsonChunks(plan)].join("");
}

/** The same text in pieces of about a thousand lines, so a huge plan streams out without one giant string. */
export function* planJsonChunks(plan: Plan): Generator<string> {
  yield `{\n  "ferryPlan": ${JSON.stringify(plan.ferryPlan)},\n  "workflow": ${
    JSON.stringify(plan.workflow)
  },\n` +
    `  "workspace": ${JSON.stringify(plan.workspace)},\n`;
  yield* list("tasks", plan.tasks);
  yield ",\n";
  yield* list("transfers", plan.transfers);
  yield `,\n  "summary": ${JSON.stringify(plan.summary)}\n}\n`;
}

function* list(name: string, items: readonly unknown[]): Generator<string> {
  if (items.length === 0) {
    yield `  "${name}": []`;
    return;
  }
  yield `  "${name}": [\n`;
  for (let i = 0; i < items.length; i += 1000) {
    const last = Math.min(items.length, i + 1000);
    let chunk = "";
    for (let k = i; k < last; k++) {
      chunk += `    ${JSON.stringify(items[k])}${k + 1 < items.length ? ",\n" : "\n"}`;
    }
    yield chunk;
  }
  yield "  ]";
}
