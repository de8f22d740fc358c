/**
 * Logged-in basic-ftp clients kept per (scheme, host, port, user, TLS trust),
 * so many files reuse a few control connections. A basic-ftp client does one
 * thing at a time: each call leases its own, and a client that saw any error
 * is closed, never handed out again.
 * @module
 */

import { Client } from "../../deps/basic_ftp.ts";
import { StagingError } from "./types.ts";

/** Where to log in. */
export interface FtpServer {
  /** Explicit TLS (`ftps:`). */
  readonly secure: boolean;
  /** Host name or address, without IPv6 brackets. */
  readonly host: string;
  /** Control port. */
  readonly port: number;
  /** `host:port` as messages show it. */
  readonly display: string;
  /** Login name. */
  readonly user: string;
  /** PEM file of certificates to trust (`ftps:`). */
  readonly caFile?: string;
  /** Accept any certificate: for tests only. */
  readonly insecureTls: boolean;
}

/** A client on loan: give it back with `release(ok)`; `ok: false` closes it. */
export interface FtpLease {
  /** The logged-in client, binary mode, for this call alone. */
  readonly client: Client;
  /** Return the client; `ok` false (any error) closes it instead of keeping it. */
  release(ok: boolean): void;
}

/** Control and data inactivity limit: a server silent this long is taken as gone. */
const TIMEOUT_MS = 30_000;
/** Idle logged-in connections kept per server and user. */
const MAX_IDLE = 4;

/** A pool of logged-in FTP clients. */
export class FtpPool {
  readonly #idle = new Map<string, Client[]>();
  readonly #busy = new Set<Client>();

  /** A logged-in client for `server`: an idle one, or a new connection. Closed when `signal` aborts. */
  async acquire(server: FtpServer, password: string, signal: AbortSignal): Promise<FtpLease> {
    signal.throwIfAborted();
    const key = JSON.stringify([server.secure, server.host, server.port, server.user, password, [
      server.caFile,
      server.insecureTls,
    ]]);
    const idle = this.#idle.get(key) ?? [];
    let client = idle.pop();
    while (client?.closed) client = idle.pop();
    const fresh = client === undefined;
    const c = client ?? new Client(TIMEOUT_MS);
    const onAbort = () => c.close();
    signal.addEventListener("abort", onAbort, { once: true });
    this.#busy.add(c);
    const release = (ok: boolean) => {
      signal.removeEventListener("abort", onAbort);
      this.#busy.delete(c);
      const list = this.#idle.get(key) ?? [];
      if (ok && !c.closed && list.length < MAX_IDLE) {
        list.push(c);
        this.#idle.set(key, list);
      } else c.close();
    };
    if (fresh) {
      try {
        await c.access({
          host: server.host,
          port: server.port,
          user: server.user,
          password,
          secure: server.secure,
          ...(server.secure ? { secureOptions: await tlsOptions(server) } : {}),
        });
      } catch (err) {
        release(false);
        throw err;
      }
    }
    return { client: c, release };
  }

  /** Close every connection, idle or on loan. */
  close(): Promise<void> {
    for (const list of this.#idle.values()) for (const c of list) c.close();
    for (const c of this.#busy) c.close();
    this.#idle.clear();
    this.#busy.clear();
    return Promise.resolve();
  }
}

/** TLS options: verification on, plus the rule's `ca_file` when given. */
async function tlsOptions(
  server: FtpServer,
): Promise<{ rejectUnauthorized: boolean; ca?: string }> {
  if (server.caFile === undefined) return { rejectUnauthorized: !server.insecureTls };
  try {
    return { rejectUnauthorized: !server.insecureTls, ca: await Deno.readTextFile(server.caFile) };
  } catch (err) {
    throw new StagingError(
      `Cannot read ca_file "${server.caFile}": ${err instanceof Error ? err.message : err}`,
      { retryable: false },
    );
  }
}
