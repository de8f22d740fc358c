/**
 * Deno's permission flags for a task's Deno process (a function app, a Deno script): what the
 * interpreter derived from the plan and the app's `permissions:`, as `--allow-*` lists.
 * @module
 */

import type { DenoPermissions } from "./types.ts";

const KINDS = ["read", "write", "net", "env", "run"] as const;

/**
 * The flags for `permissions`; `-A` when it grants everything or is absent (a call `submit()`
 * hands over). A comma inside an entry is doubled, as Deno reads it.
 *
 * @example
 * ```ts
 * import { denoPermissionFlags } from "./deno_permissions.ts";
 * import assert from "node:assert/strict";
 * const p = { read: [".", "/data/a,b"], write: ["."], net: [], env: ["HOME"], run: [], all: false };
 * assert.deepEqual(denoPermissionFlags(p), [
 *   "--allow-read=.,/data/a,,b",
 *   "--allow-write=.",
 *   "--allow-env=HOME",
 * ]);
 * ```
 */
export function denoPermissionFlags(permissions: DenoPermissions | undefined): string[] {
  if (permissions === undefined || permissions.all) return ["-A"];
  const flags: string[] = [];
  for (const kind of KINDS) {
    const list = [...new Set(permissions[kind])];
    if (list.length > 0) {
      flags.push(`--allow-${kind}=${list.map((e) => e.replaceAll(",", ",,")).join(",")}`);
    }
  }
  return flags;
}
