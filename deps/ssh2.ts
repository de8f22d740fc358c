/**
 * npm:ssh2, the SSH and SFTP client, loaded on first use ({@linkcode loadSsh2}) and typed here
 * by the part of its API ferry uses. Its install script only builds an optional native crypto
 * binding (ssh2 falls back to node:crypto), so deno.json denies it (`allowScripts`).
 *
 * Why not `export { default } from "npm:ssh2@1.17.0"`: a script outside the checkout that imports
 * ferry's `mod.ts` runs without ferry's deno.json, and Deno prints "Ignored build scripts for
 * packages: npm:ssh2, npm:cpu-features" for every npm package with an install script in the
 * module graph, needed or not. A literal `import("npm:ssh2@…")` is still in the graph, and so are
 * npm:@types/ssh2's types under `--check`; a specifier in a variable is not.
 * `tests/ssh2_types_test.ts` checks that the real module (with npm:@types/ssh2) satisfies
 * these declarations.
 * @module
 */

import type { Buffer } from "node:buffer";

/** The pinned package, loaded at run time only. */
export const SSH2_SPECIFIER = "npm:ssh2@1.17.0";

/** The ssh2 module, as far as ferry uses it. */
export interface Ssh2 {
  /** An SSH client connection. */
  readonly Client: new () => Client;
  /** Key helpers. */
  readonly utils: {
    /** Parse a private or public key (decrypting it with `passphrase`); an Error when it cannot. */
    readonly parseKey: (data: Buffer, passphrase?: string) => ParsedKey | Error;
  };
}

/** A parsed key; ferry only asks whether parsing failed. */
export interface ParsedKey {
  /** The key type, e.g. `ssh-ed25519`. */
  readonly type: string;
}

/** A host key algorithm ferry asks ssh2 to prefer (those of the key types in known_hosts). */
export type ServerHostKeyAlgorithm =
  | "ssh-ed25519"
  | "ecdsa-sha2-nistp256"
  | "ecdsa-sha2-nistp384"
  | "ecdsa-sha2-nistp521"
  | "rsa-sha2-512"
  | "rsa-sha2-256"
  | "ssh-rsa";

/** Changes to ssh2's default list of algorithms. */
export interface AlgorithmEdits<T> {
  /** Added at the end. */
  readonly append: T[];
  /** Moved or added to the front. */
  readonly prepend: T[];
  /** Taken out (before `prepend` puts them back in front). */
  readonly remove: T[];
}

/** The options of {@linkcode Client.connect} ferry sets. */
export interface ConnectConfig {
  /** Hostname or IP address of the server. */
  host?: string;
  /** Its port. */
  port?: number;
  /** The login name. */
  username?: string;
  /** ms to wait for the handshake and login. */
  readyTimeout?: number;
  /** ms between SSH-level keepalives. */
  keepaliveInterval?: number;
  /** Unanswered keepalives before ssh2 closes the connection. */
  keepaliveCountMax?: number;
  /** The ssh agent's socket. */
  agent?: string;
  /** A private key (OpenSSH or PEM). */
  privateKey?: Buffer;
  /** The private key's passphrase. */
  passphrase?: string;
  /** Algorithm preferences. */
  algorithms?: { serverHostKey?: AlgorithmEdits<ServerHostKeyAlgorithm> };
  /** Accept (`true`) or refuse the server's host key (raw, in SSH wire format). */
  hostVerifier?: (key: Buffer) => boolean;
}

/** A failed connection or login: `level` says which stage failed (`client-authentication` ...). */
export interface ClientError extends Error {
  /** `client-socket`, `client-timeout`, `client-authentication`, `agent`, `protocol` ... */
  level?: string;
}

