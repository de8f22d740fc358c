/**
 * The `sftp` staging provider: `sftp://[user@]host[:port]/absolute/path` over
 * SSH (npm:ssh2, pure JavaScript). It logs in with the rule's `identity_file`
 * or the ssh agent and always checks the host key (`known_hosts` or a pinned
 * `host_key`). Transfers to one server share one connection. A fetch resumes
 * from the partial file; an upload goes to `.<name>.ferry-part` beside the
 * target, resumed when present, and is renamed over the target when complete.
 *
 * Rule options: `user` (login name when the URL has none; default the local
 * user), `identity_file` (private key, `~` expanded), `passphrase_env`
 * (variable holding its passphrase), `known_hosts` (default
 * `~/.ssh/known_hosts`), `host_key` (`SHA256:...` fingerprint, instead of
 * known_hosts), `timeout` (seconds to connect and log in, default 30).
 *
 * A partial file (or remote temp file) is resumed only when it was written
 * after the other side's file last changed; otherwise it starts over.
 * @module
 */

import { basename, dirname } from "node:path/posix";
import type { ParamValue } from "../../dsl/model.ts";
import {
  hostKeyPolicy,
  hostPort,
  loginKey,
  type SshCredentials,
  sshCredentials,
  type SshEndpoint,
  sshEndpoint,
  SshSetupError,
} from "../_shared/ssh_auth.ts";
import {
  type FetchRequest,
  type FetchResult,
  type PutRequest,
  type PutResult,
  StagingError,
  type StagingProvider,
} from "./types.ts";
import { abortable, mkdirp, pipelinedRead, pipelinedWrite } from "./_sftp_io.ts";
import { connectSftp, sftpFailure, type SftpSession } from "./_sftp_session.ts";

type Options = Readonly<Record<string, ParamValue>>;

/** A parsed `sftp://` URL. */
interface Target {
  readonly endpoint: SshEndpoint;
  readonly path: string;
}

function target(url: string, options: Options): Target {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StagingError(`SFTP: "${url}" is not a URL`, { retryable: false });
  }
  if (u.protocol !== "sftp:" || !u.hostname) {
    throw new StagingError(
      `SFTP: "${url}" is not an sftp://[user@]host[:port]/absolute/path URL`,
      { retryable: false },
    );
  }
  const path = decodeURIComponent(u.pathname);
  if (path === "/" || path.endsWith("/")) {
    throw new StagingError(`SFTP: "${url}" names a directory, not a file`, { retryable: false });
  }
  try {
    return { endpoint: sshEndpoint(u, options), path };
  } catch (e) {
    throw setupError(e);
  }
}

/** The rule option `timeout`: seconds to wait for a connection and login. */
function timeoutSeconds(options: Options): number {
  const v = options.timeout ?? 30;
  if (typeof v !== "number" || !(v > 0)) {
    throw new StagingError(
      `SFTP: the rule option timeout must be a positive number of seconds, not ${
        JSON.stringify(v)
      }`,
      { retryable: false },
    );
  }
  return v;
}

function setupError(e: unknown): unknown {
  return e instanceof SshSetupError
    ? new StagingError(`SFTP: ${e.message}`, { retryable: false })
    : e;
}

/** Local file size and mtime (ms), or undefined. */
function localStat(path: string): { size: number; mtime: number } | undefined {
  try {
    const s = Deno.statSync(path);
    return { size: s.size, mtime: s.mtime?.getTime() ?? 0 };
  } catch {
    return undefined;
  }
}

/**
 * The `sftp` staging provider. Rule options: `user`, `identity_file`,
 * `passphrase_env`, `known_hosts`, `host_key`, `timeout` (see the module doc).
 * Call `close()` when the run is over: it ends the shared connections.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sftpStaging } from "./sftp.ts";
 * const sftp = sftpStaging();
 * assert.equal(sftp.name, "sftp");
 * const e = await sftp.fetch!({
 *   url: "sftp://example.org/",
 *   partial: "/tmp/x.ferry-part",
 *   options: {},
 *   signal: new AbortController().signal,
 *   progress: () => {},
 *   secret: () => undefined,
 * }).catch((e) => e);
 * assert.equal(e.message, `SFTP: "sftp://example.org/" names a directory, not a file`);
 * await sftp.close?.();
 * ```
 */
export function sftpStaging(): StagingProvider {
  return new SftpStaging();
}

/** Open SFTP sessions by login, shared by the transfers to one server. */
class SftpSessions {
  readonly #sessions = new Map<string, Promise<SftpSession>>();

