/**
 * Staging decisions: for each (file, executor) pair, which provider brings
 * the file to the task (or takes an output away) and what path the task sees.
 * Decisions are plain data made at plan time; providers act on them at run
 * time. The first matching rule wins; without rules, defaults follow the
 * executor's `filesystem` model (Parsl's shared / executor-shared / none).
 * @module
 */

import { safeDecode } from "./urls.ts";
import { createHash } from "node:crypto";
import { posix } from "node:path";
import type { Executor, StagingRule } from "../dsl/model.ts";
import { firstMatch, hostGroupHint } from "./rules_match.ts";
import { localPath } from "./values.ts";

/**
 * What happens to one file for one task:
 * - `none`: the file is used where it is (shared filesystem);
 * - `in-place`: no transfer, the path is valid on the node (cvmfs `skip`, parrot-style `rewrite`);
 * - `transfer`: a transfer step of its own in the DAG, shared by every task needing the file on that storage;
 * - `wrap`: work done on the node around the task (scratch copy in and back, node-side fetch).
 */
export type DecisionKind = "none" | "in-place" | "transfer" | "wrap";

/** A staging decision for one file of one task. */
export interface StagingDecision {
  /** What kind of work the file needs. */
  readonly kind: DecisionKind;
  /** The action (provider) chosen: shared, skip, rewrite, scratch, http, ftp, sftp, rsync, copy, or a module path. */
  readonly action: string;
  /** The path the task sees (relative paths are inside the task's directory). */
  readonly path: string;
  /** Index of the rule that matched, or "default" for the filesystem model's default. */
  readonly rule: number | "default";
  /** For transfers: the storage the copy lands on ("workspace" or "executor:NAME"). */
  readonly storage?: string;
  /** For `shared` inputs placed in the task directory: how. */
  readonly link?: "symlink" | "hardlink" | "copy";
  /** For a file the executor's `endpoints` map to its own storage: which entry (its index). */
  readonly endpoint?: number;
  /** For an output so mapped: the path on the executor's storage it is moved to, not uploaded. */
  readonly local?: string;
}

/** A file no rule claims: which rules were tried. */
export interface Unclaimed {
  /** Discriminant. */
  readonly unclaimed: true;
  /** The rules tried, as `match (action)`. */
  readonly tried: readonly string[];
  /** A rule that nearly matched, and how to make it match. */
  readonly hint?: string;
}

/** Options shared by the decision functions. */
export interface DecideOptions {
  /** The workspace directory. */
  readonly workspace: string;
  /** Slot name and position, for per-task paths: `ref`, `reads/2`. */
  readonly slot: string;
}

const SCHEME_ACTION: Readonly<Record<string, string>> = {
  "http:": "http",
  "https:": "https",
  "ftp:": "ftp",
  "ftps:": "ftps",
  "sftp:": "sftp",
  "rsync:": "rsync",
  "rsync+ssh:": "rsync",
};

/**
 * Where a transferred copy of `url` lands in a storage area rooted at `root`;
 * `variant` names another copy of the same URL (fetched under another rule).
 */
export function stagedPath(root: string, url: string, variant = ""): string {
  const digest = createHash("sha256").update(variant ? `${url}\n${variant}` : url).digest("hex")
    .slice(0, 16);
  const name = safeDecode(new URL(url).pathname.split("/").filter(Boolean).at(-1) ?? "file") ||
    "file";
  return posix.join(root, ".ferry", "staged", digest, name);
}

/** The scratch directory of an executor; local executors default to the system temp dir. */
export function scratchRoot(ex: Executor): string {
  return ex.scratch ?? (Deno.env.get("TMPDIR") || "/tmp");
}

function basename(url: string): string {
  const p = localPath(url) ?? new URL(url).pathname;
  return safeDecode(p.split("/").filter(Boolean).at(-1) ?? "file");
}

