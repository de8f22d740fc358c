/**
 * The `http` and `https` staging provider: downloads with `fetch`. An
 * interrupted download resumes with `Range` + `If-Range` (the validator seen
 * when the partial file was started is kept in `<partial>.http.json`), a
 * cached copy is revalidated with `If-None-Match` / `If-Modified-Since`, and
 * the body is checked against the announced length. Redirects are followed
 * by hand so that credentials never reach another origin. Stage-out over
 * HTTP is not supported.
 * @module
 */

import {
  fail,
  type HttpOptions,
  readOptions,
  retryAfter,
  serverDigest,
  statusLine,
} from "./_http_options.ts";
import { Limit, sleep } from "./limit.ts";
import {
  type FetchRequest,
  type FetchResult,
  StagingError,
  type StagingProvider,
  type Validators,
} from "./types.ts";

/** What `<partial>.http.json` records about the version the partial file holds. */
interface Sidecar {
  readonly url: string;
  readonly etag?: string;
  readonly lastModified?: string;
  readonly digest?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

// Small metadata calls are synchronous: cheaper than async ops, and they do not block for long.
function readSidecar(path: string, url: string): Sidecar | undefined {
  try {
    const s = JSON.parse(Deno.readTextFileSync(path)) as Sidecar;
    return s.url === url ? s : undefined;
  } catch {
    return undefined;
  }
}

function size(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** The validator that proves a partial file and the server's file are the same version. */
function rangeValidator(s: Sidecar | undefined): string | undefined {
  if (s?.etag && !s.etag.startsWith("W/")) return s.etag;
  return s?.lastModified;
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* not there */ }
}

/** Request headers: revalidation of a cached copy, and the range to resume from. */
function requestHeaders(
  previous: Validators | undefined,
  have: number,
  validator: string | undefined,
): Headers {
  const headers = new Headers({ "accept-encoding": "identity" });
  if (previous?.etag) headers.set("if-none-match", previous.etag);
  else if (previous?.lastModified) headers.set("if-modified-since", previous.lastModified);
  if (have > 0) {
    headers.set("range", `bytes=${have}-`);
    headers.set("if-range", validator!);
  }
  return headers;
}

/** One download attempt. */
class Download {
  readonly #req: FetchRequest;
  readonly #opts: HttpOptions;
  readonly #client: Deno.HttpClient | undefined;
  readonly #host: string;
  readonly #sidecar: string;
  readonly #stall = new AbortController();
  readonly #signal: AbortSignal;
  #lastByte = performance.now();
  /** Whether `<partial>.http.json` may exist (else there is nothing to remove). */
  #sidecarMayExist = false;

  constructor(req: FetchRequest, opts: HttpOptions, client: Deno.HttpClient | undefined) {
    this.#client = client;
    this.#req = req;
    this.#opts = opts;
    this.#host = new URL(req.url).host;
    this.#sidecar = `${req.partial}.http.json`;
    this.#signal = AbortSignal.any([req.signal, this.#stall.signal]);
  }

