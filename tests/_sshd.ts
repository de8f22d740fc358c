/**
 * Throwaway sshd and rsync daemon on 127.0.0.1 for the SFTP and rsync
 * staging tests (the recipe of shared/recipes/services.md, section 2): a
 * temp dir with host and user ed25519 keys (one user key encrypted), a
 * known_hosts file, a random free port. `stop()` kills every process it
 * started and removes the temp dir.
 * @module
 */

import {
  descendants,
  freePort,
  killAll,
  killProcesses,
  listening,
  mentioning,
  processesWhere,
  stopAtEnd,
  waitFor,
} from "./_services.ts";

/** A running sshd. */
export interface Sshd {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** The user it lets in (the one running the tests). */
  readonly user: string;
  /** Its temp dir (keys, config, log). */
  readonly dir: string;
  /** An empty directory to serve files from (absolute path). */
  readonly root: string;
  /** The unencrypted user key (private key path). */
  readonly identity: string;
  /** The same kind of key, encrypted with {@linkcode Sshd.passphrase}. */
  readonly encryptedIdentity: string;
  /** The passphrase of {@linkcode Sshd.encryptedIdentity}. */
  readonly passphrase: string;
  /** A known_hosts file with a `[127.0.0.1]:port` entry for the host key. */
  readonly knownHosts: string;
  /** The host key's public line (`ssh-ed25519 AAAA... ferry-host`). */
  readonly hostKey: string;
  /** The host key's OpenSSH fingerprint, `SHA256:...`. */
  readonly fingerprint: string;
  /** The listening sshd's pid. */
  readonly pid: number;
  /** Options for the `ssh` command line that reach this server. */
  sshArgs(): string[];
  /** Kill the per-connection sshd processes and their children (not the listener) with `signal` (default SIGKILL); returns how many. */
  killSessions(signal?: Deno.Signal): number;
  /** sshd's log, then sftp-server's (`close "/x" bytes read N written M`). */
  log(): string;
  /** Stop the server and remove its temp dir. */
  stop(): Promise<void>;
}

