/**
 * Real workflows on a real single-node Slurm cluster (slurm-wlm + munge from
 * Debian, started by this file on free ports under a temp directory). Under
 * CI=true a missing Slurm fails; elsewhere these tests skip, loudly.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  exists,
  ferry,
  ferryRun,
  ROOT,
  runDirOf,
  runScriptJson,
  withTemp,
  writeWorkflow,
} from "./_run.ts";
import { haveService, processesLeftIn, waitFor } from "./_services.ts";
import { type SlurmCluster, startSlurm } from "./_slurm.ts";
import { taskDirName } from "../interpreter/attempt.ts";

const HAVE = haveService("Slurm", ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel"]);
const decoder = new TextDecoder();

let cluster: SlurmCluster | undefined;
async function slurm(): Promise<SlurmCluster> {
  cluster ??= await startSlurm();
  return cluster;
}

/** Run ferry against the cluster (status polled every 200 ms). */
async function run(args: string[], extraEnv: Record<string, string> = {}) {
  const c = await slurm();
  return ferryRun(["--poll-interval", "0.2", ...args], { ...c.env, ...extraEnv });
}

function site(dir: string, executor: Record<string, unknown>): Promise<string> {
  return writeWorkflow(
    dir,
    { "ferry-site": 1, executors: { cluster: { provider: "slurm", ...executor } } },
    "site.yaml",
  );
}

/** The attempt directory of a task (by its id, as the plan names it). */
function attemptDir(runDir: string, task: string, attempt = 1): string {
  return join(runDir, "tasks", taskDirName(task), `attempt-${attempt}`);
}

function jobOf(runDir: string, task: string, attempt = 1): { jobId: string; script: string } {
  return JSON.parse(Deno.readTextFileSync(join(attemptDir(runDir, task, attempt), "job.json")));
}

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name: `slurm: ${name}`, ignore: !HAVE, sanitizeResources: false, fn });

t(
  "a fan-out through node-local scratch goes as one job array; the reduce follows; a re-run is all cached",
  async () => {
    await withTemp(async (ws) => {
      await Deno.mkdir(join(ws, "in"));
      for (let i = 1; i <= 5; i++) {
        await Deno.writeTextFile(join(ws, "in", `${i}.txt`), `input ${i}\n`);
      }
      const scratch = join(ws, "node-scratch");
      await Deno.mkdir(scratch);
      const s = await site(ws, {
        bundle: "array",
        options: { partition: "debug" },
        scratch: "${FERRY_TEST_SCRATCH}",
        env: { FERRY_TEST_SCRATCH: scratch },
        staging: [{ match: "file:///*", action: "scratch" }],
      });
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "fanout",
        params: { ids: [1, 2, 3, 4, 5] },
        defaults: { executor: "cluster" },
        apps: {
          gen: {
            for_each: { i: "${{ params.ids }}" },
            inputs: { src: "in/${{ i }}.txt" },
            outputs: { out: "gen/${{ i }}.txt" },
            shell:
              'cat ${{ inputs.src }} > ${{ outputs.out }}; echo "ran in $PWD" >> ${{ outputs.out }}',
          },
          sum: {
            inputs: { all: "${{ apps.gen.outputs.out }}" },
            outputs: { total: "total.txt" },
            shell: "cat ${{ inputs.all }} > ${{ outputs.total }}",
          },
        },
      });
      const r = await run(["--site", s, wf], { FERRY_TEST_SCRATCH: "" });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^done: 6 succeeded, 0 failed in /m);
      const total = await Deno.readTextFile(join(ws, "total.txt"));
      for (let i = 1; i <= 5; i++) {
        assert.match(total, new RegExp(`^input ${i}\\nran in ${scratch}/ferry-`, "m"));
      }
      // Node-local copies are removed after success.
      assert.deepEqual([...Deno.readDirSync(scratch)], []);
      const runDir = runDirOf(r);
      const ids = [1, 2, 3, 4, 5].map((i) => jobOf(runDir, `gen[i=${i}]`).jobId);
      const arrays = new Set(ids.map((id) => id.split("_")[0]));
      assert.equal(arrays.size, 1, `one array job: ${ids}`);
      assert.deepEqual(ids.map((id) => id.split("_")[1]).sort(), ["0", "1", "2", "3", "4"]);
      const script = await Deno.readTextFile(jobOf(runDir, "gen[i=1]").script);
      assert.match(script, /^#SBATCH --array=0-4$/m);
      assert.match(script, /^#SBATCH --partition=debug$/m);
      // The reduce went on its own; its job script and Slurm's output are kept with the attempt.
      const sum = jobOf(runDir, "sum");
      assert.ok(!sum.jobId.includes("_"));
      assert.ok(await exists(join(attemptDir(runDir, "sum"), "job.sh")));
      assert.ok(await exists(join(attemptDir(runDir, "sum"), "exit.json")));
      const again = await run(["--site", s, wf]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /^done: 0 succeeded, 6 cached, 0 failed in /m);
    });
  },
);

