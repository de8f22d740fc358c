/**
 * Task ids: `align[sample=A]` for scalar bindings (as ever), `bwa_map[A]` for
 * a record binding (its `id`, `name` or `key` field, else its position), or
 * whatever the app's `id:` template gives. Parts that could be misread (a
 * bracket, a comma, `=`, a quote, a space, a control character) are quoted.
 * @module
 */

import { hasControl, visible } from "../dsl/visible.ts";
import { DynamicList, FileValue, type Value } from "./values.ts";

/** One binding of a task: the variable, its value, and the value's position in its list. */
export type Binding = readonly [name: string, value: Value, index: number];

/** Whether a value is a record: a mapping (not a file, a list or a dynamic list). */
export function isRecord(v: Value): v is { readonly [key: string]: Value } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof FileValue) &&
    !(v instanceof DynamicList);
}

/** Fields that name a record, in order of preference. */
const NAMING_FIELDS = ["id", "name", "key"] as const;

/**
 * A record's short name: its `id`, `name` or `key` field (the first that is a string or a
 * number), else its position in the list (from 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recordName } from "./task_ids.ts";
 * assert.equal(recordName({ name: "A", fastq: "a.fq" }, 3), "A");
 * assert.equal(recordName({ key: "B", value: "b.fq" }, 1), "B");
 * assert.equal(recordName({ fastq: "c.fq" }, 2), "2");
 * ```
 */
export function recordName(v: { readonly [key: string]: Value }, index: number): string {
  for (const f of NAMING_FIELDS) {
    const x = Object.hasOwn(v, f) ? v[f] : undefined;
    if (typeof x === "string" || typeof x === "number") return String(x);
  }
  return String(index);
}

/** Characters that make an id part ambiguous or hard to read (besides control characters). */
const NEEDS_QUOTES = /^$|[\s[\],="'`$\\]/;

/**
 * An id part as written between the brackets: as it is when plain, else in double quotes with
 * JSON's escapes (and every control character visible), so no part can end the brackets early,
 * fake a second binding or break a line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { idPart } from "./task_ids.ts";
 * assert.equal(idPart("A"), "A");
 * assert.equal(idPart('x"]\n$(rm)'), '"x\\"]\\n$(rm)"');
 * ```
 */
export function idPart(text: string): string {
  return NEEDS_QUOTES.test(text) || hasControl(text) ? visible(JSON.stringify(text)) : text;
}

/**
 * The id of a task of `app` with these bindings: `explicit` (the `id:` template's text) when
 * given; else, when a binding is a record, its name (`app[A]`, or `app[s=A,r=1]` with several
 * variables); else `app[s=A,r=1]` with the values as `shown`. `named` tells whether the id came
 * from `id:` or a record (two such ids may not be equal).
 */
export function taskId(
  app: string,
  combo: readonly Binding[],
  shown: Readonly<Record<string, string>>,
  explicit?: string,
): { readonly id: string; readonly named: boolean } {
  if (explicit !== undefined) return { id: `${app}[${idPart(explicit)}]`, named: true };
  if (combo.length === 0) return { id: app, named: false };
  if (!combo.some(([, v]) => isRecord(v))) {
    return { id: `${app}[${combo.map(([k]) => `${k}=${shown[k]}`).join(",")}]`, named: false };
  }
  const part = ([k, v, i]: Binding) => isRecord(v) ? idPart(recordName(v, i)) : shown[k]!;
  if (combo.length === 1) return { id: `${app}[${part(combo[0]!)}]`, named: true };
  const parts = combo.map((b) => `${b[0]}=${part(b)}`);
  return { id: `${app}[${parts.join(",")}]`, named: true };
}
