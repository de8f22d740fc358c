/**
 * The `ssh` batch provider and `via: ssh://` against a real OpenSSH sshd
 * (started by `_sshd.ts` on 127.0.0.1) and, for `via`, a real single-node
 * Slurm cluster (`_slurm.ts`): ferry runs as a subprocess, the tasks run in
 * sessions of that sshd. Under CI=true a missing sshd or Slurm fails;
 * elsewhere these tests skip, loudly.
 */

import assert from "node:assert/strict";
import { hostname } from "node:os";
import { join } from "node:path";
import { taskDirName } from "../interpreter/attempt.ts";
import { exists, ferry, ferryRun, runDirOf, withTemp, writeWorkflow } from "./_run.ts";
import { haveService, processesLeftIn, waitFor } from "./_services.ts";
import { type SlurmCluster, startSlurm } from "./_slurm.ts";
import { type Sshd, startSshd } from "./_sshd.ts";
import { startHttpServer } from "./_http_server.ts";

const HAVE_SSHD = haveService("sshd", ["/usr/sbin/sshd", "ssh-keygen", "ps", "pgrep"]);
const HAVE_SLURM = haveService("Slurm", [
  "munged",
  "slurmctld",
  "slurmd",
  "sbatch",
  "squeue",
  "scancel",
]);
const decoder = new TextDecoder();

let server: Sshd | undefined;
/** One sshd for the `ssh` provider tests. */
async function sshd(): Promise<Sshd> {
  server ??= await startSshd();
  return server;
}

/** The attempt directory of a task (by its id, as the plan names it). */
function attemptDir(runDir: string, task: string, attempt = 1): string {
  return join(runDir, "tasks", taskDirName(task), `attempt-${attempt}`);
}

function readJson(path: string) {
  return JSON.parse(Deno.readTextFileSync(path));
}

/** A site file with one `ssh` executor `remote` on the test sshd. */
async function sshSite(
  dir: string,
  srv: Sshd,
  executor: Record<string, unknown> = {},
): Promise<string> {
  return await writeWorkflow(
    dir,
    {
      "ferry-site": 1,
      executors: {
        remote: {
          provider: "ssh",
          host: `${srv.user}@127.0.0.1:${srv.port}`,
          ...executor,
          options: {
            identity_file: srv.identity,
            known_hosts: srv.knownHosts,
            ...(executor.options as Record<string, unknown> ?? {}),
          },
        },
      },
    },
    "site.yaml",
  );
}

/** Lines of `ps` (pid and full command line) that hold `tag`. */
async function processesWith(tag: string): Promise<string[]> {
  const out = await new Deno.Command("ps", { args: ["-eo", "pid=,args="], stdout: "piped" })
    .output();
  return decoder.decode(out.stdout).split("\n").filter((l) => l.includes(tag));
}

/** How many sessions sshd started for a command (its VERBOSE log line per exec). */
function commandSessions(srv: Sshd): number {
  return srv.log().split("\n").filter((l) => /Starting session: command for /.test(l)).length;
}

const t = (name: string, fn: () => Promise<void>, prefix = "ssh provider") =>
  Deno.test({ name: `${prefix}: ${name}`, ignore: !HAVE_SSHD, sanitizeResources: false, fn });

