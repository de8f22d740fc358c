/**
 * How a result store's bytes move: a directory (`file:`) directly, every
 * other scheme through its staging provider and the staging runtime
 * (`stageIn`/`stageOut`: resume, sha256 verification, secrets, retries with
 * backoff). Writers put a file under a temporary name beside its final one
 * and rename it, so a reader never sees a partial blob or manifest; in a
 * directory each writer's temporary name is its own, so two writers of the
 * same name never share one.
 * @module
 */

import { dirname, join } from "node:path";
import type { ParamValue } from "../../dsl/model.ts";
import { loadStagingProvider } from "../../providers/staging/registry.ts";
import { sha256File, stageIn, stageOut } from "../../providers/staging/transfer.ts";
import type { StagingProvider } from "../../providers/staging/types.ts";
import type { SftpTree } from "../../providers/staging/sftp.ts";
import { readSecret } from "../../providers/_shared/secrets.ts";
import type { StoreLocation } from "./location.ts";

/** A stored file whose content is not what its name says. */
export class BlobMismatch extends Error {
  /** The stored file. */
  readonly rel: string;
  /** A mismatch naming `rel` and, when known, the sha256 of what it holds. */
  constructor(rel: string, got?: string) {
    super(
      got !== undefined
        ? `${rel} holds content with sha256 ${got}`
        : `${rel} holds other content than its name says`,
    );
    this.name = "BlobMismatch";
    this.rel = rel;
  }
}

/** One store's files, by path relative to its root (`blobs/sha256/ab/...`, `entries/K.json`). */
export interface StoreBackend {
  /** The store's URL. */
  readonly url: string;
  /** Nothing is written to it (an `https:` store). */
  readonly readOnly: boolean;
  /** A small file's bytes (a manifest), or undefined when it is not there. */
  read(rel: string, signal?: AbortSignal): Promise<Uint8Array | undefined>;
  /** Fetch `rel` into `dest`; rejects with {@linkcode BlobMismatch} when its sha256 is not `sha256`. */
  fetch(rel: string, dest: string, sha256: string, signal?: AbortSignal): Promise<void>;
  /** The size of `rel`, or undefined when it is not there or the backend cannot tell cheaply. */
  size(rel: string): Promise<number | undefined>;
  /** Upload a local file to `rel`, atomically. */
  put(source: string, rel: string, signal?: AbortSignal): Promise<void>;
  /** Write `bytes` to `rel`, atomically, when the backend can without a local file. */
  putBytes?(bytes: Uint8Array, rel: string, signal?: AbortSignal): Promise<void>;
  /** Every file under `dir` (relative to the root), temporary ones left out; directories only. */
  list(dir: string): Promise<string[]>;
  /** Delete `rel` (directories only). */
  remove(rel: string): Promise<void>;
  /** End connections. */
  close(): Promise<void>;
}

/** A temporary name beside `path`, this writer's own. */
export function tempBeside(path: string): string {
  return join(dirname(path), `.ferry-tmp-${crypto.randomUUID()}`);
}

/** Whether a name in a store directory is a writer's temporary file. */
export function isTemp(name: string): boolean {
  return name.startsWith(".");
}

/** A store in a local (or shared) directory. */
export class DirBackend implements StoreBackend {
  readonly url: string;
  readonly readOnly = false;
  readonly #root: string;

  /** The store at `root`. */
  constructor(url: string, root: string) {
    this.url = url;
    this.#root = root;
  }

