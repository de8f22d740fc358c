/**
 * A throwaway vsftpd on 127.0.0.1 for integration tests (recipe:
 * shared/recipes/services.md, section 3): random control port, random passive
 * range, everything in a temp dir, the protocol logged. Anonymous or
 * password logins, optional explicit TLS, optional rate limit. `stop()` kills
 * the listener and every session process it forked, then removes the dir.
 * Password logins are virtual users (./_vsftpd_users.ts): no account is
 * created and nothing is written to /etc.
 * @module
 */

import { freePort, freeRange, listening, processesWhere, stopAtEnd, waitFor } from "./_services.ts";
import { virtualUserConfig, virtualUsers, withVirtualUsers } from "./_vsftpd_users.ts";

export { FTP_SESSION_USER, FTP_TEST_PASSWORD, FTP_TEST_USER } from "./_vsftpd_users.ts";

/** How to start the server. */
export interface VsftpdOptions {
  /**
   * `anonymous`: anonymous logins only. `local`: {@linkcode FTP_TEST_USER}
   * logs in with {@linkcode FTP_TEST_PASSWORD}. Sessions run as user `ftp` in both.
   * @default {"anonymous"}
   */
  readonly mode?: "anonymous" | "local";
  /** Offer explicit TLS with a fresh self-signed certificate for 127.0.0.1. @default {false} */
  readonly tls?: boolean;
  /**
   * With `tls`: demand that data connections resume the control connection's
   * TLS session (vsftpd's `require_ssl_reuse`, on by default in vsftpd itself).
   * @default {false}
   */
  readonly requireTlsReuse?: boolean;
  /** Transfer rate limit per session in bytes per second; 0 for none. @default {0} */
  readonly maxRate?: number;
}

/** A running vsftpd. */
export interface Vsftpd extends AsyncDisposable {
  /** Control port on 127.0.0.1. */
  readonly port: number;
  /** `ftp://127.0.0.1:PORT` (`ftps://` with TLS), no trailing slash. */
  readonly url: string;
  /** Local directory that is `/` to every login; `/pub` in it is writable by the sessions. */
  readonly root: string;
  /** The PEM certificate to trust (with `tls`). */
  readonly caFile?: string;
  /** The listener's process id. */
  readonly pid: number;
  /** The protocol log so far (`log_ftp_protocol=YES`). */
  protocolLog(): Promise<string>;
  /**
   * Kill every session process (not the listener) at once: the client sees its
   * connections drop. With `crash`, kill only the unprivileged process serving
   * each login: vsftpd's surviving half then answers `500 OOPS: child died`.
   * Resolves to how many processes were killed.
   */
  killSessions(options?: { crash?: boolean }): Promise<number>;
  /** Kill the listener and its sessions: the port then refuses connections. */
  killListener(): Promise<void>;
  /** Kill everything and remove the temp dir. */
  stop(): Promise<void>;
}