t(
  "a fan-out of 3 and a reduce run on the host, at most max_workers at once; exit.json and the host are recorded",
  async () => {
    const srv = await sshd();
    await withTemp(async (ws) => {
      // A relative known_hosts is relative to the site file.
      await Deno.copyFile(srv.knownHosts, join(ws, "known_hosts"));
      const site = await sshSite(ws, srv, {
        max_workers: 2,
        options: { known_hosts: "known_hosts" },
      });
      const ledger = join(ws, "ledger.txt");
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "ssh-fanout",
        params: { ids: [1, 2, 3] },
        defaults: { executor: "remote" },
        apps: {
          square: {
            for_each: { n: "${{ params.ids }}" },
            outputs: { out: "sq/${{ n }}.txt" },
            shell: [
              `echo "start \${{ n }} $(date +%s%N)" >> ${ledger}`,
              // Long enough that two sessions overlap even when opening one is slow (under load).
              "sleep 2",
              'echo "$(( ${{ n }} * ${{ n }} )) via ${SSH_CONNECTION##* }" > ${{ outputs.out }}',
              `echo "end \${{ n }} $(date +%s%N)" >> ${ledger}`,
            ].join("\n"),
          },
          sum: {
            inputs: { all: "${{ apps.square.outputs.out }}" },
            outputs: { total: "total.txt" },
            shell: "cat ${{ inputs.all }} > ${{ outputs.total }}",
          },
        },
      });
      const before = commandSessions(srv);
      const r = await ferryRun(["--site", site, "--progress", "lines", wf]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^done: 4 succeeded, 0 failed in /m);
      // SSH_CONNECTION ends with the server's port: every task ran in a session of this sshd.
      assert.equal(
        await Deno.readTextFile(join(ws, "total.txt")),
        `1 via ${srv.port}\n4 via ${srv.port}\n9 via ${srv.port}\n`,
      );
      assert.ok(commandSessions(srv) - before >= 4, srv.log());
      // max_workers: 2 held: never three squares at once.
      const events = (await Deno.readTextFile(ledger)).trim().split("\n").map((l) => {
        const [what, , ns] = l.split(" ");
        return { delta: what === "start" ? 1 : -1, at: BigInt(ns!) };
      }).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.delta));
      let now = 0, most = 0;
      for (const e of events) most = Math.max(most, now += e.delta);
      assert.equal(most, 2, "tasks at once");
      const runDir = runDirOf(r);
      for (const task of ["square[n=1]", "square[n=2]", "square[n=3]", "sum"]) {
        const dir = attemptDir(runDir, task);
        const exit = readJson(join(dir, "exit.json"));
        assert.equal(exit.exitCode, 0);
        assert.equal(exit.host, hostname());
        assert.equal(exit.timedOut, false);
        const job = readJson(join(dir, "job.json"));
        assert.equal(job.provider, "ssh");
        assert.equal(job.host, `${srv.user}@127.0.0.1:${srv.port}`);
        assert.ok(Number.isInteger(job.pid) && job.pid > 1, JSON.stringify(job));
        const status = readJson(join(dir, "status.json"));
        assert.equal(status.outcome, "succeeded");
        assert.equal(status.host, hostname());
        assert.equal(status.jobId, String(job.pid));
      }
      const again = await ferryRun(["--site", site, wf]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /^done: 0 succeeded, 4 cached, 0 failed in /m);
    });
  },
);

t("a failing task reports its exit code and its stderr", async () => {
  const srv = await sshd();
  await withTemp(async (ws) => {
    const site = await sshSite(ws, srv);
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "ssh-fail",
      defaults: { executor: "remote" },
      apps: { bad: { outputs: { o: "o.txt" }, shell: "echo 'no such sample' >&2\nexit 7" } },
    });
    const r = await ferryRun(["--site", site, "--progress", "lines", wf]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^\[1\/1\] FAILED bad: exit code 7$/m);
    assert.match(r.stderr, /^✗ bad: exit code 7\n {4}│ no such sample\n/m);
    assert.match(r.stderr, /^failed: 0 succeeded, 1 failed in /m);
    const dir = attemptDir(runDirOf(r), "bad");
    assert.equal(readJson(join(dir, "exit.json")).exitCode, 7);
    // What it used, measured on the host by the wrapper, reaches the status like a local task's.
    const st = await ferryRun(["--workspace", ws, "--format", "json"], {}, "status");
    const usage = JSON.parse(st.stdout).run.tasks[0].attempts[0].usage;
    assert.equal(usage.measuredBy, "time");
    assert.ok(usage.maxRssBytes > 0 && usage.wallSeconds >= 0, JSON.stringify(usage));
    assert.equal(await Deno.readTextFile(join(dir, "stderr.log")), "no such sample\n");
    assert.equal(await exists(join(ws, "o.txt")), false);
  });
});

