/**
 * Rules on executors (site file or a workflow's `executors` block): known
 * providers and actions, URLPatterns that compile, `rewrite` targets that name
 * real groups, and a scratch directory where `scratch` rules need one.
 * @module
 */

import { error, type Problem } from "../diagnostic.ts";
import type { Endpoint, Executor } from "../model.ts";
import { didYouMean } from "../suggest.ts";

/** Batch providers built into ferry. */
export const BUILTIN_PROVIDERS = ["local", "slurm", "pbs", "lsf", "htcondor", "ssh"] as const;
/** Staging actions built into ferry. */
export const BUILTIN_ACTIONS = [
  "shared",
  "skip",
  "rewrite",
  "scratch",
  "http",
  "https",
  "ftp",
  "ftps",
  "sftp",
  "rsync",
  "copy",
  "globus",
] as const;

/** Actions that move nothing, so have no hop to make through intermediate storage. */
const NOT_VIA: ReadonlySet<string> = new Set(["shared", "skip", "rewrite", "scratch"]);

/** A module path names a custom provider: `./x.ts`, `../x.ts` or `/abs/x.ts`. */
export function isModulePath(s: string): boolean {
  return /^(\.{1,2}\/|\/)/.test(s) && /\.(ts|js|mjs|mts)$/.test(s);
}

/** Check every executor of a document's `executors` block. */
export function checkExecutors(executors: Readonly<Record<string, Executor>>): Problem[] {
  const out: Problem[] = [];
  for (const ex of Object.values(executors)) {
    const base = ["executors", ex.name];
    if (
      !(BUILTIN_PROVIDERS as readonly string[]).includes(ex.provider) && !isModulePath(ex.provider)
    ) {
      out.push(error(
        "unknown-provider",
        [...base, "provider"],
        `Cannot find batch provider "${ex.provider}"${
          didYouMean(ex.provider, BUILTIN_PROVIDERS) ||
          `: use one of ${BUILTIN_PROVIDERS.join(", ")} or a module path such as ./my_provider.ts`
        }`,
      ));
    }
    ex.staging.forEach((rule, i) => out.push(...checkRule(ex, rule, [...base, "staging", i])));
    ex.endpoints?.forEach((e, i) => out.push(...checkEndpoint(e, [...base, "endpoints", i])));
  }
  return out;
}

/** An endpoint names a remote URL prefix with a host, and an absolute local directory. */
function checkEndpoint(e: Endpoint, where: (string | number)[]): Problem[] {
  const out: Problem[] = [];
  let url: URL | undefined;
  try {
    url = new URL(e.url);
  } catch { /* below */ }
  if (!url || url.protocol === "file:" || url.host === "") {
    out.push(error(
      "invalid-url",
      [...where, "url"],
      `Cannot use endpoint "${e.url}": give a remote URL with a host, such as sftp://login.example.org/scratch/`,
    ));
  }
  if (!e.path.startsWith("/")) {
    out.push(error(
      "invalid-value",
      [...where, "path"],
      `Cannot use endpoint path "${e.path}": give an absolute directory or a file:/// URL`,
    ));
  }
  return out;
}

function checkRule(
  ex: Executor,
  rule: Executor["staging"][number],
  where: (string | number)[],
): Problem[] {
  const out: Problem[] = [];
  const builtin = (BUILTIN_ACTIONS as readonly string[]).includes(rule.action);
  if (!builtin && !isModulePath(rule.action)) {
    out.push(error(
      "unknown-action",
      [...where, "action"],
      `Cannot find staging action "${rule.action}"${
        didYouMean(rule.action, BUILTIN_ACTIONS) ||
        `: use one of ${BUILTIN_ACTIONS.join(", ")} or a module path such as ./my_staging.ts`
      }`,
    ));
  }
  let pattern: URLPattern | undefined;
  try {
    pattern = new URLPattern(rule.match);
  } catch (e) {
    const why = String((e as Error).message ?? e).replace(/\.$/, "");
    out.push(
      error(
        "invalid-pattern",
        [...where, "match"],
        `Cannot compile URLPattern "${rule.match}": ${why}`,
      ),
    );
  }
  if (rule.action === "rewrite") {
    if (rule.to === undefined) {
      out.push(
        error(
          "rewrite-target",
          where,
          `Cannot rewrite without a target: add to: "/path/:group" to the rule matching "${rule.match}"`,
        ),
      );
    } else if (pattern) {
      const groups = patternGroups(rule.match);
      for (const m of rule.to.matchAll(/:([A-Za-z_][A-Za-z0-9_]*|\d+)/g)) {
        if (!groups.includes(m[1]!)) {
          out.push(error(
            "unknown-group",
            [...where, "to"],
            `Cannot use ":${m[1]}" in "${rule.to}": the pattern "${rule.match}" has ${
              groups.length ? `only ${groups.map((g) => `:${g}`).join(", ")}` : "no groups"
            }`,
          ));
        }
      }
    }
  } else if (rule.to !== undefined) {
    out.push({
      ...error(
        "rewrite-target",
        [...where, "to"],
        `Cannot use "to" with action "${rule.action}": only rewrite rules map to a path`,
      ),
      at: "key",
    });
  }
  out.push(...viaProblems(rule, [...where, "via_storage"]));
  if (rule.action === "scratch" && ex.scratch === undefined && ex.provider !== "local") {
    out.push(
      error(
        "missing-scratch",
        where,
        `Cannot copy to scratch on executor "${ex.name}": set its scratch directory, e.g. scratch: "\${SLURM_TMPDIR}"`,
      ),
    );
  }
  return out;
}

