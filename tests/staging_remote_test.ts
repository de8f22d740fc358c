/**
 * Remote staging end to end through `ferry run`, against real servers started
 * here on 127.0.0.1: an HTTP server with fault injection (in this process),
 * vsftpd and OpenSSH's sshd (subprocesses). Workflows read inputs over HTTP,
 * FTP and SFTP and write outputs back over FTP, SFTP and rsync; a second run
 * reuses the cached copies; and nothing ferry prints or keeps ever contains
 * the FTP password or the SSH key's passphrase.
 * @module
 */

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { stringify } from "../deps/yaml.ts";
import { runWorkflowFile } from "../mod.ts";
import { startHttpServer } from "./_http_server.ts";
import { haveService, sha256 } from "./_services.ts";
import { startRsyncDaemon, startSshd } from "./_sshd.ts";
import { FTP_TEST_PASSWORD, FTP_TEST_USER, startVsftpd } from "./_vsftpd.ts";
import { exists, ferryRun, runDirOf, withTemp, writeWorkflow } from "./_run.ts";

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

Deno.test("http: one transfer per URL for many readers, resumed after a dropped connection, verified, then reused", async () => {
  const ref = bytes(3 << 20, 7);
  const server = await startHttpServer({
    files: { "/ref/genome.fa": ref, "/ref/small.txt": "hello\n" },
  });
  try {
    await withTemp(async (ws) => {
      // The first GET of the big file dies after 1 MiB; the second must resume, not restart.
      server.fault("/ref/genome.fa", { kind: "drop", afterBytes: 1 << 20, times: 1 });
      server.fault("/ref/small.txt", { kind: "status", status: 503, times: 2 });
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "http-e2e",
        files: {
          genome: { url: server.url("/ref/genome.fa"), checksum: `sha256:${sha256(ref)}` },
          small: server.url("/ref/small.txt"),
        },
        apps: {
          align: {
            for_each: { sample: ["a", "b", "c", "d", "e"] },
            inputs: { ref: "${{ files.genome }}", note: "${{ files.small }}" },
            outputs: { out: "out/${{ sample }}.txt" },
            shell:
              "{ echo ${{ sample }}; sha256sum < ${{ inputs.ref }} | cut -c1-64; cat ${{ inputs.note }}; echo '${{ inputs.ref }}'; } > ${{ outputs.out }}",
          },
        },
      });
      const first = await ferryRun(["--progress", "lines", wf]);
      assert.equal(first.code, 0, first.stderr);
      const plan = JSON.parse((await ferryRun(["--format", "json", wf], {}, "plan")).stdout);
      const staged = plan.transfers.find((t: { url: string }) => t.url.endsWith("genome.fa")).path;
      for (const s of ["a", "b", "c", "d", "e"]) {
        assert.equal(
          await Deno.readTextFile(join(ws, `out/${s}.txt`)),
          // The task saw the run's copy through a link in its directory, at a path the same in
          // every workspace.
          `${s}\n${sha256(ref)}\nhello\n_inputs/${
            relative(join(ws, ".ferry", "staged"), staged)
          }\n`,
        );
      }
      // One transfer per URL for five readers: two GETs of the big file (the dropped one and
      // its resumption from byte 1 MiB), three of the small one (two 503s, then success).
      const big = server.requestsFor("/ref/genome.fa").filter((r) => r.method === "GET");
      assert.deepEqual(big.map((r) => [r.range, r.status]), [[null, 200], [
        `bytes=${1 << 20}-`,
        206,
      ]]);
      assert.equal(server.requestsFor("/ref/small.txt").length, 3);
      assert.match(first.stderr, /transfers: 2 fetched, 3\.0 MiB moved/);
      assert.match(
        first.stderr,
        /in fetched http:\/\/127\.0\.0\.1:\d+\/ref\/small\.txt \(6 B in [\d.]+m?s, .*3 attempts\)/,
      );
      const events = (await Deno.readTextFile(join(runDirOf(first), "events.jsonl"))).trim().split(
        "\n",
      )
        .map((l) => JSON.parse(l));
      assert.equal(events.filter((e) => e.event === "transfer-finished").length, 2);

      // Second run: the big file's checksum is pinned, so it is reused without a request;
      // the small one is revalidated (304).
      server.reset();
      const second = await ferryRun(["--progress", "lines", wf]);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(server.requestsFor("/ref/genome.fa").length, 0);
      assert.deepEqual(server.requestsFor("/ref/small.txt").map((r) => r.status), [304]);
      assert.match(second.stderr, /transfers: 2 reused, 0 B moved/);

      // The source changes: the copy is fetched again.
      server.setFile("/ref/small.txt", "changed\n");
      const third = await ferryRun(["--progress", "lines", wf]);
      assert.equal(third.code, 0, third.stderr);
      assert.match(await Deno.readTextFile(join(ws, "out/a.txt")), /\nchanged\n/);
    });
  } finally {
    await server.close();
  }
});

