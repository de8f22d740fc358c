/**
 * Password logins for the test vsftpd (./_vsftpd.ts) as virtual users: PAM's
 * pam_userdb checks a login against a Berkeley DB in the server's temp dir
 * (made with `db_load`, Debian package db-util), and the session runs as the
 * system user `ftp`. The PAM service is read from the temp dir too: vsftpd runs
 * in a private mount namespace (`unshare --mount`) where the temp dir's pam.d is
 * bind-mounted over /etc/pam.d. So no account is created and nothing is written
 * to /etc, even when a test is killed halfway.
 * @module
 */

/** The virtual user of password logins (in no /etc/passwd; its sessions run as {@linkcode FTP_SESSION_USER}). */
export const FTP_TEST_USER = "ferrytest";
/** Its password: random for each test process, so none is written down anywhere. */
export const FTP_TEST_PASSWORD = `ftp-${crypto.randomUUID()}`;
/** The system account (from Debian's vsftpd package) every FTP session runs as and owns files as. */
export const FTP_SESSION_USER = "ftp";

/** The PAM service file's name in the temp dir's pam.d. */
const PAM_SERVICE = "ferry-vsftpd";

/** vsftpd settings for virtual users (with `local_enable=YES`). */
export function virtualUserConfig(): string[] {
  return [
    // The service file in the temp dir's pam.d, seen as /etc/pam.d by this vsftpd alone.
    `pam_service_name=${PAM_SERVICE}`,
    "guest_enable=YES",
    `guest_username=${FTP_SESSION_USER}`,
    "virtual_use_local_privs=YES",
  ];
}

/** The command line that runs `vsftpd CONF` with `dir`'s pam.d as its /etc/pam.d. */
export function withVirtualUsers(dir: string, conf: string): string[] {
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "sh",
    "-c",
    'mount --bind "$1" /etc/pam.d && exec vsftpd "$2"',
    "sh",
    `${dir}/pam.d`,
    conf,
  ];
}

/**
 * Write `dir/users.db` (pam_userdb's Berkeley DB: user, then password) and the
 * PAM service that checks logins against it, both readable by root only.
 */
export async function virtualUsers(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/pam.d`, { mode: 0o700 });
  await Deno.writeTextFile(
    `${dir}/pam.d/${PAM_SERVICE}`,
    `auth required pam_userdb.so db=${dir}/users\naccount required pam_userdb.so db=${dir}/users\n`,
    { mode: 0o600 },
  );
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("db_load", {
      args: ["-T", "-t", "hash", `${dir}/users.db`],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw new Error(`vsftpd password logins need db_load (Debian package db-util): ${e}`);
  }
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(`${FTP_TEST_USER}\n${FTP_TEST_PASSWORD}\n`));
  await w.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(`db_load failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  await Deno.chmod(`${dir}/users.db`, 0o600);
}