/** One SSH connection. */
export interface Client {
  /** Listen for every failure or the close of the connection. */
  on: {
    (event: "error", listener: (err: ClientError) => void): Client;
    (event: "close", listener: () => void): Client;
  };
  /** Listen once for the login (`ready`) or the first failure. */
  once: {
    (event: "ready", listener: () => void): Client;
    (event: "error", listener: (err: ClientError) => void): Client;
  };
  /** Connect and log in; `ready` or `error` follows. */
  connect: (config: ConnectConfig) => Client;
  /** Run `command` on a new channel. */
  exec: (
    command: string,
    callback: (err: Error | undefined, channel: ClientChannel) => void,
  ) => Client;
  /** Start the SFTP subsystem on a new channel. */
  sftp: (callback: (err: Error | undefined, sftp: SFTPWrapper) => void) => Client;
  /** Close the connection. */
  end: () => Client;
}

/** The channel of one `exec`: its stdout is the channel itself. */
export interface ClientChannel {
  /** Standard output, the exit status (a code, or `null` and a signal name) and the close. */
  on: {
    (event: "data", listener: (chunk: Buffer) => void): ClientChannel;
    (event: "exit", listener: (code: number | null, signal?: string) => void): ClientChannel;
    (event: "close", listener: () => void): ClientChannel;
  };
  /** Standard error. */
  readonly stderr: {
    on: (event: "data", listener: (chunk: Buffer) => void) => unknown;
  };
  /** Write `data` (if any) to standard input, then close it. */
  end: (data?: Uint8Array | string) => unknown;
  /** Close the channel before the command ends (it is cut off; `close` follows). */
  close: () => unknown;
}

/** How to open a remote file. */
export type OpenMode = "r" | "r+" | "w";

/** Remote file attributes. */
export interface Stats {
  /** Bytes. */
  readonly size: number;
  /** Modification time, in seconds since the epoch. */
  readonly mtime: number;
  /** A regular file? */
  isFile: () => boolean;
  /** A directory? */
  isDirectory: () => boolean;
}

/** An SFTP session; callbacks get `err` set when the server refused (`code`: the SFTP status). */
export interface SFTPWrapper {
  /** Listen for the close of the session. */
  on: (event: "close", listener: () => void) => SFTPWrapper;
  /** Attributes of `path`. */
  stat: (path: string, callback: (err: Error | undefined, stats: Stats) => void) => void;
  /** Open `path`; the handle names it in later calls. */
  open: (
    path: string,
    mode: OpenMode,
    callback: (err: Error | undefined, handle: Buffer) => void,
  ) => void;
  /** Read up to `length` bytes at `position` into `buffer` at `offset`. */
  read: (
    handle: Buffer,
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | undefined, bytesRead: number, buffer: Buffer) => void,
  ) => void;
  /** Write `length` bytes of `buffer` from `offset` at `position`. */
  write: (
    handle: Buffer,
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err?: Error | null) => void,
  ) => void;
  /** Close a handle. */
  close: (handle: Buffer, callback: (err?: Error | null) => void) => void;
  /** Create one directory. */
  mkdir: (path: string, callback: (err?: Error | null) => void) => void;
  /** Remove a file. */
  unlink: (path: string, callback: (err?: Error | null) => void) => void;
  /** The entries of a directory (`.` and `..` among them on some servers). */
  readdir: (
    path: string,
    callback: (err: Error | undefined, list: { filename: string; attrs: Stats }[]) => void,
  ) => void;
  /** Rename; refused when `to` exists. */
  rename: (from: string, to: string, callback: (err?: Error | null) => void) => void;
  /** posix-rename@openssh.com: rename over an existing `to`, atomically. */
  ext_openssh_rename: (
    from: string,
    to: string,
    callback: (err?: Error | null) => void,
  ) => void;
}

let loading: Promise<Ssh2> | undefined;

/**
 * npm:ssh2, imported on the first call (later calls share it). The specifier is a variable so
 * that the package stays out of the module graph of everything importing ferry; a failed load
 * is not kept, so the next call tries again.
 */
export function loadSsh2(): Promise<Ssh2> {
  loading ??= import(SSH2_SPECIFIER).then(
    (mod: { default: Ssh2 }) => mod.default,
    (e: unknown) => {
      loading = undefined;
      throw new Error(
        `Cannot load "${SSH2_SPECIFIER}": ${e instanceof Error ? e.message : String(e)}`,
      );
    },
  );
  return loading;
}