  /** The session for `t`'s server with the rule's login, connecting when there is none. */
  async get(
    t: Target,
    options: Options,
    secret: FetchRequest["secret"],
    signal: AbortSignal,
  ): Promise<SftpSession> {
    let credentials: SshCredentials;
    let policy;
    try {
      credentials = sshCredentials(options, secret, t.endpoint);
      policy = hostKeyPolicy(options, t.endpoint);
    } catch (e) {
      throw setupError(e);
    }
    const key = loginKey(t.endpoint, credentials, options);
    let p = this.#sessions.get(key);
    if (p) {
      // A failed connection attempt fails its waiters too (the runtime retries).
      const s = await abortable(p, signal);
      if (!s.closed) return s;
      if (this.#sessions.get(key) === p) this.#sessions.delete(key);
    }
    p = connectSftp(t.endpoint, credentials, policy, timeoutSeconds(options) * 1000);
    this.#sessions.set(key, p);
    const mine = p;
    const forget = () => this.#sessions.get(key) === mine && this.#sessions.delete(key);
    p.then((s) => s.onClose(forget), forget);
    return await abortable(p, signal);
  }

  /** End every session. */
  async close(): Promise<void> {
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(all.map((p) => p.then((s) => s.end(), () => {})));
  }
}

/** `path`'s attributes on `s`'s server; a failure names the action and the path. */
function remoteStat(s: SftpSession, path: string, signal: AbortSignal) {
  return abortable(s.stat(path), signal).catch((e) => {
    throw sftpFailure(e, s.endpoint, "stat", path);
  });
}

/** Read `t.path` from `offset` to `size` into `out`, reporting progress; returns the new end. */
async function readRest(
  s: SftpSession,
  t: Target,
  out: Deno.FsFile,
  offset: number,
  size: number,
  r: FetchRequest,
): Promise<number> {
  const fail = (e: unknown, action: string) => sftpFailure(e, s.endpoint, action, t.path);
  const handle = await abortable(s.open(t.path, "r"), r.signal).catch((e) => {
    throw fail(e, "open");
  });
  try {
    await pipelinedRead(s, handle, offset, size, (chunk) => {
      for (let w = 0; w < chunk.length;) w += out.writeSync(chunk.subarray(w));
      offset += chunk.length;
      r.progress(offset, size);
    }, r.signal);
  } catch (e) {
    throw fail(e, "read");
  } finally {
    s.close(handle).catch(() => {});
  }
  return offset;
}

/** Fetch `t` over `s` into the partial file, resumed when it is newer than the remote file. */
async function fetchFile(s: SftpSession, t: Target, r: FetchRequest): Promise<FetchResult> {
  const st = await remoteStat(s, t.path, r.signal);
  if (!st.isFile()) {
    throw new StagingError(`SFTP: ${t.path} on ${hostPort(s.endpoint)} is not a file`, {
      retryable: false,
    });
  }
  const validators = { size: st.size, mtime: st.mtime * 1000 };
  const prev = r.previous;
  if (prev && prev.size === st.size && prev.mtime === validators.mtime) {
    return { status: "unchanged", validators };
  }
  // Resume only from a partial written after the remote file last changed.
  const local = localStat(r.partial);
  let offset = local && local.size <= st.size && local.mtime >= validators.mtime ? local.size : 0;
  using out = await Deno.open(r.partial, { write: true, create: true });
  await out.truncate(offset);
  await out.seek(offset, Deno.SeekMode.Start);
  r.progress(offset, st.size);
  if (offset < st.size) offset = await readRest(s, t, out, offset, st.size, r);
  if (offset !== st.size) {
    throw new StagingError(
      `SFTP: got ${offset} of ${st.size} bytes of ${t.path} from ${hostPort(s.endpoint)}`,
      { retryable: true },
    );
  }
  return { status: "fetched", validators };
}

/**
 * Write `r.source` to `temp` on `s`'s server, resuming a temp file written after the source
 * last changed; checks that all of it arrived.
 */
async function uploadTemp(s: SftpSession, temp: string, r: PutRequest): Promise<void> {
  const fail = (e: unknown, action: string) => sftpFailure(e, s.endpoint, action, temp);
  const source = localStat(r.source);
  const old = await s.stat(temp).catch(() => undefined);
  const offset = old && old.isFile() && old.size < r.size && source &&
      old.mtime * 1000 >= Math.floor(source.mtime / 1000) * 1000
    ? old.size
    : 0;
  const handle = await abortable(s.open(temp, offset > 0 ? "r+" : "w"), r.signal).catch((e) => {
    throw fail(e, "create");
  });
  r.progress(offset, r.size);
  try {
    await pipelinedWrite(s, handle, r.source, offset, (n) => r.progress(n, r.size), r.signal);
  } catch (e) {
    s.close(handle).catch(() => {});
    throw fail(e, "write");
  }
  await abortable(s.close(handle), r.signal).catch((e) => {
    throw fail(e, "write");
  });
  const written = await remoteStat(s, temp, r.signal);
  if (written.size !== r.size) {
    throw new StagingError(
      `SFTP: ${temp} on ${
        hostPort(s.endpoint)
      } has ${written.size} bytes after the upload, not ${r.size}`,
      { retryable: true },
    );
  }
}

/** Upload `r.source` to `t` over `s`: into a temp file beside it, renamed over it when complete. */
async function putFile(s: SftpSession, t: Target, r: PutRequest): Promise<PutResult> {
  const dir = dirname(t.path);
  const temp = `${dir}/.${basename(t.path)}.ferry-part`;
  await abortable(mkdirp(s, dir), r.signal).catch((e) => {
    throw sftpFailure(e, s.endpoint, "create the directory", dir);
  });
  await uploadTemp(s, temp, r);
  await abortable(s.replace(temp, t.path), r.signal).catch((e) => {
    throw sftpFailure(e, s.endpoint, "rename to", t.path);
  });
  const st = await remoteStat(s, t.path, r.signal);
  return { validators: { size: st.size, mtime: st.mtime * 1000 } };
}

/** {@linkcode sftpStaging}: transfers over the shared sessions. */
class SftpStaging implements StagingProvider {
  readonly name = "sftp";
  readonly #sessions = new SftpSessions();

