/**
 * Canonical JSON and sha256, what cache keys are made of (shared by the cache and the state's
 * migrations, which compute keys again).
 * @module
 */

import { createHash } from "node:crypto";

/** sha256 hex of a text or bytes. */
export function sha256(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * Canonical JSON: object keys sorted, so equal values hash equally.
 *
 * @example
 * ```ts
 * import { canonical } from "./canonical.ts";
 * import assert from "node:assert/strict";
 * assert.equal(canonical({ b: 1, a: [null, "x"] }), '{"a":[null,"x"],"b":1}');
 * ```
 */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${
      Object.keys(v).sort().map((k) =>
        `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`
      ).join(",")
    }}`;
  }
  return JSON.stringify(v ?? null);
}