t("a task over its walltime is killed on the host and reported as a timeout", async () => {
  const srv = await sshd();
  await withTemp(async (ws) => {
    const site = await sshSite(ws, srv);
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "ssh-walltime",
      defaults: { executor: "remote" },
      apps: {
        slow: { resources: { walltime: "2s" }, outputs: { o: "o.txt" }, shell: "sleep 120" },
      },
    });
    const t0 = performance.now();
    const r = await ferryRun(["--site", site, "--progress", "lines", wf]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(performance.now() - t0 < 30_000, "the walltime was enforced");
    assert.match(r.stderr, /^\[1\/1\] timeout slow: exceeded its walltime and was killed$/m);
    const exit = readJson(join(attemptDir(runDirOf(r), "slow"), "exit.json"));
    assert.equal(exit.timedOut, true);
  });
});

t(
  "tasks with a walltime that end normally leave no process of their jobs on the host, not even ones they started in the background",
  async () => {
    const srv = await sshd();
    await withTemp(async (ws) => {
      const site = await sshSite(ws, srv);
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "ssh-no-leftovers",
        params: { ids: [1, 2] },
        defaults: { executor: "remote" },
        apps: {
          quick: {
            for_each: { i: "${{ params.ids }}" },
            resources: { walltime: "1h" },
            outputs: { o: "o/${{ i }}.txt" },
            shell: "sleep 607 & echo ${{ i }} > ${{ outputs.o }}",
          },
        },
      });
      const r = await ferryRun(["--site", site, "--progress", "lines", wf]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^done: 2 succeeded, 0 failed in /m);
      // The walltime watchdog's `sleep` worked in the task's directory: it must be gone too.
      assert.deepEqual(await processesLeftIn(ws), [], "processes of the finished jobs left");
    });
  },
);

t(
  "Ctrl-C kills the remote tasks, SIGKILL for one that ignores SIGTERM (no process left); ferry exits 130",
  async () => {
    const srv = await sshd();
    await withTemp(async (ws) => {
      const site = await sshSite(ws, srv);
      const tag = `ferry-ssh-tag-${crypto.randomUUID()}`;
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "ssh-interrupt",
        params: { ids: [1, 2] },
        defaults: { executor: "remote" },
        apps: {
          slow: {
            for_each: { i: "${{ params.ids }}" },
            outputs: { out: "o/${{ i }}.txt" },
            command: [
              "bash",
              "-c",
              'if [ "$2" = 2 ]; then trap "" TERM; fi; sleep 600; touch "$1"',
              tag,
              "${{ outputs.out }}",
              "${{ i }}",
            ],
          },
        },
      });
      const child = ferry(["--site", site, "--progress", "lines", wf]).spawn();
      const output = child.output();
      try {
        await waitFor("both tasks running on the host", async () => {
          return (await processesWith(tag)).length >= 2;
        }, 30_000);
        const t0 = performance.now();
        child.kill("SIGINT");
        const out = await output;
        const ms = performance.now() - t0;
        const stderr = decoder.decode(out.stderr);
        assert.equal(out.code, 130, stderr);
        assert.match(stderr, /^interrupted: 0 succeeded, 0 failed, 2 cancelled in /m);
        assert.ok(ms < 20_000, `ferry took ${ms} ms to stop`);
        await waitFor(
          "no tagged process",
          async () => (await processesWith(tag)).length === 0,
          5000,
        )
          .catch(() => {});
        assert.deepEqual(await processesWith(tag), [], "processes left after ferry exited");
        const runDir = runDirOf({ code: out.code, stdout: "", stderr, ms: 0 });
        // The first task ended on SIGTERM, through its wrapper, which wrote its status.
        const exit = readJson(join(attemptDir(runDir, "slow[i=1]"), "exit.json"));
        assert.equal(exit.exitCode, 143);
        assert.equal(exit.signal, "SIGTERM");
        // The second ignored it: SIGKILL came after the grace period (from its wrapper, which
        // waits that long for the task's group, or from ferry's kill of the wrapper's group).
        assert.ok(ms >= 5000, `SIGKILL after the grace period, not after ${ms} ms`);
        for (const i of [1, 2]) {
          const st = readJson(join(attemptDir(runDir, `slow[i=${i}]`), "status.json"));
          assert.equal(st.outcome, "cancelled");
        }
      } finally {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
        await output.catch(() => {});
      }
    });
  },
);

