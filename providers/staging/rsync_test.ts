import assert from "node:assert/strict";
import {
  exists,
  freePort,
  haveService,
  randomBytes,
  sha256,
  waitFor,
} from "../../tests/_services.ts";
import { type RsyncDaemon, type Sshd, startRsyncDaemon, startSshd } from "../../tests/_sshd.ts";
import { rsyncQuote } from "./_rsync_ssh.ts";
import { rsyncStaging } from "./rsync.ts";
import { partialPath, stageIn, stageOut } from "./transfer.ts";
import { type FetchRequest, StagingError, type StagingProvider } from "./types.ts";

const have = haveService("sshd", [
  "/usr/sbin/sshd",
  "ssh-keygen",
  "ssh-keyscan",
  "ssh",
  "rsync",
]);

const PASSWORD_ENV = "FERRY_TEST_RSYNC_PASSWORD";
const PASSWORD = "daemon-pass-4711";

/** One server of either transport, seen the same way by the tests. */
interface Server {
  readonly transport: "daemon" | "ssh";
  readonly port: number;
  /** Where the URLs' files are on disk. */
  readonly root: string;
  /** The URL of `rel` (relative to root). */
  url(rel: string): string;
  /** Rule options that log in. */
  readonly options: Record<string, string | number>;
  /** Drop every open connection. */
  killSessions(signal?: Deno.Signal): number;
  readonly sshd?: Sshd;
  readonly daemon?: RsyncDaemon;
}

async function withServer(
  transport: "daemon" | "ssh",
  fn: (srv: Server, provider: StagingProvider, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-rsync-test-" });
  const provider = rsyncStaging();
  let srv: Server;
  let stop: () => Promise<void>;
  if (transport === "daemon") {
    const daemon = await startRsyncDaemon({ auth: { user: "ferry", password: PASSWORD } });
    Deno.env.set(PASSWORD_ENV, PASSWORD);
    stop = daemon.stop;
    srv = {
      transport,
      port: daemon.port,
      root: daemon.root,
      url: (rel) => `rsync://ferry@127.0.0.1:${daemon.port}/data/${rel}`,
      options: { password_env: PASSWORD_ENV },
      killSessions: (signal) => daemon.killSessions(signal),
      daemon,
    };
  } else {
    const sshd = await startSshd();
    stop = sshd.stop;
    srv = {
      transport,
      port: sshd.port,
      root: sshd.root,
      url: (rel) => `rsync+ssh://127.0.0.1:${sshd.port}${sshd.root}/${rel}`,
      options: { identity_file: sshd.identity, known_hosts: sshd.knownHosts },
      killSessions: (signal) => sshd.killSessions(signal),
      sshd,
    };
  }
  try {
    await fn(srv, provider, dir);
  } finally {
    await provider.close?.();
    await stop();
    await Deno.remove(dir, { recursive: true });
    Deno.env.delete(PASSWORD_ENV);
  }
}

async function rejection(p: Promise<unknown>): Promise<StagingError> {
  const e = await p.then(() => undefined, (e) => e);
  assert.ok(e instanceof StagingError, `expected a StagingError, got ${e}`);
  return e;
}

function context(options: FetchRequest["options"], progress = (_b: number) => {}) {
  return {
    options,
    signal: new AbortController().signal,
    progress,
    secret: (n: string) => Deno.env.get(n),
  };
}

/** Processes of `program` whose command line has an argument containing `text`. */
function processesMentioning(program: string, text: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      if (cmd[0]?.split("/").at(-1) === program && cmd.some((a) => a.includes(text))) {
        pids.push(Number(e.name));
      }
    } catch { /* gone */ }
  }
  return pids;
}

/** ssh master connections of rsync providers (ssh names them `ssh: <ControlPath> [mux]`). */
function sshMasters(): string[] {
  const found: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      if (/^ssh: .*ferry-rsync-ssh-.*\[mux\]/.test(cmd)) found.push(cmd);
    } catch { /* gone */ }
  }
  return found;
}

