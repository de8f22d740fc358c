/** Batch executors on a machine without the scheduler's commands: clear failures, no retries. */

import assert from "node:assert/strict";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";

Deno.test("a Slurm executor where sbatch is not installed fails each task saying so, without retries", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "nosbatch",
      executors: { hpc: { provider: "slurm" } },
      apps: { a: { executor: "hpc", retries: 2, outputs: { o: "o.txt" }, command: ["true"] } },
    });
    const r = await ferryRun(["--progress", "lines", wf], { PATH: "/nonexistent" });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /^\[1\/1\] FAILED a: Cannot submit to Slurm: sbatch was not found on this host \(is Slurm installed there, and on PATH\?\)$/m,
    );
    assert.doesNotMatch(r.stderr, /retry/i);
  });
});

Deno.test("a scheduler executor with filesystem: none and no via: is refused by check (and so by run)", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "fsnone",
      executors: { hpc: { provider: "pbs", filesystem: "none" } },
      apps: { a: { executor: "hpc", outputs: { o: "o.txt" }, command: ["true"] } },
    });
    for (const command of ["check", "run"]) {
      const r = await ferryRun([wf], {}, command);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stdout + r.stderr,
        /^\S*workflow\.yaml:\d+:\d+: error\[invalid-value\]: Cannot use "filesystem: none" with the pbs provider without via: ferry copies attempts to a cluster only through its login node \(via: ssh:\/\/user@login-host\); use shared, or add via$/m,
      );
    }
  });
});

Deno.test("executor-shared with via: is refused by check: attempts reach the cluster only as copies", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "esvia",
      executors: {
        hpc: {
          provider: "slurm",
          filesystem: "executor-shared",
          via: "ssh://me@login.example.org",
        },
      },
      apps: { a: { executor: "hpc", outputs: { o: "o.txt" }, command: ["true"] } },
    });
    const r = await ferryRun([wf], {}, "check");
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stdout + r.stderr,
      /error\[invalid-value\]: Cannot use "filesystem: executor-shared" with via: ferry reaches the cluster's filesystem only by copying attempts there; use none \(each attempt copied to remote_dir\) or shared$/m,
    );
  });
});
