/**
 * Where a result store lives: a URL (`--store` or the site file's `store`)
 * checked and split into the scheme that moves its bytes and its base. A
 * directory (`file://`, local or on a shared filesystem), `sftp://`,
 * `rsync+ssh://`, or a published cache over `https://` (read-only).
 * @module
 */

import { fileURLToPath } from "node:url";

/** A store's schemes, and the staging action that moves each one's bytes. */
export const STORE_SCHEMES: Readonly<Record<string, string>> = Object.freeze({
  "file:": "copy",
  "sftp:": "sftp",
  "rsync+ssh:": "rsync",
  "https:": "https",
});

/** A checked store URL. */
export interface StoreLocation {
  /** The URL as given, without a trailing slash (never carries a password). */
  readonly url: string;
  /** `file`, `sftp`, `rsync+ssh` or `https`. */
  readonly scheme: string;
  /** The staging action that moves its bytes (`copy`, `sftp`, `rsync`, `https`). */
  readonly action: string;
  /** For `file:` stores: the directory. */
  readonly dir?: string;
  /** Nothing is written to it (`https:`). */
  readonly readOnly: boolean;
  /** The staging options (`identity_file`, `known_hosts`, ...) from the site file. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** Why a store URL cannot be used, or the location. */
export type ParsedLocation =
  | { readonly ok: true; readonly location: StoreLocation }
  | { readonly ok: false; readonly message: string };

const WRITE = "write file:///absolute/dir, sftp://[user@]host[:port]/dir, " +
  "rsync+ssh://[user@]host[:port]/dir or https://host/dir";

/**
 * Check a store URL: `Cannot use store "X" (where): why` when it is not one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseStoreUrl } from "./location.ts";
 * const r = parseStoreUrl("file:///srv/cache/");
 * assert.ok(r.ok && r.location.dir === "/srv/cache" && r.location.url === "file:///srv/cache");
 * const bad = parseStoreUrl("ftp://h/x");
 * assert.ok(!bad.ok && bad.message.startsWith('Cannot use store "ftp://h/x": '));
 * ```
 */
export function parseStoreUrl(
  text: string,
  options: Readonly<Record<string, unknown>> = {},
  where = "",
): ParsedLocation {
  const fail = (why: string): ParsedLocation => ({
    ok: false,
    message: `Cannot use store ${JSON.stringify(text)}${where ? ` (${where})` : ""}: ${why}`,
  });
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return fail(`not a URL; ${WRITE}`);
  }
  const action = Object.hasOwn(STORE_SCHEMES, u.protocol) ? STORE_SCHEMES[u.protocol] : undefined;
  if (action === undefined) return fail(`the scheme ${u.protocol} is not one of a store; ${WRITE}`);
  if (u.password !== "") return fail("a password has no place in the URL; use the site file");
  if (u.search !== "" || u.hash !== "") return fail("a store URL has no query or fragment");
  if (/%2f|%00/i.test(u.pathname)) return fail("its path holds an encoded slash or NUL");
  const url = `${u.protocol}//${u.username ? `${u.username}@` : ""}${u.host}${
    u.pathname.replace(/\/+$/, "")
  }`;
  const scheme = u.protocol.slice(0, -1);
  if (scheme === "file") {
    if (u.host !== "") return fail("a file: URL names no host (file:///absolute/dir)");
    const dir = fileURLToPath(`file://${u.pathname}`).replace(/\/+$/, "") || "/";
    if (dir === "/") return fail("the store cannot be the root directory");
    return { ok: true, location: { url, scheme, action, dir, readOnly: false, options } };
  }
  if (u.hostname === "") return fail(`it names no host; ${WRITE}`);
  if (u.pathname.replace(/\/+$/, "") === "") return fail("it names no directory on the host");
  return { ok: true, location: { url, scheme, action, readOnly: scheme === "https", options } };
}
