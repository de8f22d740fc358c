/**
 * The names a module exports, read from its source text: a script's exported
 * functions are named without importing the script (which, from the script's
 * own `main()`, would wait for itself; and in a task's process runs it again).
 * @module
 */

/**
 * The names a module's source exports: `export function f`, `export const f`, `export { f, g as h }`.
 *
 * @example
 * ```ts
 * import { exportedNames } from "./exported_names.ts";
 * import assert from "node:assert/strict";
 * const src = "export async function a() {}\nconst b = 1;\nexport { b as c };\nfunction d() {}\n";
 * assert.deepEqual([...exportedNames(src)].sort(), ["a", "c"]);
 * ```
 */
export function exportedNames(source: string): Set<string> {
  const names = new Set<string>();
  for (
    const m of source.matchAll(
      /\bexport\s+(?:async\s+)?(?:function\*?|const|let|var)\s+([A-Za-z_$][\w$]*)/g,
    )
  ) {
    names.add(m[1]!);
  }
  for (const m of source.matchAll(/\bexport\s*\{([^}]*)\}/g)) {
    for (const part of m[1]!.split(",")) {
      const name = part.trim().split(/\s+as\s+/).pop()?.trim();
      if (name) names.add(name);
    }
  }
  return names;
}