t("a connection dropped under a running task fails the attempt; the retry reconnects", async () => {
  const srv = await sshd();
  await withTemp(async (ws) => {
    const site = await sshSite(ws, srv);
    const tag = `ferry-ssh-drop-${crypto.randomUUID()}`;
    const marker = join(ws, "tried");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "ssh-drop",
      defaults: { executor: "remote" },
      apps: {
        once: {
          retries: 1,
          outputs: { out: "out.txt" },
          command: [
            "bash",
            "-c",
            `if [ ! -e ${marker} ]; then touch ${marker}; sleep 600; fi; echo fine > "$1"`,
            tag,
            "${{ outputs.out }}",
          ],
        },
      },
    });
    const child = ferry(["--site", site, "--progress", "lines", wf]).spawn();
    const output = child.output();
    try {
      await waitFor("the task running", async () => (await processesWith(tag)).length >= 1, 30_000);
      // What a network failure does: the server side of the connection (and the task) dies.
      srv.killSessions();
      const out = await output;
      const stderr = decoder.decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      const runDir = runDirOf({ code: out.code, stdout: "", stderr, ms: 0 });
      const first = readJson(join(attemptDir(runDir, "once"), "job.json"));
      const status = join(attemptDir(runDir, "once"), "exit.json");
      assert.match(
        stderr,
        new RegExp(
          `^\\[0/1\\] retry once: attempt 1 failed \\(${
            escape(
              `ssh: the connection to ${srv.user}@127.0.0.1:${srv.port} closed before the command ended, and the task's wrapper (pid ${first.pid}) wrote no ${status}`,
            )
          }\\); again in `,
          "m",
        ),
      );
      assert.match(stderr, /^done: 1 succeeded, 0 failed in /m);
      assert.equal(await Deno.readTextFile(join(ws, "out.txt")), "fine\n");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await output.catch(() => {});
    }
  });
});

/** `text` as a literal in a regular expression. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

t(
  "what the server refuses fails the task at once, naming the host, without a stack trace",
  async () => {
    const srv = await sshd();
    await withTemp(async (ws) => {
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "ssh-refused",
        defaults: { executor: "remote" },
        apps: { a: { retries: 2, outputs: { o: "o.txt" }, shell: "touch ${{ outputs.o }}" } },
      });
      const stranger = join(ws, "id_stranger");
      const keygen = await new Deno.Command("ssh-keygen", {
        args: ["-q", "-t", "ed25519", "-N", "", "-f", stranger],
      }).output();
      assert.ok(keygen.success);
      const wrong = "SHA256:" + "A".repeat(43);
      const cases: [Record<string, unknown>, string][] = [
        [
          { options: { host_key: wrong } },
          `ssh: the host key of 127.0.0.1:${srv.port} is ssh-ed25519 ${srv.fingerprint}, not the pinned host_key ${wrong}: if the server's key really changed, pin the new one with host_key: "${srv.fingerprint}"`,
        ],
        [
          { options: { identity_file: stranger } },
          `ssh: 127.0.0.1:${srv.port} refused the login as ${srv.user} with identity_file "${stranger}"`,
        ],
      ];
      for (const [executor, message] of cases) {
        const site = await sshSite(ws, srv, executor);
        const before = commandSessions(srv);
        const r = await ferryRun(["--site", site, "--progress", "lines", wf]);
        assert.equal(r.code, 1, r.stderr);
        assert.ok(
          r.stderr.includes(`\n[1/1] FAILED a: ${message}\n`),
          `the message in:\n${r.stderr}`,
        );
        assert.doesNotMatch(r.stderr, /retry/i); // trying again cannot help
        assert.doesNotMatch(r.stderr, /^\s+at /m); // no stack trace
        assert.match(r.stderr, /^failed: 0 succeeded, 1 failed in /m);
        assert.equal(commandSessions(srv), before, "nothing ran on the host");
      }
      // Nothing listening: retried like any failure, then reported.
      const site = await sshSite(ws, srv, { host: `${srv.user}@127.0.0.1:1` });
      const r = await ferryRun(["--site", site, "--progress", "lines", wf]);
      assert.equal(r.code, 1, r.stderr);
      const refused = "ssh: cannot connect to 127.0.0.1:1: connection refused";
      assert.match(
        r.stderr,
        new RegExp(`^\\[0/1\\] retry a: attempt 2 failed \\(${escape(refused)}\\); again in `, "m"),
      );
      assert.ok(r.stderr.includes(`\n[1/1] FAILED a (attempt 3): ${refused}\n`), r.stderr);
    });
  },
);

