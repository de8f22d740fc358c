/** Rule: `for_each` iterates over lists and mappings, never over a single value. @module */

import { error, type Problem, warning } from "../diagnostic.ts";
import { parseTemplateCached, soleExpression } from "../expr.ts";
import type { WorkflowRule } from "./_context.ts";

/** Each for_each variable names a list or a mapping (literal, a param, or an app's outputs). */
export const forEachLists: WorkflowRule = ({ workflow }) => {
  const out: Problem[] = [];
  for (const app of Object.values(workflow.apps)) {
    for (const v of app.forEach) {
      const where = ["apps", app.name, "for_each", v.name];
      if (typeof v.source !== "string") {
        if (v.source.length === 0) {
          out.push(
            warning(
              "empty-fan-out",
              where,
              `for_each "${v.name}" of app "${app.name}" is an empty list, so the app has no tasks`,
            ),
          );
        }
        continue;
      }
      const parsed = parseTemplateCached(v.source);
      if (!parsed.ok) continue; // reported by expressionNames
      const e = soleExpression(parsed.template);
      if (!e) {
        out.push(
          error(
            "for-each-not-list",
            where,
            `Cannot iterate over "${v.source}": for_each takes a list, a mapping or one expression naming one, such as \${{ params.samples }}`,
          ),
        );
        continue;
      }
      const [root, name] = e.path;
      if (
        root === "params" && typeof name === "string" && Object.hasOwn(workflow.params, name) &&
        e.path.length === 2
      ) {
        const value = workflow.params[name];
        const items = Array.isArray(value)
          ? value
          : value !== null && typeof value === "object"
          ? Object.keys(value)
          : undefined;
        if (items === undefined) {
          out.push(
            error(
              "for-each-not-list",
              where,
              `Cannot iterate over "params.${name}": it is ${
                describe(value)
              }, not a list or a mapping`,
            ),
          );
        } else if (items.length === 0) {
          out.push(
            warning(
              "empty-fan-out",
              where,
              `for_each "${v.name}" of app "${app.name}" iterates over an empty list, so the app has no tasks`,
            ),
          );
        }
      } else if (
        root === "files" && typeof name === "string" && Object.hasOwn(workflow.files, name)
      ) {
        out.push(
          error(
            "for-each-not-list",
            where,
            `Cannot iterate over "files.${name}": it is one file, not a list`,
          ),
        );
      }
    }
  }
  return out;
};

function describe(v: unknown): string {
  if (v === null) return "empty";
  if (typeof v === "object") return "a mapping";
  return `the ${typeof v} ${JSON.stringify(v)}`;
}
