/**
 * Ctrl-C on a real Slurm cluster after some jobs finished: ferry sends
 * `scancel` for the live job only (scancel is wrapped to log its arguments),
 * and nothing is left in the queue. Under CI=true a missing Slurm fails;
 * elsewhere this skips, loudly.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, ferry, withTemp, writeWorkflow } from "./_run.ts";
import { haveService, waitFor } from "./_services.ts";
import { type SlurmCluster, startSlurm } from "./_slurm.ts";
import { taskDirName } from "../interpreter/attempt.ts";

const HAVE = haveService("Slurm", ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel"]);

let cluster: SlurmCluster | undefined;

/** A `scancel` first on PATH that logs its arguments to `log`, then runs the real one. */
async function loggingScancel(dir: string, log: string): Promise<string> {
  const which = await new Deno.Command("bash", {
    args: ["-c", "command -v scancel"],
    stdout: "piped",
  }).output();
  const real = new TextDecoder().decode(which.stdout).trim();
  const bin = join(dir, "bin");
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    join(bin, "scancel"),
    `#!/bin/bash\necho "$*" >> '${log}'\nexec '${real}' "$@"\n`,
    { mode: 0o755 },
  );
  return bin;
}

Deno.test({
  name: "slurm: Ctrl-C after three jobs finished sends scancel for the live job only",
  ignore: !HAVE,
  sanitizeResources: false,
  async fn() {
    cluster ??= await startSlurm();
    const c = cluster;
    await withTemp(async (ws) => {
      const log = join(ws, "scancel.log");
      const bin = await loggingScancel(ws, log);
      const site = await writeWorkflow(
        ws,
        { "ferry-site": 1, executors: { cluster: { provider: "slurm" } } },
        "site.yaml",
      );
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "cancel-live-only",
        params: { ids: [1, 2, 3] },
        defaults: { executor: "cluster" },
        apps: {
          quick: {
            for_each: { i: "${{ params.ids }}" },
            outputs: { out: "q/${{ i }}.txt" },
            shell: "echo ${{ i }} > ${{ outputs.out }}",
          },
          slow: { outputs: { out: "slow.txt" }, shell: "sleep 300; touch ${{ outputs.out }}" },
        },
      });
      const env = { ...c.env, PATH: `${bin}:${Deno.env.get("PATH")}` };
      const args = ["--poll-interval", "0.2", "--site", site, "--progress", "lines", wf];
      const child = ferry(args, env).spawn();
      const output = child.output();
      try {
        await waitFor("the three quick tasks done", async () => {
          for (const i of [1, 2, 3]) if (!await exists(join(ws, "q", `${i}.txt`))) return false;
          return true;
        }, 60_000);
        const runs = [...Deno.readDirSync(join(ws, ".ferry", "runs"))].map((e) => e.name);
        assert.equal(runs.length, 1);
        const attempts = join(ws, ".ferry", "runs", runs[0]!, "tasks");
        const jobId = (task: string) =>
          JSON.parse(
            Deno.readTextFileSync(join(attempts, taskDirName(task), "attempt-1", "job.json")),
          ).jobId as string;
        await waitFor("the slow job running in Slurm", async () => {
          const r = await c.run("squeue", "--noheader", "--states=RUNNING", "--format=%i");
          return r.stdout.split("\n").includes(jobId("slow"));
        }, 30_000);
        child.kill("SIGINT");
        const out = await output;
        const stderr = new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 130, stderr);
        assert.match(stderr, /^interrupted: 3 succeeded, 0 failed, 1 cancelled in /m);
        assert.equal(await Deno.readTextFile(log), `${jobId("slow")}\n`);
        assert.deepEqual(await c.active(), [], "jobs left in squeue after ferry exited");
      } finally {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
        await output.catch(() => {});
      }
    });
  },
});

Deno.test({
  name: "slurm: stop the test cluster (cancel test)",
  ignore: !HAVE,
  sanitizeResources: false,
  async fn() {
    await cluster?.stop();
    cluster = undefined;
  },
});