t(
  "a host key that does not match fails the submission, naming the login node",
  async () => {
    const srv = await sshd();
    await withTemp(async (ws) => {
      const wrong = "SHA256:" + "B".repeat(43);
      const site = await writeWorkflow(ws, {
        "ferry-site": 1,
        executors: {
          cluster: {
            provider: "slurm",
            via: `ssh://${srv.user}@127.0.0.1:${srv.port}`,
            options: { identity_file: srv.identity, host_key: wrong },
          },
        },
      }, "site.yaml");
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "via-hostkey",
        defaults: { executor: "cluster" },
        apps: { a: { retries: 2, outputs: { o: "o.txt" }, shell: "touch ${{ outputs.o }}" } },
      });
      const r = await ferryRun(["--site", site, "--progress", "lines", wf]);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(
        r.stderr.includes(
          `\n[1/1] FAILED a: Cannot submit to Slurm through ${srv.user}@127.0.0.1:${srv.port}: ssh: the host key of 127.0.0.1:${srv.port} is ssh-ed25519 ${srv.fingerprint}, not the pinned host_key ${wrong}: if the server's key really changed, pin the new one with host_key: "${srv.fingerprint}"\n`,
        ),
        r.stderr,
      );
      assert.doesNotMatch(r.stderr, /retry/i);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    });
  },
  "ssh via",
);

t("settings that cannot work stop the run before it starts (exit 2)", async () => {
  const srv = await sshd();
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "ssh-settings",
      defaults: { executor: "remote" },
      apps: { a: { outputs: { o: "o.txt" }, shell: "touch ${{ outputs.o }}" } },
    });
    const cases: [Record<string, unknown>, string][] = [
      [
        { filesystem: "none", options: { remote_dir: "relative/dir" } },
        `remote_dir must be an absolute path on the host, not "relative/dir"`,
      ],
      [
        { host: "ssh://127.0.0.1" },
        `host must be user@host[:port], not "ssh://127.0.0.1"`,
      ],
      [
        { options: { identity_file: "no-such-key" } },
        `cannot read identity_file "${join(ws, "no-such-key")}": no such file`,
      ],
      [
        { options: { identity_file: srv.encryptedIdentity } },
        `identity_file "${srv.encryptedIdentity}" is encrypted: set the executor option passphrase_env to the name of an environment variable that holds its passphrase`,
      ],
      [
        { options: { host_key: "MD5:aa" } },
        `the executor option host_key must be an OpenSSH SHA256 fingerprint like "SHA256:" and 43 base64 characters (\`ssh-keygen -lf KEY.pub\` prints it), not "MD5:aa"`,
      ],
    ];
    for (const [executor, message] of cases) {
      const site = await sshSite(ws, srv, executor);
      const r = await ferryRun(["--site", site, wf]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, `ferry: Cannot run on executor "remote": ${message}\n`);
    }
    // What `ferry check` can tell from the file alone stops `ferry run` there too, at the key.
    await writeWorkflow(ws, {
      "ferry-site": 1,
      executors: {
        remote: { provider: "ssh", options: { partition: "debug" } },
      },
    }, "site.yaml");
    for (const command of ["check", "run"]) {
      const r = await ferryRun(["--site", join(ws, "site.yaml"), wf], {}, command);
      assert.equal(r.code, 2, r.stderr);
      const out = r.stdout + r.stderr;
      assert.match(
        out,
        /site\.yaml:3:3: error\[missing-key\]: Cannot find required key "host" in executor "remote": the ssh provider runs tasks on host: user@host\[:port\]\n/,
      );
      assert.match(
        out,
        /site\.yaml:\d+:\d+: error\[unknown-key\]: Cannot use the ssh provider option "partition": expected one of identity_file, passphrase_env, known_hosts, host_key, timeout, remote_dir\n/,
      );
    }
  });
});