Deno.test("http: a transfer that keeps failing fails its readers with the provider's message, and nothing is left at the final path", async () => {
  const server = await startHttpServer({ files: { "/data/x.bin": "x".repeat(1000) } });
  try {
    await withTemp(async (ws) => {
      server.fault("/data/x.bin", { kind: "status", status: 500 });
      await Deno.writeTextFile(
        join(ws, "site.yaml"),
        stringify({
          "ferry-site": 1,
          executors: {
            local: { staging: [{ match: "http://*:*", action: "http", retries: 2 }] },
          },
        }),
      );
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "http-fail",
        apps: {
          use: {
            inputs: { x: server.url("/data/x.bin") },
            outputs: { y: "y.txt" },
            shell: "wc -c < ${{ inputs.x }} > ${{ outputs.y }}",
          },
          other: { outputs: { z: "z.txt" }, shell: "echo ok > ${{ outputs.z }}" },
        },
      });
      const r = await ferryRun(["--keep-going", "--site", join(ws, "site.yaml"), wf]);
      assert.equal(r.code, 1, r.stderr);
      const url = server.url("/data/x.bin").replace(/[.]/g, "\\.");
      assert.match(
        r.stderr,
        new RegExp(
          `✗ use: Cannot fetch "${url}" with http after 3 attempt\\(s\\): HTTP 500 Internal Server Error from 127\\.0\\.0\\.1:${server.port}\\n`,
        ),
      );
      assert.match(r.stderr, /failed: 1 succeeded, 1 failed in/);
      assert.equal(server.requestsFor("/data/x.bin").length, 3);
      const staged = [...Deno.readDirSync(join(ws, ".ferry/staged"))];
      for (const d of staged) {
        for (const f of Deno.readDirSync(join(ws, ".ferry/staged", d.name))) {
          assert.ok(f.name.endsWith(".ferry-part") || f.name.endsWith(".http.json"), f.name);
        }
      }
      assert.equal(await Deno.readTextFile(join(ws, "z.txt")), "ok\n");
    });
  } finally {
    await server.close();
  }
});

const FTP_OK = haveService("ftp", ["vsftpd", "openssl"]);
const SSH_OK = haveService("sshd", ["/usr/sbin/sshd", "ssh-keygen", "ssh", "rsync"]);

/** Every file under `dir`, recursively. */
function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...allFiles(p));
    else if (e.isFile) out.push(p);
  }
  return out;
}