  async read(rel: string): Promise<Uint8Array | undefined> {
    try {
      return await Deno.readFile(join(this.#root, rel));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  async fetch(rel: string, dest: string, sha256: string): Promise<void> {
    await Deno.mkdir(dirname(dest), { recursive: true });
    await Deno.copyFile(join(this.#root, rel), dest);
    const got = await sha256File(dest);
    if (got !== sha256) {
      await Deno.remove(dest).catch(() => {});
      throw new BlobMismatch(rel, got);
    }
  }

  async size(rel: string): Promise<number | undefined> {
    try {
      return (await Deno.stat(join(this.#root, rel))).size;
    } catch {
      return undefined;
    }
  }

  put(source: string, rel: string): Promise<void> {
    return this.#atomically(rel, (tmp) => Deno.copyFile(source, tmp));
  }

  putBytes(bytes: Uint8Array, rel: string): Promise<void> {
    return this.#atomically(rel, (tmp) => Deno.writeFile(tmp, bytes));
  }

  /** `write` a temporary file beside `rel`, then rename it to `rel`. */
  async #atomically(rel: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const to = join(this.#root, rel);
    await Deno.mkdir(dirname(to), { recursive: true });
    const tmp = tempBeside(to);
    try {
      await write(tmp);
      await Deno.rename(tmp, to);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
  }

  async list(dir: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string) => {
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(join(this.#root, rel)));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return;
        throw e;
      }
      for (const e of entries.sort((a, b) => a.name < b.name ? -1 : 1)) {
        if (isTemp(e.name)) continue;
        if (e.isDirectory) await walk(`${rel}/${e.name}`);
        else if (e.isFile) out.push(`${rel}/${e.name}`);
      }
    };
    await walk(dir);
    return out;
  }

  async remove(rel: string): Promise<void> {
    await Deno.remove(join(this.#root, rel)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A store reached through a staging provider (sftp, rsync+ssh, https). */
export class ProviderBackend implements StoreBackend {
  readonly url: string;
  readonly readOnly: boolean;
  readonly #location: StoreLocation;
  readonly #scratch: string;
  readonly #retryBaseMs: number;
  #provider: Promise<StagingProvider> | undefined;
  #sftp: Promise<SftpTree> | undefined;

  /** A store at `location`; `scratch` is a local directory for manifests on their way. */
  constructor(location: StoreLocation, scratch: string, retryBaseMs: number) {
    this.url = location.url;
    this.readOnly = location.readOnly;
    this.#location = location;
    this.#scratch = scratch;
    this.#retryBaseMs = retryBaseMs;
  }

  #open(): Promise<StagingProvider> {
    return this.#provider ??= loadStagingProvider(this.#location.action, Deno.cwd());
  }

  get #options(): Readonly<Record<string, ParamValue>> {
    return this.#location.options as Readonly<Record<string, ParamValue>>;
  }

  #urlOf(rel: string): string {
    return `${this.url}/${rel}`;
  }

  /** Fetch `rel` into `dest` through the staging runtime (never its cache of copies). */
  async #stageIn(
    rel: string,
    dest: string,
    how: { retries?: number; checksum?: string },
    signal?: AbortSignal,
  ): Promise<void> {
    await stageIn(await this.#open(), {
      url: this.#urlOf(rel),
      dest,
      options: this.#options,
      cache: false,
      retryBaseMs: this.#retryBaseMs,
      ...how,
      ...(signal ? { signal } : {}),
    });
  }

  async read(rel: string, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    await Deno.mkdir(this.#scratch, { recursive: true });
    const dest = tempBeside(join(this.#scratch, "x"));
    try {
      // One attempt: an entry that is not there is the common answer, not worth a backoff.
      await this.#stageIn(rel, dest, { retries: 0 }, signal);
      return await Deno.readFile(dest);
    } catch (e) {
      if (signal?.aborted) throw e;
      return undefined;
    } finally {
      await Deno.remove(dest).catch(() => {});
      await Deno.remove(`${dest}.ferry-part`).catch(() => {});
    }
  }

  async fetch(rel: string, dest: string, sha256: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.#stageIn(rel, dest, { checksum: `sha256:${sha256}` }, signal);
    } catch (e) {
      // The runtime verified the checksum: a mismatch is the stored blob's fault.
      if (e instanceof Error && /checksum|sha256/i.test(e.message)) {
        throw new BlobMismatch(rel);
      }
      throw e;
    }
  }

  size(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }

  async put(source: string, rel: string, signal?: AbortSignal): Promise<void> {
    if (this.#location.readOnly) throw new Error(`${this.url} is read-only`);
    await stageOut(await this.#open(), {
      url: this.#urlOf(rel),
      source,
      options: this.#options,
      retryBaseMs: this.#retryBaseMs,
      ...(signal ? { signal } : {}),
    });
  }

  /** An sftp store's directory, opened on first use (listing and removing need it). */
  #tree(): Promise<SftpTree> {
    if (this.#location.scheme !== "sftp") {
      return Promise.reject(
        new Error(
          `a ${this.#location.scheme}: store cannot be listed or pruned; use a file: or sftp: store`,
        ),
      );
    }
    return this.#sftp ??= import("../../providers/staging/sftp.ts").then((m) =>
      m.openSftpTree(this.url, this.#options, readSecret)
    );
  }

  async list(dir: string): Promise<string[]> {
    return await (await this.#tree()).list(dir);
  }

  async remove(rel: string): Promise<void> {
    if (this.#location.readOnly) throw new Error(`${this.url} is read-only`);
    await (await this.#tree()).remove(rel);
  }

  async close(): Promise<void> {
    if (this.#provider) await (await this.#provider).close?.();
    if (this.#sftp) await (await this.#sftp).close();
  }
}

/** The backend of a store location; `scratch` holds manifests on their way (remote stores). */
export function openBackend(
  location: StoreLocation,
  scratch: string,
  retryBaseMs: number,
): StoreBackend {
  return location.dir !== undefined
    ? new DirBackend(location.url, location.dir)
    : new ProviderBackend(location, scratch, retryBaseMs);
}
