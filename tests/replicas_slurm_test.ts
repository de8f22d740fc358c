/**
 * Replicas on a batch node: a Slurm executor without a shared filesystem
 * (`filesystem: none`, reached `via:` a real sshd), whose job wrapper fetches
 * a logical file on the node, falls back from a replica whose server cuts the
 * connection mid-transfer to the next one, in the plan's order, and says so
 * as ferry's own fallback does (job.out, events.jsonl, the summary). Under
 * CI=true a missing sshd or Slurm fails; elsewhere these tests skip, loudly.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { taskDirName } from "../interpreter/attempt.ts";
import { runCli } from "./_cli.ts";
import { startHttpServer } from "./_http_server.ts";
import { ferryRun, runDirOf, withTemp, writeWorkflow } from "./_run.ts";
import { haveService, randomBytes, sha256 } from "./_services.ts";
import { startSlurm } from "./_slurm.ts";
import { startSshd } from "./_sshd.ts";

const HAVE_SSHD = haveService("sshd", ["/usr/sbin/sshd", "ssh-keygen", "ps", "pgrep"]);
const HAVE_SLURM = haveService("Slurm", ["munged", "slurmctld", "slurmd", "sbatch", "squeue"]);

Deno.test({
  name:
    "replicas on a Slurm node (filesystem: none): the first replica is cut mid-transfer on every try, the job wrapper fetches the second, and the fallback is logged as ferry's own; an output on the nodes' own storage (endpoints) is moved there on the node",
  ignore: !HAVE_SSHD || !HAVE_SLURM,
  sanitizeResources: false,
  async fn() {
    const cluster = await startSlurm();
    const srv = await startSshd({ setEnv: { SLURM_CONF: cluster.env.SLURM_CONF! } })
      .catch(async (e) => {
        await cluster.stop();
        throw e;
      });
    const data = randomBytes(300_000);
    const a = await startHttpServer({ files: { "/ref.bin": data } });
    const b = await startHttpServer({ files: { "/mirror/ref.bin": data } });
    a.fault("/ref.bin", { kind: "drop", afterBytes: 100_000 });
    const remoteDir = await Deno.makeTempDir({ prefix: "ferry-cluster-fs-" });
    try {
      await withTemp(async (ws) => {
        const [ua, ub] = [a.url("/ref.bin"), b.url("/mirror/ref.bin")];
        const site = await writeWorkflow(ws, {
          "ferry-site": 1,
          executors: {
            cluster: {
              provider: "slurm",
              via: `ssh://${srv.user}@127.0.0.1:${srv.port}`,
              filesystem: "none",
              staging: [{ match: "http://*:*", action: "http", retries: 1 }],
              // The login node's sftp server (never reached here) is the nodes' storage.
              endpoints: [{
                url: "sftp://login.example.org/scratch/",
                path: join(remoteDir, "scratch"),
              }],
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
          name: "replicas-slurm",
          defaults: { executor: "cluster" },
          files: { ref: { replicas: [ua, ub], checksum: `sha256:${sha256(data)}` } },
          apps: {
            use: {
              for_each: { n: [1, 2] },
              inputs: { ref: "${{ files.ref }}" },
              outputs: { out: "out/${{ n }}.txt" },
              shell: "sha256sum < ${{ inputs.ref }} | cut -c1-64 > ${{ outputs.out }}",
            },
            keep: {
              outputs: { kept: "sftp://login.example.org/scratch/kept.txt" },
              shell: "hostname > ${{ outputs.kept }}",
            },
          },
        });
        // The plan: the first replica fetched on the node, then the second if it fails.
        const plan = await runCli(["plan", "--site", site, wf]);
        assert.ok(
          plan.stdout.includes(
            `    out kept  _outputs/kept/kept.txt  ⇒ moved into place, endpoint sftp://login.example.org/scratch/ = ${remoteDir}/scratch/ → ${remoteDir}/scratch/kept.txt (sftp://login.example.org/scratch/kept.txt)\n`,
          ),
          plan.stdout,
        );
        assert.equal(plan.code, 0, plan.stderr);
        assert.ok(
          plan.stdout.includes(
            `    in  ref  ${ua}  ⇒ http on the node, rule 1 → _inputs/127.0.0.1:${a.port}/ref.bin\n` +
              `        replicas of ref:\n` +
              `          ✓ ${ua}  (transfer, used)\n` +
              `            ${ub}  (transfer)\n` +
              `        on the node; if it fails, http ${ub}\n`,
          ),
          plan.stdout,
        );
        const json = JSON.parse(
          (await runCli(["plan", "--format", "json", "--site", site, wf]))
            .stdout,
        );
        const use1 = json.tasks.find((t: { id: string }) => t.id === "use[n=1]");
        assert.deepEqual(use1.inputs[0].fallbacks, [
          { url: ub, provider: "http", rule: 0 },
        ]);

        const r = await ferryRun([
          "--poll-interval",
          "0.2",
          "--progress",
          "lines",
          "--site",
          site,
          wf,
        ], {
          SLURM_CONF: join(ws, "no-such-slurm.conf"),
        });
        assert.equal(r.code, 0, r.stderr);
        // Moved on the node to the path the endpoint names, not uploaded (that host is unknown).
        assert.ok((await Deno.readTextFile(join(remoteDir, "scratch", "kept.txt"))).length > 1);
        const keptLog = join(runDirOf(r), "tasks", taskDirName("keep"), "attempt-1", "job.out");
        assert.ok(
          (await Deno.readTextFile(keptLog)).includes(
            `ferry: moved _outputs/kept/kept.txt to ${remoteDir}/scratch/kept.txt (an endpoint of the executor: not uploaded)\n`,
          ),
        );
        for (const n of [1, 2]) {
          assert.equal(await Deno.readTextFile(join(ws, `out/${n}.txt`)), `${sha256(data)}\n`);
        }
        // Per task, on its node: the first replica's try and one retry resuming, both cut...
        assert.deepEqual(
          a.requestsFor("/ref.bin").map((x) => x.range),
          [null, "bytes=100000-", null, "bytes=100000-"],
        );
        // ...then the second, from byte 0 (the first's partial copy discarded).
        assert.deepEqual(b.requestsFor("/mirror/ref.bin").map((x) => [x.range, x.status]), [
          [null, 200],
          [null, 200],
        ]);
        const why = `Cannot fetch "${ua}" on the node: curl: (18) transfer closed with 100000 ` +
          "bytes remaining to read";
        for (const n of [1, 2]) {
          assert.ok(
            r.stderr.includes(`FALLBACK ${why}; falling back to ${ub}\n`),
            r.stderr,
          );
          const attempt = join(runDirOf(r), "tasks", taskDirName(`use[n=${n}]`), "attempt-1");
          const jobOut = await Deno.readTextFile(join(attempt, "job.out"));
          assert.ok(jobOut.includes(`ferry: ${why}; falling back to ${ub}\n`), jobOut);
        }
        assert.match(r.stderr, /transfers: 2 fell back to another replica\b/);
        const events = (await Deno.readTextFile(join(runDirOf(r), "events.jsonl"))).trim()
          .split("\n").map((l) => JSON.parse(l));
        const fell = events.filter((e) => e.event === "transfer-finished")
          .map((e) => [e.id, e.url, e.provider, e.error, e.fallback]).sort();
        assert.deepEqual(fell, [
          [`wrap:use[n=1]:${ua}`, ua, "http", why, ub],
          [`wrap:use[n=2]:${ua}`, ua, "http", why, ub],
        ]);
        assert.deepEqual(await cluster.active(), []);
      });
    } finally {
      await a.close();
      await b.close();
      await Deno.remove(remoteDir, { recursive: true });
      await srv.stop();
      await cluster.stop();
    }
  },
});
