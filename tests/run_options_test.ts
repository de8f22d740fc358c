/**
 * `ferry run --retry-base` and `--poll-interval`: the two timing settings
 * that were once read from the environment reach the tasks' retries and a
 * batch scheduler's status calls, and each has one default.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./_cli.ts";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";
import { formatDuration } from "../interpreter/format.ts";
import { RETRY_BASE_MS } from "../providers/staging/transfer.ts";
import { POLL_MS } from "../providers/batch/scheduler.ts";

/** A workflow whose one task fails `retries + 1` times. */
function failing(dir: string, retries: number): Promise<string> {
  return writeWorkflow(dir, {
    ferry: 1,
    name: "flaky",
    apps: { flaky: { retries, outputs: { out: "out.txt" }, shell: "exit 3" } },
  });
}

/**
 * The waits the progress lines announce (`again in 20ms`, `again in 1.0s`),
 * in ms, checked against `baseMs` doubled per retry; up to a fifth less is
 * allowed, for jitter.
 */
function assertWaits(stderr: string, baseMs: number, retries: number): void {
  const waits = [...stderr.matchAll(/flaky: attempt \d+ failed \(exit code 3\); again in (\S+)\n/g)]
    .map((m) => m[1]!);
  assert.equal(waits.length, retries, stderr);
  waits.forEach((shown, i) => {
    const full = baseMs * 2 ** i;
    const fits = [...Array(full + 1).keys()].filter((ms) => ms >= full * 0.8)
      .some((ms) => formatDuration(ms) === shown);
    assert.ok(fits, `retry ${i + 1} waits ${shown}, not about ${formatDuration(full)}`);
  });
}

Deno.test("ferry run --retry-base sets the first wait before a retry, doubled for each next one", async () => {
  await withTemp(async (dir) => {
    const wf = await failing(dir, 2);
    const r = await runCli(["run", "--progress", "lines", "--retry-base", "0.02", wf]);
    assert.equal(r.code, 1, r.stderr);
    assertWaits(r.stderr, 20, 2);
  });
});

Deno.test("ferry run without --retry-base waits RETRY_BASE_MS (1 s) before a retry", async () => {
  assert.equal(RETRY_BASE_MS, 1000);
  await withTemp(async (dir) => {
    const wf = await failing(dir, 1);
    const r = await runCli(["run", "--progress", "lines", wf]);
    assert.equal(r.code, 1, r.stderr);
    assertWaits(r.stderr, 1000, 1);
  });
});

Deno.test("ferry run --retry-base and --poll-interval refuse values out of range", async () => {
  const cases: [string[], string][] = [
    [
      ["--retry-base", "soon"],
      'Cannot use --retry-base "soon": write a number of seconds from 0 to 30',
    ],
    [
      ["--retry-base", "31"],
      'Cannot use --retry-base "31": write a number of seconds from 0 to 30',
    ],
    [["--retry-base", ""], 'Cannot use --retry-base "": write a number of seconds from 0 to 30'],
    [
      ["--poll-interval", "0"],
      'Cannot use --poll-interval "0": write a number of seconds from 0.01 to 3600',
    ],
    [
      ["--poll-interval", "-1"],
      'Cannot use --poll-interval "-1": write a number of seconds from 0.01 to 3600',
    ],
  ];
  for (const [args, message] of cases) {
    assert.deepEqual(await runCli(["run", ...args, "w.yaml"]), {
      code: 2,
      stdout: "",
      stderr: `ferry: ${message}\n`,
    });
  }
});

/**
 * A Slurm that lives in `bin/`: `sbatch` runs the job script in the
 * background as a node would, `squeue` logs each call to `squeue.log` and
 * says every job asked about is running. The job ends when its wrapper writes
 * its status file, whatever squeue says.
 */
async function fakeSlurm(dir: string): Promise<{ path: string; calls(): Promise<number> }> {
  const bin = join(dir, "bin"), log = join(dir, "squeue.log");
  await Deno.mkdir(bin);
  const scripts: Record<string, string> = {
    sbatch: 'setsid bash "${@: -1}" >/dev/null 2>&1 </dev/null &\necho 4242\n',
    squeue: `echo call >>'${log}'\n` +
      'for a in "$@"; do case $a in --jobs=*) ids=${a#--jobs=} ;; esac; done\n' +
      'for id in ${ids//,/ }; do echo "$id|RUNNING|None"; done\n',
    scancel: "exit 0\n",
    sacct: "exit 0\n",
  };
  for (const [name, body] of Object.entries(scripts)) {
    await Deno.writeTextFile(join(bin, name), `#!/bin/bash\n${body}`, { mode: 0o755 });
  }
  return {
    path: `${bin}:${Deno.env.get("PATH")}`,
    calls: async () => {
      try {
        return (await Deno.readTextFile(log)).split("\n").filter((l) => l === "call").length;
      } catch {
        return 0;
      }
    },
  };
}

Deno.test("ferry run --poll-interval sets the time between a scheduler's status calls", async () => {
  assert.equal(POLL_MS, 1000);
  await withTemp(async (dir) => {
    const slurm = await fakeSlurm(dir);
    const wf = await writeWorkflow(dir, {
      ferry: 1,
      name: "polled",
      executors: { cluster: { provider: "slurm" } },
      defaults: { executor: "cluster" },
      apps: { slow: { outputs: { out: "out.txt" }, shell: "sleep 1.5; echo done > out.txt" } },
    });
    const fast = await ferryRun(["--poll-interval", "0.05", wf], { PATH: slurm.path });
    assert.equal(fast.code, 0, fast.stderr);
    // 1.5 s of task at 50 ms: far more calls than the default's one a second could make.
    const polled = await slurm.calls();
    assert.ok(polled >= 10, `${polled} squeue calls with --poll-interval 0.05`);
    await Deno.remove(join(dir, "squeue.log"));
    const slow = await ferryRun(["--no-cache", wf], { PATH: slurm.path });
    assert.equal(slow.code, 0, slow.stderr);
    const once = await slurm.calls();
    assert.ok(once >= 1 && once <= 3, `${once} squeue calls at the default of one a second`);
  });
});