Deno.test({
  name:
    "ftp, sftp and rsync with credentials: in and out through ferry run, and no secret anywhere in what ferry prints or keeps",
  ignore: !FTP_OK || !SSH_OK,
  async fn() {
    const ftp = await startVsftpd({ mode: "local" });
    const sshd = await startSshd();
    const rsyncPassword = "rsync-daemon-Secret-42";
    const rsyncd = await startRsyncDaemon({ auth: { user: "ferry", password: rsyncPassword } });
    try {
      await withTemp(async (ws) => {
        const table = bytes(300_000, 1), model = bytes(700_000, 2);
        await Deno.mkdir(join(ftp.root, "pub/in"), { recursive: true });
        await Deno.writeFile(join(ftp.root, "pub/in/table.csv"), table);
        await Deno.chmod(join(ftp.root, "pub/in/table.csv"), 0o644);
        await Deno.mkdir(join(sshd.root, "in"), { recursive: true });
        await Deno.writeFile(join(sshd.root, "in/model.bin"), model);
        const ftpBase = `ftp://${FTP_TEST_USER}@127.0.0.1:${ftp.port}`;
        const sftpBase = `sftp://${sshd.user}@127.0.0.1:${sshd.port}${sshd.root}`;
        const rsyncBase = `rsync://ferry@127.0.0.1:${rsyncd.port}/${rsyncd.module}`;
        const site = join(ws, "site.yaml");
        await Deno.writeTextFile(
          site,
          stringify({
            "ferry-site": 1,
            executors: {
              local: {
                staging: [
                  { match: "ftp://*:*", action: "ftp", password_env: "FTP_PW" },
                  {
                    match: "sftp://*:*",
                    action: "sftp",
                    identity_file: sshd.encryptedIdentity,
                    passphrase_env: "SSH_KEY_PASSPHRASE",
                    known_hosts: sshd.knownHosts,
                  },
                  { match: "rsync://*:*", action: "rsync", password_env: "RSYNC_PW" },
                ],
              },
            },
          }),
        );
        const wf = await writeWorkflow(ws, {
          ferry: 1,
          name: "secrets",
          apps: {
            combine: {
              inputs: { table: `${ftpBase}/pub/in/table.csv`, model: `${sftpBase}/in/model.bin` },
              outputs: {
                viaFtp: `${ftpBase}/pub/out/sums.txt`,
                viaSftp: `${sftpBase}/out/sums.txt`,
                viaRsync: `${rsyncBase}/out/sums.txt`,
                local: "sums.txt",
              },
              shell: [
                "sha256sum < ${{ inputs.table }} | cut -c1-64 > ${{ outputs.local }}",
                "sha256sum < ${{ inputs.model }} | cut -c1-64 >> ${{ outputs.local }}",
                "for o in ${{ outputs.viaFtp }} ${{ outputs.viaSftp }} ${{ outputs.viaRsync }}; do cp ${{ outputs.local }} $o; done",
              ].join("\n"),
            },
          },
        });
        const secrets = [FTP_TEST_PASSWORD, sshd.passphrase, rsyncPassword];
        const env = {
          FTP_PW: FTP_TEST_PASSWORD,
          SSH_KEY_PASSPHRASE: sshd.passphrase,
          RSYNC_PW: rsyncPassword,
        };
        const outputs: string[] = [];
        for (const format of ["text", "json"]) {
          const p = await ferryRun(["--site", site, "--format", format, wf], env, "plan");
          assert.equal(p.code, 0, p.stderr);
          outputs.push(p.stdout, p.stderr);
        }
        const run = await ferryRun(["--site", site, "--progress", "lines", wf], env);
        assert.equal(run.code, 0, run.stderr);
        outputs.push(run.stdout, run.stderr);
        const expected = `${sha256(table)}\n${sha256(model)}\n`;
        assert.equal(await Deno.readTextFile(join(ws, "sums.txt")), expected);
        assert.equal(await Deno.readTextFile(join(ftp.root, "pub/out/sums.txt")), expected);
        assert.equal(await Deno.readTextFile(join(sshd.root, "out/sums.txt")), expected);
        assert.equal(await Deno.readTextFile(join(rsyncd.root, "out/sums.txt")), expected);
        assert.match(run.stderr, /transfers: 2 fetched, 3 uploaded, /);
        // A second run with a wrong FTP password fails with the server's answer, not the password.
        const wrong = await ferryRun(["--site", site, "--progress", "lines", wf], {
          ...env,
          FTP_PW: "wrong-Password-77",
        });
        outputs.push(wrong.stdout, wrong.stderr);
        assert.equal(wrong.code, 1, wrong.stderr);
        assert.match(
          wrong.stderr,
          /✗ combine: Cannot fetch "ftp:\/\/ferrytest@127\.0\.0\.1:\d+\/pub\/in\/table\.csv" with ftp after 1 attempt\(s\): FTP 530 Login incorrect\. \(127\.0\.0\.1:\d+, login as "ferrytest"\)\n/,
        );
        secrets.push("wrong-Password-77");
        const files = allFiles(join(ws, ".ferry"));
        assert.ok(files.some((f) => f.endsWith("events.jsonl")), files.join("\n"));
        for (const secret of secrets) {
          for (const text of outputs) {
            assert.ok(!text.includes(secret), `secret in output:\n${text}`);
          }
          for (const f of files) {
            assert.ok(!(await Deno.readTextFile(f)).includes(secret), `secret in ${f}`);
          }
        }
      });
    } finally {
      await rsyncd.stop();
      await sshd.stop();
      await ftp.stop();
    }
  },
});

