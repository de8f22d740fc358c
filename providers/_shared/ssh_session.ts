/**
 * A logged-in SSH connection (npm:ssh2) whose host key was checked: the
 * session the `sftp` staging provider opens its SFTP channel on, and the `ssh`
 * batch provider (and `via:`) its command channels. Failures read as
 * {@linkcode SshConnectError}s naming the server.
 * @module
 */

import { Buffer } from "node:buffer";
import * as ssh2 from "../../deps/ssh2.ts";
import { type HostKeyPolicy, hostPort, type SshCredentials, type SshEndpoint } from "./ssh_auth.ts";

/** A connection or login that failed; `retryable` is false when trying again cannot help. */
export class SshConnectError extends Error {
  /** True for refused or dropped connections and timeouts; false for refused keys and logins. */
  readonly retryable: boolean;
  /** Create one. */
  constructor(message: string, options: { retryable: boolean }) {
    super(message);
    this.name = "SshConnectError";
    this.retryable = options.retryable;
  }
}

/** Host key algorithms ssh2 can negotiate, per key type found in known_hosts. */
const HOST_KEY_ALGORITHMS: Readonly<Record<string, readonly ssh2.ServerHostKeyAlgorithm[]>> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

/** Why a connection attempt failed, as a SshConnectError whose message starts with `label: `. */
function connectFailure(
  e: unknown,
  endpoint: SshEndpoint,
  credentials: SshCredentials,
  rejectedKey: string | undefined,
  timeoutMs: number,
  label: string,
): SshConnectError {
  const where = hostPort(endpoint);
  if (rejectedKey) return new SshConnectError(`${label}: ${rejectedKey}`, { retryable: false });
  const err = e as { code?: string; level?: string; message?: string };
  const how = "identity" in credentials
    ? `identity_file "${credentials.identity.file}"`
    : `the keys of the ssh agent at ${credentials.agent}`;
  if (err.level === "client-authentication") {
    return new SshConnectError(
      `${label}: ${where} refused the login as ${endpoint.user} with ${how}`,
      {
        retryable: false,
      },
    );
  }
  if (err.level === "agent") {
    return new SshConnectError(
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
    return new SshConnectError(`${label}: cannot connect to ${where}: ${known[0]}`, {
      retryable: known[1],
    });
  }
  if (err.level === "client-timeout") {
    return new SshConnectError(
      `${label}: cannot connect to ${where}: no SSH login within ${timeoutMs / 1000} s`,
      { retryable: true },
    );
  }
  return new SshConnectError(`${label}: cannot connect to ${where}: ${err.message ?? String(e)}`, {
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
    throw new SshConnectError(`${label}: cannot use identity_file "${file}": ${why}`, {
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
 * within `timeoutMs`. Failures reject with an {@linkcode SshConnectError} whose
 * message starts with `label: ` (e.g. `SFTP`, `ssh`) and names the server
 * (`retryable` false for a refused host key or login).
 */
export async function connectSsh(
  endpoint: SshEndpoint,
  credentials: SshCredentials,
  policy: HostKeyPolicy,
  timeoutMs: number,
  label: string,
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
    client.once("ready", () => {
      // No Nagle delay: SFTP's small requests otherwise wait for delayed ACKs, about 40 ms each
      // (a small upload took 350 ms over loopback, 5 ms with it).
      (client as unknown as { _sock?: { setNoDelay?: (on: boolean) => void } })._sock
        ?.setNoDelay?.(true);
      resolve();
    });
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
