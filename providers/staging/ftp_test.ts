import assert from "node:assert/strict";
import { exists, haveService, randomBytes, sha256 } from "../../tests/_services.ts";
import {
  FTP_SESSION_USER,
  FTP_TEST_PASSWORD,
  FTP_TEST_USER,
  startVsftpd,
  type Vsftpd,
} from "../../tests/_vsftpd.ts";
import { ftpStaging } from "./ftp.ts";
import { partialPath, stageIn, stageOut } from "./transfer.ts";
import { StagingError, type StagingProvider } from "./types.ts";

const have = haveService("ftp", ["vsftpd"]);
const haveOpenssl = have && haveService("ftps", ["openssl"]);

/** The FTP commands the server received, in order (from its protocol log). */
async function commands(srv: Vsftpd): Promise<string[]> {
  return [...(await srv.protocolLog()).matchAll(/FTP command: Client "[^"]*", "(.*)"$/gm)]
    .map((m) => m[1]!);
}

/** A server, a provider and a local temp dir for one test, all cleaned up after it. */
async function withFtp(
  options: Parameters<typeof startVsftpd>[0],
  fn: (srv: Vsftpd, provider: StagingProvider, dir: string) => Promise<void>,
): Promise<void> {
  const srv = await startVsftpd(options);
  const provider = ftpStaging();
  const dir = await Deno.makeTempDir({ prefix: "ferry-ftp-test-" });
  try {
    await fn(srv, provider, dir);
  } finally {
    await provider.close?.();
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "ftpStaging() fetches a binary file byte-exact, then answers unchanged on revalidation",
  ignore: !have,
  fn: () =>
    withFtp({}, async (srv, provider, dir) => {
      const data = randomBytes(300_000);
      await Deno.writeFile(`${srv.root}/pub/data.bin`, data);
      const dest = `${dir}/data.bin`;
      const url = `${srv.url}/pub/data.bin`;
      const seen: number[] = [];
      const first = await stageIn(provider, {
        url,
        dest,
        options: {},
        checksum: `sha256:${sha256(data)}`,
        progress: (bytes, total) => {
          assert.equal(total, data.length);
          seen.push(bytes);
        },
      });
      assert.equal(first.reused, false);
      assert.equal(first.bytes, data.length);
      assert.equal(first.validators.size, data.length);
      assert.equal(
        first.validators.mtime,
        Math.floor(Deno.statSync(`${srv.root}/pub/data.bin`).mtime!.getTime() / 1000) * 1000,
      );
      assert.equal(sha256(await Deno.readFile(dest)), sha256(data));
      assert.equal(exists(partialPath(dest)), false);
      assert.equal(seen.at(-1), data.length);

      const again = await stageIn(provider, { url, dest, options: {} });
      assert.equal(again.reused, true);
      assert.equal((await commands(srv)).filter((c) => c.startsWith("RETR")).length, 1);

      // A changed source (other size and mtime) is fetched again.
      const changed = randomBytes(1234);
      await Deno.writeFile(`${srv.root}/pub/data.bin`, changed);
      await Deno.utime(`${srv.root}/pub/data.bin`, 1_700_000_000, 1_700_000_000);
      const third = await stageIn(provider, { url, dest, options: {} });
      assert.equal(third.reused, false);
      assert.equal(third.validators.mtime, 1_700_000_000_000);
      assert.equal(sha256(await Deno.readFile(dest)), sha256(changed));
    }),
});

Deno.test({
  name: "ftpStaging() resumes a download with REST after the session is killed mid-transfer",
  ignore: !have,
  fn: () =>
    withFtp({ maxRate: 400_000 }, async (srv, inner, dir) => {
      const data = randomBytes(1_000_000);
      await Deno.writeFile(`${srv.root}/pub/slow.bin`, data);
      const dest = `${dir}/slow.bin`;
      // Record the partial's size as each attempt starts: the REST offset it must send.
      const startSizes: number[] = [];
      const provider: StagingProvider = {
        ...inner,
        fetch: (request) => {
          startSizes.push(exists(request.partial) ? Deno.statSync(request.partial).size : 0);
          return inner.fetch!(request);
        },
      };
      let killed: Promise<number> | undefined;
      const result = await stageIn(provider, {
        url: `${srv.url}/pub/slow.bin`,
        dest,
        options: {},
        retryBaseMs: 10,
        progress: (bytes) => {
          if (!killed && bytes >= 200_000) killed = srv.killSessions();
        },
      });
      assert.ok((await killed!) >= 1, "no session process was killed");
      assert.equal(result.attempts, 2);
      assert.deepEqual(startSizes.length, 2);
      const offset = startSizes[1]!;
      assert.ok(offset >= 200_000 && offset < data.length, `resume offset ${offset}`);
      assert.equal(sha256(await Deno.readFile(dest)), sha256(data));
      const cmds = await commands(srv);
      assert.deepEqual(cmds.filter((c) => /^(REST|RETR)/.test(c)), [
        "RETR /pub/slow.bin",
        `REST ${offset}`,
        "RETR /pub/slow.bin",
      ]);
    }),
});

Deno.test({
  name: "ftpStaging() uploads under a temp name, resumes it with APPE after a crash, then renames",
  ignore: !have,
  fn: () =>
    withFtp({ maxRate: 400_000 }, async (srv, provider, dir) => {
      const data = randomBytes(1_000_000);
      const source = `${dir}/out.bin`;
      await Deno.writeFile(source, data);
      const final = `${srv.root}/pub/new/deep/out.bin`;
      const temp = `${srv.root}/pub/new/deep/.out.bin.ferry-part`;
      // The session is killed once the server has stored part of the file. Not once the client
      // has sent part of it: loopback buffers take most of the file at once, so the server may
      // not have stored a byte yet, and the retry would start over with STOR (under load it did).
      // Nor by watching the server while the client goes on: a test process held up for the two
      // seconds the rest takes would see the upload finished. So the client holds still (in its
      // progress callback, which blocks it) once it has sent 300 kB, until the server has
      // stored 100 kB of what it got; the session is killed before the client sends more.
      const stored = () => exists(temp) ? Deno.statSync(temp).size : 0;
      const tick = new Int32Array(new SharedArrayBuffer(4));
      let killed: Promise<number> | undefined;
      let storedAtKill = 0;
      let checks = 0;
      const result = await stageOut(provider, {
        url: `${srv.url}/pub/new/deep/out.bin`,
        source,
        options: {},
        retryBaseMs: 10,
        progress: (bytes) => {
          if (bytes < data.length) {
            assert.equal(exists(final), false, `${final} exists after ${bytes} bytes`);
            checks++;
          }
          if (killed === undefined && bytes >= 300_000) {
            // A bound against a hang only: what the client sent reaches the server anyway.
            for (const end = Date.now() + 30_000; stored() < 100_000 && Date.now() < end;) {
              Atomics.wait(tick, 0, 0, 10);
            }
            storedAtKill = stored();
            killed = srv.killSessions({ crash: true }); // its signals go before it returns
          }
        },
      });
      assert.ok(killed, "the client never sent 300 kB");
      assert.ok(storedAtKill >= 100_000, `the server stored ${storedAtKill} bytes, not 100 kB`);
      assert.ok((await killed) >= 1);
      assert.ok(checks > 5);
      assert.equal(result.attempts, 2);
      assert.equal(result.validators.size, data.length);
      assert.equal(sha256(await Deno.readFile(final)), sha256(data));
      assert.equal(exists(temp), false);
      const uploads = (await commands(srv)).filter((c) => /^(STOR|APPE|RNFR|RNTO)/.test(c));
      assert.deepEqual(uploads, [
        "STOR /pub/new/deep/.out.bin.ferry-part",
        "APPE /pub/new/deep/.out.bin.ferry-part",
        "RNFR /pub/new/deep/.out.bin.ferry-part",
        "RNTO /pub/new/deep/out.bin",
      ]);
    }),
});

Deno.test({
  name: "ftpStaging() resumes a temp part left by an earlier run and replaces the old file",
  ignore: !have,
  fn: () =>
    withFtp({}, async (srv, provider, dir) => {
      const data = randomBytes(200_000);
      const source = `${dir}/r.bin`;
      await Deno.writeFile(source, data);
      await Deno.writeTextFile(`${srv.root}/pub/r.bin`, "old version");
      const temp = `${srv.root}/pub/.r.bin.ferry-part`;
      await Deno.writeFile(temp, data.subarray(0, 70_000), { mode: 0o666 });
      await Deno.chmod(temp, 0o666); // the anonymous session (user ftp) appends to it
      const seen: number[] = [];
      const result = await stageOut(provider, {
        url: `${srv.url}/pub/r.bin`,
        source,
        options: {},
        progress: (bytes) => seen.push(bytes),
      });
      assert.equal(result.attempts, 1);
      assert.ok(seen[0]! > 70_000 && seen.at(-1) === data.length, `progress ${seen}`);
      assert.equal(sha256(await Deno.readFile(`${srv.root}/pub/r.bin`)), sha256(data));
      assert.equal(exists(temp), false);
      assert.ok((await srv.protocolLog()).includes("130000 bytes"), "only the rest was sent");
      assert.ok((await commands(srv)).includes("APPE /pub/.r.bin.ferry-part"));
    }),
});

Deno.test({
  name: "ftpStaging() starts over when a partial or temp part predates the file's last change",
  ignore: !have,
  fn: () =>
    withFtp({}, async (srv, provider, dir) => {
      const data = randomBytes(100_000);
      await Deno.writeFile(`${srv.root}/pub/v2.bin`, data);
      const dest = `${dir}/v2.bin`;
      // The first bytes of an older version, fetched before the file changed.
      await Deno.writeFile(partialPath(dest), randomBytes(40_000));
      await Deno.utime(partialPath(dest), 1_600_000_000, 1_600_000_000);
      await stageIn(provider, { url: `${srv.url}/pub/v2.bin`, dest, options: {} });
      assert.equal(sha256(await Deno.readFile(dest)), sha256(data));

      // A temp part uploaded before the local file last changed is not appended to.
      const temp = `${srv.root}/pub/.w.bin.ferry-part`;
      await Deno.writeFile(temp, randomBytes(30_000), { mode: 0o666 });
      await Deno.chmod(temp, 0o666);
      await Deno.utime(temp, 1_600_000_000, 1_600_000_000);
      await stageOut(provider, { url: `${srv.url}/pub/w.bin`, source: dest, options: {} });
      assert.equal(sha256(await Deno.readFile(`${srv.root}/pub/w.bin`)), sha256(data));

      const cmds = (await commands(srv)).filter((c) => /^(REST|RETR|STOR|APPE)/.test(c));
      assert.deepEqual(cmds, ["RETR /pub/v2.bin", "STOR /pub/.w.bin.ferry-part"]);
    }),
});

Deno.test({
  name: "ftpStaging() reports a missing file with the server's 550 reply, without retrying",
  ignore: !have,
  fn: () =>
    withFtp({}, async (srv, provider, dir) => {
      const dest = `${dir}/missing.bin`;
      const url = `${srv.url}/pub/missing.bin`;
      await assert.rejects(
        stageIn(provider, { url, dest, options: {}, retries: 3, retryBaseMs: 10 }),
        {
          name: "StagingError",
          message:
            `Cannot fetch "${url}" with ftp after 1 attempt(s): FTP 550 Failed to open file. (127.0.0.1:${srv.port}, /pub/missing.bin)`,
        },
      );
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    }),
});

Deno.test({
  name: "ftpStaging() logs in with password_env; a wrong password fails at once and is never shown",
  ignore: !have,
  fn: () =>
    withFtp({ mode: "local" }, async (srv, provider, dir) => {
      const data = randomBytes(5000);
      await Deno.writeFile(`${srv.root}/pub/p.bin`, data);
      const url = `${srv.url}/pub/p.bin`;
      const options = { user: FTP_TEST_USER, password_env: "FERRY_FTP_TEST_PW" };
      Deno.env.set("FERRY_FTP_TEST_PW", FTP_TEST_PASSWORD);
      try {
        await stageIn(provider, { url, dest: `${dir}/p.bin`, options });
        assert.equal(sha256(await Deno.readFile(`${dir}/p.bin`)), sha256(data));
        await stageOut(provider, {
          url: `${srv.url}/pub/up/p.bin`,
          source: `${dir}/p.bin`,
          options,
        });
        assert.equal(sha256(await Deno.readFile(`${srv.root}/pub/up/p.bin`)), sha256(data));
        assert.equal(
          Deno.statSync(`${srv.root}/pub/up/p.bin`).uid,
          Number(
            new TextDecoder().decode(
              new Deno.Command("id", { args: ["-u", FTP_SESSION_USER] }).outputSync().stdout,
            ),
          ),
        );

        const wrong = "Wr0ng-secret-7781";
        Deno.env.set("FERRY_FTP_TEST_PW", wrong);
        const err = await stageIn(provider, {
          url,
          dest: `${dir}/q.bin`,
          options,
          retries: 3,
          retryBaseMs: 10,
        }).catch((e) => e);
        assert.ok(err instanceof StagingError);
        assert.equal(
          err.message,
          `Cannot fetch "${url}" with ftp after 1 attempt(s): FTP 530 Login incorrect. (127.0.0.1:${srv.port}, login as "${FTP_TEST_USER}")`,
        );
        assert.equal(err.retryable, false);
        assert.ok(!err.message.includes(wrong) && !String(err.stack).includes(wrong));
        assert.equal(exists(`${dir}/q.bin`) || exists(partialPath(`${dir}/q.bin`)), false);

        await assert.rejects(
          stageIn(provider, {
            url,
            dest: `${dir}/q.bin`,
            options: { ...options, password_env: "FERRY_FTP_TEST_UNSET" },
          }),
          {
            message:
              `Cannot fetch "${url}" with ftp after 1 attempt(s): Cannot read the FTP password for "${FTP_TEST_USER}": environment variable FERRY_FTP_TEST_UNSET (password_env) is not set`,
          },
        );
      } finally {
        Deno.env.delete("FERRY_FTP_TEST_PW");
      }
    }),
});

Deno.test({
  name: "ftpStaging() gives up on a dead server after the retries, naming URL and provider",
  ignore: !have,
  fn: () =>
    withFtp({}, async (srv, provider, dir) => {
      await Deno.writeFile(`${srv.root}/pub/a.bin`, randomBytes(1000));
      await Deno.writeFile(`${dir}/a.bin`, randomBytes(1000));
      await stageIn(provider, {
        url: `${srv.url}/pub/a.bin`,
        dest: `${dir}/warm.bin`,
        options: {},
      });
      await srv.killListener();
      const url = `${srv.url}/pub/a.bin`;
      const why = `FTP connection failed: connection refused (127.0.0.1:${srv.port}, /pub/a.bin)`;
      await assert.rejects(
        stageIn(provider, { url, dest: `${dir}/b.bin`, options: {}, retries: 2, retryBaseMs: 10 }),
        { message: `Cannot fetch "${url}" with ftp after 3 attempt(s): ${why}` },
      );
      await assert.rejects(
        stageOut(provider, {
          url,
          source: `${dir}/a.bin`,
          options: {},
          retries: 1,
          retryBaseMs: 10,
        }),
        { message: `Cannot upload "${dir}/a.bin" to "${url}" with ftp after 2 attempt(s): ${why}` },
      );
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
        "a.bin",
        "warm.bin",
        "warm.bin.ferry-meta.json",
      ]);
    }),
});

