/**
 * What a `script:` app runs, rendered for one task (the script's absolute path and its
 * interpreter), and the `permissions:` an app adds for its Deno process, paths resolved. The
 * plan builder calls both; the workflow file's folder is where relative paths start.
 * @module
 */

import { resolve } from "node:path";
import { error, type Problem } from "../dsl/diagnostic.ts";
import type { App, ParamValue, Permissions } from "../dsl/model.ts";
import {
  interpreterMessage,
  type InterpreterResult,
  scriptInterpreter,
} from "../dsl/script_interpreter.ts";
import type { DenoPermissions, RenderedRun } from "../providers/batch/types.ts";

/** What rendering a script run needs besides the task's scope. */
export interface ScriptRunContext {
  /** The workflow file's folder: script and permission paths are relative to it. */
  readonly baseDir: string;
  /** The params in effect: a script gets every one. */
  readonly params: Readonly<Record<string, ParamValue>>;
  /** Interpreters found so far, by absolute path (a fan-out reads its script once). */
  readonly interpreters: Map<string, InterpreterResult>;
}

/** A new context for one plan. */
export function scriptRunContext(
  baseDir: string,
  params: Readonly<Record<string, ParamValue>>,
): ScriptRunContext {
  return { baseDir, params, interpreters: new Map() };
}

/**
 * The script run of `app` for the rendered path `path`, or the problem (`missing-script`,
 * `unknown-interpreter`) at the app's `script` key, naming the task.
 */
export function scriptRun(
  app: App,
  path: string,
  ctx: ScriptRunContext,
  taskId: string,
): { readonly run?: RenderedRun; readonly problem?: Problem } {
  const abs = resolve(ctx.baseDir, path);
  let found = ctx.interpreters.get(abs);
  if (found === undefined) {
    found = scriptInterpreter(abs);
    ctx.interpreters.set(abs, found);
  }
  if (!found.ok) {
    const message = `${interpreterMessage(path, found)} (in task ${taskId})`;
    return { problem: error(found.code, ["apps", app.name, "script"], message) };
  }
  const permissions = grantOf(app.permissions, ctx.baseDir);
  const run: RenderedRun = {
    kind: "script",
    path: abs,
    interpreter: found.interpreter,
    params: ctx.params,
    lists: { inputs: listSlots(app.inputs), outputs: listSlots(app.outputs) },
    ...(permissions ? { permissions } : {}),
  };
  return { run };
}

/** The names of the slots written as lists. */
function listSlots(slots: App["inputs"]): string[] {
  return Object.entries(slots).filter(([, s]) => s.many).map(([name]) => name);
}

/** An app's `permissions:`, its paths made absolute (relative to the workflow file's folder). */
export function grantOf(p: Permissions | undefined, baseDir: string): DenoPermissions | undefined {
  if (p === undefined) return undefined;
  const paths = (list: readonly string[]) => list.map((x) => resolve(baseDir, x));
  return {
    read: paths(p.read),
    write: paths(p.write),
    net: p.net,
    env: p.env,
    run: p.run,
    all: p.all,
  };
}
