/**
 * The byte-moving half of the `sftp` provider: pipelined reads and writes
 * (many requests in flight, so a link's latency does not cap throughput),
 * `mkdir -p`, and waits that end on abort. Private to the provider.
 * @module
 */

import { Buffer } from "node:buffer";
import { dirname } from "node:path/posix";
import type { SftpSession } from "./_sftp_session.ts";
import { hostPort } from "../_shared/ssh_auth.ts";
import { StagingError } from "./types.ts";

/** Bytes per read or write request: OpenSSH's largest (its `limits@openssh.com`). */
const CHUNK = 255 * 1024;
/**
 * Requests in flight per transfer (at most 4 MiB buffered). More did not help
 * on loopback, where ssh2's JavaScript is the limit (45-80 MB/s; scp: 84).
 */
const DEPTH = 16;

/** Stop waiting for `p` when `signal` aborts. */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function cancelled(): StagingError {
  return new StagingError("SFTP: cancelled", { retryable: false });
}

/**
 * Read `[from, size)` of an open remote file with up to DEPTH requests in
 * flight, handing each piece to `sink` in order.
 */
export async function pipelinedRead(
  s: SftpSession,
  handle: Buffer,
  from: number,
  size: number,
  sink: (chunk: Uint8Array) => void,
  signal: AbortSignal,
): Promise<void> {
  const queue: { pos: number; len: number; data: Promise<Uint8Array> }[] = [];
  let next = from;
  const request = (pos: number, len: number) => {
    const data = s.read(handle, pos, len);
    data.catch(() => {}); // awaited in order below; a later failure must not go unhandled
    return { pos, len, data };
  };
  const fill = () => {
    while (queue.length < DEPTH && next < size) {
      const len = Math.min(CHUNK, size - next);
      queue.push(request(next, len));
      next += len;
    }
  };
  fill();
  while (queue.length > 0) {
    const head = queue.shift()!;
    const chunk = await abortable(head.data, signal);
    if (chunk.length === 0) {
      // Not a StagingError: the caller names the file and server, and it is retryable.
      throw new Error(`the file shrank to ${head.pos} bytes while it was read`);
    }
    sink(chunk);
    // A short read: ask for the rest before anything queued after it.
    if (chunk.length < head.len) {
      queue.unshift(request(head.pos + chunk.length, head.len - chunk.length));
    }
    fill();
  }
}

/** Write the local `source` from `from` to an open remote file, DEPTH requests in flight. */
export async function pipelinedWrite(
  s: SftpSession,
  handle: Buffer,
  source: string,
  from: number,
  progress: (bytes: number) => void,
  signal: AbortSignal,
): Promise<void> {
  using file = await Deno.open(source);
  await file.seek(from, Deno.SeekMode.Start);
  const inflight = new Set<Promise<void>>();
  let pos = from;
  let acked = from;
  let failure: unknown;
  for (;;) {
    if (failure !== undefined) throw failure;
    const buf = new Uint8Array(CHUNK);
    let n = 0;
    while (n < CHUNK) {
      const got = await file.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    if (n === 0) break;
    const len = n;
    const w: Promise<void> = s.write(handle, Buffer.from(buf.buffer, 0, len), pos).then(
      () => {
        acked += len;
        progress(acked);
      },
      (e) => {
        failure ??= e;
      },
    ).finally(() => inflight.delete(w));
    inflight.add(w);
    pos += len;
    if (inflight.size >= DEPTH) await abortable(Promise.race(inflight), signal);
  }
  await abortable(Promise.all(inflight), signal);
  if (failure !== undefined) throw failure;
}

/** Create `dir` and its missing parents on the server. */
export async function mkdirp(s: SftpSession, dir: string): Promise<void> {
  const st = await s.stat(dir).catch((e) => {
    if (e?.code === 2) return undefined;
    throw e;
  });
  if (st) {
    if (!st.isDirectory()) {
      throw new StagingError(`SFTP: ${dir} on ${hostPort(s.endpoint)} is not a directory`, {
        retryable: false,
      });
    }
    return;
  }
  if (dirname(dir) !== dir) await mkdirp(s, dirname(dir));
  await s.mkdir(dir).catch(async (e) => {
    // Someone else may have made it meanwhile: fine if it is there now.
    if (!(await s.stat(dir).then((x) => x.isDirectory(), () => false))) throw e;
  });
}
