/**
 * The diagnostic codes reference, from `DIAGNOSTIC_CODES` in dsl/codes.ts:
 * one table per group, in the registry's order. The groups are the registry's
 * own comment lines (`// reading files`), read from its source.
 * @module
 */

import { code, table } from "./markdown.ts";

/** The codes' tables, as Markdown (no page title). */
export function codesReference(codes: Readonly<Record<string, string>>, source: string): string {
  const groups = codeGroups(source);
  const grouped = new Set(groups.flatMap((g) => g.codes));
  const stray = Object.keys(codes).filter((c) => !grouped.has(c));
  if (stray.length > 0) {
    throw new Error(`codes reference: no group comment above ${stray.join(", ")} in dsl/codes.ts`);
  }
  const out: string[] = [];
  for (const g of groups) {
    out.push(`## ${capital(g.name)}`, "");
    const rows = g.codes.map((c) => {
      const meaning = codes[c];
      if (meaning === undefined) {
        throw new Error(`codes reference: ${c} is not in DIAGNOSTIC_CODES`);
      }
      const warning = meaning.endsWith(" (warning)");
      return [code(c), warning ? "warning" : "error", meaning.replace(/ \(warning\)$/, "")];
    });
    out.push(table(["code", "severity", "meaning"], rows), "");
  }
  return out.join("\n");
}

/** The groups of codes.ts: each `// name` comment line and the codes that follow it. */
export function codeGroups(source: string): { name: string; codes: string[] }[] {
  const groups: { name: string; codes: string[] }[] = [];
  for (const line of source.split("\n")) {
    const comment = /^\s*\/\/ (.+)$/.exec(line);
    if (comment) groups.push({ name: comment[1]!.trim(), codes: [] });
    const key = /^\s*"([a-z-]+)":/.exec(line);
    if (key && groups.length > 0) groups[groups.length - 1]!.codes.push(key[1]!);
  }
  return groups.filter((g) => g.codes.length > 0);
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