/** Fill a rewrite rule's `to` template with the match's groups. */
export function rewritePath(to: string, groups: Readonly<Record<string, string>>): string {
  return to.replace(/:([A-Za-z_][A-Za-z0-9_]*|\d+)/g, (m, g: string) => groups[g] ?? m);
}

/**
 * Where a task sees input `url` in its directory: its path in the workspace,
 * so that files that belong together (a `.bam` and its `.bai`) sit side by
 * side and every workspace gives the task the same paths; a file elsewhere
 * under `_inputs/` + its absolute path; a remote file under `_inputs/HOST/PATH`
 * (with a digest of the URL as a further directory when it has a query).
 */
export function inputRel(url: string, o: DecideOptions): string {
  const here = localPath(url);
  if (here !== undefined) return workspaceRel(here, o) ?? posix.join("_inputs", here);
  const u = new URL(url);
  const segments = u.pathname.split("/").filter(Boolean).map((seg) => {
    const d = safeDecode(seg);
    return d === "." || d === ".." || d.includes("/") || d.includes("\0") ? seg : d;
  });
  const name = segments.pop() ?? "file";
  const digest = u.search || u.hash
    ? [createHash("sha256").update(url).digest("hex").slice(0, 8)]
    : [];
  return posix.join("_inputs", u.host || u.protocol.slice(0, -1), ...segments, ...digest, name);
}

function fromRule(
  rule: StagingRule,
  index: number,
  groups: Readonly<Record<string, string>>,
  ex: Executor,
  url: string,
  role: "input" | "output",
  o: DecideOptions,
): StagingDecision {
  const here = localPath(url);
  const inTask = () => inputRel(url, o);
  switch (rule.action) {
    case "skip":
      return {
        kind: "in-place",
        action: "skip",
        path: here ?? safeDecode(new URL(url).pathname),
        rule: index,
      };
    case "rewrite":
      return {
        kind: "in-place",
        action: "rewrite",
        path: rewritePath(rule.to ?? "", groups),
        rule: index,
      };
    case "shared": {
      const link = rule.options.link;
      if ((link === "symlink" || link === "hardlink" || link === "copy") && role === "input") {
        return { kind: "none", action: "shared", path: inTask(), rule: index, link };
      }
      if (role === "output") {
        return { kind: "none", action: "shared", path: here ?? url, rule: index };
      }
      return { kind: "none", action: "shared", path: sharedInput(url, o), rule: index };
    }
    case "scratch":
      return {
        kind: "wrap",
        action: "scratch",
        // The task's directory is on node-local scratch: inputs are copied in
        // beside it, outputs written there and copied back after success.
        path: role === "input" ? inTask() : outputRel(url, o),
        rule: index,
      };
    default:
      // http, ftp, sftp, rsync, or a custom provider module
      return transferOrWrap(ex, url, rule.action, index, role, o);
  }
}

/**
 * Where a task writes output `url` in its directory: its path in the
 * workspace, else `_outputs/SLOT/NAME`.
 */
export function outputRel(url: string, o: DecideOptions): string {
  const here = localPath(url);
  return (here && workspaceRel(here, o)) || posix.join("_outputs", o.slot, basename(url));
}

/** A local path's path inside the workspace, or undefined when it is outside. */
function workspaceRel(here: string, o: DecideOptions): string | undefined {
  const ws = o.workspace.endsWith("/") ? o.workspace : `${o.workspace}/`;
  return here.startsWith(ws) ? here.slice(ws.length) : undefined;
}

function transferOrWrap(
  ex: Executor,
  url: string,
  action: string,
  rule: number | "default",
  role: "input" | "output",
  o: DecideOptions,
): StagingDecision {
  if (role === "output") {
    // The task writes in its directory; the provider takes the file away once it succeeded.
    return {
      kind: ex.filesystem === "none" ? "wrap" : "transfer",
      action,
      path: outputRel(url, o),
      rule,
      storage: storageOf(ex),
    };
  }
  if (ex.filesystem === "none") {
    return { kind: "wrap", action, path: inputRel(url, o), rule };
  }
  return {
    kind: "transfer",
    action,
    path: stagedPath(o.workspace, url),
    rule,
    storage: storageOf(ex),
  };
}

