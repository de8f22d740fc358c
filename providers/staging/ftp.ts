/**
 * The `ftp` and `ftps` staging provider, on basic-ftp: RETR with REST resume
 * into the runtime's partial file, uploads under a hidden temporary name that
 * is renamed only once the server holds every byte, and a small pool of
 * logged-in control connections per server and user.
 *
 * URL paths are absolute on the server (`ftp://host/pub/a.bin` is `/pub/a.bin`;
 * on servers that chroot a login, `/` is that login's root). `ftps:` uses
 * explicit TLS (`AUTH TLS` on the same port, 21 by default) and verifies the
 * server's certificate.
 * @module
 */

import { Readable, Writable } from "node:stream";
import { type Client, FTPError } from "../../deps/basic_ftp.ts";
import {
  type FetchRequest,
  type FetchResult,
  type PutRequest,
  type PutResult,
  type StagingContext,
  StagingError,
  type StagingProvider,
  type Validators,
} from "./types.ts";
import { FtpPool } from "./_ftp_pool.ts";
import { failure, parseTarget, passwordFor, type Target, where } from "./_ftp_target.ts";

/**
 * The FTP/FTPS staging provider. One instance serves both schemes: the URL
 * decides (`ftps:` is explicit TLS). Rule options:
 *
 * - `user` (string, default `anonymous`): the login name.
 * - `password_env` (string): the environment variable holding the password.
 * - `ca_file` (string): a PEM file of certificates to trust for `ftps:`.
 * - `insecure_tls` (boolean, default false): for tests only, accept any
 *   `ftps:` certificate without checking it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ftpStaging } from "./ftp.ts";
 * const provider = ftpStaging();
 * assert.equal(provider.name, "ftp");
 * await provider.close?.();
 * ```
 */
export function ftpStaging(): StagingProvider {
  const pool = new FtpPool();
  return {
    name: "ftp",
    fetch: (request) => fetchFile(pool, request),
    put: (request) => putFile(pool, request),
    close: () => pool.close(),
  };
}

async function fetchFile(pool: FtpPool, request: FetchRequest): Promise<FetchResult> {
  const target = parseTarget(request.url, request);
  return await withClient(pool, target, request, async (client) => {
    const validators = await validatorsOf(client, target.path);
    const { previous } = request;
    if (
      previous?.size !== undefined && previous.mtime !== undefined &&
      previous.size === validators.size && previous.mtime === validators.mtime
    ) {
      return { status: "unchanged", validators };
    }
    const total = validators.size;
    const partial = await statOrUndefined(request.partial);
    let start = partial?.size ?? 0;
    // Resume only from a prefix of this version: a partial longer than the file, or
    // written before the file last changed (MDTM is whole seconds), is started over.
    if (total !== undefined && start > total) start = 0;
    if (validators.mtime !== undefined && validators.mtime > (partial?.mtime?.getTime() ?? 0)) {
      start = 0;
    }
    if (total === undefined || start < total) {
      try {
        await download(client, target, request, start, total);
      } catch (err) {
        // A server without REST answers 500/502/504: take the whole file instead.
        if (!(start > 0 && err instanceof FTPError && [500, 502, 504].includes(err.code))) {
          throw err;
        }
        start = 0;
        await download(client, target, request, start, total);
      }
    }
    const got = (await statOrUndefined(request.partial))?.size ?? 0;
    if (total !== undefined && got !== total) {
      throw new StagingError(
        `FTP transfer ended early: received ${got} of ${total} bytes (${where(target)})`,
        { retryable: true },
      );
    }
    return {
      status: "fetched",
      validators: total === undefined ? { size: got, ...validators } : validators,
    };
  });
}

/** RETR (after REST when `start` > 0) appending to the partial file, reporting progress per chunk. */
async function download(
  client: Client,
  target: Target,
  request: FetchRequest,
  start: number,
  total: number | undefined,
): Promise<void> {
  const file = await Deno.open(request.partial, {
    write: true,
    create: true,
    append: start > 0,
    truncate: start === 0,
  });
  let written = start;
  let pending = Promise.resolve();
  const sink = new Writable({
    write(chunk: Uint8Array, _encoding, done) {
      pending = pending.then(async () => {
        for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
        written += chunk.length;
        request.progress(written, total);
      });
      pending.then(() => done(), done);
    },
  });
  let ok = false;
  try {
    await client.downloadTo(sink, target.path, start);
    await pending;
    ok = true;
  } finally {
    await pending.catch(() => {});
    file.close();
    // Received bytes stay for the next attempt, but no empty file is left behind.
    if (!ok && written === 0) await Deno.remove(request.partial).catch(() => {});
  }
}

