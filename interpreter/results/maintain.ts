/**
 * Looking after a result store: `ferry store verify` (every blob's content
 * against its name, every manifest readable and its blobs there), `ferry
 * store gc` (entries no plan needs, or stored before a date, and the blobs
 * no entry left names) and `ferry store push` (the successes a workspace
 * recorded, uploaded). Listing needs a `file:` or `sftp:` store.
 * @module
 */

import { join } from "node:path";
import { BlobMismatch, type StoreBackend } from "./backend.ts";
import {
  blobPath,
  entryPath,
  hashOfBlob,
  keyOfEntry,
  type Manifest,
  parseManifest,
} from "./manifest.ts";
import type { ResultStore } from "./store.ts";
import type { SuccessRecord } from "../state.ts";

/** One problem `verify` found. */
export interface BadFile {
  /** The file, relative to the store. */
  readonly path: string;
  /** What is wrong with it. */
  readonly why: string;
}

/** What `verify` found. */
export interface VerifyReport {
  readonly blobs: number;
  readonly entries: number;
  readonly bad: readonly BadFile[];
}

/** The manifests of a store, by key; the unreadable ones in `bad`. */
async function manifests(
  backend: StoreBackend,
  bad: BadFile[],
): Promise<Map<string, Manifest>> {
  const out = new Map<string, Manifest>();
  for (const rel of await backend.list("entries")) {
    const key = keyOfEntry(rel);
    if (key === undefined) {
      bad.push({ path: rel, why: "not an entry's name" });
      continue;
    }
    const bytes = await backend.read(rel);
    const m = bytes ? parseManifest(bytes, key) : { why: "it vanished while read" };
    if ("why" in m) bad.push({ path: rel, why: m.why });
    else out.set(key, m.manifest);
  }
  return out;
}

/** Check every blob's content against its name and every manifest; `scratch` holds copies. */
export async function verifyStore(backend: StoreBackend, scratch: string): Promise<VerifyReport> {
  const bad: BadFile[] = [];
  const blobs = await backend.list("blobs");
  const present = new Set<string>();
  await Deno.mkdir(scratch, { recursive: true });
  for (const rel of blobs) {
    const sha = hashOfBlob(rel);
    if (sha === undefined) {
      bad.push({ path: rel, why: "not a blob's name" });
      continue;
    }
    const copy = join(scratch, "blob");
    try {
      await backend.fetch(rel, copy, sha);
      present.add(sha);
    } catch (e) {
      bad.push({ path: rel, why: e instanceof BlobMismatch ? e.message : String(e) });
    } finally {
      await Deno.remove(copy).catch(() => {});
    }
  }
  const entries = await manifests(backend, bad);
  const unreadable = bad.filter((b) => b.path.startsWith("entries/")).length;
  for (const [key, m] of entries) {
    const missing = m.outputs.flatMap((o) => o.files).find((f) => !present.has(f.sha256));
    if (missing) {
      bad.push({
        path: entryPath(key),
        why: `its file ${JSON.stringify(missing.path)} has no intact blob (${
          blobPath(missing.sha256)
        })`,
      });
    }
  }
  return { blobs: blobs.length, entries: entries.size + unreadable, bad };
}

/** What `gc` dropped (or, with `dryRun`, would drop). */
export interface GcReport {
  readonly entries: readonly string[];
  readonly blobs: readonly string[];
  /** Bytes of the blobs dropped. */
  readonly bytes: number;
  readonly kept: number;
}

/** Options of {@linkcode gcStore}. */
export interface GcOptions {
  /** Keep only the entries of these keys (what a plan needs). */
  readonly keep?: ReadonlySet<string>;
  /** Drop the entries stored before this time (ms since the epoch). */
  readonly before?: number;
  /** Only say what would be dropped. */
  readonly dryRun: boolean;
}

/** Drop the entries no plan needs or stored before a date, then the blobs no entry names. */
export async function gcStore(backend: StoreBackend, o: GcOptions): Promise<GcReport> {
  const bad: BadFile[] = [];
  const all = await manifests(backend, bad);
  const dropped: string[] = bad.filter((b) => b.path.startsWith("entries/")).map((b) => b.path);
  const named = new Map<string, number>();
  let kept = 0;
  for (const [key, m] of all) {
    const stale = (o.keep !== undefined && !o.keep.has(key)) ||
      (o.before !== undefined && m.stored_at < o.before);
    if (stale) {
      dropped.push(entryPath(key));
      continue;
    }
    kept++;
    for (const f of m.outputs.flatMap((x) => x.files)) named.set(f.sha256, f.size);
  }
  const blobs: string[] = [];
  let bytes = 0;
  for (const rel of await backend.list("blobs")) {
    const sha = hashOfBlob(rel);
    if (sha !== undefined && named.has(sha)) continue;
    blobs.push(rel);
  }
  if (!o.dryRun) {
    // Entries first: a reader never finds an entry whose blobs are gone.
    for (const rel of dropped) await backend.remove(rel);
  }
  for (const rel of blobs) {
    bytes += (await backend.size(rel)) ?? 0;
    if (!o.dryRun) await backend.remove(rel);
  }
  return { entries: dropped, blobs, bytes, kept };
}

/** What `push` did. */
export interface PushReport {
  readonly pushed: number;
  /** Already in the store under their key. */
  readonly present: number;
  /** Tasks whose outputs a store cannot hold (outside the workspace, staged out, gone). */
  readonly unstorable: readonly string[];
  readonly failed: readonly { task: string; why: string }[];
}

/** Upload every recorded success whose entry the store lacks. */
export async function pushSuccesses(
  results: ResultStore,
  successes: Iterable<SuccessRecord>,
  ranAt: (record: SuccessRecord) => { run: string; started_at: number; ended_at: number },
  signal?: AbortSignal,
): Promise<PushReport> {
  let pushed = 0, present = 0;
  const unstorable: string[] = [];
  const failed: { task: string; why: string }[] = [];
  for (const record of successes) {
    if ((await results.lookup(record.key, signal)).hit) {
      present++;
      continue;
    }
    try {
      if (await results.upload(record, ranAt(record), signal)) pushed++;
      else unstorable.push(record.taskId);
    } catch (e) {
      failed.push({ task: record.taskId, why: e instanceof Error ? e.message : String(e) });
    }
  }
  return { pushed, present, unstorable, failed };
}