Deno.test({
  name: "ftpStaging() reuses logged-in connections and serves concurrent calls",
  ignore: !have,
  fn: () =>
    withFtp({}, async (srv, provider, dir) => {
      const files = Array.from({ length: 6 }, () => randomBytes(50_000));
      for (const [i, f] of files.entries()) await Deno.writeFile(`${srv.root}/pub/f${i}.bin`, f);
      const fetch = (tag: string, i: number) =>
        stageIn(provider, {
          url: `${srv.url}/pub/f${i}.bin`,
          dest: `${dir}/${tag}${i}.bin`,
          options: {},
        });
      // Six at once open six connections; four stay idle and serve six more, one by one.
      await Promise.all(files.map((_, i) => fetch("a", i)));
      for (const i of files.keys()) await fetch("b", i);
      for (const [i, f] of files.entries()) {
        assert.equal(sha256(await Deno.readFile(`${dir}/a${i}.bin`)), sha256(f));
        assert.equal(sha256(await Deno.readFile(`${dir}/b${i}.bin`)), sha256(f));
      }
      assert.equal((await commands(srv)).filter((c) => c === "USER anonymous").length, 6);
    }),
});

Deno.test({
  name: "ftpStaging() stops at once when aborted, keeping the received bytes",
  ignore: !have,
  fn: () =>
    withFtp({ maxRate: 200_000 }, async (srv, provider, dir) => {
      await Deno.writeFile(`${srv.root}/pub/big.bin`, randomBytes(2_000_000));
      const dest = `${dir}/big.bin`;
      const url = `${srv.url}/pub/big.bin`;
      const abort = new AbortController();
      let at = 0;
      await assert.rejects(
        stageIn(provider, {
          url,
          dest,
          options: {},
          signal: abort.signal,
          progress: (bytes) => {
            if (!at && bytes >= 100_000) {
              at = Date.now();
              abort.abort();
            }
          },
        }),
        { message: `Cannot fetch "${url}" with ftp after 1 attempt(s): cancelled` },
      );
      assert.ok(Date.now() - at < 500, `took ${Date.now() - at} ms to stop`);
      const kept = Deno.statSync(partialPath(dest)).size;
      assert.ok(kept >= 100_000 && kept < 2_000_000);
      assert.equal(exists(dest), false);
    }),
});