Deno.test("ssh via: ferry check takes the SSH login keys among a scheduler's options", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "via-check",
      defaults: { executor: "cluster" },
      apps: { a: { outputs: { o: "o.txt" }, shell: "touch ${{ outputs.o }}" } },
    });
    const site = (options: Record<string, unknown>, via = true) =>
      writeWorkflow(ws, {
        "ferry-site": 1,
        executors: {
          cluster: {
            provider: "slurm",
            ...(via ? { via: "ssh://ann@login.example.org:2222" } : {}),
            options,
          },
        },
      }, "site.yaml");
    const ok = await ferryRun(
      [
        "--site",
        await site({
          partition: "debug",
          identity_file: "~/.ssh/id_ed25519",
          passphrase_env: "KEY_PASSPHRASE",
          known_hosts: "./known_hosts",
          host_key: "SHA256:" + "A".repeat(43),
          timeout: 10,
        }),
        wf,
      ],
      {},
      "check",
    );
    assert.equal(ok.code, 0, ok.stderr);
    const typo = await ferryRun(["--site", await site({ identity_fle: "k" }), wf], {}, "check");
    assert.equal(typo.code, 2, typo.stderr);
    assert.match(
      typo.stdout,
      /error\[unknown-key\]: Cannot use the Slurm option "identity_fle": expected one of [^\n]*; with via: also identity_file, passphrase_env, known_hosts, host_key, timeout, remote_dir\n/,
    );
    // Without via, they are not Slurm's.
    const noVia = await ferryRun(
      ["--site", await site({ identity_file: "k" }, false), wf],
      {},
      "check",
    );
    assert.equal(noVia.code, 2, noVia.stderr);
    assert.match(
      noVia.stdout,
      /error\[unknown-key\]: Cannot use the Slurm option "identity_file": /,
    );
  });
});

Deno.test({
  name: "ssh via: provider slurm with via: ssh:// submits and polls through the login node",
  ignore: !HAVE_SSHD || !HAVE_SLURM,
  sanitizeResources: false,
  async fn() {
    const cluster = await startSlurm();
    // The login node's shell knows the cluster (SLURM_CONF); ferry's own environment does not.
    const srv = await startSshd({ setEnv: { SLURM_CONF: cluster.env.SLURM_CONF! } })
      .catch(async (e) => {
        await cluster.stop();
        throw e;
      });
    try {
      await viaRun(cluster, srv);
      await viaRemoteRun(cluster, srv);
    } finally {
      await srv.stop();
      await cluster.stop();
    }
  },
});

