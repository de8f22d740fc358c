/** `--param name=value` overrides, with values read as YAML scalars (`3`, `true`, `[a, b]`). @module */

import type { ParamValue } from "./model.ts";
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
