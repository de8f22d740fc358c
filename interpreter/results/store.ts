/**
 * The result store as a run uses it: look a key up, restore an entry's
 * outputs into a directory (each blob verified by its sha256), and upload a
 * committed task's outputs and manifest in the background (blobs first, the
 * manifest last, each under a temporary name and renamed). An upload never
 * fails the task: it is retried with the staging backoff and, when it still
 * fails, reported; `ferry store push` sends it later. A read-only store (`https:`) gets none.
 * @module
 */

import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { hostname, userInfo } from "node:os";
import denoJson from "../../deno.json" with { type: "json" };
import { retry } from "../../providers/_shared/retry.ts";
import { Limit } from "../../providers/staging/limit.ts";
import type { PlanTask } from "../plan.ts";
import type { SuccessRecord } from "../state.ts";
import { globPathRegExp, workspaceRelative } from "../urls.ts";
import { localPath } from "../values.ts";
import { isStagedOut } from "../attempt.ts";
import type { StoreBackend } from "./backend.ts";
import {
  blobPath,
  entryPath,
  type Manifest,
  MANIFEST_FORMAT,
  parseManifest,
  type StoredFile,
  type StoredOutput,
  type StoredRun,
} from "./manifest.ts";

/** A file's content hash and size, or undefined when it is gone. */
export type HashOf = (path: string) => Promise<{ sha256: string; size: number } | undefined>;

/** Options of a {@linkcode ResultStore}. */
export interface ResultStoreOptions {
  /** The workspace's URL (`file:///w`): outputs are stored relative to it. */
  readonly workspaceUrl: string;
  /** Hashes a workspace file (the state's memo). */
  readonly hash: HashOf;
  /** First wait before an upload is tried again (doubled each time). */
  readonly retryBaseMs: number;
  /** Attempts after the first. @default 3 */
  readonly retries?: number;
  /** Uploads at once. @default 4 */
  readonly concurrency?: number;
}

/** Why an entry could not be used, or what it holds. */
export type Lookup =
  | { readonly hit: true; readonly manifest: Manifest }
  | { readonly hit: false; readonly why?: string };

/** One store, for one run or command. */
export class ResultStore {
  readonly backend: StoreBackend;
  readonly #o: ResultStoreOptions;
  readonly #limit: Limit;
  readonly #pending = new Set<Promise<void>>();
  /** Entries found, by key: a plan's lookups are not made again by its run. */
  readonly #found = new Map<string, Manifest>();
  #failures = 0;
  /** Aborted when the run stops waiting for its uploads (Ctrl-C): they stop too. */
  readonly #stop = new AbortController();
  /** Told of each upload that failed for good (the run logs a `store-warning`). */
  onFailed: (task: string, message: string) => void = () => {};

  /** A store over `backend`. */
  constructor(backend: StoreBackend, options: ResultStoreOptions) {
    this.backend = backend;
    this.#o = options;
    this.#limit = new Limit(options.concurrency ?? 4);
  }

  /** The store's URL. */
  get url(): string {
    return this.backend.url;
  }

  /** Uploads that failed for good so far. */
  get failures(): number {
    return this.#failures;
  }

  /** The entry of `key`, checked; a miss says why when an entry was there but unusable. */
  async lookup(key: string, signal?: AbortSignal): Promise<Lookup> {
    const known = this.#found.get(key);
    if (known) return { hit: true, manifest: known };
    const bytes = await this.backend.read(entryPath(key), signal);
    if (bytes === undefined) return { hit: false };
    const m = parseManifest(bytes, key);
    if ("why" in m) return { hit: false, why: `its entry is unusable: ${m.why}` };
    this.#found.set(key, m.manifest);
    return { hit: true, manifest: m.manifest };
  }

  /** Forget what was found of `key` (its entry proved bad). */
  forget(key: string): void {
    this.#found.delete(key);
  }

