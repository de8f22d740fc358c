/**
 * Commands on another host over SSH (npm:ssh2): the scheduler commands of an
 * executor with `via: ssh://user@login-host[:port]`, and the tasks of the
 * `ssh` provider (`ssh.ts`).
 *
 * One logged-in connection carries every command as its own `exec` channel,
 * several at once; it is opened on first use, opened again when it dropped,
 * and a second one is opened only when the first has as many channels open
 * as a server allows (OpenSSH's `MaxSessions`, 10 by default; ferry keeps at
 * most 8 on one connection). The login and host key checking are those of
 * the `sftp` staging provider (`../staging/ssh_auth.ts`): `identity_file`
 * (with `passphrase_env`) or the ssh agent, and the host key checked against
 * `known_hosts` or a pinned `host_key`, never skipped. These are the
 * executor's `options`, named as in staging rules.
 *
 * Nothing here throws for a host that cannot be reached: like the `ssh`
 * program, a command that could not run ends with code 255 and a message on
 * its standard error naming the host.
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import type * as ssh2 from "../../deps/ssh2.ts";
import type { Executor, ParamValue } from "../../dsl/model.ts";
import { shellQuote } from "../_shared/shell.ts";
import { connectSsh, type SshConnection } from "../_shared/ssh_session.ts";
import { readSecret } from "../_shared/secrets.ts";
import {
  type HostKeyPolicy,
  hostKeyPolicy,
  hostPort,
  type SshCredentials,
  sshCredentials,
  type SshEndpoint,
  sshEndpoint,
  SshSetupError,
} from "../_shared/ssh_auth.ts";
import type { Invocation } from "./dialect.ts";
import { SSH_OPTIONS, SSH_PROVIDER_OPTIONS } from "./registry.ts";
import type { CommandRunner, Ran } from "./runner.ts";

export { SSH_OPTIONS };

type Options = Readonly<Record<string, ParamValue>>;

/** Options that name files: relative ones are relative to the file declaring the executor. */
const PATH_OPTIONS = ["identity_file", "known_hosts"];

/**
 * `options` without the SSH login keys: what a scheduler dialect gets (and checks) when the
 * executor submits through `via:`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withoutSshOptions } from "./ssh_runner.ts";
 * assert.deepEqual(
 *   withoutSshOptions({ partition: "debug", identity_file: "~/.ssh/id", host_key: "SHA256:x" }),
 *   { partition: "debug" },
 * );
 * ```
 */
export function withoutSshOptions(options: Options): Record<string, ParamValue> {
  return Object.fromEntries(
    Object.entries(options).filter(([k]) => !SSH_PROVIDER_OPTIONS.includes(k)),
  );
}

/** How to log in: credentials, host key policy and the connect timeout. */
export interface SshAuth {
  /** A key file or the agent. */
  readonly credentials: SshCredentials;
  /** How the server's host key is checked. */
  readonly policy: HostKeyPolicy;
  /** Milliseconds to connect and log in. @default 30000 */
  readonly timeoutMs?: number;
}

/**
 * The endpoint of an executor's `host` (`user@host[:port]`) or `via`
 * (`ssh://user@host[:port]`); the user defaults to the local one, the port
 * to 22. Throws {@linkcode SshSetupError} for anything else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sshTarget } from "./ssh_runner.ts";
 * assert.deepEqual(sshTarget("ann@node7.example.org:2222", "host"), {
 *   host: "node7.example.org", port: 2222, user: "ann",
 * });
 * assert.equal(sshTarget("ssh://ann@login.example.org", "via").port, 22);
 * assert.throws(() => sshTarget("ann@login.example.org", "via"), /ssh:\/\/user@login-host/);
 * ```
 */
export function sshTarget(text: string, key: "host" | "via"): SshEndpoint {
  const form = key === "via" ? "ssh://user@login-host[:port]" : "user@host[:port]";
  const bad = () => new SshSetupError(`${key} must be ${form}, not "${text}"`);
  if (key === "via" ? !text.startsWith("ssh://") : text.includes("://")) throw bad();
  let u: URL;
  try {
    u = new URL(key === "via" ? text : `ssh://${text}`);
  } catch {
    throw bad();
  }
  if (!u.hostname || (u.pathname !== "" && u.pathname !== "/") || u.search || u.hash) throw bad();
  if (u.password) {
    throw new SshSetupError(
      `${key} must not hold a password: log in with the executor option identity_file or the ssh agent`,
    );
  }
  return sshEndpoint(u, {});
}

