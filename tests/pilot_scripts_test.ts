/**
 * `bundle: pilot` without a scheduler: `plan --show-scripts` prints the block
 * script of every dialect exactly (one core per worker, the block's walltime,
 * worker_init once, the workers started from the queue directory), and
 * `check` locates settings that cannot work.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferryRun, ROOT, withTemp, writeWorkflow } from "./_run.ts";
import { haveService } from "./_services.ts";
import { shellcheck } from "./_shellcheck.ts";

const HAVE_SHELLCHECK = haveService("shellcheck", ["shellcheck"]);

function workflow(provider: string, executor: Record<string, unknown> = {}) {
  return {
    ferry: 1,
    name: "pilots",
    params: { ids: ["a", "b"] },
    executors: {
      hpc: {
        provider,
        bundle: "pilot",
        worker_init: "module load samtools",
        pilot: { workers_per_node: 4, walltime: "2h", idle_timeout: "30s" },
        ...executor,
      },
    },
    defaults: { executor: "hpc" },
    apps: {
      align: {
        for_each: { s: "${{ params.ids }}" },
        resources: { cores: 1, walltime: "10m" },
        outputs: { bam: "bam/${{ s }}.bam" },
        command: ["touch", "${{ outputs.bam }}"],
      },
    },
  };
}

/** The launcher lines every dialect's block script ends with, for queue directory `q`. */
const launcher = (q: string) => [
  "FERRY_ARRAY_INDEX=0",
  "export FERRY_ARRAY_INDEX",
  "export FERRY_LAUNCH=",
  "# shellcheck disable=SC2034 # the pilot library reads it",
  `ferry_q=${q}`,
  "# worker_init, once for the block",
  "module load samtools",
  "{ set +euxv; set +o pipefail; } 2>/dev/null",
  "# shellcheck source=/dev/null # written into the queue directory at run time",
  `source ${q}/pilot.sh`,
  "ferry_pilot_block b1 4 30",
];

const HEADERS: Record<string, (q: string) => string[]> = {
  slurm: (q) => [
    "#SBATCH --job-name=ferry-pilot-hpc-b1",
    `#SBATCH --output=${q}/blocks/b1.out`,
    `#SBATCH --chdir=${q}`,
    "#SBATCH --ntasks=1",
    "#SBATCH --cpus-per-task=4",
    "#SBATCH --time=02:01:00",
  ],
  pbs: (q) => [
    "#PBS -N ferry-pilot-hpc-b1",
    "#PBS -j oe",
    `#PBS -o ${q}/blocks/b1.out`,
    "#PBS -l select=1:ncpus=4",
    "#PBS -l walltime=02:01:00",
    `cd ${q} || exit 1`,
  ],
  lsf: (q) => [
    "#BSUB -J ferry-pilot-hpc-b1",
    `#BSUB -oo ${q}/blocks/b1.out`,
    `#BSUB -cwd ${q}`,
    "#BSUB -n 4",
    '#BSUB -R "span[hosts=1]"',
    "#BSUB -W 2:01",
  ],
  htcondor: () => ["exec 2>&1"],
};

