/**
 * Text from outside (task ids, labels, file names, log lines) made safe to
 * print: control characters become visible escapes, so that no value can move
 * the cursor, clear the screen, retitle the window, hide text or fake a line
 * of ferry's own output.
 * @module
 */

/**
 * C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators and bidirectional
 * overrides (which reorder what a terminal shows).
 */
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const CONTROLS = new RegExp(CONTROL.source, "g");
/** The same, except line feed and tab: for multi-line text such as log lines. */
const CONTROLS_BUT_LINES =
  // deno-lint-ignore no-control-regex
  /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escape(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * `text` on one line with every control character shown as an escape (`\n`,
 * `\r`, `\t`, `\x1b`, `\u202e`); text without any comes back as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { visible } from "./visible.ts";
 * assert.equal(visible("a[x=\x1b]0;pwned\x07\nb]"), "a[x=\\x1b]0;pwned\\x07\\nb]");
 * assert.equal(visible("align[sample=é]"), "align[sample=é]");
 * ```
 */
export function visible(text: string): string {
  return CONTROL.test(text) ? text.replace(CONTROLS, escape) : text;
}

/**
 * Like {@linkcode visible}, but line feeds and tabs stay as they are: for
 * multi-line text (log lines, messages) whose lines are printed as lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { visibleLines } from "./visible.ts";
 * assert.equal(visibleLines("one\r\n\x1b[2Jtwo\tthree"), "one\\r\n\\x1b[2Jtwo\tthree");
 * ```
 */
export function visibleLines(text: string): string {
  return CONTROL.test(text) ? text.replace(CONTROLS_BUT_LINES, escape) : text;
}

/** Whether `text` holds a control character {@linkcode visibleLines} would escape. */
export function hasControlBesideLines(text: string): boolean {
  CONTROLS_BUT_LINES.lastIndex = 0;
  return CONTROLS_BUT_LINES.test(text);
}

/** Whether `text` holds a control character {@linkcode visible} would escape. */
export function hasControl(text: string): boolean {
  return CONTROL.test(text);
}