t("a task that fails its first attempt succeeds on retry; both attempts are kept", async () => {
  await withTemp(async (ws) => {
    const s = await site(ws, {});
    const marker = join(ws, "failed-once");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "retry",
      defaults: { executor: "cluster" },
      apps: {
        flaky: {
          retries: 2,
          outputs: { out: "out.txt" },
          shell: `if [ ! -e '${marker}' ]; then touch '${marker}'; echo boom >&2; exit 3; fi\n` +
            "echo fine > ${{ outputs.out }}",
        },
      },
    });
    const r = await run(["--site", s, wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^done: 1 succeeded, 0 failed in /m);
    assert.equal(await Deno.readTextFile(join(ws, "out.txt")), "fine\n");
    const runDir = runDirOf(r);
    const first = JSON.parse(
      await Deno.readTextFile(join(attemptDir(runDir, "flaky"), "exit.json")),
    );
    assert.equal(first.exitCode, 3);
    assert.equal(
      await Deno.readTextFile(join(attemptDir(runDir, "flaky"), "stderr.log")),
      "boom\n",
    );
    const [one, two] = [jobOf(runDir, "flaky", 1).jobId, jobOf(runDir, "flaky", 2).jobId];
    assert.notEqual(one, two);
    // `ferry status` names each attempt's Slurm job.
    const st = await ferryRun(["--workspace", ws], {}, "status");
    assert.equal(st.code, 0, st.stderr);
    assert.match(
      st.stdout,
      new RegExp(`^    attempt 1 \\(job ${one}\\): failed \\(exit code 3\\) in `, "m"),
    );
    assert.match(st.stdout, new RegExp(`^    attempt 2 \\(job ${two}\\): succeeded in `, "m"));
    const json = await ferryRun(["--workspace", ws, "--format", "json"], {}, "status");
    const attempts = JSON.parse(json.stdout).run.tasks[0].attempts;
    assert.deepEqual(attempts.map((a: { jobId: string }) => a.jobId), [one, two]);
  });
});

t("50 tasks go as one job array throttled by max_jobs", async () => {
  await withTemp(async (ws) => {
    const s = await site(ws, { bundle: "array", max_jobs: 20 });
    const ids = Array.from({ length: 50 }, (_, i) => i);
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "array50",
      params: { ids },
      defaults: { executor: "cluster" },
      apps: {
        square: {
          for_each: { n: "${{ params.ids }}" },
          outputs: { out: "sq/${{ n }}.txt" },
          shell: "echo $(( ${{ n }} * ${{ n }} )) > ${{ outputs.out }}",
        },
      },
    });
    const r = await run(["--site", s, wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^done: 50 succeeded, 0 failed in /m);
    for (const n of ids) {
      assert.equal(await Deno.readTextFile(join(ws, "sq", `${n}.txt`)), `${n * n}\n`);
    }
    const runDir = runDirOf(r);
    const jobIds = ids.map((n) => jobOf(runDir, `square[n=${n}]`).jobId);
    assert.equal(new Set(jobIds.map((id) => id.split("_")[0])).size, 1, jobIds.join(" "));
    const script = await Deno.readTextFile(jobOf(runDir, "square[n=0]").script);
    assert.match(script, /^#SBATCH --array=0-49%20$/m);
  });
});

