/**
 * The `ferry` executable: runs the CLI (`cli/mod.ts`) on the process's
 * arguments and exits with its code. An error that escapes is a bug in
 * ferry: it is printed with its stack and exits 70.
 * @module
 */

import { cli } from "./cli/mod.ts";

if (import.meta.main) {
  let code: number;
  try {
    code = await cli(Deno.args);
  } catch (e) {
    console.error(
      `ferry: internal error (a bug in ferry, please report it with this output):\n${
        (e as Error)?.stack ?? e
      }`,
    );
    code = 70;
  }
  Deno.exit(code);
}
