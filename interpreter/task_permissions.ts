/**
 * What a task's Deno process (a `function:` app, a `.ts`/`.js` script) may do, derived from its
 * plan instead of Deno's `-A`: read its working directory (its inputs are placed there), the
 * attempt's directory (its call, FERRY_TASK and FERRY_RESULTS files), inputs used where they
 * are, and its code (the module and every local module it imports, or the script); write its
 * working directory (its outputs) and a function's result file; read the environment variables
 * the task is given. No network and no programs: ferry fetches the inputs. The app's
 * `permissions:` adds to each list, or grants everything (`all: true`).
 * @module
 */

import type { DenoPermissions } from "../providers/batch/types.ts";
import { moduleClosure } from "./cache.ts";
import type { PlanTask } from "./plan.ts";
import { localPath } from "./values.ts";

/** Environment variables ferry's function runner sets or reads itself. */
const RUNNER_ENV = ["FERRY_FUNCTION_MODULE"];
/** Environment variables a Deno script may be handed besides its job's. */
const SCRIPT_ENV = ["FERRY_TASK", "FERRY_RESULTS"];

/** Where the attempt's files are, for {@linkcode taskPermissions}. */
export interface PermissionPlace {
  /** The attempt's directory (logs, call, FERRY_TASK file). */
  readonly root: string;
  /** A function's result file. */
  readonly result: string;
  /** The job's environment: the names it may read. */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * The permissions of `task`'s Deno process, or undefined when it runs none (a command, a shell
 * script, a script run by another interpreter).
 */
export function taskPermissions(
  task: PlanTask,
  place: PermissionPlace,
): DenoPermissions | undefined {
  const run = task.run;
  let code: string[];
  let env: string[];
  let write = [".", place.result];
  if (run?.kind === "function") {
    code = moduleFiles(run.module);
    env = RUNNER_ENV;
  } else if (run?.kind === "script" && run.interpreter === "deno") {
    code = moduleFiles(run.path);
    env = SCRIPT_ENV;
    write = ["."];
  } else {
    return undefined;
  }
  const grant = run.permissions;
  const inPlace = task.inputs.filter((f) => f.path.startsWith("/")).map((f) => f.path);
  return {
    read: [".", place.root, ...inPlace, ...code, ...(grant?.read ?? [])],
    write: [...write, ...(grant?.write ?? [])],
    net: grant?.net ?? [],
    env: [...Object.keys(place.env), ...env, ...(grant?.env ?? [])],
    run: grant?.run ?? [],
    all: grant?.all ?? false,
  };
}

/**
 * The local files of a module's graph (the module as a path or a file URL): what Deno must read
 * to load it. Those found by relative or absolute paths and file URLs; a file an import map
 * names is added with `permissions: { read }`. Found once per module and process.
 */
function moduleFiles(module: string): string[] {
  const path = module.startsWith("file:") ? localPath(module) : module;
  if (path === undefined) return []; // a remote module: loading it needs no read permission
  if (!path.startsWith("/")) return [module]; // as the plan names it (not resolved yet)
  let files = graphs.get(path);
  if (files === undefined) {
    files = [...moduleClosure(path, true).keys()];
    graphs.set(path, files);
  }
  return files;
}

/** Module graphs found so far, by their entry. */
const graphs = new Map<string, string[]>();
