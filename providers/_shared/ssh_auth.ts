/**
 * What every SSH client in ferry needs before it connects: whom to log in as,
 * with which key (a rule's `identity_file`, or the ssh agent), and whether a
 * server's host key is the right one (a known_hosts file, or a pinned
 * `host_key` fingerprint). Checking is always on. Messages name the option to
 * set and never contain a passphrase.
 * @module
 */

import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { userInfo } from "node:os";
/** A rule's or executor's options (values as the workflow gives them). */
type Options = Readonly<Record<string, unknown>>;

/** A bad rule (or executor) option or an unusable key: trying again cannot help. */
export class SshSetupError extends Error {
  /** Create one. */
  constructor(message: string) {
    super(message);
    this.name = "SshSetupError";
  }
}

/** Where an SSH connection goes and as whom. */
export interface SshEndpoint {
  /** Host name or address (no brackets). */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
  /** Login name. */
  readonly user: string;
}

/** `host:port` as messages show it. */
export function hostPort(e: Pick<SshEndpoint, "host" | "port">): string {
  return e.host.includes(":") ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/**
 * Whose options these are, for messages: a staging rule's (`the rule option host_key`) or an
 * executor's (`ssh` provider, `via:`; `the executor option host_key`).
 */
export type OptionOwner = "rule" | "executor";

function stringOption(options: Options, name: string, owner: OptionOwner): string | undefined {
  const v = options[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || v === "") {
    throw new SshSetupError(
      `the ${owner} option ${name} must be a non-empty string, not ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/** `~` and `~/x` expanded with HOME. */
export function expandHome(path: string): string {
  if (path !== "~" && !path.startsWith("~/")) return path;
  const home = Deno.env.get("HOME") ?? userInfo().homedir;
  return home + path.slice(1);
}

/**
 * The endpoint of `url` (`scheme://[user@]host[:port]/...`): the user is the
 * URL's, else the rule option `user`, else the local user name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sshEndpoint } from "./ssh_auth.ts";
 * assert.deepEqual(sshEndpoint(new URL("sftp://ann@example.org:2222/x"), {}), {
 *   host: "example.org", port: 2222, user: "ann",
 * });
 * assert.equal(sshEndpoint(new URL("sftp://example.org/x"), { user: "bob" }).port, 22);
 * ```
 */
export function sshEndpoint(url: URL, options: Options, defaultPort = 22): SshEndpoint {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const user = decodeURIComponent(url.username) || stringOption(options, "user", "rule") ||
    Deno.env.get("USER") || Deno.env.get("LOGNAME") || userInfo().username;
  return { host, port: url.port ? Number(url.port) : defaultPort, user };
}

/** A private key read from the rule's `identity_file`. */
export interface SshIdentity {
  /** The file, `~` expanded. */
  readonly file: string;
  /** Its content. */
  readonly key: Uint8Array;
  /** Whether it is encrypted (then `passphrase` is set). */
  readonly encrypted: boolean;
  /** Its passphrase, read through the context's `secret` from `passphrase_env`. */
  readonly passphrase?: string;
}

/** How to log in: a key file, or the agent listening on a socket. */
export type SshCredentials =
  | { readonly identity: SshIdentity }
  | { readonly agent: string };

/** Whether a private key file's text is encrypted (OpenSSH, PEM or PKCS#8 format). */
export function keyIsEncrypted(text: string): boolean {
  if (/BEGIN ENCRYPTED PRIVATE KEY|Proc-Type:\s*4,ENCRYPTED/.test(text)) return true;
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END/.exec(text);
  if (!m) return false;
  // openssh-key-v1\0, then the cipher name as an SSH string: "none" when not encrypted.
  const raw = Uint8Array.from(atob(m[1]!.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  const at = 15;
  const len = new DataView(raw.buffer).getUint32(at);
  return new TextDecoder().decode(raw.subarray(at + 4, at + 4 + len)) !== "none";
}

/**
 * The credentials a rule (or an executor) gives: `identity_file` (with
 * `passphrase_env` when it is encrypted), else the agent at SSH_AUTH_SOCK.
 * Throws {@linkcode SshSetupError} naming what to configure.
 */
export function sshCredentials(
  options: Options,
  secret: (name: string) => string | undefined,
  endpoint: SshEndpoint,
  owner: OptionOwner = "rule",
): SshCredentials {
  const file = stringOption(options, "identity_file", owner);
  if (file === undefined) {
    const agent = Deno.env.get("SSH_AUTH_SOCK");
    if (agent) return { agent };
    throw new SshSetupError(
      `no credentials to log in as ${endpoint.user} on ${
        hostPort(endpoint)
      }: set the ${owner} option identity_file to a private key (and passphrase_env if it is encrypted), or start an ssh agent (SSH_AUTH_SOCK is not set)`,
    );
  }
  const path = expandHome(file);
  let key: Uint8Array;
  try {
    key = Deno.readFileSync(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new SshSetupError(`cannot read identity_file "${path}": ${why}`);
  }
  const encrypted = keyIsEncrypted(new TextDecoder().decode(key));
  if (!encrypted) return { identity: { file: path, key, encrypted } };
  const env = stringOption(options, "passphrase_env", owner);
  if (env === undefined) {
    throw new SshSetupError(
      `identity_file "${path}" is encrypted: set the ${owner} option passphrase_env to the name of an environment variable that holds its passphrase`,
    );
  }
  const passphrase = secret(env);
  if (passphrase === undefined) {
    throw new SshSetupError(
      `identity_file "${path}" is encrypted and passphrase_env names ${env}, which is not set`,
    );
  }
  return { identity: { file: path, key, encrypted, passphrase } };
}

/**
 * OpenSSH's fingerprint of a public key blob: `SHA256:` and unpadded base64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fingerprint } from "./ssh_auth.ts";
 * const blob = Uint8Array.from(
 *   atob("AAAAC3NzaC1lZDI1NTE5AAAAIJaMHEt3Hzw5X0nGC10Wg6OU6eoH8abqiqgSJicV7Foe"),
 *   (c) => c.charCodeAt(0),
 * );
 * assert.equal(fingerprint(blob), "SHA256:paMCT6XjcD8hnoynZe72g7zZgP4+slmev0kaxQSzp5k");
 * ```
 */
export function fingerprint(keyBlob: Uint8Array): string {
  return "SHA256:" + createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "");
}

/** The key type named at the start of a public key blob (`ssh-ed25519`, ...). */
export function keyType(keyBlob: Uint8Array): string {
  if (keyBlob.length < 4) return "unknown";
  const len = new DataView(keyBlob.buffer, keyBlob.byteOffset).getUint32(0);
  return new TextDecoder().decode(keyBlob.subarray(4, 4 + len));
}

/** One usable line of a known_hosts file that names the host. */
export interface KnownKey {
  /** Key type as written (`ssh-ed25519`, ...). */
  readonly type: string;
  /** The public key blob. */
  readonly blob: Uint8Array;
  /** Marked `@revoked`: this key must be refused. */
  readonly revoked: boolean;
}

function globMatch(pattern: string, text: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "i").test(text);
}

/** Whether a known_hosts host field (patterns or a hashed name) names `name`. */
function hostsMatch(field: string, name: string): boolean {
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    if (!salt || !hash) return false;
    const want = Uint8Array.from(atob(hash), (c) => c.charCodeAt(0));
    const got = createHmac("sha1", Uint8Array.from(atob(salt), (c) => c.charCodeAt(0)))
      .update(name).digest();
    return want.length === got.length && timingSafeEqual(want, got);
  }
  let hit = false;
  for (const p of field.split(",")) {
    if (p.startsWith("!")) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) hit = true;
  }
  return hit;
}

