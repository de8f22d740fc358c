import assert from "node:assert/strict";
import { exists, freePort, haveService, randomBytes, sha256 } from "../../tests/_services.ts";
import { type Sshd, startSshd } from "../../tests/_sshd.ts";
import { sftpStaging } from "./sftp.ts";
import { partialPath, stageIn, stageOut } from "./transfer.ts";
import { StagingError, type StagingProvider } from "./types.ts";

const have = haveService("sshd", [
  "/usr/sbin/sshd",
  "/usr/lib/openssh/sftp-server",
  "ssh-keygen",
  "ssh",
  "rsync",
]);
const haveAgent = have && haveService("ssh-agent", ["ssh-agent", "ssh-add"]);

/** `close "<path>" bytes read R written W` lines sftp-server logged for `path`. */
function closes(srv: Sshd, path: string): { read: number; written: number }[] {
  const out = [];
  for (const line of srv.log().split("\n")) {
    const m = /close "(.*)" bytes read (\d+) written (\d+)/.exec(line);
    if (m && m[1] === path) out.push({ read: Number(m[2]), written: Number(m[3]) });
  }
  return out;
}

/** A server, a provider and a local temp dir for one test, all cleaned up after it. */
async function withSftp(
  fn: (srv: Sshd, provider: StagingProvider, dir: string) => Promise<void>,
): Promise<void> {
  const srv = await startSshd();
  const provider = sftpStaging();
  const dir = await Deno.makeTempDir({ prefix: "ferry-sftp-test-" });
  try {
    await fn(srv, provider, dir);
  } finally {
    await provider.close?.();
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Rule options that log in with the server's plain key and trust its known_hosts. */
function rule(srv: Sshd, extra: Record<string, string> = {}) {
  return { identity_file: srv.identity, known_hosts: srv.knownHosts, ...extra };
}

function url(srv: Sshd, path: string): string {
  return `sftp://127.0.0.1:${srv.port}${path}`;
}

async function rejection(p: Promise<unknown>): Promise<StagingError> {
  const e = await p.then(() => undefined, (e) => e);
  assert.ok(e instanceof StagingError, `expected a StagingError, got ${e}`);
  return e;
}

Deno.test({
  name: "sftpStaging() fetches byte-exact, then answers unchanged from size and mtime",
  ignore: !have,
  fn: () =>
    withSftp(async (srv, provider, dir) => {
      const data = randomBytes(3_000_000);
      const remote = `${srv.root}/data.bin`;
      await Deno.writeFile(remote, data);
      const dest = `${dir}/data.bin`;
      const seen: number[] = [];
      const first = await stageIn(provider, {
        url: url(srv, remote),
        dest,
        options: rule(srv),
        progress: (bytes, total) => {
          assert.equal(total, data.length);
          seen.push(bytes);
        },
      });
      assert.equal(first.reused, false);
      assert.equal(sha256(await Deno.readFile(dest)), sha256(data));
      assert.deepEqual(first.validators, {
        size: data.length,
        mtime: Math.floor(Deno.statSync(remote).mtime!.getTime() / 1000) * 1000,
      });
      assert.ok(seen.length > 3, `progress as bytes land, got ${seen}`);
      assert.equal(seen.at(-1), data.length);
      const again = await stageIn(provider, { url: url(srv, remote), dest, options: rule(srv) });
      assert.equal(again.reused, true);
      assert.equal(again.attempts, 1);
      // A changed file (new size) is fetched again.
      await Deno.writeFile(remote, data.subarray(0, 1000));
      const changed = await stageIn(provider, { url: url(srv, remote), dest, options: rule(srv) });
      assert.equal(changed.reused, false);
      assert.equal(sha256(await Deno.readFile(dest)), sha256(data.subarray(0, 1000)));
    }),
});

Deno.test({
  name: "sftpStaging() uploads under a temp name, creates parents, renames over an existing file",
  ignore: !have,
  fn: () =>
    withSftp(async (srv, provider, dir) => {
      const data = randomBytes(4_000_000);
      const source = `${dir}/up.bin`;
      await Deno.writeFile(source, data);
      const final = `${srv.root}/out/deep er/up.bin`;
      const temp = `${srv.root}/out/deep er/.up.bin.ferry-part`;
      let sawTemp = false;
      const r = await stageOut(provider, {
        url: url(srv, "/" + encodeURI(final.slice(1))),
        source,
        options: rule(srv),
        progress: (bytes) => {
          assert.equal(exists(final), false, "nothing under the final name before the rename");
          if (bytes > 0 && bytes < data.length) sawTemp ||= exists(temp);
        },
      });
      assert.ok(sawTemp, "the upload went to the temp name");
      assert.equal(exists(temp), false);
      assert.equal(sha256(await Deno.readFile(final)), sha256(data));
      assert.equal(r.validators.size, data.length);
      // Replacing an existing file is one atomic rename.
      await Deno.writeFile(source, data.subarray(0, 10));
      await stageOut(provider, { url: url(srv, final), source, options: rule(srv) });
      assert.deepEqual(await Deno.readFile(final), data.subarray(0, 10));
      assert.deepEqual([...Deno.readDirSync(`${srv.root}/out/deep er`)].map((e) => e.name), [
        "up.bin",
      ]);
    }),
});

Deno.test({
  name: "sftpStaging() resumes a fetch after the connection drops, reading only the rest",
  ignore: !have,
  fn: () =>
    withSftp(async (srv, provider, dir) => {
      const data = randomBytes(24 << 20);
      const remote = `${srv.root}/big.bin`;
      await Deno.writeFile(remote, data);
      const dest = `${dir}/big.bin`;
      let killed = 0;
      const seen: number[] = [];
      const r = await stageIn(provider, {
        url: url(srv, remote),
        dest,
        options: rule(srv),
        retries: 2,
        retryBaseMs: 10,
        progress: (bytes) => {
          seen.push(bytes);
          if (killed === 0 && bytes > 4 << 20) killed = srv.killSessions();
        },
      });
      assert.ok(killed > 0, "the sshd session was killed");
      assert.equal(r.attempts, 2);
      assert.equal(sha256(await Deno.readFile(dest)), sha256(data));
      // The second attempt starts by reporting the partial's size: the same value again.
      assert.ok(seen.every((b, i) => i === 0 || b >= seen[i - 1]!), "progress never went back");
      const resumedAt = seen.find((b, i) => i > 0 && b > 0 && b === seen[i - 1]);
      assert.ok(resumedAt !== undefined && resumedAt > 4 << 20, `resumed at ${resumedAt}`);
      // The second session read exactly what the first had not delivered.
      assert.deepEqual(closes(srv, remote).at(-1), { read: data.length - resumedAt, written: 0 });
      assert.equal(exists(partialPath(dest)), false);
    }),
});

Deno.test({
  name: "sftpStaging() resumes an upload after the connection drops, writing only the rest",
  ignore: !have,
  fn: () =>
    withSftp(async (srv, provider, dir) => {
      const data = randomBytes(24 << 20);
      const source = `${dir}/big.bin`;
      await Deno.writeFile(source, data);
      const final = `${srv.root}/big.bin`;
      let killed = 0;
      const r = await stageOut(provider, {
        url: url(srv, final),
        source,
        options: rule(srv),
        retries: 2,
        retryBaseMs: 10,
        progress: (bytes) => {
          if (killed === 0 && bytes > 4 << 20) killed = srv.killSessions();
        },
      });
      assert.ok(killed > 0);
      assert.equal(r.attempts, 2);
      assert.equal(sha256(await Deno.readFile(final)), sha256(data));
      const writes = closes(srv, `${srv.root}/.big.bin.ferry-part`);
      const last = writes.at(-1)!;
      assert.ok(last.written > 0 && last.written < data.length - (4 << 20), JSON.stringify(writes));
    }),
});

Deno.test({
  name: "sftpStaging() never resumes from a partial older than the file on the other side",
  ignore: !have,
  fn: () =>
    withSftp(async (srv, provider, dir) => {
      const data = randomBytes(1_000_000);
      const old = new Date(Date.now() - 3_600_000);
      // Fetch: a partial from an hour ago, before the remote file changed, holds other bytes.
      const remote = `${srv.root}/data.bin`;
      await Deno.writeFile(remote, data);
      const partial = `${dir}/data.bin.ferry-part`;
      await Deno.writeFile(partial, randomBytes(400_000));
      await Deno.utime(partial, old, old);
      await provider.fetch!({
        url: url(srv, remote),
        partial,
        options: rule(srv),
        signal: new AbortController().signal,
        progress: () => {},
        secret: () => undefined,
      });
      assert.equal(sha256(await Deno.readFile(partial)), sha256(data));
      // Upload: a remote temp file older than the source is not a prefix of it.
      const source = `${dir}/up.bin`;
      await Deno.writeFile(source, data);
      const temp = `${srv.root}/.up.bin.ferry-part`;
      await Deno.writeFile(temp, randomBytes(400_000));
      await Deno.utime(temp, old, old);
      await stageOut(provider, { url: url(srv, `${srv.root}/up.bin`), source, options: rule(srv) });
      assert.equal(sha256(await Deno.readFile(`${srv.root}/up.bin`)), sha256(data));
      // A newer temp file with the right first bytes is resumed: only the rest is written.
      await Deno.writeFile(`${srv.root}/.up3.bin.ferry-part`, data.subarray(0, 600_000));
      await stageOut(provider, {
        url: url(srv, `${srv.root}/up3.bin`),
        source,
        options: rule(srv),
      });
      assert.equal(sha256(await Deno.readFile(`${srv.root}/up3.bin`)), sha256(data));
      assert.deepEqual(closes(srv, `${srv.root}/.up3.bin.ferry-part`).at(-1), {
        read: 0,
        written: 400_000,
      });
    }),
});

Deno.test({
  name: "sftpStaging() refuses an unknown or changed host key, naming its fingerprint",
  ignore: !have,
  fn: () =>
    withSftp(async (srv, provider, dir) => {
      await Deno.writeFile(`${srv.root}/a.txt`, new TextEncoder().encode("a"));
      const empty = `${dir}/known_hosts`;
      await Deno.writeTextFile(empty, "# nothing yet\n");
      const u = url(srv, `${srv.root}/a.txt`);
      const dest = `${dir}/a.txt`;
      const unknown = await rejection(
        stageIn(provider, { url: u, dest, options: rule(srv, { known_hosts: empty }) }),
      );
      assert.equal(
        unknown.message,
        `Cannot fetch "${u}" with sftp after 1 attempt(s): SFTP: the host key of 127.0.0.1:${srv.port} is not in ${empty}: the server offers ssh-ed25519 ${srv.fingerprint}; check it with the server's administrator, then pin it with the rule option host_key: "${srv.fingerprint}" or add the key to ${empty}`,
      );
      // Another key under this host's name: a mismatch, both fingerprints shown.
      const other =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJaMHEt3Hzw5X0nGC10Wg6OU6eoH8abqiqgSJicV7Foe";
      await Deno.writeTextFile(empty, `[127.0.0.1]:${srv.port} ${other}\n`);
      const changed = await rejection(
        stageIn(provider, { url: u, dest, options: rule(srv, { known_hosts: empty }) }),
      );
      assert.equal(
        changed.message,
        `Cannot fetch "${u}" with sftp after 1 attempt(s): SFTP: the host key of 127.0.0.1:${srv.port} does not match ${empty}: the server offers ssh-ed25519 ${srv.fingerprint}, the file has ssh-ed25519 SHA256:paMCT6XjcD8hnoynZe72g7zZgP4+slmev0kaxQSzp5k; if the server's key really changed, update the file or pin the new key with host_key: "${srv.fingerprint}"`,
      );
      const wrongPin = "SHA256:paMCT6XjcD8hnoynZe72g7zZgP4+slmev0kaxQSzp5k";
      const pinned = await rejection(
        stageIn(provider, {
          url: u,
          dest,
          options: { identity_file: srv.identity, host_key: wrongPin },
        }),
      );
      assert.equal(
        pinned.message,
        `Cannot fetch "${u}" with sftp after 1 attempt(s): SFTP: the host key of 127.0.0.1:${srv.port} is ssh-ed25519 ${srv.fingerprint}, not the pinned host_key ${wrongPin}: if the server's key really changed, pin the new one with host_key: "${srv.fingerprint}"`,
      );
      assert.equal(exists(dest), false);
      assert.equal(exists(partialPath(dest)), false);
    }),
});

Deno.test({
  name: "sftpStaging() accepts a pinned host_key and a hashed known_hosts entry",
  ignore: !have,
  fn: () =>
    withSftp(async (srv, provider, dir) => {
      await Deno.writeFile(`${srv.root}/a.txt`, new TextEncoder().encode("pinned"));
      const u = url(srv, `${srv.root}/a.txt`);
      await stageIn(provider, {
        url: u,
        dest: `${dir}/a.txt`,
        options: { identity_file: srv.identity, host_key: srv.fingerprint },
      });
      assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "pinned");
      const hashed = `${dir}/hashed_known_hosts`;
      await Deno.copyFile(srv.knownHosts, hashed);
      const h = await new Deno.Command("ssh-keygen", {
        args: ["-H", "-f", hashed],
        stdout: "null",
        stderr: "null",
      }).output();
      assert.ok(h.success);
      assert.match(await Deno.readTextFile(hashed), /^\|1\|/);
      // A fresh provider: the first connection is still open and would be reused.
      const fresh = sftpStaging();
      try {
        await stageIn(fresh, {
          url: u,
          dest: `${dir}/b.txt`,
          options: rule(srv, { known_hosts: hashed }),
        });
      } finally {
        await fresh.close?.();
      }
      assert.equal(await Deno.readTextFile(`${dir}/b.txt`), "pinned");
    }),
});

Deno.test({
  name: "sftpStaging() logs in with an encrypted key from passphrase_env and never shows it",
  ignore: !have,
  fn: () =>
    withSftp(async (srv, provider, dir) => {
      await Deno.writeFile(`${srv.root}/a.txt`, new TextEncoder().encode("secret key"));
      const u = url(srv, `${srv.root}/a.txt`);
      const options = rule(srv, {
        identity_file: srv.encryptedIdentity,
        passphrase_env: "FERRY_TEST_SFTP_PASSPHRASE",
      });
      const noEnv = await rejection(
        stageIn(provider, { url: u, dest: `${dir}/a.txt`, options }),
      );
      assert.equal(
        noEnv.message,
        `Cannot fetch "${u}" with sftp after 1 attempt(s): SFTP: identity_file "${srv.encryptedIdentity}" is encrypted and passphrase_env names FERRY_TEST_SFTP_PASSPHRASE, which is not set`,
      );
      Deno.env.set("FERRY_TEST_SFTP_PASSPHRASE", srv.passphrase);
      try {
        await stageIn(provider, { url: u, dest: `${dir}/a.txt`, options });
        assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "secret key");
        const messages: string[] = [];
        // The provider itself, without the runtime's redaction: no passphrase in its messages.
        Deno.env.set("FERRY_TEST_SFTP_PASSPHRASE", "not the passphrase at all");
        const ctx = {
          options,
          signal: new AbortController().signal,
          progress: () => {},
          secret: (n: string) => Deno.env.get(n),
        };
        const bad = await rejection(provider.fetch!({ ...ctx, url: u, partial: `${dir}/p` }));
        messages.push(bad.message);
        assert.equal(
          bad.message,
          `SFTP: cannot use identity_file "${srv.encryptedIdentity}": the passphrase from passphrase_env does not decrypt it`,
        );
        assert.equal(bad.retryable, false);
        const noPass = await rejection(
          provider.fetch!({
            ...ctx,
            options: rule(srv, { identity_file: srv.encryptedIdentity }),
            url: u,
            partial: `${dir}/p`,
          }),
        );
        messages.push(noPass.message);
        assert.equal(
          noPass.message,
          `SFTP: identity_file "${srv.encryptedIdentity}" is encrypted: set the rule option passphrase_env to the name of an environment variable that holds its passphrase`,
        );
        for (const m of messages) {
          assert.ok(!m.includes(srv.passphrase) && !m.includes("not the passphrase"), m);
        }
      } finally {
        Deno.env.delete("FERRY_TEST_SFTP_PASSPHRASE");
      }
    }),
});

