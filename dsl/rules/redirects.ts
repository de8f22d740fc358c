/**
 * Rule: `stdout:` and `stderr:` name an output of the app. A file that is not
 * declared stays in the task's own directory and never reaches the
 * workspace, which is almost never what was meant.
 * @module
 */

import { type Problem, warning } from "../diagnostic.ts";
import { parseTemplateCached, soleExpression } from "../expr.ts";
import type { WorkflowRule } from "./_context.ts";

/** Warn when a redirect is not one of the app's outputs. */
export const redirectsToOutputs: WorkflowRule = ({ workflow }) => {
  const out: Problem[] = [];
  for (const app of Object.values(workflow.apps)) {
    for (const stream of ["stdout", "stderr"] as const) {
      const text = app[stream];
      if (text === undefined) continue;
      const parsed = parseTemplateCached(text);
      if (!parsed.ok) continue; // reported by expressionNames
      const e = soleExpression(parsed.template);
      if (e && e.path[0] === "outputs") continue;
      const literal = Object.values(app.outputs).some((slot) =>
        slot.files.some((f) => f.value === text)
      );
      if (literal) continue;
      out.push(warning(
        "undeclared-redirect",
        ["apps", app.name, stream],
        `${stream} goes to "${text}", which is not an output of app "${app.name}": it stays in the task's directory; declare it under outputs and write ${stream}: "\${{ outputs.NAME }}"`,
      ));
    }
  }
  return out;
};
