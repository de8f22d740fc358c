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
 *   summary: { tasks: 0, run: 0, cached: 0, dynamic: 0, transfers: 0, executors: {} } };
 * assert.deepEqual(JSON.parse(renderPlanJson(plan)), plan);
 * ```
 */
export function renderPlanJson(plan: Plan): string {
  const list = (items: readonly unknown[]) =>
    items.length === 0
      ? "[]"
      : `[\n${items.map((x) => `    ${JSON.stringify(x)}`).join(",\n")}\n  ]`;
  return [
    "{",
    `  "ferryPlan": ${JSON.stringify(plan.ferryPlan)},`,
    `  "workflow": ${JSON.stringify(plan.workflow)},`,
    `  "workspace": ${JSON.stringify(plan.workspace)},`,
    `  "tasks": ${list(plan.tasks)},`,
    `  "transfers": ${list(plan.transfers)},`,
    `  "summary": ${JSON.stringify(plan.summary)}`,
    "}",
  ].join("\n") + "\n";
}