Deno.test({
  name: "ftpStaging() speaks explicit TLS for ftps: and checks the certificate",
  ignore: !haveOpenssl,
  fn: () =>
    withFtp({ mode: "local", tls: true }, async (srv, _plain, dir) => {
      // What the registry builds for action `ftps`: the same factory under that name.
      const provider = { ...ftpStaging(), name: "ftps" };
      const data = randomBytes(100_000);
      await Deno.writeFile(`${srv.root}/pub/s.bin`, data);
      const url = `${srv.url}/pub/s.bin`;
      const options = {
        user: FTP_TEST_USER,
        password_env: "FERRY_FTPS_TEST_PW",
        ca_file: srv.caFile!,
      };
      Deno.env.set("FERRY_FTPS_TEST_PW", FTP_TEST_PASSWORD);
      try {
        await stageIn(provider, { url, dest: `${dir}/s.bin`, options });
        assert.equal(sha256(await Deno.readFile(`${dir}/s.bin`)), sha256(data));
        await stageOut(provider, { url: `${srv.url}/pub/t.bin`, source: `${dir}/s.bin`, options });
        assert.equal(sha256(await Deno.readFile(`${srv.root}/pub/t.bin`)), sha256(data));
        // vsftpd refuses a password sent in clear text here (force_local_logins_ssl).
        assert.ok((await commands(srv)).includes("AUTH TLS"));

        const { ca_file: _, ...untrusted } = options;
        await assert.rejects(
          stageIn(provider, { url, dest: `${dir}/u.bin`, options: untrusted }),
          {
            message:
              `Cannot fetch "${url}" with ftps after 1 attempt(s): FTPS certificate of 127.0.0.1:${srv.port} is not trusted: self-signed certificate; name its CA with ca_file`,
          },
        );
      } finally {
        Deno.env.delete("FERRY_FTPS_TEST_PW");
        await provider.close?.();
      }
    }),
});