Deno.test("rsyncQuote() quotes for rsync's own splitting of -e", () => {
  assert.equal(rsyncQuote("-oBatchMode=yes"), "-oBatchMode=yes");
  assert.equal(rsyncQuote("/a b/id"), "'/a b/id'");
  assert.equal(rsyncQuote("/it's/id"), `"/it's/id"`);
  assert.throws(() => rsyncQuote(`/it's "x"`), StagingError);
});

for (const transport of ["daemon", "ssh"] as const) {
  Deno.test({
    name: `rsyncStaging() over ${transport} fetches byte-exact, then answers unchanged`,
    ignore: !have,
    fn: () =>
      withServer(transport, async (srv, provider, dir) => {
        const data = randomBytes(2_000_000);
        await Deno.mkdir(`${srv.root}/sub dir`);
        const remote = `${srv.root}/sub dir/it's.bin`;
        await Deno.writeFile(remote, data);
        const url = srv.url("sub%20dir/it's.bin");
        const dest = `${dir}/data.bin`;
        const options = { ...srv.options };
        if (srv.sshd) {
          // The key's path goes through rsync's own quoting of -e: spaces and a quote.
          await Deno.mkdir(`${dir}/my key's dir`);
          options.identity_file = `${dir}/my key's dir/id`;
          await Deno.copyFile(srv.sshd.identity, options.identity_file);
          await Deno.chmod(options.identity_file, 0o600);
        }
        const first = await stageIn(provider, { url, dest, options });
        assert.equal(first.reused, false);
        assert.equal(sha256(await Deno.readFile(dest)), sha256(data));
        assert.deepEqual(first.validators, {
          size: data.length,
          mtime: Math.floor(Deno.statSync(remote).mtime!.getTime() / 1000) * 1000,
        });
        const again = await stageIn(provider, { url, dest, options });
        assert.equal(again.reused, true);
        if (srv.sshd) {
          // Three rsync runs (list, fetch, list) over one ssh login; close() ends it.
          assert.equal(srv.sshd.log().match(/Accepted publickey/g)?.length, 1);
          assert.equal(sshMasters().length, 1);
          await provider.close?.();
          assert.deepEqual(sshMasters(), []);
        }
      }),
  });

  Deno.test({
    name: `rsyncStaging() over ${transport} uploads under a temp name and creates parents`,
    ignore: !have,
    fn: () =>
      withServer(transport, async (srv, provider, dir) => {
        const data = randomBytes(3_000_000);
        const source = `${dir}/up.bin`;
        await Deno.writeFile(source, data);
        const final = `${srv.root}/out/deep/up.bin`;
        // Watch the target directory: the final name may only ever hold the whole file.
        const seen = new Set<string>();
        const watch = setInterval(() => {
          try {
            for (const e of Deno.readDirSync(`${srv.root}/out/deep`)) {
              const size = Deno.statSync(`${srv.root}/out/deep/${e.name}`).size;
              seen.add(e.name === "up.bin" ? `up.bin ${size === data.length}` : "temp");
            }
          } catch { /* not made yet, or renamed meanwhile */ }
        }, 5);
        const r = await stageOut(provider, {
          url: srv.url("out/deep/up.bin"),
          source,
          options: { ...srv.options, bwlimit: 10000 },
        }).finally(() => clearInterval(watch));
        assert.equal(seen.has("up.bin false"), false, "never a partial file under the final name");
        assert.ok(seen.has("temp"), "rsync wrote a temporary name first");
        assert.equal(sha256(await Deno.readFile(final)), sha256(data));
        assert.equal(r.validators.size, data.length);
        assert.deepEqual([...Deno.readDirSync(`${srv.root}/out/deep`)].map((e) => e.name), [
          "up.bin",
        ]);
        // Replacing an existing file.
        await Deno.writeFile(source, data.subarray(0, 10));
        await stageOut(provider, { url: srv.url("out/deep/up.bin"), source, options: srv.options });
        assert.deepEqual(await Deno.readFile(final), data.subarray(0, 10));
      }),
  });

  Deno.test({
    name: `rsyncStaging() over ${transport} resumes a fetch after the connection drops`,
    ignore: !have,
    fn: () =>
      withServer(transport, async (srv, provider, dir) => {
        const data = randomBytes(16 << 20);
        await Deno.writeFile(`${srv.root}/big.bin`, data);
        const url = srv.url("big.bin");
        const partial = partialPath(`${dir}/big.bin`);
        // Slow enough to be cut in the middle.
        const options = { ...srv.options, bwlimit: 4000 };
        let killed = 0;
        const cut = await rejection(
          provider.fetch!({
            ...context(options, (b) => {
              if (killed === 0 && b > 2 << 20) killed = srv.killSessions();
            }),
            url,
            partial,
          }),
        );
        assert.ok(killed > 0);
        assert.equal(cut.retryable, true, cut.message);
        const kept = Deno.statSync(partial).size;
        assert.ok(kept >= 2 << 20 && kept < data.length, `partial has ${kept} bytes`);
        const seen: number[] = [];
        await provider.fetch!({ ...context(srv.options, (b) => seen.push(b)), url, partial });
        assert.equal(seen[0], kept, "the retry starts from the partial's size");
        assert.ok(seen.every((b) => b >= kept));
        assert.equal(sha256(await Deno.readFile(partial)), sha256(data));
        if (srv.daemon) {
          // The daemon sent only the rest (plus protocol overhead).
          const sent = [...srv.daemon.log().matchAll(/sent (\d+) bytes/g)].map((m) => Number(m[1]));
          const last = sent.at(-1)!;
          assert.ok(last < data.length - kept + 100_000, `sent ${last} on the retry`);
        }
      }),
  });

  Deno.test({
    name: `rsyncStaging() over ${transport} reports a missing file and a dead server exactly`,
    ignore: !have,
    fn: () =>
      withServer(transport, async (srv, provider, dir) => {
        const dest = `${dir}/x.bin`;
        const missing = srv.url("x.bin");
        const e1 = await rejection(stageIn(provider, { url: missing, dest, options: srv.options }));
        const shown = transport === "daemon"
          ? `x.bin in module "data" on 127.0.0.1:${srv.port}`
          : `${srv.root}/x.bin on 127.0.0.1:${srv.port}`;
        assert.equal(
          e1.message,
          `Cannot fetch "${missing}" with rsync after 1 attempt(s): rsync: no such file ${shown}`,
        );
        const port = freePort();
        const dead = missing.replace(`:${srv.port}/`, `:${port}/`);
        const e2 = await rejection(
          stageIn(provider, { url: dead, dest, options: srv.options, retries: 1, retryBaseMs: 1 }),
        );
        const why = transport === "daemon"
          ? `rsync: cannot list x.bin in module "data" on 127.0.0.1:${port} (exit 10, error in socket I/O): failed to connect to 127.0.0.1 (127.0.0.1): Connection refused (111)`
          : `rsync: cannot connect to 127.0.0.1:${port}: no SSH host key answered`;
        assert.equal(e2.message, `Cannot fetch "${dead}" with rsync after 2 attempt(s): ${why}`);
        const source = `${dir}/s.bin`;
        await Deno.writeTextFile(source, "s");
        const e3 = await rejection(
          stageOut(provider, { url: dead, source, options: srv.options, retries: 0 }),
        );
        const upWhy = transport === "daemon"
          ? `rsync: cannot upload ${source} to x.bin in module "data" on 127.0.0.1:${port} (exit 10, error in socket I/O): failed to connect to 127.0.0.1 (127.0.0.1): Connection refused (111)`
          : `rsync: cannot connect to 127.0.0.1:${port}: no SSH host key answered`;
        assert.equal(
          e3.message,
          `Cannot upload "${source}" to "${dead}" with rsync after 1 attempt(s): ${upWhy}`,
        );
        assert.equal(exists(dest), false);
        assert.equal(exists(partialPath(dest)), false);
      }),
  });

  Deno.test({
    name: `rsyncStaging() over ${transport} kills rsync at once on abort, keeping the partial`,
    ignore: !have,
    fn: () =>
      withServer(transport, async (srv, provider, dir) => {
        await Deno.writeFile(`${srv.root}/big.bin`, randomBytes(8 << 20));
        const ac = new AbortController();
        const partial = `${dir}/big.bin.ferry-part`;
        // Timed from the abort, not from the start: connecting (ssh) is not what is measured.
        let aborted = 0;
        const abort = () => {
          aborted ||= Date.now();
          ac.abort();
        };
        const e = await rejection(
          provider.fetch!({
            ...context({ ...srv.options, bwlimit: 4000 }, (b) => b > 1 << 20 && abort()),
            signal: ac.signal,
            url: srv.url("big.bin"),
            partial,
          }),
        );
        assert.equal(e.message, "rsync: cancelled");
        assert.ok(aborted > 0, "aborted mid-transfer");
        assert.ok(Date.now() - aborted < 3000, `took ${Date.now() - aborted} ms after the abort`);
        assert.ok(Deno.statSync(partial).size > 0);
        assert.deepEqual(processesMentioning("rsync", partial), [], "no rsync left running");
      }),
  });
}

