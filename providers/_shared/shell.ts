/**
 * Quoting words for bash, shared by the interpreter (rendering `shell:`
 * scripts) and the batch providers (job scripts, remote commands).
 * @module
 */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quote a word for bash so it is always one word and never code.
 *
 * @example
 * ```ts
 * import { shellQuote } from "./shell.ts";
 * import assert from "node:assert/strict";
 * assert.equal(shellQuote("out/a.bam"), "out/a.bam");
 * assert.equal(shellQuote("it's $(x)"), "'it'\\''s $(x)'");
 * ```
 */
export function shellQuote(word: string): string {
  if (word !== "" && SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Control characters (C0, DEL, C1) and the Unicode separators and bidirectional overrides. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const CONTROLS = new RegExp(CONTROL.source, "g");
const encoder = new TextEncoder();

/**
 * Quote a word for a bash script (job scripts, wrappers, `shell:` commands):
 * as {@linkcode shellQuote}, but a word holding control characters becomes
 * ANSI-C quoted (`$'a\nb'`, each such character as its UTF-8 bytes), so the
 * script holds no raw control character: printed (`ferry plan
 * --show-scripts`) it cannot drive a terminal, and a line of it is one line.
 * Only for bash: a remote login shell (dash) wants {@linkcode shellQuote}.
 *
 * @example
 * ```ts
 * import { bashQuote } from "./shell.ts";
 * import assert from "node:assert/strict";
 * assert.equal(bashQuote("out/a.bam"), "out/a.bam");
 * assert.equal(bashQuote("a\nb'$(x)\x1b"), "$'a\\x0ab\\'$(x)\\x1b'");
 * ```
 */
export function bashQuote(word: string): string {
  if ((word !== "" && SAFE.test(word)) || !CONTROL.test(word)) return shellQuote(word);
  const body = word.replace(/[\\']/g, (c) => "\\" + c).replace(
    CONTROLS,
    (c) => [...encoder.encode(c)].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join(""),
  );
  return `$'${body}'`;
}
