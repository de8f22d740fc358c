/**
 * Function modules are written relative to the workflow file (and so the plan shows them); the
 * runner, and the job scripts `plan --show-scripts` prints, need them absolute.
 * @module
 */

import { resolve } from "node:path";
import { toFileUrl } from "../providers/_shared/urls.ts";
import type { Plan } from "./plan.ts";

/** The plan with each function module as the file URL of its path from `baseDir`. */
export function resolveModules(plan: Plan, baseDir: string): Plan {
  if (!plan.tasks.some((t) => t.run?.kind === "function")) return plan;
  return {
    ...plan,
    tasks: plan.tasks.map((t) =>
      t.run?.kind === "function"
        ? { ...t, run: { ...t.run, module: toFileUrl(resolve(baseDir, t.run.module)) } }
        : t
    ),
  };
}