Deno.test({
  name:
    "rsyncStaging() resumes an upload from rsync's partial dir, never writes the final name early",
  ignore: !have,
  fn: () =>
    withServer("daemon", async (srv, provider, dir) => {
      const data = randomBytes(16 << 20);
      const source = `${dir}/big.bin`;
      await Deno.writeFile(source, data);
      const url = srv.url("up/big.bin");
      const final = `${srv.root}/up/big.bin`;
      // rsync reports upload progress about once a second: slow enough to cut mid-file.
      const slow = { ...srv.options, bwlimit: 4000 };
      // The link drops on our side: the daemon keeps what arrived in the partial dir.
      const ac = new AbortController();
      const cut = await rejection(
        stageOut(provider, {
          url,
          source,
          options: slow,
          signal: ac.signal,
          progress: (b) => b > 0 && b < data.length && ac.abort(),
        }),
      );
      assert.match(cut.message, /^Cannot upload ".*" with rsync after 1 attempt\(s\): cancelled$/);
      assert.equal(exists(final), false);
      await waitFor("the daemon to keep the partial", () =>
        exists(`${srv.root}/up/.ferry-partial/big.bin`));
      const kept = Deno.statSync(`${srv.root}/up/.ferry-partial/big.bin`).size;
      assert.ok(kept > 0 && kept < data.length, `the partial dir keeps ${kept} bytes`);
      await stageOut(provider, { url, source, options: srv.options });
      assert.equal(sha256(await Deno.readFile(final)), sha256(data));
      // The partial dir is gone, and the second upload sent only what was missing.
      assert.deepEqual(
        [...Deno.readDirSync(`${srv.root}/up`)].map((e) =>
          e.name
        ),
        ["big.bin"],
      );
      const received = [...srv.daemon!.log().matchAll(/received (\d+) bytes/g)].map((m) =>
        Number(m[1])
      );
      assert.ok(received.at(-1)! < data.length - kept + 200_000, `received ${received}`);
      // The daemon's side dies: the upload fails, and nothing appears under the final name.
      let killed = 0;
      const crash = await rejection(
        stageOut(provider, {
          url: srv.url("up/crash.bin"),
          source,
          options: slow,
          retries: 0,
          progress: (b) => {
            if (killed === 0 && b > 0 && b < data.length) killed = srv.killSessions();
          },
        }),
      );
      assert.ok(killed > 0);
      assert.match(crash.message, /^Cannot upload ".*" with rsync after 1 attempt\(s\): rsync: /);
      assert.equal(exists(`${srv.root}/up/crash.bin`), false);
    }),
});

