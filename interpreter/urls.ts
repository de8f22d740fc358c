/**
 * File names to URLs: workspace-relative paths become `file:` URLs, URLs are
 * normalised (percent-encoding, dot segments, trailing slashes) so that the
 * same file always has the same URL and data dependencies link reliably.
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/** The normalised URL of a path or URL written in a workflow. */
export function toUrl(written: string, workspace: string): string {
  // Fast path for the common case (a plain relative path): no URL parsing at all.
  if (PLAIN_RELATIVE.test(written) && !DOT_SEGMENT.test(written)) {
    return `${workspaceUrl(workspace)}/${written.endsWith("/") ? written.slice(0, -1) : written}`;
  }
  let href: string;
  if (SCHEME.test(written) && !/^[A-Za-z]:[\\/]/.test(written)) {
    href = new URL(written).href;
  } else {
    const expanded = written.startsWith("~/")
      ? `${Deno.env.get("HOME") ?? "~"}${written.slice(1)}`
      : written;
    href =
      pathToFileURL(isAbsolute(expanded) ? resolve(expanded) : resolve(workspace, expanded)).href;
  }
  return stripTrailingSlash(href);
}

const PLAIN_RELATIVE = /^[A-Za-z0-9_][A-Za-z0-9_.\/-]*$/;
const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)|\/\//;
const workspaceUrls = new Map<string, string>();

/** The workspace directory as a URL without trailing slash. */
export function workspaceUrl(workspace: string): string {
  let u = workspaceUrls.get(workspace);
  if (u === undefined) {
    u = stripTrailingSlash(pathToFileURL(resolve(workspace)).href);
    if (workspaceUrls.size > 64) workspaceUrls.clear();
    workspaceUrls.set(workspace, u);
  }
  return u;
}

function stripTrailingSlash(href: string): string {
  const u = href.endsWith("/") ? href.slice(0, -1) : href;
  return /^[a-z][a-z0-9+.-]*:\/*$/i.test(u) || u.endsWith("://") ? href : u;
}

/** `s` as a regular expression that matches exactly it. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A glob (workspace-relative) as a regular expression over URLs. */
export function globToRegExp(glob: string, workspace: string): RegExp {
  const base = escapeRegExp(workspaceUrl(workspace));
  return safeRegExp(`^${base}/${globSource(glob, encodeURI)}$`);
}

/** A glob as a regular expression over relative paths (`frames/*.pdb`, `out/**\/x.txt`). */
export function globPathRegExp(glob: string): RegExp {
  return safeRegExp(`^${globSource(glob, (c) => c)}$`);
}

const NEVER = /(?!)/;

/** Compile a pattern; one too large for V8 matches nothing (and `check` reports the glob). */
function safeRegExp(source: string): RegExp {
  try {
    const re = new RegExp(source);
    re.test(""); // V8 compiles lazily: make a too-large pattern fail here, not later
    return re;
  } catch {
    return NEVER;
  }
}

function globSource(glob: string, encode: (c: string) => string): string {
  let re = "";
  const chars = [...glob]; // by code point: an emoji must not be split in two halves
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === "*" && chars[i + 1] === "*") {
      re += ".*";
      i++;
      if (chars[i + 1] === "/") i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += encode(c).replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return re;
}

/** Percent-decode for display; a malformed escape (`%zz`) stays as written. */
export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s.replace(/%[0-9A-Fa-f]{2}/g, (m) => {
      try {
        return decodeURIComponent(m);
      } catch {
        return m;
      }
    });
  }
}

/** The workspace-relative path of `url` (decoded), or undefined when it is outside `base`. */
export function workspaceRelative(url: string, base: string): string | undefined {
  return url.startsWith(base + "/") ? safeDecode(url.slice(base.length + 1)) : undefined;
}

/**
 * A URL as the state records it: a file in the workspace (`base`, as {@linkcode workspaceUrl}
 * gives it) as `./` and its URL path relative to the workspace, so a copied or moved workspace
 * keeps its cache; any other URL as it is. {@linkcode fromRecordedUrl} reverses it.
 *
 * @example
 * ```ts
 * import { fromRecordedUrl, toRecordedUrl } from "./urls.ts";
 * import assert from "node:assert/strict";
 * assert.equal(toRecordedUrl("file:///w/out/a%20b.txt", "file:///w"), "./out/a%20b.txt");
 * assert.equal(toRecordedUrl("file:///w2/x.txt", "file:///w"), "file:///w2/x.txt");
 * assert.equal(fromRecordedUrl("./out/a%20b.txt", "file:///v"), "file:///v/out/a%20b.txt");
 * ```
 */
export function toRecordedUrl(url: string, base: string): string {
  if (url === base) return ".";
  return url.startsWith(base) && url[base.length] === "/" ? `.${url.slice(base.length)}` : url;
}

/** The URL a recorded one (see {@linkcode toRecordedUrl}) names in the workspace `base`. */
export function fromRecordedUrl(recorded: string, base: string): string {
  if (recorded === ".") return base;
  return recorded.startsWith("./") ? `${base}${recorded.slice(1)}` : recorded;
}
