/**
 * The ssh command line the `rsync` provider gives rsync (`-e`), with the
 * host key already checked by {@linkcode hostKeyPolicy}: ssh-keyscan fetches
 * the server's keys, the accepted one goes into a temporary known_hosts
 * under a fixed alias, and ssh checks strictly against that file alone. An
 * encrypted identity's passphrase reaches ssh through SSH_ASKPASS. Private to
 * the provider.
 * @module
 */

import type { ParamValue } from "../../dsl/model.ts";
import {
  type HostKeyPolicy,
  hostKeyPolicy,
  hostPort,
  loginKey,
  type SshCredentials,
  sshCredentials,
  type SshEndpoint,
  SshSetupError,
} from "../_shared/ssh_auth.ts";
import { StagingError } from "./types.ts";
import { processAlive } from "../_shared/process.ts";
import { sleep } from "../_shared/sleep.ts";

/** What rsync needs to run over ssh. */
export interface SshTransport {
  /** The `-e` value. */
  readonly command: string;
  /** Variables for rsync's (and so ssh's) environment only. */
  readonly env: Record<string, string>;
}

const ALIAS = "ferry-target";
/** Key types in the order ssh prefers them: the first one is named when none is accepted. */
const PREFERENCE = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
];

/** Only answers passphrase prompts; anything else (a password prompt) gets nothing. */
const ASKPASS = `#!/bin/sh
case "$1" in
  "Enter passphrase for"*) printf '%s\\n' "$FERRY_SSH_PASSPHRASE" ;;
  *) exit 1 ;;
esac
`;

/** One argument quoted for rsync's own `-e` splitting (spaces kept by quotes; no backslashes). */
export function rsyncQuote(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  if (!arg.includes("'")) return `'${arg}'`;
  if (!arg.includes('"')) return `"${arg}"`;
  throw fail(
    `cannot pass ${JSON.stringify(arg)} to ssh through rsync: it holds both kinds of quote`,
  );
}

function fail(message: string, retryable = false): StagingError {
  return new StagingError(`rsync: ${message}`, { retryable });
}

/** The server's host keys, from ssh-keyscan. */
async function scan(e: SshEndpoint, timeout: number, signal: AbortSignal) {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("ssh-keyscan", {
      args: ["-p", String(e.port), "-T", String(Math.ceil(timeout)), e.host],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw fail("ssh-keyscan is not installed (the openssh-client package has it)");
    }
    throw err;
  }
  if (signal.aborted) throw fail("cancelled");
  const keys: { type: string; b64: string; blob: Uint8Array }[] = [];
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [, type, b64] = line.trim().split(/\s+/);
    if (!type || !b64 || line.startsWith("#")) continue;
    try {
      keys.push({ type, b64, blob: Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)) });
    } catch { /* not a key line */ }
  }
  if (keys.length === 0) {
    const why = new TextDecoder().decode(out.stderr).split("\n").filter((l) =>
      l && !l.startsWith("#")
    );
    throw fail(
      `cannot connect to ${hostPort(e)}: no SSH host key answered${
        why.length ? ` (${why.at(-1)})` : ""
      }`,
      true,
    );
  }
  const rank = (t: string) => (PREFERENCE.indexOf(t) + 1 || PREFERENCE.length + 1);
  return keys.sort((a, b) => rank(a.type) - rank(b.type));
}

/** ssh for rsync, for the life of one provider: host keys checked once, one master connection per login. */
export interface SshTransports {
  /** The ssh command and environment for `endpoint` under a rule's options. */
  get(
    endpoint: SshEndpoint,
    options: Readonly<Record<string, ParamValue>>,
    secret: (name: string) => string | undefined,
    signal: AbortSignal,
    timeout: number,
  ): Promise<SshTransport>;
  /** End the master connections and remove the temporary files. */
  close(): Promise<void>;
}

/** ssh's `-o` settings: only the checked keys, one master connection per login. */
function sshOptions(
  knownHosts: string,
  control: string,
  askPassphrase: boolean,
  timeout: number,
): string[] {
  return [
    `UserKnownHostsFile=${knownHosts}`,
    "GlobalKnownHostsFile=/dev/null",
    "StrictHostKeyChecking=yes",
    `HostKeyAlias=${ALIAS}`,
    "CheckHostIP=no",
    "UpdateHostKeys=no",
    // BatchMode forbids SSH_ASKPASS too, so it is off only to read a passphrase.
    `BatchMode=${askPassphrase ? "no" : "yes"}`,
    "PasswordAuthentication=no",
    "KbdInteractiveAuthentication=no",
    `ConnectTimeout=${Math.ceil(timeout)}`,
    "ServerAliveInterval=15",
    "ServerAliveCountMax=4",
    "ControlMaster=auto",
    `ControlPath=${control}`,
    "ControlPersist=60",
  ];
}

