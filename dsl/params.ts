/** `--param name=value` overrides, with values read as YAML scalars (`3`, `true`, `[a, b]`). @module */

import type { ParamType, ParamValue } from "./model.ts";
import { yamlModule } from "./lazy_modules.ts";

/** Parsed overrides, or the usage error of the first bad one. */
export type ParamOverrides =
  | { readonly ok: true; readonly params: Readonly<Record<string, ParamValue>> }
  | { readonly ok: false; readonly message: string };

/**
 * Parse `name=value` strings; values are YAML (`n=3` is a number, `s=[a, b]` a list).
 *
 * @example
 * ```ts
 * import { parseParamOverrides } from "./params.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseParamOverrides(["n=3", "names=[a, b]", "s=x y"]), {
 *   ok: true,
 *   params: { n: 3, names: ["a", "b"], s: "x y" },
 * });
 * ```
 */
export function parseParamOverrides(assignments: readonly string[]): ParamOverrides {
  const params: Record<string, ParamValue> = {};
  for (const a of assignments) {
    const eq = a.indexOf("=");
    const name = eq < 0 ? a : a.slice(0, eq);
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) {
      return { ok: false, message: `Cannot read --param "${a}": write it as name=value` };
    }
    const text = a.slice(eq + 1);
    try {
      params[name] = text === ""
        ? ""
        : yamlModule().parse(text, { version: "1.2", maxAliasCount: 10 }) as ParamValue;
    } catch (e) {
      return {
        ok: false,
        message: `Cannot read --param "${a}": ${String((e as Error).message).split("\n")[0]}`,
      };
    }
  }
  return { ok: true, params };
}

/** The types a param may be declared with (`param_types:`), or shown by its default. */
export const PARAM_TYPES: readonly ParamType[] = [
  "string",
  "number",
  "integer",
  "boolean",
  "list",
  "mapping",
];

/**
 * The type a value shows: `integer` for a whole number, `number` for another;
 * undefined for `null`, which shows none.
 */
export function typeOfParam(v: ParamValue | undefined): ParamType | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  if (typeof v === "string" || typeof v === "boolean") return typeof v as ParamType;
  return Array.isArray(v) ? "list" : "mapping";
}

const TYPE_NAMES: Readonly<Record<ParamType, string>> = {
  string: "a string",
  number: "a number",
  integer: "a whole number",
  boolean: "true or false",
  list: "a list",
  mapping: "a mapping",
};

/** How a value reads in a message: `the string "x"`, `the number 2.5`, `a list`. */
function shown(v: ParamValue): string {
  if (v === null) return "empty (null)";
  if (typeof v === "object") return Array.isArray(v) ? "a list" : "a mapping";
  return `the ${typeOfParam(v) === "integer" ? "whole number" : typeof v} ${JSON.stringify(v)}`;
}

/**
 * Why `value` cannot be param `name`, whose type is `declared` (from `param_types:`) or else
 * its default's; undefined when it can. A whole number is a number too; `null` fits any type.
 *
 * @example
 * ```ts
 * import { paramTypeProblem } from "./params.ts";
 * import assert from "node:assert/strict";
 * assert.equal(paramTypeProblem(2, 8), undefined);
 * assert.equal(paramTypeProblem("many", 8), 'it must be a whole number like its default 8, not the string "many"');
 * assert.equal(paramTypeProblem(2, 0.5), undefined);
 * ```
 */
export function paramTypeProblem(
  value: ParamValue,
  defaultValue: ParamValue | undefined,
  declared?: ParamType,
): string | undefined {
  const want = declared ?? typeOfParam(defaultValue);
  const got = typeOfParam(value);
  if (want === undefined || got === undefined || got === want) return undefined;
  if (want === "number" && got === "integer") return undefined;
  const why = declared !== undefined
    ? ` (param_types says ${declared})`
    : typeof defaultValue === "object"
    ? " like its default"
    : ` like its default ${JSON.stringify(defaultValue)}`;
  return `it must be ${TYPE_NAMES[want]}${why}, not ${shown(value)}`;
}