/** A running rsync daemon. */
export interface RsyncDaemon {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** Its temp dir. */
  readonly dir: string;
  /** The module's directory (absolute path). */
  readonly root: string;
  /** The module's name. */
  readonly module: string;
  /** The listening daemon's pid. */
  readonly pid: number;
  /** Kill the per-connection daemon processes and their children (not the listener) with `signal` (default SIGKILL); returns how many. */
  killSessions(signal?: Deno.Signal): number;
  /** The daemon's log. */
  log(): string;
  /** Stop the daemon and remove its temp dir. */
  stop(): Promise<void>;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/**
 * Stop a server: its sessions, the server, then any process that still names
 * its temp dir (what a session started in the background and left behind),
 * and remove the dir.
 */
async function stopChild(child: Deno.ChildProcess, dir: string): Promise<void> {
  killAll(descendants(child.pid));
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  await child.status;
  await killProcesses(processesWhere(mentioning(dir)).map((p) => p.pid), 1_000);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

function readOr(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** The local user name. */
export function localUser(): string {
  return Deno.env.get("USER") ?? new TextDecoder().decode(
    new Deno.Command("id", { args: ["-un"], stdout: "piped" }).outputSync().stdout,
  ).trim();
}

/** Options of {@linkcode startSshd}. */
export interface SshdOptions {
  /** Environment variables sshd sets in every session (`SetEnv`; values without spaces). */
  readonly setEnv?: Readonly<Record<string, string>>;
}

/** Start a throwaway sshd (key auth only, internal-sftp) on a random port. */
export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-sshd-" });
  await Deno.chmod(dir, 0o755); // sshd reads authorized_keys as the target user
  const root = `${dir}/root`;
  await Deno.mkdir(root);
  const user = localUser();
  const port = freePort();
  const passphrase = "correct horse battery staple";
  const key = (file: string, comment: string, pass = "") =>
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", pass, "-C", comment, "-f", `${dir}/${file}`]);
  await Promise.all([
    key("host_ed25519_key", "ferry-host"),
    key("id_ed25519", "ferry-user"),
    key("id_encrypted", "ferry-user-encrypted", passphrase),
  ]);
  const pubs = await Promise.all(
    ["id_ed25519.pub", "id_encrypted.pub"].map((f) => Deno.readTextFile(`${dir}/${f}`)),
  );
  await Deno.writeTextFile(`${dir}/authorized_keys`, pubs.join(""), { mode: 0o644 });
  const isRoot = Deno.uid() === 0;
  if (isRoot) await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  await Deno.writeTextFile(
    `${dir}/sshd_config`,
    [
      "ListenAddress 127.0.0.1",
      `Port ${port}`,
      `HostKey ${dir}/host_ed25519_key`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      `AllowUsers ${user}`,
      "StrictModes no",
      `UsePAM ${isRoot ? "yes" : "no"}`,
      // sftp-server logs `close "/x" bytes read N written M` per file; internal-sftp
      // would log to syslog, which -E does not catch. sshd runs this through the shell.
      `Subsystem sftp /usr/lib/openssh/sftp-server -e -l INFO 2>>${dir}/sftp.log`,
      "LogLevel VERBOSE",
      // FERRY_TEST_SSHD marks every session's processes, so that stop() finds those left behind.
      `SetEnv ${
        Object.entries({ ...options.setEnv, FERRY_TEST_SSHD: dir }).map(([k, v]) => `${k}=${v}`)
          .join(" ")
      }`,
      "",
    ].join("\n"),
  );
  const hostKey = (await Deno.readTextFile(`${dir}/host_ed25519_key.pub`)).trim();
  const knownHosts = `${dir}/known_hosts`;
  await Deno.writeTextFile(knownHosts, `[127.0.0.1]:${port} ${hostKey}\n`);
  const fingerprint =
    (await run("ssh-keygen", ["-l", "-E", "sha256", "-f", `${dir}/host_ed25519_key.pub`]))
      .split(" ")[1]!;
  // -D: stay in the foreground as our child; -E: log to a file the tests read
  // (the recipe's -e writes to stderr, which would need a reader kept alive).
  const child = new Deno.Command("/usr/sbin/sshd", {
    args: ["-D", "-E", `${dir}/sshd.log`, "-f", `${dir}/sshd_config`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const identity = `${dir}/id_ed25519`;
  const sshArgs = () => [
    "-p",
    String(port),
    "-i",
    identity,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
  ];
  const server: Sshd = {
    port,
    user,
    dir,
    root,
    identity,
    encryptedIdentity: `${dir}/id_encrypted`,
    passphrase,
    knownHosts,
    hostKey,
    fingerprint,
    pid: child.pid,
    sshArgs,
    killSessions: (signal = "SIGKILL") => killAll(descendants(child.pid), signal),
    log: () => ["sshd.log", "sftp.log"].map((f) => readOr(`${dir}/${f}`)).join(""),
    stop: stopAtEnd(() => stopChild(child, dir)),
  };
  try {
    await waitFor(`sshd on port ${port}`, () => listening(port), 10_000);
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

/** Options of {@linkcode startRsyncDaemon}. */
export interface RsyncDaemonOptions {
  /** Require this user and password (`auth users` + `secrets file`). */
  readonly auth?: { readonly user: string; readonly password: string };
}

/** Start `rsync --daemon --no-detach` with one writable module `data` on a temp dir. */
export async function startRsyncDaemon(options: RsyncDaemonOptions = {}): Promise<RsyncDaemon> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-rsyncd-" });
  const root = `${dir}/data`;
  await Deno.mkdir(root);
  const port = freePort();
  const lines = [
    `pid file = ${dir}/rsyncd.pid`,
    `log file = ${dir}/rsyncd.log`,
    "use chroot = no",
    "[data]",
    `  path = ${root}`,
    "  read only = no",
    ...(Deno.uid() === 0 ? ["  uid = root", "  gid = root"] : []),
  ];
  if (options.auth) {
    await Deno.writeTextFile(
      `${dir}/secrets`,
      `${options.auth.user}:${options.auth.password}\n`,
      { mode: 0o600 },
    );
    lines.push(`  auth users = ${options.auth.user}`, `  secrets file = ${dir}/secrets`);
  }
  await Deno.writeTextFile(`${dir}/rsyncd.conf`, lines.join("\n") + "\n");
  const child = new Deno.Command("rsync", {
    args: [
      "--daemon",
      "--no-detach",
      `--config=${dir}/rsyncd.conf`,
      "--address=127.0.0.1",
      `--port=${port}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const daemon: RsyncDaemon = {
    port,
    dir,
    root,
    module: "data",
    pid: child.pid,
    killSessions: (signal = "SIGKILL") => killAll(descendants(child.pid), signal),
    log: () => readOr(`${dir}/rsyncd.log`),
    stop: stopAtEnd(() => stopChild(child, dir)),
  };
  try {
    await waitFor(`rsync daemon on port ${port}`, () => listening(port), 10_000);
  } catch (e) {
    await daemon.stop();
    throw e;
  }
  return daemon;
}