/**
 * The endpoint and login an executor's `host` or `via` and its SSH options
 * give. `base` is the folder relative `identity_file` and `known_hosts` paths
 * start from (the file declaring the executor). Reads the passphrase (from
 * `passphrase_env`) and the files now, so a wrong setting is reported before
 * the run starts; throws {@linkcode SshSetupError} naming the option.
 */
export function executorSsh(
  ex: Executor,
  key: "host" | "via",
  base: string,
): { endpoint: SshEndpoint; auth: SshAuth } {
  const text = ex[key];
  if (text === undefined) {
    throw new SshSetupError(
      key === "host"
        ? `the ssh provider needs host: user@host[:port] (where its tasks run)`
        : "via is not set",
    );
  }
  const endpoint = sshTarget(text, key);
  const options: Record<string, ParamValue> = {};
  for (const k of SSH_OPTIONS) if (ex.options[k] !== undefined) options[k] = ex.options[k]!;
  for (const k of PATH_OPTIONS) {
    const v = options[k];
    if (typeof v === "string" && !isAbsolute(v) && !v.startsWith("~")) {
      options[k] = resolve(base, v);
    }
  }
  const timeout = options.timeout ?? 30;
  if (typeof timeout !== "number" || !(timeout > 0)) {
    throw new SshSetupError(
      `the executor option timeout must be a positive number of seconds, not ${
        JSON.stringify(timeout)
      }`,
    );
  }
  return {
    endpoint,
    auth: {
      credentials: sshCredentials(options, readSecret, endpoint, "executor"),
      policy: hostKeyPolicy(options, endpoint, "executor"),
      timeoutMs: timeout * 1000,
    },
  };
}

/** How a remote command ended. */
export interface RemoteExit {
  /** Its exit code, when it exited. */
  readonly code?: number;
  /** `SIGTERM`, ...: when it was killed by a signal. */
  readonly signal?: string;
  /** Standard output. */
  readonly stdout: string;
  /** Standard output as bytes, when asked for with `binary`. */
  readonly stdoutBytes?: Uint8Array;
  /** Standard error. */
  readonly stderr: string;
  /**
   * Set when the command did not run (`started` false: no connection, login or host key
   * refused) or its end was not seen (`started` true: the connection dropped). The message
   * names the host; `retryable` is false when trying again cannot help.
   */
  readonly failure?: {
    readonly message: string;
    readonly retryable: boolean;
    readonly started: boolean;
  };
}

/** Options of {@linkcode SshRunner.exec}. */
export interface ExecOptions {
  /** Text for the command's standard input (else it gets end-of-file at once). */
  readonly stdin?: string;
  /** Told each piece of standard output as it arrives. */
  readonly onStdout?: (text: string) => void;
  /** Bytes for standard input (a tar stream), instead of `stdin`. */
  readonly stdinBytes?: Uint8Array;
  /** Keep standard output as bytes too (`stdoutBytes`), e.g. for a tar stream. */
  readonly binary?: boolean;
  /** Told each piece of standard output as bytes, which are then kept nowhere (a large file). */
  readonly onStdoutBytes?: (bytes: Uint8Array) => void;
  /** Closes the channel (the command is cut off; its result says the connection closed). */
  readonly signal?: AbortSignal;
}

/** A {@linkcode CommandRunner} over SSH, which can also run shell command lines. */
export interface SshRunner extends CommandRunner {
  /** Where commands run. */
  readonly endpoint: SshEndpoint;
  /** Run a command line with the remote user's shell; never rejects. */
  exec(command: string, options?: ExecOptions): Promise<RemoteExit>;
  /** End every connection. */
  close(): Promise<void>;
}

/** Options of {@linkcode sshRunner}. */
export interface SshRunnerOptions {
  /** Channels open at once on one connection before another is opened. @default 8 */
  readonly channelsPerConnection?: number;
}

