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
 * not a file, and a workspace that is not an existing directory, are usage
 * errors saying what `action` could not do.
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
  const ws = workspace ?? (workflow !== undefined ? dirname(workflow) : ".");
  const problem = workspaceProblem(ws);
  if (problem !== undefined) throw new UsageError(`Cannot ${action} "${ws}": ${problem}`);
  return ws;
}

/**
 * Why `dir` cannot be a workspace: it is a file, or a part of its path is;
 * with `mustExist`, it does not exist. Undefined when it can.
 */
export function workspaceProblem(dir: string, mustExist = true): string | undefined {
  try {
    if (!statSync(dir).isDirectory()) return "it is a file, not a workspace directory";
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOTDIR") return "a part of that path is a file, not a directory";
    if (code === "ENOENT") return mustExist ? "no such directory" : undefined;
    return (e as Error).message;
  }
  return undefined;
}

/**
 * `--workspace` of `check`, `plan` and `run`: a directory, or one to be made
 * (`run` makes it); a file is a usage error.
 */
export function checkWorkspaceOption(dir: string | undefined): void {
  if (dir === undefined) return;
  const problem = workspaceProblem(dir, false);
  if (problem !== undefined) {
    throw new UsageError(`Cannot use the workspace "${dir}": ${problem}`);
  }
}