t("Ctrl-C mid-run cancels every job: none is left in squeue", async () => {
  const c = await slurm();
  await withTemp(async (ws) => {
    const s = await site(ws, { bundle: "array" });
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "interrupt",
      params: { ids: [1, 2, 3, 4, 5, 6] },
      defaults: { executor: "cluster" },
      apps: {
        slow: {
          for_each: { i: "${{ params.ids }}" },
          outputs: { out: "o/${{ i }}.txt" },
          shell: "sleep 300; touch ${{ outputs.out }}",
        },
        solo: { outputs: { out: "solo.txt" }, shell: "sleep 300; touch ${{ outputs.out }}" },
      },
    });
    const child = ferry(["--poll-interval", "0.2", "--site", s, wf], c.env).spawn();
    const output = child.output();
    try {
      await waitFor("jobs running in Slurm", async () => {
        const r = await c.run("squeue", "--noheader", "--states=RUNNING", "--format=%i");
        return r.stdout.trim().split("\n").filter(Boolean).length >= 2;
      }, 30_000);
      child.kill("SIGINT");
      const out = await output;
      const stderr = decoder.decode(out.stderr);
      assert.equal(out.code, 130, stderr);
      assert.match(stderr, /^interrupted: 0 succeeded, 0 failed, 7 cancelled in /m);
      assert.deepEqual(await c.active(), [], "jobs left in squeue after ferry exited");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await output.catch(() => {});
    }
  });
});

t(
  "after kill -9, the next run cancels the jobs the dead run left, then runs the tasks again",
  async () => {
    const c = await slurm();
    await withTemp(async (ws) => {
      const s = await site(ws, {});
      const app = (shell: string) => ({
        ferry: 1,
        name: "orphans",
        params: { ids: [1, 2] },
        defaults: { executor: "cluster" },
        apps: {
          work: {
            for_each: { i: "${{ params.ids }}" },
            outputs: { out: "o/${{ i }}.txt" },
            shell: `${shell}; echo \${{ i }} > \${{ outputs.out }}`,
          },
        },
      });
      const wf = await writeWorkflow(ws, app("sleep 300"));
      const child = ferry(["--poll-interval", "0.2", "--site", s, wf], c.env).spawn();
      const output = child.output();
      let ids: string[] = [];
      try {
        await waitFor("both jobs running", async () => {
          const r = await c.run("squeue", "--noheader", "--states=RUNNING", "--format=%i");
          ids = r.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
          return ids.length >= 2;
        }, 30_000);
        child.kill("SIGKILL");
        await output.catch(() => {});
      } finally {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }
      // The jobs outlive ferry.
      assert.equal((await c.active()).length, 2);
      await writeWorkflow(ws, app("true"));
      const r = await run(["--site", s, wf]);
      assert.equal(r.code, 0, r.stderr);
      const m =
        /^ferry: warning: cancelled 2 job\(s\) that run (\S+) left on executor "cluster": (\S+) (\S+)$/m
          .exec(r.stderr);
      assert.ok(m, r.stderr);
      assert.deepEqual([m[2], m[3]].sort(), [...ids].sort());
      assert.match(r.stderr, /^done: 2 succeeded, 0 failed in /m);
      assert.equal(await Deno.readTextFile(join(ws, "o", "2.txt")), "2\n");
      await waitFor(
        "the old jobs gone from the queue",
        async () => (await c.active()).length === 0,
        15_000,
      );
    });
  },
);

t("a task over its walltime is reported as a timeout", async () => {
  await withTemp(async (ws) => {
    const s = await site(ws, {});
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "walltime",
      defaults: { executor: "cluster" },
      apps: {
        slow: { resources: { walltime: "2s" }, outputs: { o: "o.txt" }, shell: "sleep 120" },
      },
    });
    const t0 = performance.now();
    const r = await run(["--site", s, wf]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(performance.now() - t0 < 30_000, "the walltime was enforced to the second");
    assert.match(r.stderr, /^\[1\/1\] timeout slow: exceeded its walltime and was killed$/m);
    assert.match(r.stderr, /^failed: 0 succeeded, 1 failed in /m);
    const script = await Deno.readTextFile(jobOf(runDirOf(r), "slow").script);
    assert.match(script, /^#SBATCH --time=00:01:02$/m);
  });
});