interface Slot {
  readonly connecting: Promise<SshConnection>;
  channels: number;
  limit: number;
  dead: boolean;
}

/** `user@host:port`, as messages name a runner's host. */
export function sshWhere(e: SshEndpoint): string {
  return `${e.user}@${hostPort(e)}`;
}

/**
 * Run commands on `endpoint` over SSH, logging in with `auth`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sshRunner } from "./ssh_runner.ts";
 * const runner = sshRunner({ host: "127.0.0.1", port: 1, user: "ann" }, {
 *   credentials: { agent: "/nonexistent" },
 *   policy: { keyTypes: [], check: () => undefined },
 * });
 * assert.equal(runner.where, "ann@127.0.0.1:1");
 * const ran = await runner.run({ argv: ["squeue", "--me"] });
 * assert.equal(ran.code, 255);
 * assert.equal(ran.stderr, "ssh: cannot connect to 127.0.0.1:1: connection refused");
 * await runner.close();
 * ```
 */
export function sshRunner(
  endpoint: SshEndpoint,
  auth: SshAuth,
  options: SshRunnerOptions = {},
): SshRunner {
  return new Ssh2Runner(endpoint, auth, options.channelsPerConnection ?? 8);
}

/** A command that could not run, as {@linkcode SshRunner.exec} reports it. */
function notRun(message: string, retryable: boolean): RemoteExit {
  return { stdout: "", stderr: "", failure: { message, retryable, started: false } };
}

function openChannel(conn: SshConnection, command: string): Promise<ssh2.ClientChannel> {
  return new Promise<ssh2.ClientChannel>((resolve, reject) => {
    try {
      conn.client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch)));
    } catch (e) {
      reject(e);
    }
  });
}

/** The chunks as one array. */
function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Feed `channel` its standard input and collect what it writes until it closes (then
 * `onClosed` runs). A close without an exit status is a connection lost under the command.
 */
function collect(
  channel: ssh2.ClientChannel,
  o: ExecOptions,
  where: string,
  onClosed: () => void,
): Promise<RemoteExit> {
  return new Promise<RemoteExit>((resolve) => {
    const outDec = new TextDecoder(), errDec = new TextDecoder();
    let stdout = "", stderr = "";
    let code: number | undefined, signal: string | undefined, exited = false;
    const chunks: Uint8Array[] = [];
    const cut = () => channel.close();
    o.signal?.addEventListener("abort", cut, { once: true });
    if (o.signal?.aborted) cut();
    channel.on("data", (b: Uint8Array) => {
      if (o.onStdoutBytes) return o.onStdoutBytes(new Uint8Array(b));
      if (o.binary) {
        chunks.push(new Uint8Array(b));
        return;
      }
      const text = outDec.decode(b, { stream: true });
      stdout += text;
      if (text) o.onStdout?.(text);
    });
    channel.stderr.on("data", (b: Uint8Array) => {
      stderr += errDec.decode(b, { stream: true });
    });
    channel.on("exit", (c: number | null, s?: string) => {
      exited = true;
      if (typeof c === "number") code = c;
      else if (s) signal = s.startsWith("SIG") ? s : `SIG${s}`;
    });
    channel.on("close", () => {
      o.signal?.removeEventListener("abort", cut);
      onClosed();
      stdout += outDec.decode();
      stderr += errDec.decode();
      const stdoutBytes = o.binary ? concat(chunks) : undefined;
      resolve({
        ...(code !== undefined ? { code } : {}),
        ...(signal !== undefined ? { signal } : {}),
        ...(stdoutBytes !== undefined ? { stdoutBytes } : {}),
        stdout,
        stderr,
        ...(exited ? {} : {
          failure: {
            message: `ssh: the connection to ${where} closed before the command ended`,
            retryable: true,
            started: true,
          },
        }),
      });
    });
    if (o.stdinBytes !== undefined) channel.end(o.stdinBytes);
    else if (o.stdin !== undefined) channel.end(o.stdin);
    else channel.end();
  });
}

/** {@linkcode sshRunner}: its connections (slots) and the channels open on each. */
class Ssh2Runner implements SshRunner {
  readonly where: string;
  readonly #slots: Slot[] = [];
  #closed = false;