  async run(): Promise<FetchResult> {
    const watch = setInterval(() => {
      if (performance.now() - this.#lastByte > this.#opts.stallMs) this.#stall.abort();
    }, Math.min(1000, Math.max(10, this.#opts.stallMs / 8)));
    try {
      return await this.#attempt();
    } catch (e) {
      throw this.#explain(e);
    } finally {
      clearInterval(watch);
    }
  }

  /** A thrown error as a StagingError people can read. */
  #explain(e: unknown): StagingError {
    if (this.#req.signal.aborted) return fail(`Download from ${this.#host} cancelled`, false, e);
    if (e instanceof StagingError) return e;
    if (this.#stall.signal.aborted) {
      const s = this.#opts.stallMs / 1000;
      return fail(`No data from ${this.#host} for ${s} s (stall_timeout)`, true, e);
    }
    const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : String(e);
    const why = /client error \([^)]*\): (.*)$/.exec(cause)?.[1] ?? cause;
    const certificate = /certificate|UnknownIssuer|NotValidForName/i.test(why);
    return /\(Connect\)/.test(cause)
      ? fail(`Cannot connect to ${this.#host}: ${why}`, !certificate, e)
      : fail(`Request to ${this.#host} failed: ${why}`, true, e);
  }

  async #attempt(): Promise<FetchResult> {
    const { partial, previous } = this.#req;
    const found = size(partial);
    this.#sidecarMayExist = found > 0;
    const sidecar = found > 0 ? readSidecar(this.#sidecar, this.#req.url) : undefined;
    const validator = rangeValidator(sidecar);
    const have = validator ? found : 0;
    const res = await this.#get(requestHeaders(previous, have, validator));
    const h = res.headers;
    const etag = h.get("etag") ?? undefined;
    const lastModified = h.get("last-modified") ?? undefined;
    const fresh: Validators = {
      ...(etag ? { etag } : {}),
      ...(lastModified ? { lastModified } : {}),
    };
    if (res.status === 304 && previous) {
      return { status: "unchanged", validators: { ...previous, ...fresh } };
    }
    if (res.status === 416 && have > 0) return this.#unsatisfiable(res, have, sidecar, fresh);
    if (res.status !== 200 && res.status !== 206) return await this.#refused(res);
    const length = h.get("content-length") === null ? undefined : Number(h.get("content-length"));
    const { start, total } = res.status === 206
      ? await this.#partialContent(res, have, etag, sidecar)
      : { start: 0, total: length };
    const digest = serverDigest(h, res.status === 200) ??
      (res.status === 206 ? sidecar?.digest : undefined);
    // A fresh start records what it is a part of, for a later resume.
    const started: Sidecar | undefined = start === 0
      ? { url: this.#req.url, ...fresh, ...(digest ? { digest } : {}) }
      : undefined;
    const end = await this.#save(
      res,
      start,
      length !== undefined ? start + length : total,
      started,
    );
    return this.#done({
      ...(res.status === 206 ? sidecar : {}),
      ...fresh,
      size: total ?? end,
      ...(digest ? { digest } : {}),
    });
  }

  /**
   * A 416 to a resume: the partial file is already whole (done), or the
   * server's file is shorter than it (start over).
   */
  #unsatisfiable(
    res: Response,
    have: number,
    sidecar: Sidecar | undefined,
    fresh: Validators,
  ): FetchResult {
    const total = Number(/^bytes \*\/(\d+)$/.exec(res.headers.get("content-range") ?? "")?.[1]);
    if (total === have) {
      this.#req.progress(have, have);
      return this.#done({ ...sidecar, ...fresh, size: have });
    }
    this.#restart();
    const why = Number.isNaN(total)
      ? `refused to send from byte ${have}`
      : `has ${total} bytes, fewer than the ${have} already fetched`;
    throw fail(`${this.#host} ${why}: starting over`, true);
  }

  /** A status other than 200 or 206: waits for Retry-After when worth a retry, then throws. */
  async #refused(res: Response): Promise<never> {
    await res.body?.cancel();
    const retry = res.status >= 500 || res.status === 408 || res.status === 429;
    const wait = retry ? retryAfter(res.headers.get("retry-after")) : 0;
    if (wait > 0) await sleep(wait * 1000, this.#req.signal);
    throw fail(`${statusLine(res)} from ${new URL(res.url || this.#req.url).host}`, retry);
  }

  /** Where a 206 body starts and the whole file's size; throws if it is not the part asked for. */
  async #partialContent(
    res: Response,
    have: number,
    etag: string | undefined,
    sidecar: Sidecar | undefined,
  ): Promise<{ start: number; total: number | undefined }> {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
    if (!m || Number(m[1]) !== have) {
      await res.body?.cancel();
      this.#restart();
      throw fail(`${this.#host} sent bytes ${m?.[1] ?? "?"}-, not from byte ${have}`, true);
    }
    if (etag && sidecar?.etag && etag !== sidecar.etag) {
      // The server ignored If-Range: these bytes belong to another version.
      await res.body?.cancel();
      this.#restart();
      throw fail(`${this.#host} sent part of another version of the file`, true);
    }
    return { start: have, total: m[3] === "*" ? undefined : Number(m[3]) };
  }

