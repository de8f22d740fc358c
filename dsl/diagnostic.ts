/**
 * Diagnostics: the one shape every user-facing problem takes, from the YAML
 * parser to the DAG linker. Rules report {@linkcode Problem}s by key path;
 * {@linkcode locate} turns them into positioned {@linkcode Diagnostic}s.
 * @module
 */

import type { SourceIndex } from "./source.ts";

/** How bad a problem is: errors fail `ferry check` (exit 2), warnings do not. */
export type Severity = "error" | "warning";

/** A key path into a document: map keys and list indices. */
export type KeyPath = readonly (string | number)[];

/** A problem found by a rule, located by key path only. */
export interface Problem {
  /** Stable diagnostic code such as `unknown-key`. */
  readonly code: string;
  /** Error or warning. */
  readonly severity: Severity;
  /** One sentence, no trailing period. */
  readonly message: string;
  /** Where in the document the problem is. */
  readonly path: KeyPath;
  /** Point at the key itself rather than its value. */
  readonly at?: "key" | "value";
  /** Column offset inside the value (for expressions inside a string). */
  readonly offset?: number;
  /** Text inside the value to point at (its `nth` occurrence), for multi-line values. */
  readonly needle?: { readonly text: string; readonly nth: number };
}

/** Point a problem at `offset` inside the template string `text` (an expression's `${{`). */
export function inTemplate<P extends Problem>(p: P, text: string, offset: number): P {
  const close = text.indexOf("}}", offset);
  const needle = text.slice(offset, close < 0 ? Math.min(text.length, offset + 20) : close + 2);
  let nth = 0;
  for (let i = text.indexOf(needle); i >= 0 && i < offset; i = text.indexOf(needle, i + 1)) nth++;
  return { ...p, offset, needle: { text: needle, nth } };
}

/** A problem with its file, line and column (1-based). */
export interface Diagnostic {
  /** The file as the user named it. */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** Stable diagnostic code such as `unknown-key`. */
  readonly code: string;
  /** Error or warning. */
  readonly severity: Severity;
  /** One sentence, no trailing period. */
  readonly message: string;
  /** Key path rendered as `apps.align.inputs.ref`. */
  readonly path: string;
}

/** Create an error problem. */
export function error(code: string, path: KeyPath, message: string): Problem {
  return { code, severity: "error", message, path };
}

/** Create a warning problem. */
export function warning(code: string, path: KeyPath, message: string): Problem {
  return { code, severity: "warning", message, path };
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Render a key path as `apps.align.inputs[0]`; odd keys are quoted. */
export function formatPath(path: KeyPath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (IDENT.test(part)) out += out === "" ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

/** Give a problem its position in `file` through the document's index. */
export function locate(problem: Problem, file: string, index: SourceIndex | undefined): Diagnostic {
  const inside = problem.needle
    ? index?.findInValue(problem.path, problem.needle.text, problem.needle.nth)
    : undefined;
  const pos = index?.find(problem.path, problem.at ?? "value") ?? { line: 1, column: 1 };
  const column = pos.column + (pos.exact && problem.offset !== undefined ? problem.offset : 0);
  return {
    file,
    line: inside?.line ?? pos.line,
    column: inside?.column ?? column,
    code: problem.code,
    severity: problem.severity,
    message: problem.message,
    path: formatPath(problem.path),
  };
}

/** Order diagnostics by file, line, column, then code, so output is stable. */
export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  return a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column ||
    a.code.localeCompare(b.code) || a.message.localeCompare(b.message);
}