t(
  "a task with a walltime that ends normally leaves no process of its job on the machine, not even one it started in the background",
  async () => {
    await withTemp(async (ws) => {
      const s = await site(ws, {});
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "no-leftovers",
        defaults: { executor: "cluster" },
        apps: {
          quick: {
            resources: { walltime: "1h" },
            outputs: { o: "o.txt" },
            shell: "sleep 607 & echo done > ${{ outputs.o }}",
          },
        },
      });
      const r = await run(["--site", s, wf]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^done: 1 succeeded, 0 failed in /m);
      // The walltime watchdog's `sleep` worked in the task's directory: it must be gone too.
      assert.deepEqual(await processesLeftIn(ws), [], "processes of the finished job left");
    });
  },
);

t(
  "a submission Slurm refuses (bad partition) fails with Slurm's own message, without retries",
  async () => {
    await withTemp(async (ws) => {
      const s = await site(ws, { options: { partition: "nosuch" } });
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "refused",
        defaults: { executor: "cluster" },
        apps: { a: { retries: 3, outputs: { o: "o.txt" }, shell: "touch ${{ outputs.o }}" } },
      });
      const r = await run(["--site", s, wf]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /^\[1\/1\] FAILED a: Slurm refused the job \(sbatch exit 1\): sbatch: error: invalid partition specified: nosuch; sbatch: error: Batch job submission failed: Invalid partition name specified$/m,
      );
      assert.doesNotMatch(r.stderr, /retry/i);
      assert.match(r.stderr, /^failed: 0 succeeded, 1 failed in /m);
    });
  },
);

t(
  "a function app runs in a Deno process inside the Slurm job; its return value is recorded",
  async () => {
    await withTemp(async (ws) => {
      await Deno.writeTextFile(
        join(ws, "steps.ts"),
        [
          "export function score(args: { outputs: { out: string }; task: { id: string } }) {",
          '  Deno.writeTextFileSync(args.outputs.out, `scored by ${args.task.id} in ${Deno.env.get("SLURM_JOB_ID") ? "slurm" : "?"}\\n`);',
          "  return { score: 42 };",
          "}",
          "",
        ].join("\n"),
      );
      const s = await site(ws, { env: { FERRY_DENO: Deno.execPath() } });
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "fn",
        defaults: { executor: "cluster" },
        apps: {
          score: {
            outputs: { out: "score.txt" },
            // The function reads a variable its task does not declare: its app grants it.
            permissions: { env: ["SLURM_JOB_ID"] },
            function: "./steps.ts#score",
          },
        },
      });
      const r = await run(["--site", s, wf]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(join(ws, "score.txt")), "scored by score in slurm\n");
      const dir = attemptDir(runDirOf(r), "score");
      assert.deepEqual(JSON.parse(await Deno.readTextFile(join(dir, "result.json"))), {
        score: 42,
      });
      assert.match(jobOf(runDirOf(r), "score").jobId, /^\d+$/);
    });
  },
);

t(
  "a Python script app runs inside the Slurm job, its task read from FERRY_TASK",
  async () => {
    await withTemp(async (ws) => {
      await Deno.writeTextFile(join(ws, "in.txt"), "seven\n");
      await Deno.writeTextFile(
        join(ws, "plot.py"),
        [
          "import json, os",
          'task = json.load(open(os.environ["FERRY_TASK"]))',
          'text = open(task["inputs"]["i"]).read().strip()',
          'job = "slurm" if os.environ.get("SLURM_JOB_ID") else "?"',
          'open(task["outputs"]["o"], "w").write(f"{text} {task[\'params\'][\'n\']} {job}\\n")',
          "",
        ].join("\n"),
      );
      const s = await site(ws, {});
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "script",
        params: { n: 7 },
        defaults: { executor: "cluster" },
        apps: { plot: { inputs: { i: "in.txt" }, outputs: { o: "out.txt" }, script: "plot.py" } },
      });
      const r = await run(["--site", s, wf]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(join(ws, "out.txt")), "seven 7 slurm\n");
      assert.match(jobOf(runDirOf(r), "plot").jobId, /^\d+$/);
    });
  },
);