async function viaRun(cluster: SlurmCluster, srv: Sshd): Promise<void> {
  await withTemp(async (ws) => {
    const site = await writeWorkflow(ws, {
      "ferry-site": 1,
      executors: {
        cluster: {
          provider: "slurm",
          via: `ssh://${srv.user}@127.0.0.1:${srv.port}`,
          bundle: "array",
          options: {
            partition: "debug",
            identity_file: srv.encryptedIdentity,
            passphrase_env: "FERRY_TEST_KEY_PASSPHRASE",
            known_hosts: srv.knownHosts,
          },
        },
      },
    }, "site.yaml");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "via",
      params: { ids: [1, 2, 3] },
      defaults: { executor: "cluster" },
      apps: {
        gen: {
          for_each: { i: "${{ params.ids }}" },
          outputs: { out: "gen/${{ i }}.txt" },
          // Slurm jobs inherit sbatch's environment: the ssh session's.
          shell:
            'echo "${{ i }} job $SLURM_JOB_ID submitted via ${SSH_CONNECTION##* }" > ${{ outputs.out }}',
        },
        sum: {
          inputs: { all: "${{ apps.gen.outputs.out }}" },
          outputs: { total: "total.txt" },
          shell: "cat ${{ inputs.all }} > ${{ outputs.total }}",
        },
      },
    });
    const before = commandSessions(srv);
    const args = ["--poll-interval", "0.2", "--site", site, "--progress", "lines", wf];
    const r = await ferryRun(args, {
      // A local sbatch could not reach the cluster.
      SLURM_CONF: join(ws, "no-such-slurm.conf"),
      FERRY_TEST_KEY_PASSPHRASE: srv.passphrase,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^done: 4 succeeded, 0 failed in /m);
    assert.ok(!r.stderr.includes(srv.passphrase) && !r.stdout.includes(srv.passphrase));
    const total = await Deno.readTextFile(join(ws, "total.txt"));
    const lines = total.trim().split("\n");
    assert.equal(lines.length, 3, total);
    lines.forEach((l, k) => {
      assert.match(l, new RegExp(`^${k + 1} job \\d+ submitted via ${srv.port}$`));
    });
    const runDir = runDirOf(r);
    const ids = [1, 2, 3].map((i) => readJson(join(attemptDir(runDir, `gen[i=${i}]`), "job.json")));
    assert.equal(new Set(ids.map((j) => j.jobId.split("_")[0])).size, 1, "one job array");
    assert.ok(ids.every((j) => j.scheduler === "slurm"));
    assert.match(readJson(join(attemptDir(runDir, "sum"), "job.json")).jobId, /^\d+$/);
    assert.ok(await exists(join(attemptDir(runDir, "sum"), "exit.json")));
    // Two submissions and at least one status call, each a session of the login node's sshd.
    assert.ok(commandSessions(srv) - before >= 3, srv.log());
    assert.deepEqual(await cluster.active(), []);
  });
}

/** `via:` with `filesystem: none`: attempts are copied to the cluster through the login node. */
async function viaRemoteRun(cluster: SlurmCluster, srv: Sshd): Promise<void> {
  await withTemp(async (ws) => {
    const remoteDir = await Deno.makeTempDir({ prefix: "ferry-cluster-fs-" });
    const http = await startHttpServer({ files: { "/extra.txt": "from the web\n" } });
    try {
      await Deno.mkdir(join(ws, "in"));
      for (const i of [1, 2, 3]) {
        await Deno.writeTextFile(join(ws, "in", `${i}.txt`), `input ${i}\n`);
      }
      const site = await writeWorkflow(ws, {
        "ferry-site": 1,
        executors: {
          cluster: {
            provider: "slurm",
            via: `ssh://${srv.user}@127.0.0.1:${srv.port}`,
            filesystem: "none",
            bundle: "array",
            options: {
              partition: "debug",
              identity_file: srv.identity,
              known_hosts: srv.knownHosts,
              remote_dir: remoteDir,
            },
          },
        },
      }, "site.yaml");
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "via-remote",
        params: { ids: [1, 2, 3] },
        defaults: { executor: "cluster" },
        apps: {
          gen: {
            for_each: { i: "${{ params.ids }}" },
            inputs: { src: "in/${{ i }}.txt", extra: `${http.origin}/extra.txt` },
            outputs: { out: "gen/${{ i }}.txt" },
            shell:
              "cat ${{ inputs.src }} ${{ inputs.extra }} > ${{ outputs.out }}; pwd >> ${{ outputs.out }}",
          },
          sum: {
            inputs: { all: "${{ apps.gen.outputs.out }}" },
            outputs: { total: "total.txt" },
            shell: "cat ${{ inputs.all }} > ${{ outputs.total }}",
          },
        },
      });
      const r = await ferryRun(["--poll-interval", "0.2", "--site", site, wf], {
        SLURM_CONF: join(ws, "no-such-slurm.conf"),
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^done: 4 succeeded, 0 failed in /m);
      const runDir = runDirOf(r), runId = runDir.split("/").at(-1)!;
      const total = await Deno.readTextFile(join(ws, "total.txt"));
      for (const i of [1, 2, 3]) {
        const where = join(remoteDir, runId, taskDirName(`gen[i=${i}]`), "attempt-1", "work");
        assert.ok(total.includes(`input ${i}\nfrom the web\n${where}\n`), total);
      }
      // Each task fetched the web input itself, on its node.
      assert.equal(http.requests.filter((q) => q.path === "/extra.txt").length, 3);
      const ids = [1, 2, 3].map((i) =>
        readJson(join(attemptDir(runDir, `gen[i=${i}]`), "job.json"))
      );
      assert.equal(new Set(ids.map((j) => j.jobId.split("_")[0])).size, 1, "one job array");
      // Successful copies are gone from the cluster; only the array's scripts stay.
      assert.deepEqual([...Deno.readDirSync(join(remoteDir, runId))].map((e) => e.name), ["jobs"]);
      assert.deepEqual(await cluster.active(), []);
    } finally {
      await http.close();
      await Deno.remove(remoteDir, { recursive: true });
    }
  });
}

