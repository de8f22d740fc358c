/**
 * One SFTP session on an SSH connection ({@linkcode connectSsh}), its
 * operations as promises, and how ssh2's failures read as
 * {@linkcode StagingError}s. Private to the `sftp` provider.
 * @module
 */

import { Buffer } from "node:buffer";
import type * as ssh2 from "../../deps/ssh2.ts";
import {
  type HostKeyPolicy,
  hostPort,
  type SshCredentials,
  type SshEndpoint,
} from "../_shared/ssh_auth.ts";
import { connectSsh, SshConnectError } from "../_shared/ssh_session.ts";
import { StagingError } from "./types.ts";

/** SFTP status codes (draft-ietf-secsh-filexfer-02). */
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;

/** An open SFTP session. Operations reject once the connection is gone. */
export interface SftpSession {
  /** Where it is connected. */
  readonly endpoint: SshEndpoint;
  /** True once the connection closed: make a new one. */
  readonly closed: boolean;
  /** Run `f` when the connection closes. */
  onClose(f: () => void): void;
  /** Remote file attributes. */
  stat(path: string): Promise<ssh2.Stats>;
  /** Open a remote file (`r`, `w`, `r+`). */
  open(path: string, flags: ssh2.OpenMode): Promise<Buffer>;
  /** Read up to `len` bytes at `pos` (fewer at the end of the file). */
  read(handle: Buffer, pos: number, len: number): Promise<Uint8Array>;
  /** Write all of `data` at `pos`. */
  write(handle: Buffer, data: Buffer, pos: number): Promise<void>;
  /** Close a handle. */
  close(handle: Buffer): Promise<void>;
  /** Create one directory. */
  mkdir(path: string): Promise<void>;
  /** Rename `from` over `to`: atomically with posix-rename@openssh.com, else unlink + rename. */
  replace(from: string, to: string): Promise<void>;
  /** A directory's entries (not `.` nor `..`): names, and which are directories or files. */
  readdir(path: string): Promise<{ name: string; dir: boolean; file: boolean }[]>;
  /** Remove a file. */
  unlink(path: string): Promise<void>;
  /** End the connection. */
  end(): Promise<void>;
}

function promised<T>(f: (cb: (err: Error | null | undefined, value: T) => void) => void) {
  return new Promise<T>((resolve, reject) =>
    f((err, value) => (err ? reject(err) : resolve(value)))
  );
}

/** What a failed ssh2 call means, as a StagingError naming the server and the path. */
export function sftpFailure(
  e: unknown,
  endpoint: SshEndpoint,
  action: string,
  path: string,
): StagingError {
  if (e instanceof StagingError) return e;
  const where = hostPort(endpoint);
  const err = e as { code?: unknown; message?: string };
  if (err?.code === NO_SUCH_FILE) {
    return new StagingError(`SFTP: no such file ${path} on ${where}`, { retryable: false });
  }
  if (err?.code === PERMISSION_DENIED) {
    return new StagingError(`SFTP: permission denied to ${action} ${path} on ${where}`, {
      retryable: false,
    });
  }
  const why = err?.message ?? String(e);
  return new StagingError(`SFTP: cannot ${action} ${path} on ${where}: ${why}`, {
    retryable: true,
  });
}

/** Connect, log in (within `timeoutMs`), check the host key and start the SFTP subsystem. */
export async function connectSftp(
  endpoint: SshEndpoint,
  credentials: SshCredentials,
  policy: HostKeyPolicy,
  timeoutMs: number,
): Promise<SftpSession> {
  const conn = await connectSsh(endpoint, credentials, policy, timeoutMs, "SFTP").catch((e) => {
    if (e instanceof SshConnectError) throw new StagingError(e.message, { retryable: e.retryable });
    throw e;
  });
  const client = conn.client;
  const sftp = await promised<ssh2.SFTPWrapper>((cb) => client.sftp(cb)).catch((e) => {
    client.end();
    throw new StagingError(
      `SFTP: ${hostPort(endpoint)} did not start its SFTP subsystem: ${(e as Error).message}`,
      { retryable: false },
    );
  });
  sftp.on("close", () => client.end());
  const live = <T>(f: (cb: (err: Error | null | undefined, value: T) => void) => void) =>
    conn.closed
      ? Promise.reject(new Error(`the connection to ${hostPort(endpoint)} was closed`))
      : promised<T>(f);
  const hasPosixRename = (sftp as unknown as { _extensions: Record<string, string> })
    ._extensions["posix-rename@openssh.com"] === "1";
  return {
    endpoint,
    get closed() {
      return conn.closed;
    },
    onClose: (f) => conn.onClose(f),
    stat: (path) => live((cb) => sftp.stat(path, cb)),
    open: (path, flags) => live((cb) => sftp.open(path, flags, cb)),
    read: (handle, pos, len) =>
      live<Uint8Array>((cb) =>
        sftp.read(
          handle,
          Buffer.allocUnsafe(len),
          0,
          len,
          pos,
          (err, n, buf) => err ? cb(err, new Uint8Array()) : cb(undefined, buf.subarray(0, n)),
        )
      ),
    write: (handle, data, pos) =>
      live<void>((cb) => sftp.write(handle, data, 0, data.length, pos, (err) => cb(err))),
    close: (handle) => live<void>((cb) => sftp.close(handle, (err) => cb(err))),
    mkdir: (path) => live<void>((cb) => sftp.mkdir(path, (err) => cb(err))),
    async replace(from, to) {
      if (hasPosixRename) {
        return await live<void>((cb) => sftp.ext_openssh_rename(from, to, (err) => cb(err)));
      }
      // Plain SFTP rename refuses an existing target: remove it first (not atomic).
      await live<void>((cb) => sftp.unlink(to, () => cb(undefined)));
      await live<void>((cb) => sftp.rename(from, to, (err) => cb(err)));
    },
    readdir: async (path) =>
      (await live<{ filename: string; attrs: ssh2.Stats }[]>((cb) => sftp.readdir(path, cb)))
        .filter((e) => e.filename !== "." && e.filename !== "..")
        .map((e) => ({
          name: e.filename,
          dir: e.attrs.isDirectory(),
          file: e.attrs.isFile(),
        })),
    unlink: (path) => live<void>((cb) => sftp.unlink(path, (err) => cb(err))),
    end: () => conn.end(),
  };
}