t("examples/slurm runs as documented: a sweep as one array, then the summary", async () => {
  await withTemp(async (ws) => {
    for (const f of ["workflow.yaml", "site.yaml"]) {
      await Deno.copyFile(join(ROOT, "examples", "slurm", f), join(ws, f));
    }
    const r = await run(["--site", join(ws, "site.yaml"), join(ws, "workflow.yaml")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^done: 5 succeeded, 0 failed in /m);
    const rows = (await Deno.readTextFile(join(ws, "summary.tsv"))).trim().split("\n");
    assert.deepEqual(rows.map((l) => l.split("\t")[0]), ["0.1", "0.2", "0.5", "1"]);
    const runDir = runDirOf(r);
    const ids = ["0.1", "0.2", "0.5", "1"].map((x) => jobOf(runDir, `simulate[rate=${x}]`).jobId);
    assert.equal(new Set(ids.map((id) => id.split("_")[0])).size, 1, ids.join(" "));
  });
});

t(
  'executor("cluster", { site }).submit runs each call as a Slurm job with its requirements',
  async () => {
    const c = await slurm();
    await withTemp(async (ws) => {
      const s = await site(ws, { env: { FERRY_DENO: Deno.execPath() } });
      const script = join(ws, "calc.ts");
      await Deno.writeTextFile(
        script,
        [
          `import { executor } from ${JSON.stringify(join(ROOT, "mod.ts"))};`,
          "export function where(x: number) {",
          "  return { x2: x * 2, job: Deno.env.get('SLURM_JOB_ID') ?? null, cpus: Deno.env.get('SLURM_CPUS_PER_TASK') ?? null };",
          "}",
          "if (import.meta.main) {",
          `  await using ex = executor("cluster", { site: ${
            JSON.stringify(s)
          }, requirements: { cores: 2, walltime: "5m" }, pollMs: 200 });`,
          "  console.log(JSON.stringify(await Promise.all([1, 2, 3].map((x) => ex.submit(where, x)))));",
          "}",
          "",
        ].join("\n"),
      );
      const results = await runScriptJson(script, ws, c.env) as {
        x2: number;
        job: string;
        cpus: string;
      }[];
      assert.deepEqual(results.map((r) => r.x2), [2, 4, 6]);
      assert.ok(
        results.every((r) => /^\d+$/.test(r.job) && r.cpus === "2"),
        JSON.stringify(results),
      );
      assert.deepEqual(await c.active(), []);
    });
  },
);

t(
  "a batch task's wall, CPU and peak memory come from the job wrapper (/usr/bin/time on the node)",
  async () => {
    await withTemp(async (ws) => {
      const s = await site(ws, { options: { partition: "debug" } });
      const hog = "import sys, time\nb = b'x' * (200 * 1024 * 1024)\nt = time.process_time()\n" +
        "while time.process_time() - t < 1: pass\nopen(sys.argv[1], 'w').write('ok')";
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "cost",
        apps: {
          hog: {
            executor: "cluster",
            outputs: { out: "hog.txt" },
            benchmark: "hog.tsv",
            resources: { memory: "1GiB" },
            command: ["python3", "-c", hog, "${{ outputs.out }}"],
          },
        },
      });
      const r = await run(["--site", s, wf]);
      assert.equal(r.code, 0, r.stderr);
      const st = await ferryRun(["--workspace", ws, "--format", "json"], {}, "status");
      const usage = JSON.parse(st.stdout).run.tasks[0].attempts[0].usage;
      assert.equal(usage.measuredBy, "time");
      const mib = usage.maxRssBytes / 2 ** 20, cpu = usage.userSeconds + usage.systemSeconds;
      assert.ok(mib >= 200 && mib <= 240, `peak ${mib} MiB`);
      assert.ok(cpu >= 0.95 && cpu <= 3, `CPU ${cpu} s`);
      assert.ok(usage.wallSeconds >= 0.95 && usage.wallSeconds < 30, `wall ${usage.wallSeconds} s`);
      const tsv = (await Deno.readTextFile(join(ws, "hog.tsv"))).split("\n");
      assert.equal(tsv[0], "s\th:m:s\tmax_rss\tmean_load\tcpu_time");
      assert.equal(Number(tsv[1]!.split("\t")[2]), Number(mib.toFixed(2)));
    });
  },
);

Deno.test({
  name: "slurm: stop the test cluster",
  ignore: !HAVE,
  sanitizeResources: false,
  async fn() {
    await cluster?.stop();
    cluster = undefined;
  },
});