t(
  "filesystem: none: the attempt runs in a copy on the host (remote_dir); results come back, the copy goes",
  async () => {
    const srv = await sshd();
    await withTemp(async (ws) => {
      const remoteDir = await Deno.makeTempDir({ prefix: "ferry-remote-host-" });
      // A remote input: fetched by the wrapper on the host (curl), not by ferry.
      const http = await startHttpServer({ files: { "/words.txt": "gamma\ndelta\nepsilon\n" } });
      try {
        await Deno.mkdir(join(ws, "in"));
        await Deno.writeTextFile(join(ws, "in", "data.txt"), "alpha\nbeta\n");
        const site = await sshSite(ws, srv, {
          filesystem: "none",
          options: { remote_dir: remoteDir },
        });
        const wf = await writeWorkflow(ws, {
          ferry: 1,
          name: "remote-copy",
          defaults: { executor: "remote" },
          apps: {
            count: {
              inputs: { data: "in/data.txt", remote: `${http.origin}/words.txt` },
              outputs: { n: "out/n.txt", where: "out/where.txt" },
              shell: "cat ${{ inputs.data }} ${{ inputs.remote }} | wc -l > ${{ outputs.n }}\n" +
                "pwd > ${{ outputs.where }}",
            },
            broken: { outputs: { o: "o.txt" }, shell: "echo kept > partial.txt\nexit 4" },
          },
        });
        const r = await ferryRun(["--site", site, "--keep-going", wf]);
        assert.equal(r.code, 1, r.stderr);
        assert.equal(await Deno.readTextFile(join(ws, "out", "n.txt")), "5\n");
        assert.deepEqual(http.requests.map((q) => `${q.method} ${q.path}`), ["GET /words.txt"]);
        const jobOut = await Deno.readTextFile(join(attemptDir(runDirOf(r), "count"), "job.out"));
        assert.match(
          jobOut,
          new RegExp(
            `^ferry: fetched "${http.origin}/words.txt" to _inputs/${
              new URL(http.origin).host.replaceAll(".", "\\.")
            }/words\\.txt \\(`,
            "m",
          ),
        );
        // ferry itself kept no copy: nothing was staged in the workspace.
        assert.equal(await exists(join(ws, ".ferry", "staged")), false);
        const runId = runDirOf(r).split("/").at(-1)!;
        const where = (await Deno.readTextFile(join(ws, "out", "where.txt"))).trim();
        assert.equal(where, join(remoteDir, runId, taskDirName("count"), "attempt-1", "work"));
        // The successful attempt's copy is gone from the host; the failed one stays for a look,
        // and its files came back too.
        assert.deepEqual(
          [...Deno.readDirSync(join(remoteDir, runId))].map((e) => e.name),
          [taskDirName("broken")],
        );
        const broken = attemptDir(runDirOf(r), "broken");
        assert.equal(await Deno.readTextFile(join(broken, "work", "partial.txt")), "kept\n");
        assert.equal(readJson(join(broken, "exit.json")).exitCode, 4);
        assert.match(r.stderr, /^✗ broken: exit code 4$/m);
      } finally {
        await http.close();
        await Deno.remove(remoteDir, { recursive: true });
      }
    });
  },
);

Deno.test({
  name: "ssh provider: stop the test sshd",
  ignore: !HAVE_SSHD,
  sanitizeResources: false,
  async fn() {
    await server?.stop();
    server = undefined;
  },
});