Deno.test("http: --transfers and a rule's max_concurrent bound the transfers in flight", async () => {
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 6; i++) files[`/d/f${i}.bin`] = bytes(4000, i);
  const server = await startHttpServer({ files });
  try {
    for (const [flags, rule, peak] of [[[], 2, 2], [["--transfers", "3"], undefined, 3]] as const) {
      await withTemp(async (ws) => {
        for (const p of Object.keys(files)) {
          server.fault(p, { kind: "trickle", bytesPerSecond: 8000, chunk: 1000 });
        }
        await Deno.writeTextFile(
          join(ws, "site.yaml"),
          stringify({
            "ferry-site": 1,
            executors: {
              local: {
                staging: [{
                  match: "http://*:*",
                  action: "http",
                  ...(rule ? { max_concurrent: rule } : {}),
                }],
              },
            },
          }),
        );
        const wf = await writeWorkflow(ws, {
          ferry: 1,
          name: "limits",
          apps: {
            cat: {
              inputs: { all: Object.keys(files).map((p) => server.url(p)) },
              outputs: { n: "n.txt" },
              shell: "cat ${{ inputs.all }} | wc -c > ${{ outputs.n }}",
            },
          },
        });
        const r = await ferryRun(["--site", join(ws, "site.yaml"), ...flags, wf]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await Deno.readTextFile(join(ws, "n.txt")), "24000\n");
        assert.equal(server.peakFaulty, peak, `${flags.join(" ")} max_concurrent=${rule}`);
        server.reset();
      });
    }
  } finally {
    await server.close();
  }
});

Deno.test({
  name: "ftp: a refused upload fails the task, is retried like a task failure, and is never silent",
  ignore: !FTP_OK,
  async fn() {
    const ftp = await startVsftpd({ mode: "anonymous" });
    try {
      await withTemp(async (ws) => {
        const wf = await writeWorkflow(ws, {
          ferry: 1,
          name: "refused",
          apps: {
            publish: {
              retries: 1,
              outputs: { report: `ftp://127.0.0.1:${ftp.port}/report.txt`, local: "mine.txt" },
              shell: "echo data > ${{ outputs.report }}; echo mine > ${{ outputs.local }}",
            },
          },
        });
        const r = await ferryRun(["--progress", "lines", wf]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(
          r.stderr,
          /retry publish: attempt 1 failed \(Cannot upload "[^"]*\/report\.txt" to "ftp:\/\/127\.0\.0\.1:\d+\/report\.txt" with ftp after 1 attempt\(s\): FTP 553 /,
        );
        assert.match(
          r.stderr,
          /✗ publish: Cannot upload "[^"]*" to "ftp:\/\/127\.0\.0\.1:\d+\/report\.txt" with ftp after 1 attempt\(s\): FTP 553 /,
        );
        assert.match(r.stderr, /failed: 0 succeeded, 1 failed/);
        // The task failed, so its workspace output is not delivered either.
        assert.equal(await exists(join(ws, "mine.txt")), false);
      });
    } finally {
      await ftp.stop();
    }
  },
});

