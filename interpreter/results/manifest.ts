/**
 * A result store's layout and its manifests. Blobs are named by their
 * content (`blobs/sha256/ab/cdef...`), so two writers of the same file write
 * the same name; a task's entry is one manifest named by its cache key
 * (`entries/<key>.json`): its outputs with workspace-relative paths, sizes
 * and sha256, the function result if any, who ran it, when and where, and
 * ferry's version. What a manifest read from a store says is checked before
 * anything is fetched: a path that leaves the workspace, goes into `.ferry/`
 * or is not one of the task's outputs makes the entry unusable.
 * @module
 */

/** The manifest format written (`format`). */
export const MANIFEST_FORMAT = 1;

/** A stored file: its workspace-relative path (POSIX), sha256 (hex) and size. */
export interface StoredFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

/** One output of a stored task: its slot and the files it consists of. */
export interface StoredOutput {
  /** The output slot. */
  readonly name: string;
  /** Its path relative to the workspace (a glob's pattern for a glob output). */
  readonly path: string;
  /** `file`, `glob` or `dir`. */
  readonly kind: "file" | "glob" | "dir";
  /** The files, in the order the task's record lists them. */
  readonly files: readonly StoredFile[];
}

/** Who ran a stored task, when and where. */
export interface StoredRun {
  readonly host: string;
  readonly user: string;
  readonly run: string;
  readonly started_at: number;
  readonly ended_at: number;
}

/** The manifest of one entry (`entries/<key>.json`). */
export interface Manifest {
  readonly format: number;
  /** The task's cache key. */
  readonly key: string;
  /** The task id that stored it (for people: any task with the key may use it). */
  readonly task: string;
  readonly outputs: readonly StoredOutput[];
  /** A function app's return value. */
  readonly result?: unknown;
  readonly ran: StoredRun;
  /** When it was stored (ms since the epoch). */
  readonly stored_at: number;
  /** ferry's version. */
  readonly ferry: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Whether `key` can name an entry (a cache key: 64 hex digits). */
export function isKey(key: string): boolean {
  return HEX64.test(key);
}

/** The path of a blob in the store. */
export function blobPath(sha256: string): string {
  return `blobs/sha256/${sha256.slice(0, 2)}/${sha256.slice(2)}`;
}

/** The path of a key's manifest in the store. */
export function entryPath(key: string): string {
  return `entries/${key}.json`;
}

/** The key a manifest path names, or undefined for anything else. */
export function keyOfEntry(rel: string): string | undefined {
  const m = /^entries\/([0-9a-f]{64})\.json$/.exec(rel);
  return m ? m[1] : undefined;
}

/** The sha256 a blob path names, or undefined for anything else. */
export function hashOfBlob(rel: string): string | undefined {
  const m = /^blobs\/sha256\/([0-9a-f]{2})\/([0-9a-f]{62})$/.exec(rel);
  return m ? m[1]! + m[2]! : undefined;
}

/**
 * Whether `p` is a workspace-relative path a store may name: no absolute
 * path, no `.` or `..` segment, no empty segment, no NUL, nothing in `.ferry/`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { safeRelPath } from "./manifest.ts";
 * assert.equal(safeRelPath("out/a b\n$(x).txt"), true);
 * assert.equal(safeRelPath("../etc/passwd"), false);
 * assert.equal(safeRelPath(".ferry/state.db"), false);
 * assert.equal(safeRelPath("/etc/passwd"), false);
 * ```
 */
export function safeRelPath(p: string): boolean {
  if (p === "" || p.startsWith("/") || p.includes("\0")) return false;
  const parts = p.split("/");
  if (parts[0] === ".ferry") return false;
  return parts.every((s) => s !== "" && s !== "." && s !== "..");
}

/** Whether `v` is a plain object. */
function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function storedFile(v: unknown): v is StoredFile {
  return isObj(v) && typeof v.path === "string" && safeRelPath(v.path) &&
    typeof v.sha256 === "string" && HEX64.test(v.sha256) &&
    typeof v.size === "number" && Number.isSafeInteger(v.size) && v.size >= 0;
}

function storedOutput(v: unknown): v is StoredOutput {
  return isObj(v) && typeof v.name === "string" && typeof v.path === "string" &&
    safeRelPath(v.path) &&
    (v.kind === "file" || v.kind === "glob" || v.kind === "dir") &&
    Array.isArray(v.files) && v.files.every(storedFile) &&
    (v.kind !== "file" || (v.files.length === 1 && v.files[0]!.path === v.path));
}

/**
 * A manifest read from a store, checked: undefined with why when it is not
 * one ferry can use for `key`.
 */
export function parseManifest(
  bytes: Uint8Array,
  key: string,
): { manifest: Manifest } | { why: string } {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { why: "it is not JSON" };
  }
  if (!isObj(v) || v.format !== MANIFEST_FORMAT) return { why: "it is no manifest of format 1" };
  if (v.key !== key) return { why: "it names another key" };
  if (!Array.isArray(v.outputs) || !v.outputs.every(storedOutput)) {
    return { why: "an output is malformed or names a path outside the workspace" };
  }
  const ran = v.ran;
  if (
    !isObj(ran) || typeof v.task !== "string" || typeof ran.host !== "string" ||
    typeof ran.started_at !== "number" || typeof ran.ended_at !== "number"
  ) return { why: "it does not say who ran it" };
  return { manifest: v as unknown as Manifest };
}