Deno.test({
  name: "ftpStaging() explains a refusal for want of TLS session reuse (with ca_file)",
  ignore: !haveOpenssl,
  fn: () =>
    withFtp({ tls: true, requireTlsReuse: true }, async (srv, plain, dir) => {
      const provider = { ...plain, name: "ftps" };
      await Deno.writeFile(`${srv.root}/pub/s.bin`, randomBytes(1000));
      const url = `${srv.url}/pub/s.bin`;
      await assert.rejects(
        stageIn(provider, { url, dest: `${dir}/s.bin`, options: { ca_file: srv.caFile! } }),
        {
          message:
            `Cannot fetch "${url}" with ftps after 1 attempt(s): FTP 522 SSL connection failed: session reuse required (127.0.0.1:${srv.port}, /pub/s.bin); the server demands TLS session reuse on data connections, which fails with ca_file (vsftpd: set require_ssl_reuse=NO)`,
        },
      );
    }),
});

Deno.test("ftpStaging() rejects URLs and options it cannot use, before connecting", async () => {
  const provider = ftpStaging();
  const ctx = {
    options: {},
    signal: new AbortController().signal,
    progress: () => {},
    secret: () => undefined,
  };
  const cases: [string, Record<string, string | boolean>, string][] = [
    [
      "ftp://127.0.0.1:1/pub/",
      {},
      `Cannot use "ftp://127.0.0.1:1/pub/" for FTP: the path names a directory, not a file`,
    ],
    [
      "ftp://127.0.0.1:1/a%0Ab",
      {},
      `Cannot use "ftp://127.0.0.1:1/a%0Ab" for FTP: its path contains a line break or NUL`,
    ],
    [
      "ftp://127.0.0.1:1/a",
      { insecure_tls: "yes" },
      `Cannot use "ftp://127.0.0.1:1/a" for FTP: option insecure_tls must be true or false, not "yes"`,
    ],
    [
      "ftp://127.0.0.1:1/a",
      { user: "ann" },
      `FTP login as "ann" needs a password: set password_env on the staging rule (127.0.0.1:1, /a)`,
    ],
  ];
  for (const [url, options, message] of cases) {
    const err = await provider.fetch!({ ...ctx, options, url, partial: "/nonexistent/x" }).catch((
      e,
    ) => e);
    assert.ok(err instanceof StagingError);
    assert.equal(err.message, message);
    assert.equal(err.retryable, false);
  }
  await provider.close?.();
});
