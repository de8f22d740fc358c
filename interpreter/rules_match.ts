/**
 * Matching files to an executor's staging rules: the first rule whose
 * URLPattern matches a file's URL wins. Compiled patterns are cached.
 * @module
 */

import type { Executor, StagingRule } from "../dsl/model.ts";

const compiled = new Map<string, URLPattern | null>();

function pattern(match: string): URLPattern | null {
  let p = compiled.get(match);
  if (p === undefined) {
    try {
      p = new URLPattern(match);
    } catch {
      p = null; // reported by the staging_rules check
    }
    compiled.set(match, p);
  }
  return p;
}

/** The first rule of `executor` that matches `url`, with its pattern groups. */
export function firstMatch(
  executor: Executor,
  url: string,
): {
  readonly rule: StagingRule;
  readonly index: number;
  readonly groups: Readonly<Record<string, string>>;
} | undefined {
  for (const [index, rule] of executor.staging.entries()) {
    const p = pattern(rule.match);
    const m = p?.exec(url);
    if (!m) continue;
    const groups: Record<string, string> = {};
    // Later components win on name clashes: the pathname's groups are what `to` usually means.
    for (
      const part of [
        m.protocol,
        m.username,
        m.password,
        m.hostname,
        m.port,
        m.search,
        m.hash,
        m.pathname,
      ]
    ) {
      for (const [k, v] of Object.entries(part.groups)) if (v !== undefined) groups[k] = v;
    }
    return { rule, index, groups };
  }
  return undefined;
}

/** Actions after which a file is present on the node without ferry moving it. */
export const IN_PLACE_ACTIONS: ReadonlySet<string> = new Set(["skip", "rewrite"]);