  /** GET the URL, following redirects; Authorization only goes to the first origin. */
  async #get(headers: Headers): Promise<Response> {
    let url = new URL(this.#req.url);
    url.username = url.password = "";
    const origin = url.origin;
    if (this.#opts.authorization) headers.set("authorization", this.#opts.authorization);
    for (let hops = 0;; hops++) {
      const res = await fetch(url, {
        headers,
        redirect: "manual",
        signal: this.#signal,
        ...(this.#client ? { client: this.#client } : {}),
      });
      this.#lastByte = performance.now();
      const location = res.headers.get("location");
      if (!REDIRECTS.has(res.status) || location === null) return res;
      await res.body?.cancel();
      if (hops >= this.#opts.maxRedirects) {
        throw fail(`Too many redirects from ${this.#host} (more than ${hops})`, false);
      }
      const next = new URL(location, url);
      if (next.protocol !== "http:" && next.protocol !== "https:") {
        throw fail(
          `${url.host} redirected to "${next.href}", which is not an http or https URL`,
          false,
        );
      }
      if (next.origin !== origin) headers.delete("authorization");
      url = next;
    }
  }

  /**
   * Stream the body into the partial file from byte `start`; returns the end
   * offset. `started` is written beside the partial file before its first
   * bytes, unless the whole body fits in one write (nothing to resume then).
   */
  async #save(
    res: Response,
    start: number,
    expected: number | undefined,
    started: Sidecar | undefined,
  ): Promise<number> {
    const { progress, partial } = this.#req;
    const local = (e: unknown) =>
      fail(`Cannot write ${partial}: ${(e as Error).message}`, false, e);
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(partial, {
        write: true,
        create: true,
        truncate: start === 0,
        append: start > 0,
      });
    } catch (e) {
      throw local(e);
    }
    using _ = file;
    let at = start;
    const write = (bytes: Uint8Array, last: boolean) => {
      try {
        if (started && !last) {
          this.#sidecarMayExist = true;
          Deno.writeTextFileSync(this.#sidecar, JSON.stringify(started));
          started = undefined;
        }
        for (let w = 0; w < bytes.length;) w += file.writeSync(bytes.subarray(w));
      } catch (e) {
        throw local(e);
      }
      at += bytes.length;
      progress(at, expected);
    };
    // Chunks are coalesced into large writes: far fewer system calls than one per chunk.
    const buf = new Uint8Array(
      Math.min(1 << 20, expected === undefined ? 1 << 20 : expected - start),
    );
    let used = 0;
    const flush = (last: boolean) => {
      if (used > 0) write(buf.subarray(0, used), last);
      used = 0;
    };
    const reader = res.body?.getReader();
    try {
      while (reader) {
        const { done, value } = await reader.read();
        if (done) break;
        this.#lastByte = performance.now();
        if (used + value.length > buf.length) flush(false);
        if (value.length > buf.length) write(value, false);
        else {
          buf.set(value, used);
          used += value.length;
        }
      }
    } catch (e) {
      if (e instanceof StagingError) throw e;
      flush(false); // what arrived is the next attempt's resume point
      if (this.#signal.aborted) throw e;
      const of = expected !== undefined ? ` of ${expected}` : "";
      throw fail(`Connection to ${this.#host} closed after ${at}${of} bytes`, true, e);
    }
    flush(at + used === expected);
    if (expected !== undefined && at !== expected) {
      throw fail(`Connection to ${this.#host} closed after ${at} of ${expected} bytes`, true);
    }
    return at;
  }

  #done(validators: Validators & { url?: string }): FetchResult {
    if (this.#sidecarMayExist) removeQuietly(this.#sidecar);
    const { url: _, ...v } = validators;
    return { status: "fetched", validators: v };
  }

  /** Forget the partial file: it cannot be resumed. */
  #restart(): void {
    try {
      Deno.truncateSync(this.#req.partial, 0);
    } catch { /* not there */ }
    removeQuietly(this.#sidecar);
  }
}

/**
 * The `http`/`https` provider. Options (from the staging rule): `stall_timeout`
 * (seconds without a byte before an attempt is abandoned, default 60),
 * `max_per_host` (concurrent downloads per host, default 8), `max_redirects`
 * (default 10), `ca_file` (PEM certificates to trust besides the system's), and
 * credentials from the environment: `token_env` (Bearer), `header_env` (the
 * whole Authorization value) or `user` + `password_env` (Basic). Credentials
 * go to the URL's origin only, never to another one a redirect leads to.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { httpStaging } from "./http.ts";
 * const http = httpStaging();
 * assert.equal(http.name, "http");
 * assert.equal(http.put, undefined);
 * ```
 */
export function httpStaging(): StagingProvider {
  const limits = new Map<string, Limit>();
  const clients = new Map<string, Deno.HttpClient>();
  /** A client trusting the CA certificates in `file` as well as the system's. */
  const client = (file: string) => {
    let c = clients.get(file);
    if (c) return c;
    let pem: string;
    try {
      pem = Deno.readTextFileSync(file);
    } catch (e) {
      throw fail(`Cannot read ca_file ${file}: ${(e as Error).message}`, false);
    }
    clients.set(file, c = Deno.createHttpClient({ caCerts: [pem] }));
    return c;
  };
  return {
    name: "http",
    async fetch(req: FetchRequest): Promise<FetchResult> {
      const opts = readOptions(req);
      const key = `${new URL(req.url).origin} ${opts.maxPerHost}`;
      let limit = limits.get(key);
      if (!limit) limits.set(key, limit = new Limit(opts.maxPerHost));
      try {
        await limit.acquire(req.signal);
      } catch (e) {
        throw fail(`Download from ${new URL(req.url).host} cancelled`, false, e);
      }
      try {
        const c = opts.caFile !== undefined ? client(opts.caFile) : undefined;
        return await new Download(req, opts, c).run();
      } finally {
        limit.release();
      }
    },
    close(): Promise<void> {
      for (const c of clients.values()) c.close();
      clients.clear();
      return Promise.resolve();
    },
  };
}
