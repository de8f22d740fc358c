/**
 * One SSH connection with one SFTP session (npm:ssh2), its operations as
 * promises, and how ssh2's failures read as {@linkcode StagingError}s. Private
 * to the `sftp` provider; the logged-in connection itself
 * ({@linkcode connectSsh}) also serves the `ssh` batch provider and `via:`.
 * @module
 */

import { Buffer } from "node:buffer";
import * as ssh2 from "../../deps/ssh2.ts";
import {
  type HostKeyPolicy,
  hostPort,
  type SshCredentials,
  type SshEndpoint,
} from "../_shared/ssh_auth.ts";
import { StagingError } from "./types.ts";

/** Host key algorithms ssh2 can negotiate, per key type found in known_hosts. */
const HOST_KEY_ALGORITHMS: Readonly<Record<string, readonly ssh2.ServerHostKeyAlgorithm[]>> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

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

/** Why a connection attempt failed, as a StagingError whose message starts with `label: `. */
function connectFailure(
  e: unknown,
  endpoint: SshEndpoint,
  credentials: SshCredentials,
  rejectedKey: string | undefined,
  timeoutMs: number,
  label: string,
): StagingError {
  const where = hostPort(endpoint);
  if (rejectedKey) return new StagingError(`${label}: ${rejectedKey}`, { retryable: false });
  const err = e as { code?: string; level?: string; message?: string };
  const how = "identity" in credentials
    ? `identity_file "${credentials.identity.file}"`
    : `the keys of the ssh agent at ${credentials.agent}`;
  if (err.level === "client-authentication") {
    return new StagingError(
      `${label}: ${where} refused the login as ${endpoint.user} with ${how}`,
      {
        retryable: false,
      },
    );
  }
  if (err.level === "agent") {
    return new StagingError(
      `${label}: the ssh agent at ${
        "agent" in credentials ? credentials.agent : "?"
      } failed: ${err.message}`,
      {
        retryable: false,
      },
    );
  }
  const reasons: Record<string, [string, boolean]> = {
    ECONNREFUSED: ["connection refused", true],
    ECONNRESET: ["connection reset", true],
    ETIMEDOUT: ["timed out", true],
    EHOSTUNREACH: ["host unreachable", true],
    ENETUNREACH: ["network unreachable", true],
    EAI_AGAIN: ["temporary failure in name resolution", true],
    ENOTFOUND: ["no such host", false],
  };
  const known = err.code ? reasons[err.code] : undefined;
  if (known) {
    return new StagingError(`${label}: cannot connect to ${where}: ${known[0]}`, {
      retryable: known[1],
    });
  }
  if (err.level === "client-timeout") {
    return new StagingError(
      `${label}: cannot connect to ${where}: no SSH login within ${timeoutMs / 1000} s`,
      { retryable: true },
    );
  }
  return new StagingError(`${label}: cannot connect to ${where}: ${err.message ?? String(e)}`, {
    retryable: true,
  });
}

/** The ssh2 login options for `credentials`; throws when the key cannot be used. */
function loginOptions(
  lib: ssh2.Ssh2,
  credentials: SshCredentials,
  label: string,
): ssh2.ConnectConfig {
  if ("agent" in credentials) return { agent: credentials.agent };
  const { file, key, passphrase } = credentials.identity;
  const privateKey = Buffer.from(key);
  const parsed = lib.utils.parseKey(privateKey, passphrase);
  if (parsed instanceof Error) {
    const why = /bad passphrase|integrity check|decrypt/i.test(parsed.message)
      ? "the passphrase from passphrase_env does not decrypt it"
      : parsed.message;
    throw new StagingError(`${label}: cannot use identity_file "${file}": ${why}`, {
      retryable: false,
    });
  }
  return { privateKey, ...(passphrase !== undefined ? { passphrase } : {}) };
}

/** A logged-in SSH connection whose host key was checked. */
export interface SshConnection {
  /** Where it is connected. */
  readonly endpoint: SshEndpoint;
  /** The ssh2 client, ready: open channels on it (`exec`, `sftp`). */
  readonly client: ssh2.Client;
  /** True once the connection closed: make a new one. */
  readonly closed: boolean;
  /** Run `f` when the connection closes (at once if it has). */
  onClose(f: () => void): void;
  /** End the connection; resolves once it is closed. */
  end(): Promise<void>;
}

/**
 * Connect, check the host key against `policy` and log in with `credentials`,
 * within `timeoutMs`. Failures reject with a {@linkcode StagingError} whose
 * message starts with `label: ` and names the server (`retryable` false for a
 * refused host key or login).
 */
export async function connectSsh(
  endpoint: SshEndpoint,
  credentials: SshCredentials,
  policy: HostKeyPolicy,
  timeoutMs: number,
  label = "SFTP",
): Promise<SshConnection> {
  const lib = await ssh2.loadSsh2();
  const login = loginOptions(lib, credentials, label);
  const client = new lib.Client();
  let rejectedKey: string | undefined;
  let closed = false;
  const closers: (() => void)[] = [];
  const onClosed = () => {
    if (closed) return;
    closed = true;
    for (const f of closers.splice(0)) f();
  };
  // Errors after the handshake arrive here too; the close that follows marks the session dead.
  client.on("error", () => {});
  client.on("close", onClosed);
  const preferred = policy.keyTypes.flatMap((t) => HOST_KEY_ALGORITHMS[t] ?? []);
  // An empty `append` changes nothing; ssh2's types want all three edits.
  const algorithms = { serverHostKey: { remove: preferred, prepend: preferred, append: [] } };
  await new Promise<void>((resolve, reject) => {
    client.once("ready", resolve);
    client.once(
      "error",
      (e) => reject(connectFailure(e, endpoint, credentials, rejectedKey, timeoutMs, label)),
    );
    client.connect({
      host: endpoint.host,
      port: endpoint.port,
      username: endpoint.user,
      readyTimeout: timeoutMs,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      ...login,
      ...(preferred.length > 0 ? { algorithms } : {}),
      hostVerifier: (key: Buffer) => {
        rejectedKey = policy.check(new Uint8Array(key));
        return rejectedKey === undefined;
      },
    });
  });
  return {
    endpoint,
    client,
    get closed() {
      return closed;
    },
    onClose: (f) => closed ? f() : closers.push(f),
    end() {
      if (closed) return Promise.resolve();
      const done = new Promise<void>((resolve) => closers.push(resolve));
      client.end();
      return done;
    },
  };
}

/** Connect, log in (within `timeoutMs`), check the host key and start the SFTP subsystem. */
export async function connectSftp(
  endpoint: SshEndpoint,
  credentials: SshCredentials,
  policy: HostKeyPolicy,
  timeoutMs: number,
): Promise<SftpSession> {
  const conn = await connectSsh(endpoint, credentials, policy, timeoutMs);
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
    end: () => conn.end(),
  };
}