Deno.test("http on an executor without a shared filesystem: fetched on the node into the task's directory", async () => {
  const server = await startHttpServer({ files: { "/d/in.txt": "node-side\n" } });
  try {
    await withTemp(async (ws) => {
      await Deno.writeTextFile(
        join(ws, "site.yaml"),
        stringify({ "ferry-site": 1, executors: { local: { filesystem: "none" } } }),
      );
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "wrap",
        apps: {
          read: {
            inputs: { x: server.url("/d/in.txt") },
            outputs: { y: "y.txt" },
            shell:
              "{ echo \"$PWD\"; echo '${{ inputs.x }}'; cat ${{ inputs.x }}; } > ${{ outputs.y }}",
          },
        },
      });
      const site = join(ws, "site.yaml");
      const plan = JSON.parse(
        (await ferryRun(["--site", site, "--format", "json", wf], {}, "plan")).stdout,
      );
      const input = plan.tasks[0].inputs[0];
      // A remote input sits under _inputs/HOST/PATH: files of one folder side by side.
      const seen = `_inputs/${new URL(server.url("/d/in.txt")).host}/d/in.txt`;
      assert.deepEqual([input.staging, input.provider, input.path], ["wrap", "http", seen]);
      assert.deepEqual(plan.transfers, []);
      const r = await ferryRun(["--site", site, wf]);
      assert.equal(r.code, 0, r.stderr);
      const [cwd, path, text] = (await Deno.readTextFile(join(ws, "y.txt"))).split("\n");
      assert.equal(path, seen);
      assert.equal(text, "node-side");
      assert.ok(cwd!.startsWith(join(runDirOf(r), "tasks")), cwd);
      // Node-side copies are the task's own: nothing lands in the workspace cache.
      assert.equal(await exists(join(ws, ".ferry/staged")), false);
    });
  } finally {
    await server.close();
  }
});

Deno.test("http: when a task fails, transfers that nobody will wait for are stopped, not left running", async () => {
  const server = await startHttpServer({ files: { "/slow.bin": bytes(100_000, 3) } });
  try {
    await withTemp(async (ws) => {
      server.fault("/slow.bin", { kind: "trickle", bytesPerSecond: 4000, chunk: 100 });
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "stop",
        apps: {
          broken: { outputs: { a: "a.txt" }, shell: "sleep 0.5; exit 4" },
          later: {
            inputs: { big: server.url("/slow.bin"), a: "${{ apps.broken.outputs.a }}" },
            outputs: { b: "b.txt" },
            shell: "cat ${{ inputs.big }} > ${{ outputs.b }}",
          },
        },
      });
      // In-process, as a library user runs it: when runWorkflowFile returns, nothing of the
      // run may still be moving bytes.
      let text = "";
      const r = await runWorkflowFile(wf, {
        progress: "quiet",
        signal: new AbortController().signal,
        io: { write: (x) => (text += x), out: (x) => (text += x), color: false, terminal: false },
      });
      assert.equal(r.code, 1, text);
      assert.match(text, /✗ broken: exit code 4\n/);
      assert.match(text, /failed: 0 succeeded, 1 failed, 1 not run in/);
      const staged = join(ws, ".ferry/staged");
      const [dir] = [...Deno.readDirSync(staged)];
      const part = join(staged, dir!.name, "slow.bin.ferry-part");
      const before = Deno.statSync(part).size;
      // Stopped mid-body: the provider kept what arrived (a transfer still running has not yet).
      assert.ok(before > 0 && before < 100_000, `partial holds ${before} bytes`);
      await new Promise((done) => setTimeout(done, 1000));
      // What arrived stays, unchanged, as the resume point of the next run.
      assert.equal(Deno.statSync(part).size, before);
    });
  } finally {
    await server.close();
  }
});
