/**
 * The workspace `status`, `report` and `clean` look at, from their arguments:
 * an optional workflow file (whose folder is the workspace), an optional run
 * id, and `--workspace`.
 * @module
 */

import { existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { UsageError } from "./context.ts";

/** Whether a command-line word is a path (it exists, or ends like a workflow file), not a run id. */
function isWorkflowPath(word: string): boolean {
  return /\.(ya?ml|toml)$/i.test(word) || existsSync(word);
}

/**
 * `[workflow] [run]` as given: with two words, both; with one, the workflow
 * when it is a path, else the run id.
 */
export function workflowAndRun(
  first: string | undefined,
  second: string | undefined,
): { workflow?: string; run?: string } {
  if (second !== undefined) {
    return { ...(first !== undefined ? { workflow: first } : {}), run: second };
  }
  if (first === undefined) return {};
  return isWorkflowPath(first) ? { workflow: first } : { run: first };
}

/**
 * The workspace: `--workspace`, else the workflow file's folder (as `check`,
 * `plan` and `run` decide it), else the current directory. A workflow that is
 * not a file is a usage error saying what `action` could not do.
 */
export function workspaceOf(
  action: string,
  workflow: string | undefined,
  workspace?: string,
): string {
  if (workflow !== undefined) {
    let info;
    try {
      info = statSync(workflow);
    } catch {
      throw new UsageError(`Cannot ${action} "${workflow}": no such workflow file`);
    }
    if (info.isDirectory()) {
      throw new UsageError(
        `Cannot ${action} "${workflow}": it is a directory; name a workflow file, or use --workspace ${workflow}`,
      );
    }
  }
  return workspace ?? (workflow !== undefined ? dirname(workflow) : ".");
}
