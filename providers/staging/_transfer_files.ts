/**
 * The files of a transfer beside its destination: the partial file (the
 * resume point), the cache's metadata sidecar, and what reads, writes and
 * checks them (sizes, digests, atomic writes).
 * @module
 */

import { createHash } from "node:crypto";
import type { Validators } from "./types.ts";

/** What the cache keeps beside a fetched file. */
export interface CacheRecord {
  /** The source URL. */
  readonly url: string;
  /** Size of the copy. */
  readonly size: number;
  /** Validators from the provider. */
  readonly validators: Validators;
  /** sha256 hex of the copy, when computed. */
  readonly sha256?: string;
  /** When it was fetched (ms since the epoch); informative only, never compared. */
  readonly fetchedAt: number;
}

/** The partial (in-progress) file of a destination. */
export function partialPath(dest: string): string {
  return `${dest}.ferry-part`;
}

/** The cache metadata sidecar of a destination. */
export function metaPath(dest: string): string {
  return `${dest}.ferry-meta.json`;
}

/** The cache record beside `dest`, when there is a readable one for `url`. */
export function readCacheRecord(dest: string, url: string): CacheRecord | undefined {
  try {
    const r = JSON.parse(Deno.readTextFileSync(metaPath(dest))) as CacheRecord;
    return r.url === url && typeof r.size === "number" ? r : undefined;
  } catch {
    return undefined;
  }
}

export function fileSize(path: string): number | undefined {
  try {
    return Deno.statSync(path).size;
  } catch {
    return undefined;
  }
}

/** sha256 (hex) of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  return await digestFile(path, "sha256");
}

export async function digestFile(path: string, algorithm: string): Promise<string> {
  const h = createHash(algorithm);
  using f = await Deno.open(path);
  const buf = new Uint8Array(1 << 20);
  for (;;) {
    const n = await f.read(buf);
    if (n === null) break;
    h.update(buf.subarray(0, n));
  }
  return h.digest("hex");
}

export function parseDigest(d: string): { algorithm: string; hex: string } | undefined {
  const m = /^(sha256|sha512|sha1|md5):([0-9a-fA-F]+)$/.exec(d);
  return m ? { algorithm: m[1]!, hex: m[2]!.toLowerCase() } : undefined;
}

export function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  Deno.writeTextFileSync(tmp, text);
  Deno.renameSync(tmp, path);
}

export function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* not there */ }
}
