/**
 * Rendering diagnostics for people (text with the source line and a caret),
 * for tools (JSON) and for GitHub Actions (workflow-command annotations).
 * @module
 */

import type { Diagnostic } from "./diagnostic.ts";
import { visible, visibleLines } from "./visible.ts";

/** Output formats of `ferry check`. */
export type ReportFormat = "text" | "json" | "github";

/** Options for {@linkcode formatDiagnostics}. */
export interface ReportOptions {
  /** Source texts by file, for the line under each diagnostic. @default new Map() */
  readonly sources?: ReadonlyMap<string, string>;
  /** Use ANSI colours (text only). @default false */
  readonly color?: boolean;
}

/**
 * Render diagnostics in one of the formats.
 *
 * @example
 * ```ts
 * import { formatDiagnostics } from "./report.ts";
 * import assert from "node:assert/strict";
 * const d = { file: "w.yaml", line: 2, column: 3, code: "unknown-key", severity: "error" as const, message: "Cannot use unknown key \"x\"", path: "x" };
 * assert.equal(formatDiagnostics([d], "github"), "::error file=w.yaml,line=2,col=3,title=ferry unknown-key::Cannot use unknown key \"x\"\n");
 * ```
 */
export function formatDiagnostics(
  diagnostics: readonly Diagnostic[],
  format: ReportFormat,
  options: ReportOptions = {},
): string {
  const { sources = new Map(), color = false } = options;
  if (format === "json") {
    const rows = diagnostics.map(({ file, line, column, code, severity, message, path }) => ({
      file,
      line,
      column,
      code,
      severity,
      message,
      path,
    }));
    return JSON.stringify(rows, null, 2) + "\n";
  }
  if (format === "github") {
    return diagnostics.map((d) =>
      `::${d.severity} file=${prop(d.file)},line=${d.line},col=${d.column},title=${
        prop(`ferry ${d.code}`)
      }::${data(d.message)}\n`
    ).join("");
  }
  const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const lines = new Map<string, string[]>();
  let out = "";
  for (const d of diagnostics) {
    const sev = d.severity === "error" ? paint("1;31", "error") : paint("1;33", "warning");
    // A message quotes values (ids, file names): their control characters are shown as escapes.
    out += `${paint("1", `${visible(d.file)}:${d.line}:${d.column}`)}: ${sev}[${d.code}]: ${
      visibleLines(d.message)
    }\n`;
    const text = sources.get(d.file);
    if (text === undefined) continue;
    const ls = lines.get(d.file) ?? text.split(/\r?\n/);
    lines.set(d.file, ls);
    const src = ls[d.line - 1];
    if (src === undefined) continue;
    const gutter = String(d.line).padStart(5);
    const shown = src.length > 200 ? src.slice(0, 200) + "…" : src;
    const pad = shown.slice(0, d.column - 1).replace(/[^\t]/g, " ");
    out += `${paint("2", `${gutter} |`)} ${shown}\n${paint("2", `${" ".repeat(5)} |`)} ${pad}${
      paint(d.severity === "error" ? "1;31" : "1;33", "^")
    }\n`;
  }
  return out;
}

/** `N errors, M warnings` for the summary line. */
export function countSummary(diagnostics: readonly Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.length - errors;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
  return `${plural(errors, "error")}, ${plural(warnings, "warning")}`;
}

function data(s: string): string {
  return s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

function prop(s: string): string {
  return data(s).replace(/:/g, "%3A").replace(/,/g, "%2C");
}
