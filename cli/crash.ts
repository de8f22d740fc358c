/**
 * An error that escaped the CLI is a bug in ferry: the user gets one line
 * and the path of a log holding the stack (the run's own crash log when the
 * engine wrote one), never the stack itself.
 * @module
 */

import { RunCrashed } from "../interpreter/run.ts";
import { writeCrashLog } from "../interpreter/engine/crash.ts";
import { visible } from "../dsl/visible.ts";

/** Print the one line for an escaped error `e` to `stderr`; returns the exit code, 70. */
export function reportCrash(
  e: unknown,
  stderr: (text: string) => void,
  args: readonly string[] = [],
): number {
  const logPath = e instanceof RunCrashed
    ? e.logPath
    : writeCrashLog(undefined, e, { command: JSON.stringify(["ferry", ...args]) });
  const first = (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 300);
  stderr(
    `ferry: internal error (a bug in ferry): ${
      visible(first)
    }\nferry: the details are in ${logPath}; please report it with that file.\n`,
  );
  return 70;
}