/**
 * The keys a known_hosts text lists for `host` on `port` (`[host]:port`
 * entries, or plain `host` for port 22; patterns and hashed `|1|` names
 * included). `@cert-authority` lines are skipped; `@revoked` ones are marked.
 */
export function knownHostKeys(text: string, host: string, port: number): KnownKey[] {
  const name = port === 22 ? host.toLowerCase() : `[${host.toLowerCase()}]:${port}`;
  const keys: KnownKey[] = [];
  for (const raw of text.split("\n")) {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === "" || fields[0]!.startsWith("#")) continue;
    const marker = fields[0]!.startsWith("@") ? fields.shift() : undefined;
    if (marker === "@cert-authority") continue;
    const [hosts, type, b64] = fields;
    if (!hosts || !type || !b64 || !hostsMatch(hosts, name)) continue;
    try {
      const blob = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      keys.push({ type, blob, revoked: marker === "@revoked" });
    } catch { /* a damaged line names no usable key */ }
  }
  return keys;
}

/** How a server's host key is checked. */
export interface HostKeyPolicy {
  /** Key types the known_hosts file lists for this host, to negotiate one that can be checked. */
  readonly keyTypes: readonly string[];
  /** Undefined when `keyBlob` is the right key, else why not (with its fingerprint and how to pin it). */
  check(keyBlob: Uint8Array): string | undefined;
}

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

