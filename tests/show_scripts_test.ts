import assert from "node:assert/strict";
import { join } from "node:path";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";

const WF = {
  ferry: 1,
  name: "scripts",
  params: { ids: ["a", "b", "c"] },
  executors: {
    hpc: {
      provider: "slurm",
      bundle: "array",
      max_jobs: 2,
      options: { partition: "short", account: "proj" },
      worker_init: "module load samtools",
    },
  },
  defaults: { executor: "hpc" },
  apps: {
    align: {
      for_each: { s: "${{ params.ids }}" },
      resources: { cores: 2, memory: "3GiB", walltime: "1h" },
      outputs: { bam: "bam/${{ s }}.bam" },
      command: ["touch", "${{ outputs.bam }}"],
    },
    merge: {
      inputs: { all: "${{ apps.align.outputs.bam }}" },
      outputs: { out: "all.txt" },
      shell: "ls ${{ inputs.all }} > ${{ outputs.out }}",
    },
    here: { executor: "local", outputs: { o: "o.txt" }, command: ["touch", "o.txt"] },
  },
};

Deno.test("plan --show-scripts prints the job array, the single job and every wrapper a run would write", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, WF);
    const r = await ferryRun(["--show-scripts", wf], {}, "plan");
    assert.equal(r.code, 0, r.stderr);
    const jobs = join(ws, ".ferry/runs/RUN/jobs");
    assert.ok(
      r.stdout.includes(
        [
          '# ── job array of 3 tasks of app "align" on executor "hpc" (slurm), when they are ready together: .ferry/runs/RUN/jobs/align-1.sh',
          "#!/bin/bash",
          "#SBATCH --job-name=ferry-align-1",
          `#SBATCH --output=${jobs}/align-1-%A_%a.out`,
          `#SBATCH --chdir=${jobs}`,
          "#SBATCH --array=0-2%2",
          "#SBATCH --ntasks=1",
          "#SBATCH --cpus-per-task=2",
          "#SBATCH --mem=3072M",
          "#SBATCH --time=01:01:00",
          "#SBATCH --partition=short",
          "#SBATCH --account=proj",
          'FERRY_ARRAY_INDEX="$SLURM_ARRAY_TASK_ID"',
          "export FERRY_ARRAY_INDEX",
          "export FERRY_LAUNCH=",
          `ferry_task=$(sed -n "$((FERRY_ARRAY_INDEX + 1))p" ${jobs}/align-1.tasks)`,
          'exec bash "$ferry_task"',
          "",
        ].join("\n"),
      ),
      r.stdout,
    );
    assert.match(
      r.stdout,
      /^# ── job script of merge on executor "hpc" \(slurm\): \.ferry\/runs\/RUN\/tasks\/merge-[0-9a-f]{8}\/attempt-1\/job\.sh$/m,
    );
    // One wrapper per task on the cluster (none for the local one), each with worker_init.
    assert.equal(r.stdout.match(/^# ferry job wrapper: task /gm)?.length, 4);
    assert.equal(r.stdout.match(/^module load samtools$/gm)?.length, 4);
    assert.match(
      r.stdout,
      /^\( ferry_task_fds; exec >\S+\/stdout\.log 2>\S+\/stderr\.log; exec "\$\{ferry_timer\[@\]\}" \$FERRY_LAUNCH touch bam\/a\.bam \) &$/m,
    );
    assert.doesNotMatch(r.stdout, /task here/);
  });
});

Deno.test("plan --show-scripts with --format json keeps stdout JSON and prints the scripts on stderr", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, WF);
    const r = await ferryRun(["--show-scripts", "--format", "json", wf], {}, "plan");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).tasks.length, 5);
    assert.match(r.stderr, /^#SBATCH --array=0-2%2$/m);
  });
});

Deno.test("plan --show-scripts says so when nothing goes to a scheduler", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, { ferry: 1, name: "l", apps: { a: { command: ["true"] } } });
    const r = await ferryRun(["--show-scripts", wf], {}, "plan");
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /\nNo job scripts: no task to run goes to a batch scheduler \(slurm, pbs, lsf, htcondor\)\.\n$/,
    );
  });
});

Deno.test("plan --show-scripts in a workspace whose path holds a line break says why no directive can hold it (exit 2)", async () => {
  await withTemp(async (tmp) => {
    const ws = join(tmp, "ws\n#SBATCH --x");
    await Deno.mkdir(ws);
    const wf = await writeWorkflow(ws, WF);
    const r = await ferryRun(["--show-scripts", wf], {}, "plan");
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `ferry: Cannot write a Slurm directive for the path "${tmp}/ws\\n#SBATCH --x/.ferry/runs/RUN/jobs/` +
        `align-1-%A_%a.out": it holds a control character: use a workspace whose path has no control character\n`,
    );
  });
});
