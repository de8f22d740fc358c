/**
 * Records in `for_each`: a mapping is iterated entry by entry, each entry a
 * record `{ key, value }`, in the mapping's order.
 * @module
 */

/**
 * The entries of a mapping as records `{ key, value }`, in its order (JavaScript's: keys that are
 * whole numbers first, ascending, then the others as written).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { entries } from "./records.ts";
 * assert.deepEqual(entries({ A: "a.fq", B: "b.fq" }), [
 *   { key: "A", value: "a.fq" },
 *   { key: "B", value: "b.fq" },
 * ]);
 * ```
 */
export function entries<T>(
  mapping: Readonly<Record<string, T>>,
): { readonly key: string; readonly value: T }[] {
  return Object.entries(mapping).map(([key, value]) => ({ key, value }));
}