  constructor(
    readonly endpoint: SshEndpoint,
    private readonly auth: SshAuth,
    private readonly perConnection: number,
  ) {
    this.where = sshWhere(endpoint);
  }

  // Arrow functions: callers may hold a method apart from the runner.
  readonly exec = async (command: string, o: ExecOptions = {}): Promise<RemoteExit> => {
    if (this.#closed) return notRun(`ssh: the connection to ${this.where} was closed`, false);
    const opened = await this.#channel(command);
    if (!("slot" in opened)) return opened;
    const { slot, channel } = opened;
    return await collect(channel, o, this.where, () => slot.channels--);
  };

  readonly run = async (inv: Invocation): Promise<Ran> => {
    const r = await this.exec(inv.argv.map(shellQuote).join(" "), {
      ...(inv.stdin !== undefined ? { stdin: inv.stdin } : {}),
    });
    const stderr = r.failure
      ? (r.stderr ? r.stderr.replace(/\n?$/, "\n") : "") + r.failure.message
      : r.stderr;
    // Like the ssh program: 255 when the command's end was not seen.
    const code = r.code ?? (r.signal && !r.failure ? 128 + signalNumber(r.signal) : 255);
    return { code, stdout: r.stdout, stderr };
  };

  readonly close = async (): Promise<void> => {
    this.#closed = true;
    const all = this.#slots.splice(0);
    await Promise.all(
      all.map((s) => s.connecting.then((c) => c.end(), () => {})),
    );
  };

  #drop(s: Slot): void {
    s.dead = true;
    const i = this.#slots.indexOf(s);
    if (i >= 0) this.#slots.splice(i, 1);
  }

  /** A slot with room for one more channel, on a new connection when none has. */
  #free(): Slot {
    const free = this.#slots.find((s) => !s.dead && s.channels < s.limit);
    if (free) return free;
    const s: Slot = {
      connecting: connectSsh(
        this.endpoint,
        this.auth.credentials,
        this.auth.policy,
        this.auth.timeoutMs ?? 30_000,
        "ssh",
      ),
      channels: 0,
      limit: this.perConnection,
      dead: false,
    };
    s.connecting.then((c) => c.onClose(() => this.#drop(s)), () => this.#drop(s));
    this.#slots.push(s);
    return s;
  }

  /** A connection with room for one more channel (counted); rejects when none can be made. */
  async #acquire(): Promise<{ slot: Slot; conn: SshConnection }> {
    for (let tries = 0;; tries++) {
      const slot = this.#free();
      slot.channels++;
      let conn: SshConnection;
      try {
        conn = await slot.connecting;
      } catch (e) {
        slot.channels--;
        throw e;
      }
      if (!conn.closed) return { slot, conn };
      slot.channels--;
      this.#drop(slot);
      if (tries >= 2) throw new Error(`the connection to ${hostPort(this.endpoint)} keeps closing`);
    }
  }

  /** An `exec` channel running `command` (counted in its slot), or why there is none. */
  async #channel(
    command: string,
  ): Promise<{ slot: Slot; channel: ssh2.ClientChannel } | RemoteExit> {
    for (let tries = 0;; tries++) {
      let got;
      try {
        got = await this.#acquire();
      } catch (e) {
        const err = e as { message?: string; retryable?: boolean };
        const message = err.message ?? String(e);
        return notRun(
          message.startsWith("ssh: ")
            ? message
            : `ssh: cannot connect to ${this.where}: ${message}`,
          err.retryable !== false,
        );
      }
      const slot = got.slot;
      try {
        return { slot, channel: await openChannel(got.conn, command) };
      } catch (e) {
        slot.channels--;
        const message = (e as Error).message ?? String(e);
        if (tries < 3 && /Channel open failure/i.test(message) && slot.channels > 0) {
          // The server allows no more sessions on this connection: use (or open) another.
          slot.limit = slot.channels;
          continue;
        }
        if (tries < 3 && got.conn.closed) continue;
        return notRun(`ssh: cannot run a command on ${this.where}: ${message}`, true);
      }
    }
  }
}

const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

function signalNumber(name: string): number {
  return SIGNALS[name] ?? 0;
}
