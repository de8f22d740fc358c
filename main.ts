/**
 * The `ferry` executable: runs the CLI (`cli/mod.ts`) on the process's
 * arguments and exits with its code. An error that escapes is a bug in
 * ferry: one line, the path of a log holding its stack, and exit 70.
 * @module
 */

import { cli } from "./cli/mod.ts";
import { reportCrash } from "./cli/crash.ts";

if (import.meta.main) {
  let code: number;
  try {
    code = await cli(Deno.args);
  } catch (e) {
    code = reportCrash(e, (t) => Deno.stderr.writeSync(new TextEncoder().encode(t)), Deno.args);
  }
  Deno.exit(code);
}
