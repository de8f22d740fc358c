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