/** One login's transport: its files go in the directory `base` makes, `n` numbering them. */
interface Login {
  readonly n: number;
  readonly base: () => Promise<string>;
  readonly endpoint: SshEndpoint;
  readonly credentials: SshCredentials;
  readonly policy: HostKeyPolicy;
  readonly signal: AbortSignal;
  readonly timeout: number;
}

/** Check the host key (ssh-keyscan), write the known_hosts (and askpass) and build the command. */
async function makeTransport(l: Login): Promise<SshTransport & { control: string }> {
  const keys = await scan(l.endpoint, l.timeout, l.signal);
  const accepted = keys.filter((k) => l.policy.check(k.blob) === undefined);
  if (accepted.length === 0) throw fail(l.policy.check(keys[0]!.blob)!);
  const base = await l.base();
  const knownHosts = `${base}/known_hosts-${l.n}`;
  const control = `${base}/master-${l.n}`;
  await Deno.writeTextFile(
    knownHosts,
    accepted.map((k) => `${ALIAS} ${k.type} ${k.b64}\n`).join(""),
  );
  const env: Record<string, string> = {};
  const argv = ["ssh", "-p", String(l.endpoint.port)];
  const identity = "identity" in l.credentials ? l.credentials.identity : undefined;
  if (identity) argv.push("-i", identity.file, "-o", "IdentitiesOnly=yes");
  if (identity?.passphrase !== undefined) {
    await Deno.writeTextFile(`${base}/askpass`, ASKPASS, { mode: 0o700 });
    Object.assign(env, {
      SSH_ASKPASS: `${base}/askpass`,
      SSH_ASKPASS_REQUIRE: "force",
      FERRY_SSH_PASSPHRASE: identity.passphrase,
    });
  }
  const options = sshOptions(knownHosts, control, identity?.passphrase !== undefined, l.timeout);
  for (const o of options) argv.push("-o", o);
  return { command: argv.map(rsyncQuote).join(" "), env, control };
}

/**
 * End the master connection at `control` and wait (up to 5 s) until its
 * process is gone: `ssh -O exit` only asks, and the master exits a moment
 * later, so a caller that goes on at once would still see it.
 */
async function endMaster(control: string): Promise<void> {
  const ctl = (op: string) =>
    new Deno.Command("ssh", {
      args: ["-o", `ControlPath=${control}`, "-O", op, ALIAS],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output().catch(() => undefined);
  // "Master running (pid=N)" on stderr.
  const check = await ctl("check");
  const pid = Number(/\(pid=(\d+)\)/.exec(new TextDecoder().decode(check?.stderr))?.[1]);
  await ctl("exit");
  if (!pid) return;
  for (const end = Date.now() + 5_000; processAlive(pid) && Date.now() < end;) await sleep(20);
}

/**
 * Transports that share, per login, a temp known_hosts (checked once) and an
 * ssh master connection (ControlMaster; it ends itself after 60 idle seconds
 * if `close()` is never called), so each rsync run skips the ssh handshake.
 */
export function sshTransports(): SshTransports {
  return new SshMasters();
}

/** {@linkcode sshTransports}: the logins by {@linkcode loginKey}, their files in one temp dir. */
class SshMasters implements SshTransports {
  #dir: Promise<string> | undefined;
  readonly #logins = new Map<string, Promise<SshTransport & { control: string }>>();

  // Arrow functions: callers may hold a method apart from the object.
  readonly get = async (
    endpoint: SshEndpoint,
    options: Readonly<Record<string, ParamValue>>,
    secret: (name: string) => string | undefined,
    signal: AbortSignal,
    timeout: number,
  ): Promise<SshTransport> => {
    let credentials: SshCredentials, policy: HostKeyPolicy;
    try {
      credentials = sshCredentials(options, secret, endpoint);
      policy = hostKeyPolicy(options, endpoint);
    } catch (e) {
      throw e instanceof SshSetupError ? fail(e.message) : e;
    }
    const key = loginKey(endpoint, credentials, options);
    let login = this.#logins.get(key);
    if (!login) {
      const base = () => this.#base();
      login = makeTransport({
        n: this.#logins.size,
        base,
        endpoint,
        credentials,
        policy,
        signal,
        timeout,
      });
      this.#logins.set(key, login);
      login.catch(() => this.#logins.get(key) === login && this.#logins.delete(key));
    }
    return await login;
  };

  readonly close = async (): Promise<void> => {
    const all = [...this.#logins.values()];
    this.#logins.clear();
    for (const l of await Promise.allSettled(all)) {
      if (l.status === "fulfilled") await endMaster(l.value.control);
    }
    if (this.#dir) await Deno.remove(await this.#dir, { recursive: true }).catch(() => {});
    this.#dir = undefined;
  };

  /** The temp directory of the known_hosts, askpass and control sockets, made on first use. */
  #base(): Promise<string> {
    this.#dir ??= Deno.makeTempDir({ prefix: "ferry-rsync-ssh-" });
    return this.#dir;
  }
}
