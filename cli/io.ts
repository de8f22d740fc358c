/**
 * Where the CLI writes: the process's streams, or a test's own. Each
 * {@linkcode processIO} has its own writers, so a reader that went away in one
 * `cli()` call silences only that call's stream.
 * @module
 */

import { hasControlBesideLines, visible } from "../dsl/visible.ts";

/** Where the CLI writes; tests pass their own. */
export interface CliIO {
  /** Standard output. */
  readonly stdout: (s: string) => void;
  /** Standard error. */
  readonly stderr: (s: string) => void;
  /** Whether stdout is a colour terminal. */
  readonly color: boolean;
  /** Whether standard error is a terminal (live progress). @default false */
  readonly terminal?: boolean;
}

/** The real process streams, with fresh writers (see the module's note). */
export function processIO(): CliIO {
  return {
    stdout: pipeWriter(Deno.stdout),
    stderr: pipeWriter(Deno.stderr),
    color: Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR"),
    terminal: Deno.stderr.isTerminal(),
  };
}

const encoder = new TextEncoder();

/** ferry's own escapes: colours (`ESC[1;31m`), and `ESC[H` `ESC[2J` (status --watch). */
// deno-lint-ignore no-control-regex
const OWN_ESCAPE = /^\x1b\[[0-9;]*[mHJ]/;

/**
 * What the CLI writes, with every control character but line feed, tab and ferry's own
 * escapes shown as an escape: the last guard for a value no renderer escaped (the renderers
 * escape ids, paths and log lines themselves, line breaks included).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { terminalSafe } from "./io.ts";
 * assert.equal(terminalSafe("\x1b[1mok\x1b[0m\tx\x1b]0;t\x07\r\n"), "\x1b[1mok\x1b[0m\tx\\x1b]0;t\\x07\\r\n");
 * ```
 */
export function terminalSafe(s: string): string {
  if (!hasControlBesideLines(s)) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    const own = c === "\x1b" ? OWN_ESCAPE.exec(s.slice(i, i + 16)) : null;
    if (own) {
      out += own[0];
      i += own[0].length - 1;
    } else out += c === "\n" || c === "\t" ? c : visible(c);
  }
  return out;
}

/**
 * Writes everything to `w`; once its reader has gone away (`ferry ... | head`)
 * it writes nothing more, quietly. The other stream is not affected: a closed
 * pipe on stdout says nothing about the terminal on stderr.
 */
function pipeWriter(w: { writeSync(p: Uint8Array): number }): (s: string) => void {
  let closed = false;
  return (s) => {
    if (closed) return;
    let bytes = encoder.encode(terminalSafe(s));
    try {
      while (bytes.length > 0) bytes = bytes.subarray(w.writeSync(bytes));
    } catch (e) {
      if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
      closed = true;
    }
  };
}