/**
 * A rule's `via_storage`: an intermediate storage, or a list of them in the order the file goes
 * through them, each an absolute directory or `file:///` URL, on a rule that moves files.
 */
function viaProblems(rule: Executor["staging"][number], where: (string | number)[]): Problem[] {
  const via = rule.options.via_storage;
  if (via === undefined) return [];
  if (Array.isArray(via) && via.length === 0) {
    return [error(
      "invalid-value",
      where,
      "Cannot stage through an empty list: give one or more absolute directories or file:/// URLs",
    )];
  }
  if (NOT_VIA.has(rule.action)) {
    return [error(
      "invalid-value",
      where,
      `Cannot stage through "${
        Array.isArray(via) ? via.map(String).join(", ") : String(via)
      }": a ${rule.action} rule moves nothing to stage through`,
    )];
  }
  const list: [unknown, (string | number)[]][] = Array.isArray(via)
    ? via.map((v, i) => [v, [...where, i]])
    : [[via, where]];
  const out: Problem[] = [];
  for (const [v, at] of list) {
    if (typeof v === "string" && (v.startsWith("/") || v.startsWith("file:///"))) continue;
    out.push(error(
      "invalid-value",
      at,
      `Cannot stage through "${
        typeof v === "string" ? v : JSON.stringify(v)
      }": give an absolute directory or a file:/// URL`,
    ));
  }
  const seen = (Array.isArray(via) ? via : []).map(String);
  seen.forEach((v, i) => {
    if (seen.indexOf(v) !== i) {
      out.push(error(
        "invalid-value",
        [...where, i],
        `Cannot stage through "${v}" twice: each hop goes to another storage`,
      ));
    }
  });
  return out;
}

const MAIN_COMPONENTS: ReadonlySet<string> = new Set(["protocol", "hostname", "pathname"]);
const COMPONENTS = [
  "protocol",
  "username",
  "password",
  "hostname",
  "port",
  "pathname",
  "search",
  "hash",
] as const;

/**
 * Named groups (`:host`) and numbered groups (`*`, `(regex)`) of a URLPattern, as
 * `to` may use them. URLPattern numbers unnamed groups per URL component, so
 * `https://*.org/*` has a `0` in the hostname and another in the pathname.
 */
export function patternGroups(match: string): string[] {
  let pattern: URLPattern;
  try {
    pattern = new URLPattern(match);
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const c of COMPONENTS) {
    // Components the pattern leaves out default to "*": their empty group is no use to `to`.
    if (pattern[c] === "*" && !MAIN_COMPONENTS.has(c)) continue;
    for (const g of componentGroups(pattern[c])) names.add(g);
  }
  return [...names];
}

/** Groups of one component's pattern string, in URLPattern's numbering. */
function componentGroups(p: string): string[] {
  const out: string[] = [];
  let n = 0;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === "\\") {
      i++;
    } else if (c === ":") {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(p.slice(i + 1));
      if (!m) continue;
      out.push(m[0]);
      i += m[0].length;
      if (p[i + 1] === "(") i = skipRegex(p, i + 1);
      if ("?*+".includes(p[i + 1] ?? "")) i++; // a modifier, not a wildcard
    } else if (c === "(") {
      out.push(String(n++));
      i = skipRegex(p, i);
      if ("?*+".includes(p[i + 1] ?? "")) i++;
    } else if (c === "*") {
      out.push(String(n++));
    }
  }
  return out;
}

/** Index of the `)` closing the regex group that opens at `open`. */
function skipRegex(p: string, open: number): number {
  let depth = 0;
  for (let i = open; i < p.length; i++) {
    if (p[i] === "\\") i++;
    else if (p[i] === "(") depth++;
    else if (p[i] === ")" && --depth === 0) return i;
  }
  return p.length;
}