  /**
   * Fetch an entry's files into `dir` at their workspace-relative paths, as
   * the task would have left them in its directory. Rejects when a blob is
   * missing or its content is not its hash ({@linkcode BlobMismatch}).
   */
  async restore(manifest: Manifest, dir: string, signal?: AbortSignal): Promise<void> {
    for (const o of manifest.outputs) {
      if (o.kind === "dir") await Deno.mkdir(join(dir, o.path), { recursive: true });
      for (const f of o.files) {
        await this.backend.fetch(blobPath(f.sha256), join(dir, f.path), f.sha256, signal);
      }
    }
  }

  /**
   * Upload the entry of a committed task in the background ({@linkcode drain} waits for it).
   * Resolves once it is queued: while as many uploads as run at once are pending, it waits for
   * one to end, so a run never gets far ahead of its store and a crash leaves at most that many
   * committed tasks unstored. Once an upload failed for good the store is not waited for.
   */
  async queue(record: SuccessRecord, ran: Omit<StoredRun, "user" | "host">): Promise<void> {
    if (this.backend.readOnly) return; // a published cache: read, never written
    while (this.full) await this.settled();
    const p = this.#limit.run(() => this.#uploadRetrying(record, ran)).finally(() =>
      this.#pending.delete(p)
    );
    this.#pending.add(p);
  }

  /**
   * Upload the entry of a task about to be recorded, and resolve once it is stored (or failed for
   * good: never rejects), so that every task a killed run recorded is in the store. Once an
   * upload failed for good, later ones go in the background ({@linkcode queue}): a store that
   * cannot be written does not hold up every commit with its retries.
   */
  async uploadFirst(record: SuccessRecord, ran: Omit<StoredRun, "user" | "host">): Promise<void> {
    if (this.backend.readOnly) return;
    if (this.#failures > 0) return await this.queue(record, ran);
    const p = this.#limit.run(() => this.#uploadRetrying(record, ran)).finally(() =>
      this.#pending.delete(p)
    );
    this.#pending.add(p);
    await p;
  }

  /**
   * Whether as many uploads as run at once are pending (and none failed for good): a run starts
   * no task meanwhile, so it never gets far ahead of its store.
   */
  get full(): boolean {
    return this.#pending.size >= this.#limit.size && this.#failures === 0;
  }

  /** Resolves when an upload ends. */
  async settled(): Promise<void> {
    if (this.#pending.size > 0) await Promise.race(this.#pending);
  }

  /** Wait for every queued upload; stop waiting when `signal` aborts (Ctrl-C: push them later). */
  async drain(signal?: AbortSignal): Promise<void> {
    const stop = new Promise<void>((resolve) => {
      if (signal?.aborted) resolve();
      signal?.addEventListener("abort", () => resolve(), { once: true });
    });
    while (this.#pending.size > 0 && !signal?.aborted) {
      await Promise.race([Promise.allSettled([...this.#pending]), stop]);
    }
    if (signal?.aborted) this.#stop.abort(signal.reason);
  }

  async #uploadRetrying(record: SuccessRecord, ran: Omit<StoredRun, "user" | "host">) {
    const signal = this.#stop.signal;
    try {
      await retry(() => this.upload(record, ran, signal), {
        retries: this.#o.retries ?? 3,
        baseMs: this.#o.retryBaseMs,
      }, signal);
    } catch (e) {
      this.#failures++;
      if (signal.aborted) return; // stopped with the run: push it later
      const why = e instanceof Error ? e.message : String(e);
      this.onFailed(
        record.taskId,
        `Cannot upload ${record.taskId} to the store "${this.url}": ${why}`,
      );
    }
  }

  /**
   * Upload one task's entry now: its blobs, then its manifest. Returns false
   * (nothing written) when the task's outputs cannot be stored (an output
   * outside the workspace or staged out, or a temp output already deleted).
   */
  async upload(
    record: SuccessRecord,
    ran: Omit<StoredRun, "user" | "host">,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const outputs = await this.#storedOutputs(record);
    if (!outputs) return false;
    for (const o of outputs) {
      for (const f of o.files) {
        const rel = blobPath(f.sha256);
        if ((await this.backend.size(rel)) === f.size) continue;
        await this.backend.put(join(localPath(this.#o.workspaceUrl)!, f.path), rel, signal);
      }
    }
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      key: record.key,
      task: record.taskId,
      outputs,
      ...(record.result !== undefined ? { result: record.result } : {}),
      ran: { ...ran, host: hostname(), user: userName() },
      stored_at: Date.now(),
      ferry: denoJson.version,
    };
    await this.#putText(JSON.stringify(manifest, null, 1) + "\n", entryPath(record.key), signal);
    return true;
  }

  async #putText(text: string, rel: string, signal?: AbortSignal): Promise<void> {
    // A directory store takes the bytes as they are (no local file written first, then copied).
    if (this.backend.putBytes) {
      return await this.backend.putBytes(new TextEncoder().encode(text), rel, signal);
    }
    // In the workspace's .ferry/ (ferry's own): a run killed meanwhile leaves nothing in /tmp.
    const dir = join(localPath(this.#o.workspaceUrl)!, ".ferry", "tmp");
    await Deno.mkdir(dir, { recursive: true });
    const tmp = await Deno.makeTempFile({ dir, prefix: "manifest-" });
    try {
      await Deno.writeTextFile(tmp, text);
      await this.backend.put(tmp, rel, signal);
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }

  /** The outputs of a record as the store keeps them, or undefined when one cannot be stored. */
  async #storedOutputs(record: SuccessRecord): Promise<StoredOutput[] | undefined> {
    const base = this.#o.workspaceUrl;
    const out: StoredOutput[] = [];
    for (const o of record.outputs) {
      const path = o.remote ? undefined : workspaceRelative(o.url, base);
      if (path === undefined) return undefined;
      const kind = o.glob ? "glob" : o.files ? "dir" : "file";
      const files: StoredFile[] = [];
      for (const url of o.files ?? [o.url]) {
        const rel = workspaceRelative(url, base);
        const here = localPath(url);
        const h = here !== undefined ? await this.#o.hash(here) : undefined;
        if (rel === undefined || !h) return undefined;
        files.push({ path: rel, sha256: h.sha256, size: h.size });
      }
      out.push({ name: o.name, path, kind, files });
    }
    return out;
  }
}

/** The URL of a workspace-relative path, as ferry names workspace files. */
export function workspaceFileUrl(workspaceUrl: string, rel: string): string {
  return pathToFileURL(join(localPath(workspaceUrl)!, rel)).href;
}

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return Deno.env.get("USER") ?? "unknown";
  }
}

/**
 * Whether an entry can stand for `task`'s run: the task's outputs are all
 * workspace files it writes where the workspace has them, and each stored
 * output is one of them (a file at its path, a dir's files under it, a
 * glob's files matching it); why not, otherwise.
 */
export function fitsTask(task: PlanTask, manifest: Manifest, workspaceUrl: string): string | true {
  if (manifest.outputs.length !== task.outputs.length) return "its outputs are not the task's";
  for (const f of task.outputs) {
    const rel = workspaceRelative(f.url, workspaceUrl);
    if (isStagedOut(f) || rel === undefined || f.path !== rel) {
      return `output ${f.name} is not a workspace file the store can hold`;
    }
    const o = manifest.outputs.find((x) => x.name === f.name);
    const kind = f.dynamic ?? "file";
    if (!o || o.kind !== kind || o.path !== rel) return `its output ${f.name} is not the task's`;
    const re = kind === "glob" ? globPathRegExp(rel) : undefined;
    const inside = (p: string) =>
      kind === "file" ? p === rel : kind === "dir" ? p.startsWith(`${rel}/`) : re!.test(p);
    if (!o.files.every((x) => inside(x.path))) return `its output ${f.name} names other files`;
  }
  return true;
}