/**
 * The host key policy a rule (or an executor) sets: the pinned `host_key`
 * fingerprint when given, else the keys for the endpoint in `known_hosts`
 * (default `~/.ssh/known_hosts`).
 */
export function hostKeyPolicy(
  options: Options,
  endpoint: SshEndpoint,
  owner: OptionOwner = "rule",
): HostKeyPolicy {
  const where = hostPort(endpoint);
  const pinned = stringOption(options, "host_key", owner);
  if (pinned !== undefined) {
    if (!FINGERPRINT.test(pinned)) {
      throw new SshSetupError(
        `the ${owner} option host_key must be an OpenSSH SHA256 fingerprint like "SHA256:" and 43 base64 characters (\`ssh-keygen -lf KEY.pub\` prints it), not "${pinned}"`,
      );
    }
    const want = pinned.replace(/=$/, "");
    return {
      keyTypes: [],
      check(blob) {
        const got = fingerprint(blob);
        return got === want
          ? undefined
          : `the host key of ${where} is ${
            keyType(blob)
          } ${got}, not the pinned host_key ${want}: if the server's key really changed, pin the new one with host_key: "${got}"`;
      },
    };
  }
  const file = expandHome(stringOption(options, "known_hosts", owner) ?? "~/.ssh/known_hosts");
  let text = "";
  let missing = false;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new SshSetupError(`cannot read known_hosts "${file}": ${(e as Error).message}`);
    }
    missing = true;
  }
  const known = knownHostKeys(text, endpoint.host, endpoint.port);
  const trusted = known.filter((k) => !k.revoked);
  return {
    keyTypes: [...new Set(trusted.map((k) => k.type))],
    check(blob) {
      const got = fingerprint(blob);
      const same = (k: KnownKey) => fingerprint(k.blob) === got;
      const offer = `${keyType(blob)} ${got}`;
      if (known.some((k) => k.revoked && same(k))) {
        return `the host key of ${where} (${offer}) is marked @revoked in ${file}`;
      }
      if (trusted.some(same)) return undefined;
      if (trusted.length === 0) {
        return `the host key of ${where} is not in ${file}${
          missing ? " (no such file)" : ""
        }: the server offers ${offer}; check it with the server's administrator, then pin it with the ${owner} option host_key: "${got}" or add the key to ${file}`;
      }
      const had = trusted.map((k) => `${k.type} ${fingerprint(k.blob)}`).join(", ");
      return `the host key of ${where} does not match ${file}: the server offers ${offer}, the file has ${had}; if the server's key really changed, update the file or pin the new key with host_key: "${got}"`;
    },
  };
}

/**
 * What identifies a login, for sharing connections: logins that differ in
 * endpoint, key, passphrase or host key rule never share one (a wrong
 * passphrase must fail even while a right one holds a connection open).
 */
export function loginKey(
  endpoint: SshEndpoint,
  credentials: SshCredentials,
  options: Options,
): string {
  return JSON.stringify([
    endpoint,
    "identity" in credentials ? credentials.identity.file : credentials.agent,
    "identity" in credentials && credentials.identity.passphrase !== undefined
      ? createHash("sha256").update(credentials.identity.passphrase).digest("hex")
      : null,
    options.known_hosts === undefined ? null : expandHome(String(options.known_hosts)),
    options.host_key ?? null,
  ]);
}
