/** Rule: a `function:` app names a module file that exists. @module */

import { resolve } from "node:path";
import { error, type Problem } from "../diagnostic.ts";
import type { WorkflowRule } from "./_context.ts";

/** `function: ./steps.ts#name`: the module is a relative file that exists. */
export const functionModules: WorkflowRule = ({ workflow, baseDir }) => {
  const out: Problem[] = [];
  for (const app of Object.values(workflow.apps)) {
    if (app.run?.kind !== "function") continue;
    const where = ["apps", app.name, "function"];
    const mod = app.run.module;
    if (!/\.(ts|js|mjs|mts|tsx|jsx)$/.test(mod)) {
      out.push(
        error(
          "missing-module",
          where,
          `Cannot load function module "${mod}": name a .ts or .js file, e.g. ./steps.ts#${app.run.export}`,
        ),
      );
      continue;
    }
    if (/^[a-z][a-z0-9+.-]*:/i.test(mod)) continue; // a URL or npm: specifier, checked when loaded
    try {
      if (!Deno.statSync(resolve(baseDir, mod)).isFile) throw new Error("not a file");
    } catch {
      out.push(
        error(
          "missing-module",
          where,
          `Cannot find function module "${mod}" next to the workflow file`,
        ),
      );
    }
  }
  return out;
};