/**
 * What a task sees of a local input on a shared filesystem: a workspace file at its
 * workspace-relative path (a symlink in the task's directory); a file elsewhere where it is.
 */
function sharedInput(url: string, o: DecideOptions): string {
  const here = localPath(url) ?? url;
  return workspaceRel(here, o) ?? here;
}

function storageOf(ex: Executor): string {
  return ex.filesystem === "executor-shared" ? `executor:${ex.name}` : "workspace";
}

/**
 * Where `url` is on `ex`'s own storage by its `endpoints`: a remote URL under an entry's `url`
 * is the file under its `path`, and a `file:` URL under a `path` is that file itself. The
 * entry's index and the local path, or undefined.
 */
export function onEndpoint(
  ex: Executor,
  url: string,
): { readonly index: number; readonly path: string } | undefined {
  const eps = ex.endpoints;
  if (!eps) return undefined;
  const here = localPath(url);
  for (const [index, e] of eps.entries()) {
    if (here !== undefined) {
      if (here.startsWith(e.path)) return { index, path: here };
      continue;
    }
    const prefix = normalUrl(e.url);
    if (!url.startsWith(prefix)) continue;
    const rest = url.slice(prefix.length).replace(/[?#].*$/, "");
    const parts = rest.split("/").map(safeDecode);
    if (parts.some((p) => p === ".." || p.includes("\0"))) continue;
    return { index, path: e.path + parts.join("/") };
  }
  return undefined;
}

/** A URL as the expansion normalises files' URLs (an endpoint's prefix compared with them). */
function normalUrl(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}

/** The decision for `url` used as `role` by a task on `ex`, or the rules tried when none applies. */
export function decide(
  ex: Executor,
  url: string,
  role: "input" | "output",
  o: DecideOptions,
): StagingDecision | Unclaimed {
  // The executor's own storage under another name: a remote URL on it is used where it is, never
  // copied onto itself (before any rule); a local path on it is used where it is unless a rule
  // says otherwise (a scratch copy, say). An output to such a URL is written in the task's
  // directory and moved there once the task succeeded (on the node, without a shared
  // filesystem), never uploaded onto itself.
  const ep = role === "input" || localPath(url) === undefined ? onEndpoint(ex, url) : undefined;
  if (ep && role === "output") {
    return {
      kind: ex.filesystem === "none" ? "wrap" : "in-place",
      action: "endpoint",
      path: outputRel(url, o),
      rule: "default",
      endpoint: ep.index,
      local: ep.path,
    };
  }
  const m = firstMatch(ex, url);
  if (ep && (m === undefined || localPath(url) === undefined)) {
    return {
      kind: "in-place",
      action: "endpoint",
      path: ep.path,
      rule: "default",
      endpoint: ep.index,
    };
  }
  if (m) return fromRule(m.rule, m.index, m.groups, ex, url, role, o);
  const scheme = url.slice(0, url.indexOf(":") + 1);
  if (scheme === "file:") {
    if (ex.filesystem === "shared" || ex.provider === "local") {
      return {
        kind: "none",
        action: "shared",
        path: role === "input" ? sharedInput(url, o) : outputRel(url, o),
        rule: "default",
      };
    }
    return transferOrWrap(ex, url, "copy", "default", role, o);
  }
  const action = SCHEME_ACTION[scheme];
  if (action) return transferOrWrap(ex, url, action, "default", role, o);
  const tried = ex.staging.map((r) => `${r.match} (${r.action})`);
  tried.push(
    `the defaults for filesystem "${ex.filesystem}" (file:, http:, https:, ftp:, ftps:, sftp:, rsync:, rsync+ssh:)`,
  );
  const hint = hostGroupHint(ex, url);
  return hint === undefined ? { unclaimed: true, tried } : { unclaimed: true, tried, hint };
}