for (const [provider, headers] of Object.entries(HEADERS)) {
  Deno.test(`plan --show-scripts prints the ${provider} pilot block script and each task's wrapper without worker_init`, async () => {
    await withTemp(async (ws) => {
      const wf = await writeWorkflow(ws, workflow(provider));
      const r = await ferryRun(["--show-scripts", wf], {}, "plan");
      assert.equal(r.code, 0, r.stderr);
      const q = join(ws, ".ferry/runs/RUN/pilot/hpc");
      const expected = [
        `# ── pilot block script of executor "hpc" (${provider}), for each block it submits (b1, b2, ...): .ferry/runs/RUN/pilot/hpc/blocks/b1.sh`,
        "#!/bin/bash",
        ...headers(q),
        ...launcher(q),
        "",
        "# .ferry/runs/RUN/pilot/hpc/pilot.sh: the workers (providers/batch/pilot.sh); each runs the wrappers below as it takes their tasks",
        "",
      ].join("\n");
      assert.ok(r.stdout.includes(expected), r.stdout);
      // One wrapper per task, none running worker_init (the block runs it once).
      assert.equal(r.stdout.match(/^# ferry job wrapper: task /gm)?.length, 2);
      assert.equal(r.stdout.match(/^module load samtools$/gm)?.length, 1);
      assert.doesNotMatch(r.stdout, /job script of|job array of/);
    });
  });
}

/** A block of 2 nodes × 4 workers: each dialect's directives, then its launcher on every node. */
const MULTI: Record<string, (q: string) => string[]> = {
  slurm: (q) => [
    "#SBATCH --job-name=ferry-pilot-hpc-b1",
    `#SBATCH --output=${q}/blocks/b1.out`,
    `#SBATCH --chdir=${q}`,
    "#SBATCH --ntasks=2",
    "#SBATCH --nodes=2",
    "#SBATCH --ntasks-per-node=1",
    "#SBATCH --cpus-per-task=4",
    "#SBATCH --time=02:01:00",
    ...launcher(q).slice(0, 5),
    'if [ "${1-}" != node ]; then',
    "  # The block's own shell: this script on each of its 2 nodes",
    "  # shellcheck disable=SC2016 # expanded by the bash srun starts on each node",
    "  srun --nodes=2 --ntasks=2 --ntasks-per-node=1 --cpus-per-task=4 \\",
    `    /bin/bash -c 'exec /bin/bash "$0" node "$((SLURM_NODEID + 1))" "$SLURMD_NODENAME"' ${q}/blocks/b1.sh`,
    "  exit",
    "fi",
  ],
  pbs: (q) => [
    "#PBS -N ferry-pilot-hpc-b1",
    "#PBS -j oe",
    `#PBS -o ${q}/blocks/b1.out`,
    "#PBS -l select=2:ncpus=4:mpiprocs=1",
    "#PBS -l place=scatter",
    "#PBS -l walltime=02:01:00",
    `cd ${q} || exit 1`,
    ...launcher(q).slice(0, 5),
    'if [ "${1-}" != node ]; then',
    "  # The block's own shell: this script on each of its 2 nodes",
    "  for ((ferry_i = 0; ferry_i < 2; ferry_i++)); do",
    `    pbsdsh -n "$ferry_i" -- /bin/bash ${q}/blocks/b1.sh node "$((ferry_i + 1))" '' &`,
    "  done",
    "  wait",
    "  exit",
    "fi",
  ],
  lsf: (q) => [
    "#BSUB -J ferry-pilot-hpc-b1",
    `#BSUB -oo ${q}/blocks/b1.out`,
    `#BSUB -cwd ${q}`,
    "#BSUB -n 8",
    '#BSUB -R "span[ptile=4]"',
    "#BSUB -W 2:01",
    ...launcher(q).slice(0, 5),
    'if [ "${1-}" != node ]; then',
    "  # The block's own shell: this script on each of its 2 nodes",
    '  read -ra ferry_hosts <<<"$LSB_MCPU_HOSTS"',
    "  for ((ferry_i = 0; ferry_i * 2 < ${#ferry_hosts[@]}; ferry_i++)); do",
    "    ferry_host=${ferry_hosts[ferry_i * 2]}",
    `    blaunch "$ferry_host" /bin/bash ${q}/blocks/b1.sh node "$((ferry_i + 1))" "$ferry_host" &`,
    "  done",
    "  wait",
    "  exit",
    "fi",
  ],
};

/** What every node of a block of several nodes runs: worker_init, then its workers. */
const nodePart = (q: string) => [
  "# This node's number and name, kept before worker_init could change the arguments",
  "ferry_node=$2 ferry_node_name=$3",
  "# worker_init, once for the node",
  ...launcher(q).slice(6, 10),
  'ferry_pilot_block b1 4 30 "$ferry_node" "$ferry_node_name"',
];

/** The workflow with a block of 2 nodes × 4 workers. */
const multiNode = (provider: string) =>
  workflow(provider, {
    pilot: { nodes_per_block: 2, workers_per_node: 4, walltime: "2h", idle_timeout: "30s" },
  });

for (const [provider, head] of Object.entries(MULTI)) {
  Deno.test(`plan --show-scripts prints the ${provider} block script of 2 nodes: it starts itself on each node, which runs worker_init and its workers`, async () => {
    await withTemp(async (ws) => {
      const r = await ferryRun(
        ["--show-scripts", await writeWorkflow(ws, multiNode(provider))],
        {},
        "plan",
      );
      assert.equal(r.code, 0, r.stderr);
      const q = join(ws, ".ferry/runs/RUN/pilot/hpc");
      const expected = [
        `# ── pilot block script of executor "hpc" (${provider}), for each block it submits (b1, b2, ...): .ferry/runs/RUN/pilot/hpc/blocks/b1.sh`,
        "#!/bin/bash",
        ...head(q),
        ...nodePart(q),
        "",
        "# .ferry/runs/RUN/pilot/hpc/pilot.sh: the workers (providers/batch/pilot.sh); each runs the wrappers below as it takes their tasks",
        "",
      ].join("\n");
      assert.ok(r.stdout.includes(expected), r.stdout);
      assert.equal(r.stdout.match(/^module load samtools$/gm)?.length, 1);
    });
  });
}

Deno.test({
  name: "the pilot library and every dialect's block script are clean under shellcheck",
  ignore: !HAVE_SHELLCHECK,
  async fn() {
    const lib = await Deno.readTextFile(join(ROOT, "providers/batch/pilot.sh"));
    assert.equal(await shellcheck(lib), "");
    const cases = [
      ...Object.keys(HEADERS).map((p) => [p, workflow(p)] as const),
      ...Object.keys(MULTI).map((p) => [p, multiNode(p)] as const),
    ];
    for (const [provider, wf] of cases) {
      await withTemp(async (ws) => {
        const r = await ferryRun(["--show-scripts", await writeWorkflow(ws, wf)], {}, "plan");
        assert.equal(r.code, 0, r.stderr);
        const block = r.stdout.split(/^# ── pilot block script .*\n/m)[1]!.split("\n\n")[0]! + "\n";
        assert.match(block, /^#!\/bin\/bash\n/);
        assert.equal(await shellcheck(block), "", `${provider}:\n${block}`);
      });
    }
  },
});

Deno.test("plan --show-scripts quotes a hostile workspace path in the pilot launcher", async () => {
  await withTemp(async (tmp) => {
    const ws = join(tmp, "w 'q' $(touch pwned) `id`");
    await Deno.mkdir(ws);
    const wf = await writeWorkflow(ws, workflow("slurm"));
    const r = await ferryRun(["--show-scripts", wf], {}, "plan");
    assert.equal(r.code, 0, r.stderr);
    const q = join(ws, ".ferry/runs/RUN/pilot/hpc");
    const quoted = `'${q.replaceAll("'", "'\\''")}'`;
    assert.ok(r.stdout.includes(`\nferry_q=${quoted}\n`), r.stdout);
    assert.ok(r.stdout.includes(`\nsource ${quoted.slice(0, -1)}/pilot.sh'\n`), r.stdout);
    assert.ok(r.stdout.includes(`#SBATCH --chdir="${q}"\n`), r.stdout);
    // A block of several nodes names its own script to srun, quoted the same way.
    const multi = await ferryRun(
      ["--show-scripts", await writeWorkflow(ws, multiNode("slurm"))],
      {},
      "plan",
    );
    assert.equal(multi.code, 0, multi.stderr);
    assert.ok(
      multi.stdout.includes(`"$SLURMD_NODENAME"' ${quoted.slice(0, -1)}/blocks/b1.sh'\n`),
      multi.stdout,
    );
  });
});

Deno.test("plan --show-scripts prints what a pilot worker runs of a function call in its Deno worker, least-privilege or not", async () => {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(join(ws, "fns.ts"), "export function go() { return 1; }\n");
    const wf = await writeWorkflow(ws, {
      ...workflow("slurm", { env: { FERRY_DENO: "/opt/deno" } }),
      apps: {
        shared: { function: "./fns.ts#go", permissions: { all: true } },
        own: { function: "./fns.ts#go" },
      },
    });
    const r = await ferryRun(["--show-scripts", wf], {}, "plan");
    assert.equal(r.code, 0, r.stderr);
    const section = (id: string) =>
      r.stdout.split(`# ── ${id}: `).find((x) => /^\S+\/task\.sh\n/.test(x))!.split("# ── ")[0]!;
    const shared = section("shared");
    assert.match(
      shared,
      /^\S+\/task\.sh\nferry_fn_argv=\(\/opt\/deno run -A --no-prompt \S+\/function_worker\.ts\)\n# ferry pilot task: task shared, attempt 1\./,
    );
    assert.match(shared, /\nferry_fn_call '' /);
    assert.doesNotMatch(shared, /function_runner/);
    // Least-privilege permissions: a worker with the rights any such call may be granted, the
    // call's own in its call file (for its Web Worker there).
    const own = section("own");
    assert.match(
      own,
      /^\S+\/task\.sh\nferry_fn_argv=\(\/opt\/deno run --allow-read --allow-write --allow-net --allow-env --allow-run --unstable-worker-options --no-prompt \S+\/function_worker\.ts\)\n# ferry pilot task: task own, attempt 1\./,
    );
    assert.doesNotMatch(own, /function_runner/);
    const call = r.stdout.split("# ── own: ").find((x) => /^\S+\/call\.json\n/.test(x))!;
    const permissions = JSON.parse(call.split("\n")[1]!).permissions;
    assert.deepEqual(
      { ...permissions, read: permissions.read.slice(0, 1) },
      {
        read: ["."],
        write: [".", permissions.write[1]],
        net: [],
        env: permissions.env,
        run: [],
        all: false,
      },
    );
    assert.match(permissions.write[1], /\/result\.json$/);
  });
});

/** `ferry check` on the workflow with executor `hpc` changed by `executor`: its stderr. */
async function check(ws: string, provider: string, executor: Record<string, unknown>) {
  const wf = await writeWorkflow(ws, workflow(provider, executor));
  const r = await ferryRun([wf], { NO_COLOR: "1" }, "check");
  return { code: r.code, out: r.stdout + r.stderr };
}

Deno.test("check refuses pilot settings that cannot work, at their key", async () => {
  await withTemp(async (ws) => {
    const cases: [string, Record<string, unknown>, string, string][] = [
      [
        "slurm",
        { pilot: { min_blocks: 3, max_blocks: 2 } },
        '13:19: error[invalid-value]: Cannot use min_blocks: 3 on executor "hpc": it is more than max_blocks (2)',
        "   13 |       min_blocks: 3",
      ],
      [
        "slurm",
        { pilot: { init_blocks: 5, max_blocks: 2 } },
        '13:20: error[invalid-value]: Cannot use init_blocks: 5 on executor "hpc": it is more than max_blocks (2)',
        "   13 |       init_blocks: 5",
      ],
      [
        "slurm",
        { bundle: "array" },
        '12:5: error[invalid-value]: Cannot use "pilot" on executor "hpc": it sizes pilot blocks, which only "bundle: pilot" submits; add bundle: pilot or remove pilot',
        "   12 |     pilot:",
      ],
      [
        "local",
        {},
        '10:13: error[invalid-value]: Cannot use "bundle: pilot" with the local provider: pilot blocks are jobs of a batch scheduler (slurm, pbs, lsf, htcondor)',
        "   10 |     bundle: pilot",
      ],
      [
        "htcondor",
        { pilot: { nodes_per_block: 2 } },
        `13:24: error[invalid-value]: Cannot use nodes_per_block: 2 on executor "hpc": HTCondor runs no job over several nodes (its vanilla universe has one machine per job); use 1 and more blocks`,
        "   13 |       nodes_per_block: 2",
      ],
      [
        "slurm",
        { filesystem: "executor-shared" },
        '10:13: error[invalid-value]: Cannot use "bundle: pilot" with "filesystem: executor-shared": ferry and the workers meet in a queue directory, under the run\'s directory (filesystem: shared) or, through via:, under remote_dir (filesystem: none); use one of those, or bundle: array',
        "   10 |     bundle: pilot",
      ],
      [
        "slurm",
        { pilot: { walltime: "soon" } },
        '13:17: error[invalid-quantity]: Cannot read walltime "soon": write it as 90s, 30m, 1h30m, 2d, HH:MM:SS, MM:SS or D-HH:MM:SS',
        "   13 |       walltime: soon",
      ],
    ];
    for (const [provider, executor, first, snippet] of cases) {
      const r = await check(ws, provider, executor);
      assert.equal(r.code, 2, r.out);
      const lines = r.out.split("\n");
      assert.equal(lines[0], `${join(ws, "workflow.yaml")}:${first}`);
      assert.equal(lines[1], snippet);
      assert.equal(lines[3], `✗ ${join(ws, "workflow.yaml")}: 1 error, 0 warnings`);
    }
  });
});
