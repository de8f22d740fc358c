/** Rule: a `script:` app names a file that exists and that ferry knows how to run. @module */

import { resolve } from "node:path";
import { error, type Problem } from "../diagnostic.ts";
import { interpreterMessage, scriptInterpreter } from "../script_interpreter.ts";
import type { WorkflowRule } from "./_context.ts";

/** `script: scripts/plot.py`: the file exists and names its interpreter (paths without expressions). */
export const scriptFiles: WorkflowRule = ({ workflow, baseDir }) => {
  const out: Problem[] = [];
  for (const app of Object.values(workflow.apps)) {
    if (app.run?.kind !== "script" || app.run.path.includes("${{")) continue; // planned per task
    const p = scriptProblem(app.run.path, baseDir, ["apps", app.name, "script"]);
    if (p) out.push(p);
  }
  return out;
};

/** The problem with the script `path` (relative to `baseDir`), located at `where`, if any. */
export function scriptProblem(
  path: string,
  baseDir: string,
  where: readonly (string | number)[],
): Problem | undefined {
  const r = scriptInterpreter(resolve(baseDir, path));
  return r.ok ? undefined : error(r.code, where, interpreterMessage(path, r));
}