Deno.test({
  name: "rsyncStaging() over ssh checks the host key: unknown refused, pinned accepted",
  ignore: !have,
  fn: () =>
    withServer("ssh", async (srv, provider, dir) => {
      const sshd = srv.sshd!;
      await Deno.writeFile(`${srv.root}/a.txt`, new TextEncoder().encode("hello"));
      const url = srv.url("a.txt");
      const empty = `${dir}/known_hosts`;
      await Deno.writeTextFile(empty, "");
      const e = await rejection(
        stageIn(provider, {
          url,
          dest: `${dir}/a.txt`,
          options: { identity_file: sshd.identity, known_hosts: empty },
        }),
      );
      assert.equal(
        e.message,
        `Cannot fetch "${url}" with rsync after 1 attempt(s): rsync: the host key of 127.0.0.1:${srv.port} is not in ${empty}: the server offers ssh-ed25519 ${sshd.fingerprint}; check it with the server's administrator, then pin it with the rule option host_key: "${sshd.fingerprint}" or add the key to ${empty}`,
      );
      assert.equal(exists(`${dir}/a.txt`), false);
      await stageIn(provider, {
        url,
        dest: `${dir}/a.txt`,
        options: { identity_file: sshd.identity, host_key: sshd.fingerprint },
      });
      assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "hello");
    }),
});

