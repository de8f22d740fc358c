/** Rule: `permissions:` only on an app that runs in Deno (a function, a Deno script). @module */

import { type Problem, warning } from "../diagnostic.ts";
import type { App } from "../model.ts";
import type { WorkflowRule } from "./_context.ts";

/** Warning: an app's `permissions:` that no Deno process of it will ever get. */
export const unusedPermissions: WorkflowRule = ({ workflow }) => {
  const out: Problem[] = [];
  for (const app of Object.values(workflow.apps)) {
    if (app.permissions === undefined || runsDeno(app)) continue;
    out.push({
      ...warning(
        "unused-permissions",
        ["apps", app.name, "permissions"],
        `App "${app.name}" runs no Deno process: its permissions are never used (only a function or a .ts, .js or .mjs script gets them)`,
      ),
      at: "key",
    });
  }
  return out;
};

/** Whether the app runs in Deno, or may (a script path with expressions). */
function runsDeno(app: App): boolean {
  const run = app.run;
  if (run === undefined || run.kind === "function") return true;
  return run.kind === "script" && (run.path.includes("${{") || /\.(ts|js|mjs)$/i.test(run.path));
}