Deno.test({
  name: "sftpStaging() logs in through the ssh agent when no identity_file is set",
  ignore: !haveAgent,
  fn: () =>
    withSftp(async (srv, provider, dir) => {
      await Deno.writeFile(`${srv.root}/a.txt`, new TextEncoder().encode("agent"));
      const sock = `${dir}/agent.sock`;
      const agent = new Deno.Command("ssh-agent", {
        args: ["-D", "-a", sock],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const saved = Deno.env.get("SSH_AUTH_SOCK");
      try {
        for (let i = 0; i < 100 && !exists(sock); i++) await new Promise((r) => setTimeout(r, 20));
        const add = await new Deno.Command("ssh-add", {
          args: ["-q", srv.identity],
          env: { SSH_AUTH_SOCK: sock },
          stdout: "null",
          stderr: "null",
        }).output();
        assert.ok(add.success);
        Deno.env.set("SSH_AUTH_SOCK", sock);
        const u = url(srv, `${srv.root}/a.txt`);
        await stageIn(provider, {
          url: u,
          dest: `${dir}/a.txt`,
          options: { known_hosts: srv.knownHosts },
        });
        assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "agent");
        Deno.env.delete("SSH_AUTH_SOCK");
        const none = await rejection(
          stageIn(sftpStaging(), {
            url: u,
            dest: `${dir}/b.txt`,
            options: { known_hosts: srv.knownHosts },
          }),
        );
        assert.equal(
          none.message,
          `Cannot fetch "${u}" with sftp after 1 attempt(s): SFTP: no credentials to log in as ${srv.user} on 127.0.0.1:${srv.port}: set the rule option identity_file to a private key (and passphrase_env if it is encrypted), or start an ssh agent (SSH_AUTH_SOCK is not set)`,
        );
      } finally {
        if (saved === undefined) Deno.env.delete("SSH_AUTH_SOCK");
        else Deno.env.set("SSH_AUTH_SOCK", saved);
        agent.kill("SIGTERM");
        await agent.status;
      }
    }),
});

Deno.test({
  name: "sftpStaging() reports a missing file, a refused key and a dead server exactly",
  ignore: !have,
  fn: () =>
    withSftp(async (srv, provider, dir) => {
      const dest = `${dir}/x.bin`;
      const missing = url(srv, "/srv/x.bin");
      const e1 = await rejection(stageIn(provider, { url: missing, dest, options: rule(srv) }));
      assert.equal(
        e1.message,
        `Cannot fetch "${missing}" with sftp after 1 attempt(s): SFTP: no such file /srv/x.bin on 127.0.0.1:${srv.port}`,
      );
      const stranger = `${dir}/stranger`;
      await new Deno.Command("ssh-keygen", {
        args: ["-q", "-t", "ed25519", "-N", "", "-f", stranger],
      }).output();
      const e2 = await rejection(
        stageIn(sftpStaging(), {
          url: missing,
          dest,
          options: rule(srv, { identity_file: stranger }),
        }),
      );
      assert.equal(
        e2.message,
        `Cannot fetch "${missing}" with sftp after 1 attempt(s): SFTP: 127.0.0.1:${srv.port} refused the login as ${srv.user} with identity_file "${stranger}"`,
      );
      const port = freePort();
      const dead = `sftp://127.0.0.1:${port}/srv/x.bin`;
      const e3 = await rejection(
        stageIn(provider, { url: dead, dest, options: rule(srv), retries: 2, retryBaseMs: 1 }),
      );
      assert.equal(
        e3.message,
        `Cannot fetch "${dead}" with sftp after 3 attempt(s): SFTP: cannot connect to 127.0.0.1:${port}: connection refused`,
      );
      const e4 = await rejection(
        stageOut(provider, { url: dead, source: srv.identity, options: rule(srv), retries: 0 }),
      );
      assert.equal(
        e4.message,
        `Cannot upload "${srv.identity}" to "${dead}" with sftp after 1 attempt(s): SFTP: cannot connect to 127.0.0.1:${port}: connection refused`,
      );
      assert.equal(exists(dest), false);
      assert.equal(exists(partialPath(dest)), false);
    }),
});

Deno.test({
  name: "sftpStaging() leaves nothing under a final name when a transfer fails",
  ignore: !have,
  fn: () =>
    withSftp(async (srv, provider, dir) => {
      const data = randomBytes(24 << 20);
      const remote = `${srv.root}/big.bin`;
      await Deno.writeFile(remote, data);
      const dest = `${dir}/big.bin`;
      const kill = (bytes: number) => bytes > 2 << 20 && srv.killSessions();
      const down = await rejection(
        stageIn(provider, {
          url: url(srv, remote),
          dest,
          options: rule(srv),
          retries: 0,
          progress: kill,
        }),
      );
      assert.match(
        down.message,
        /^Cannot fetch ".*" with sftp after 1 attempt\(s\): SFTP: cannot read /,
      );
      assert.equal(exists(dest), false);
      const kept = Deno.statSync(partialPath(dest)).size;
      assert.ok(kept > 0 && kept < data.length, `partial keeps ${kept} bytes for a resume`);
      const final = `${srv.root}/up/big.bin`;
      const up = await rejection(
        stageOut(provider, {
          url: url(srv, final),
          source: remote,
          options: rule(srv),
          retries: 0,
          progress: kill,
        }),
      );
      assert.match(
        up.message,
        /^Cannot upload ".*" with sftp after 1 attempt\(s\): SFTP: cannot write /,
      );
      assert.equal(exists(final), false);
      assert.ok(exists(`${srv.root}/up/.big.bin.ferry-part`), "the temp file stays for a resume");
    }),
});

Deno.test({
  name: "sftpStaging() shares one connection between concurrent transfers and stops on abort",
  ignore: !have,
  fn: () =>
    withSftp(async (srv, provider, dir) => {
      const files = ["a", "b", "c", "d"];
      for (const f of files) await Deno.writeFile(`${srv.root}/${f}`, randomBytes(500_000));
      await Promise.all(
        files.map((f) =>
          stageIn(provider, {
            url: url(srv, `${srv.root}/${f}`),
            dest: `${dir}/${f}`,
            options: rule(srv),
          })
        ),
      );
      for (const f of files) {
        assert.deepEqual(
          await Deno.readFile(`${dir}/${f}`),
          await Deno.readFile(`${srv.root}/${f}`),
        );
      }
      assert.equal(srv.log().match(/Accepted publickey/g)?.length, 1);
      // Abort mid-transfer: the call ends promptly, the partial stays.
      await Deno.writeFile(`${srv.root}/big.bin`, randomBytes(24 << 20));
      const ac = new AbortController();
      const started = Date.now();
      const e = await rejection(
        stageIn(provider, {
          url: url(srv, `${srv.root}/big.bin`),
          dest: `${dir}/big.bin`,
          options: rule(srv),
          signal: ac.signal,
          progress: (bytes) => bytes > 1 << 20 && ac.abort(),
        }),
      );
      assert.match(e.message, /after 1 attempt\(s\): cancelled$/);
      assert.ok(Date.now() - started < 5000);
      assert.ok(exists(partialPath(`${dir}/big.bin`)));
      // The connection is still good for the next transfer.
      await stageIn(provider, {
        url: url(srv, `${srv.root}/a`),
        dest: `${dir}/a2`,
        options: rule(srv),
      });
      assert.equal(srv.log().match(/Accepted publickey/g)?.length, 1);
    }),
});