Deno.test({
  name: "rsyncStaging() over ssh reads an encrypted key's passphrase and never shows it",
  ignore: !have,
  fn: () =>
    withServer("ssh", async (srv, provider, dir) => {
      const sshd = srv.sshd!;
      await Deno.writeFile(`${srv.root}/a.txt`, new TextEncoder().encode("locked"));
      const url = srv.url("a.txt");
      const options = {
        identity_file: sshd.encryptedIdentity,
        known_hosts: sshd.knownHosts,
        passphrase_env: "FERRY_TEST_RSYNC_PASSPHRASE",
      };
      Deno.env.set("FERRY_TEST_RSYNC_PASSPHRASE", sshd.passphrase);
      try {
        await stageIn(provider, { url, dest: `${dir}/a.txt`, options });
        assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "locked");
        Deno.env.set("FERRY_TEST_RSYNC_PASSPHRASE", "a wrong passphrase");
        const e = await rejection(
          provider.fetch!({ ...context(options), url, partial: `${dir}/p` }),
        );
        assert.equal(e.retryable, false);
        assert.equal(
          e.message,
          `rsync: cannot list ${srv.root}/a.txt on 127.0.0.1:${srv.port}: 127.0.0.1:${srv.port} refused the ssh login: root@127.0.0.1: Permission denied (publickey).`,
        );
        assert.ok(!e.message.includes("a wrong passphrase"));
      } finally {
        Deno.env.delete("FERRY_TEST_RSYNC_PASSPHRASE");
      }
    }),
});

Deno.test({
  name: "rsyncStaging() sends the daemon password from password_env only to rsync",
  ignore: !have,
  fn: () =>
    withServer("daemon", async (srv, provider, dir) => {
      await Deno.writeFile(`${srv.root}/a.txt`, new TextEncoder().encode("pw"));
      const url = srv.url("a.txt");
      assert.equal(Deno.env.get("RSYNC_PASSWORD"), undefined);
      await stageIn(provider, { url, dest: `${dir}/a.txt`, options: srv.options });
      assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "pw");
      assert.equal(Deno.env.get("RSYNC_PASSWORD"), undefined);
      Deno.env.set(PASSWORD_ENV, "wrong-password-1");
      const e = await rejection(
        stageIn(provider, { url, dest: `${dir}/b.txt`, options: srv.options }),
      );
      assert.equal(
        e.message,
        `Cannot fetch "${url}" with rsync after 1 attempt(s): rsync: the daemon on 127.0.0.1:${srv.port} refused the login: auth failed on module data (check user and password_env)`,
      );
      Deno.env.delete(PASSWORD_ENV);
      const unset = await rejection(
        stageIn(provider, { url, dest: `${dir}/b.txt`, options: srv.options }),
      );
      assert.equal(
        unset.message,
        `Cannot fetch "${url}" with rsync after 1 attempt(s): rsync: password_env names ${PASSWORD_ENV}, which is not set`,
      );
    }),
});