  // Arrow functions: callers may hold a method apart from the provider.
  readonly fetch = async (r: FetchRequest): Promise<FetchResult> => {
    const t = target(r.url, r.options);
    return await fetchFile(await this.#sessions.get(t, r.options, r.secret, r.signal), t, r);
  };

  readonly put = async (r: PutRequest): Promise<PutResult> => {
    const t = target(r.url, r.options);
    return await putFile(await this.#sessions.get(t, r.options, r.secret, r.signal), t, r);
  };

  readonly close = (): Promise<void> => this.#sessions.close();
}

/** A directory on an SFTP server, listed and pruned over one session (a result store's upkeep). */
export interface SftpTree {
  /** Every file under `rel` (relative to the root), as relative paths, sorted; none if absent. */
  list(rel: string): Promise<string[]>;
  /** Remove the file `rel`; one already gone is fine. */
  remove(rel: string): Promise<void>;
  /** End the session. */
  close(): Promise<void>;
}

/**
 * Open the directory `url` (`sftp://[user@]host[:port]/dir`) with a staging rule's options:
 * for listing and removing what a result store holds, which fetch and put cannot.
 */
export async function openSftpTree(
  url: string,
  options: Options,
  secret: FetchRequest["secret"],
): Promise<SftpTree> {
  // A file in it names the server and the directory (target() wants a file).
  const t = target(`${url.replace(/\/+$/, "")}/x`, options);
  const root = dirname(t.path);
  let s: SftpSession;
  try {
    s = await connectSftp(
      t.endpoint,
      sshCredentials(options, secret, t.endpoint),
      hostKeyPolicy(options, t.endpoint),
      timeoutSeconds(options) * 1000,
    );
  } catch (e) {
    throw setupError(e);
  }
  const walk = async (rel: string, out: string[]): Promise<void> => {
    const entries = await s.readdir(`${root}/${rel}`).catch((e) => {
      if ((e as { code?: unknown })?.code === 2) return [];
      throw sftpFailure(e, s.endpoint, "list", `${root}/${rel}`);
    });
    for (const e of entries.sort((a, b) => a.name < b.name ? -1 : 1)) {
      if (e.name.startsWith(".")) continue; // a writer's temporary file
      if (e.dir) await walk(`${rel}/${e.name}`, out);
      else if (e.file) out.push(`${rel}/${e.name}`);
    }
  };
  return {
    list: async (rel) => {
      const out: string[] = [];
      await walk(rel, out);
      return out;
    },
    remove: (rel) =>
      s.unlink(`${root}/${rel}`).catch((e) => {
        if ((e as { code?: unknown })?.code !== 2) throw sftpFailure(e, s.endpoint, "remove", rel);
      }),
    close: () => s.end(),
  };
}
