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

/** A named group without a regex (`:host`), which in a host name matches one label. */
const BARE_GROUP = /:([A-Za-z_$][A-Za-z0-9_$]*)(?![A-Za-z0-9_$(])/g;

/**
 * For a URL no rule matched: the first rule that would match it if its host
 * name's named groups spanned dots (`chirp://:host/*` against
 * `chirp://storage1.example.org/x`), said with the fix; undefined when none would.
 */
export function hostGroupHint(executor: Executor, url: string): string | undefined {
  for (const rule of executor.staging) {
    const p = pattern(rule.match);
    const groups = p?.hostname.match(BARE_GROUP);
    if (!p || !groups) continue;
    let wide: URLPattern;
    try {
      wide = new URLPattern({
        protocol: p.protocol,
        username: p.username,
        password: p.password,
        hostname: p.hostname.replace(BARE_GROUP, ":$1(.+)"),
        port: p.port,
        pathname: p.pathname,
        search: p.search,
        hash: p.hash,
      });
    } catch {
      continue;
    }
    if (!wide.test(url)) continue;
    const g = groups[0]!;
    return `the rule ${rule.match} would match if ${g} spanned dots (a named group matches one label of a host name): write ${g}(.+)`;
  }
  return undefined;
}