/** Start vsftpd and wait until it accepts connections. */
export async function startVsftpd(options: VsftpdOptions = {}): Promise<Vsftpd> {
  const { mode = "anonymous", tls = false, requireTlsReuse = false, maxRate = 0 } = options;
  const root = Deno.uid() === 0;
  if (mode === "local" && !root) throw new Error("vsftpd password logins need root");
  const dir = await Deno.makeTempDir({ prefix: "ferry-vsftpd-" });
  const conf = `${dir}/vsftpd.conf`;
  try {
    await Deno.mkdir(`${dir}/root/pub`, { recursive: true });
    await Deno.mkdir(`${dir}/empty`);
    for (const d of [dir, `${dir}/root`, `${dir}/empty`]) await Deno.chmod(d, 0o755);
    await Deno.chmod(`${dir}/root/pub`, 0o777); // written by the sessions' user ftp
    if (mode === "local") await virtualUsers(dir);
    const port = freePort();
    const [pasvMin, pasvMax] = freeRange(10);
    const lines = [
      "listen=YES",
      "listen_ipv6=NO",
      "listen_address=127.0.0.1",
      `listen_port=${port}`,
      "background=NO",
      "seccomp_sandbox=NO",
      "write_enable=YES",
      "pasv_enable=YES",
      "pasv_address=127.0.0.1",
      `pasv_min_port=${pasvMin}`,
      `pasv_max_port=${pasvMax}`,
      "connect_from_port_20=NO",
      `secure_chroot_dir=${dir}/empty`,
      "xferlog_enable=YES",
      `vsftpd_log_file=${dir}/vsftpd.log`,
      "log_ftp_protocol=YES",
      "delay_failed_login=0",
      `anon_max_rate=${maxRate}`,
      `local_max_rate=${maxRate}`,
      ...(mode === "anonymous"
        ? [
          "anonymous_enable=YES",
          "no_anon_password=YES",
          `anon_root=${dir}/root`,
          "anon_upload_enable=YES",
          "anon_mkdir_write_enable=YES",
          "anon_other_write_enable=YES",
          "anon_world_readable_only=NO",
          "anon_umask=022",
          "local_enable=NO",
        ]
        : [
          "anonymous_enable=NO",
          "local_enable=YES",
          ...virtualUserConfig(),
          "chroot_local_user=YES",
          "allow_writeable_chroot=YES",
          `local_root=${dir}/root`,
          "local_umask=022",
        ]),
      ...(root ? [] : ["run_as_launching_user=YES"]),
      ...(tls ? await tlsLines(dir, requireTlsReuse) : []),
    ];
    await Deno.writeTextFile(conf, lines.join("\n") + "\n", { mode: 0o600 });
    const [program, ...args] = mode === "local" ? withVirtualUsers(dir, conf) : ["vsftpd", conf];
    const child = new Deno.Command(program!, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    })
      .spawn();
    const stderr = new Response(child.stderr).text();
    let exited = false;
    const status = child.status.then((s) => (exited = true, s));
    try {
      await waitFor(`vsftpd on 127.0.0.1:${port}`, () => {
        if (exited) throw new Error("exited");
        return listening(port);
      }, 5_000);
    } catch {
      if (!exited) child.kill("SIGKILL");
      await status;
      throw new Error(`vsftpd did not start: ${(await stderr).trim() || "no output"}`);
    }
    // Sessions are killed leaves first: their parents then exit by themselves and the
    // listener reaps them, so no zombie is left for init to collect.
    const kill = async (listener: boolean, rounds = 40) => {
      let killed = 0;
      for (let round = 0; round < rounds; round++) {
        const tree = processesOf(child.pid, conf);
        tree.delete(child.pid);
        if (tree.size === 0) break;
        const parents = new Set(tree.values());
        const targets = round < 20
          ? [...tree.keys()].filter((p) => !parents.has(p))
          : [...tree.keys()];
        for (const p of targets) {
          try {
            Deno.kill(p, "SIGKILL");
            killed++;
          } catch { /* already gone */ }
        }
        if (round + 1 < rounds) await new Promise((r) => setTimeout(r, 10));
      }
      if (listener && !exited) {
        child.kill("SIGKILL");
        await status;
        await stderr;
      }
      return killed;
    };
    const stop = stopAtEnd(async () => {
      await kill(true);
      // A session forked in the last instant is now an orphan: catch it by its command line.
      await waitFor("vsftpd sessions to exit", async () => {
        await kill(false);
        return processesOf(-1, conf).size === 0;
      }, 5_000);
      await Deno.remove(dir, { recursive: true });
    });
    return {
      port,
      url: `${tls ? "ftps" : "ftp"}://127.0.0.1:${port}`,
      root: `${dir}/root`,
      ...(tls ? { caFile: `${dir}/cert.pem` } : {}),
      pid: child.pid,
      protocolLog: () => Deno.readTextFile(`${dir}/vsftpd.log`).catch(() => ""),
      killSessions: async ({ crash = false } = {}) => {
        if (crash) return await kill(false, 1);
        let killed = 0;
        for (const p of processesOf(child.pid, conf).keys()) {
          if (p === child.pid) continue;
          try {
            Deno.kill(p, "SIGKILL");
            killed++;
          } catch { /* already gone */ }
        }
        return killed;
      },
      killListener: async () => void await kill(true),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
}

/** Config lines for explicit TLS, with a fresh self-signed certificate for 127.0.0.1. */
async function tlsLines(dir: string, requireReuse: boolean): Promise<string[]> {
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`openssl req failed: ${new TextDecoder().decode(out.stderr)}`);
  return [
    "ssl_enable=YES",
    `rsa_cert_file=${dir}/cert.pem`,
    `rsa_private_key_file=${dir}/key.pem`,
    "allow_anon_ssl=YES",
    "force_anon_logins_ssl=NO",
    "force_anon_data_ssl=NO",
    "force_local_logins_ssl=YES",
    "force_local_data_ssl=YES",
    // With a custom CA (ca_file), Deno's node:tls does not resume the control connection's
    // TLS session on data connections, and vsftpd's default then refuses them (522).
    `require_ssl_reuse=${requireReuse ? "YES" : "NO"}`,
  ];
}

/**
 * Live processes of one server, pid → parent pid: the listener `pid`, its
 * descendants, and any process started from config `conf` (orphans).
 */
function processesOf(pid: number, conf: string): Map<number, number> {
  const all = processesWhere(() => true);
  const parent = new Map(all.map((p) => [p.pid, p.ppid]));
  const mine = new Set(all.filter((p) => p.cmdline.includes(conf)).map((p) => p.pid));
  if (parent.has(pid)) mine.add(pid);
  for (let grew = true; grew;) {
    grew = false;
    for (const [p, pp] of parent) {
      if (!mine.has(p) && mine.has(pp)) {
        mine.add(p);
        grew = true;
      }
    }
  }
  return new Map([...mine].map((p) => [p, parent.get(p)!]));
}