async function putFile(pool: FtpPool, request: PutRequest): Promise<PutResult> {
  const target = parseTarget(request.url, request);
  const slash = target.path.lastIndexOf("/");
  const dir = target.path.slice(0, slash) || "/";
  const temp = `${target.path.slice(0, slash)}/.${target.path.slice(slash + 1)}.ferry-part`;
  return await withClient(pool, target, request, async (client) => {
    await ensureDir(client, dir);
    const { size } = request;
    // A smaller temp part written since the file last changed is an interrupted
    // upload of this version: send only the rest.
    let start = (await remoteSize(client, temp)) ?? 0;
    if (start >= size) start = 0;
    if (start > 0) {
      const changed = Math.floor(((await Deno.stat(request.source)).mtime?.getTime() ?? 0) / 1000);
      const { mtime } = await validatorsOf(client, temp);
      if (mtime === undefined || changed * 1000 > mtime) start = 0;
    }
    // Byte mode with a small buffer: progress follows what the data connection took.
    const source = Readable.from(
      readFrom(request.source, start, (sent) => request.progress(sent, size)),
      { objectMode: false, highWaterMark: 64 * 1024 },
    );
    if (start > 0) await client.appendFrom(source, temp);
    else await client.uploadFrom(source, temp);
    const stored = await remoteSize(client, temp);
    if (stored !== undefined && stored !== size) {
      throw new StagingError(
        `FTP upload incomplete: the server holds ${stored} of ${size} bytes in ${temp} (${
          where(target)
        })`,
        { retryable: true },
      );
    }
    await renameOver(client, temp, target.path);
    const validators = await validatorsOf(client, target.path);
    return { validators: validators.size === undefined ? { size, ...validators } : validators };
  });
}

/** The bytes of local file `path` from offset `start`, read as the data connection asks for them. */
async function* readFrom(
  path: string,
  start: number,
  progress: (sent: number) => void,
): AsyncGenerator<Uint8Array> {
  using file = await Deno.open(path);
  await file.seek(start, Deno.SeekMode.Start);
  let sent = start;
  for (;;) {
    const buf = new Uint8Array(64 * 1024);
    const n = await file.read(buf);
    if (n === null) return;
    yield buf.subarray(0, n);
    sent += n;
    progress(sent);
  }
}

/** Rename `from` to `to`, deleting `to` first when the server will not rename over it. */
async function renameOver(client: Client, from: string, to: string): Promise<void> {
  try {
    await client.rename(from, to);
  } catch (err) {
    if (!(err instanceof FTPError) || err.code < 500) throw err;
    await client.sendIgnoringError(`DELE ${to}`);
    await client.rename(from, to);
  }
}

/** Create `dir` and its missing parents (CWD probes first, so existing trees cost one command). */
async function ensureDir(client: Client, dir: string): Promise<void> {
  if ((await client.sendIgnoringError(`CWD ${dir}`)).code < 300) return;
  const parts = dir.split("/").filter((p) => p !== "");
  for (let i = 1; i <= parts.length; i++) {
    await client.sendIgnoringError(`MKD /${parts.slice(0, i).join("/")}`);
  }
}

/** SIZE and MDTM, each only when the server answers it. */
async function validatorsOf(client: Client, path: string): Promise<Validators> {
  const size = await remoteSize(client, path);
  let mtime: number | undefined;
  try {
    mtime = (await client.lastMod(path)).getTime();
  } catch (err) {
    if (!(err instanceof FTPError)) throw err;
  }
  return {
    ...(size !== undefined ? { size } : {}),
    ...(mtime !== undefined && !Number.isNaN(mtime) ? { mtime } : {}),
  };
}

/** SIZE of a remote file; undefined when the server cannot say (missing file, no SIZE). */
async function remoteSize(client: Client, path: string): Promise<number | undefined> {
  try {
    return await client.size(path);
  } catch (err) {
    if (err instanceof FTPError) return undefined;
    throw err;
  }
}

/** Run `op` on a pooled, logged-in client; classify failures; honour the abort signal. */
async function withClient<T>(
  pool: FtpPool,
  target: Target,
  ctx: StagingContext,
  op: (client: Client) => Promise<T>,
): Promise<T> {
  ctx.signal.throwIfAborted();
  const password = passwordFor(target, ctx);
  let phase: "login" | "transfer" = "login";
  let lease: Awaited<ReturnType<FtpPool["acquire"]>> | undefined;
  try {
    lease = await pool.acquire(target, password, ctx.signal);
    phase = "transfer";
    const result = await op(lease.client);
    lease.release(true);
    return result;
  } catch (err) {
    lease?.release(false);
    if (ctx.signal.aborted) throw ctx.signal.reason;
    throw failure(err, target, phase, password);
  }
}

/** Stat of a local file, undefined when it does not exist. */
async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}
