import assert from "node:assert/strict";
import { slurm } from "./slurm.ts";

Deno.test("slurm: a job script asks for what resources and options say", () => {
  const text = slurm.script({
    name: "ferry-align",
    resources: { cores: 4, memory: 6 * 1024 ** 3, walltime: 5400, gpus: 2 },
    options: {
      partition: "gpu",
      account: "proj1",
      qos: "high",
      constraint: "v100",
      extra: ["--exclusive", "#SBATCH --nice=5"],
    },
    chdir: "/ws/.ferry/runs/r/tasks/align/attempt-1",
    output: "/ws/.ferry/runs/r/tasks/align/attempt-1/scheduler.out",
    body: "exec bash /ws/task.sh",
  });
  assert.equal(
    text,
    [
      "#!/bin/bash",
      "#SBATCH --job-name=ferry-align",
      "#SBATCH --output=/ws/.ferry/runs/r/tasks/align/attempt-1/scheduler.out",
      "#SBATCH --chdir=/ws/.ferry/runs/r/tasks/align/attempt-1",
      "#SBATCH --ntasks=1",
      "#SBATCH --cpus-per-task=4",
      "#SBATCH --mem=6144M",
      "#SBATCH --time=01:31:00",
      "#SBATCH --gres=gpu:2",
      "#SBATCH --partition=gpu",
      "#SBATCH --account=proj1",
      "#SBATCH --qos=high",
      "#SBATCH --constraint=v100",
      "#SBATCH --exclusive",
      "#SBATCH --nice=5",
      "FERRY_ARRAY_INDEX=0",
      "export FERRY_ARRAY_INDEX",
      "export FERRY_LAUNCH=",
      "exec bash /ws/task.sh",
      "",
    ].join("\n"),
  );
});

Deno.test("slurm: arrays use %A_%a and the max_jobs throttle; ranks > 1 launch with srun", () => {
  const text = slurm.script({
    name: "ferry-sim",
    resources: { cores: 2, memory: 1024 ** 3, ranks: 8, walltime: 3 * 86400 },
    options: {},
    chdir: "/ws/jobs",
    output: "/ws/jobs/sim-1-{array}_{index}.out",
    array: { count: 50, throttle: 10 },
    body: "run",
  });
  assert.match(text, /^#SBATCH --output=\/ws\/jobs\/sim-1-%A_%a\.out$/m);
  assert.match(text, /^#SBATCH --array=0-49%10$/m);
  assert.match(text, /^#SBATCH --ntasks=8$/m);
  assert.match(text, /^#SBATCH --mem-per-cpu=512M$/m);
  assert.match(text, /^#SBATCH --time=3-00:01:00$/m);
  assert.match(text, /^FERRY_ARRAY_INDEX="\$SLURM_ARRAY_TASK_ID"$/m);
  assert.match(text, /^export FERRY_LAUNCH=srun$/m);
});

Deno.test("slurm: submit, status and cancel commands; their outputs read", () => {
  assert.deepEqual(slurm.submit("/x/job.sh", {} as never).argv, [
    "sbatch",
    "--parsable",
    "/x/job.sh",
  ]);
  assert.equal(slurm.parseSubmit("4242\n"), "4242");
  assert.equal(slurm.parseSubmit("4243;cluster2\n"), "4243");
  assert.equal(slurm.parseSubmit("sbatch: warning: something\n"), undefined);
  assert.deepEqual(slurm.status(["12", "13"]).argv, [
    "squeue",
    "--noheader",
    "--array",
    "--states=all",
    "--jobs=12,13",
    "--format=%i|%T|%r",
  ]);
  // squeue --format=%i|%T|%r lines, states and reasons as Slurm 22.05 prints them.
  const out = [
    "9_2|PENDING|JobArrayTaskLimit",
    "9_0|RUNNING|None",
    "9_1|COMPLETED|None",
    "12|TIMEOUT|TimeLimit",
    "13|CANCELLED|None",
    "14|OUT_OF_MEMORY|OutOfMemory",
    "15|NODE_FAIL|NodeDown",
    "",
  ].join("\n");
  assert.deepEqual(slurm.parseStatus(out), [
    { id: "9_2", state: "pending", raw: "PENDING", reason: "JobArrayTaskLimit" },
    { id: "9_0", state: "running", raw: "RUNNING" },
    { id: "9_1", state: "completed", raw: "COMPLETED" },
    { id: "12", state: "timeout", raw: "TIMEOUT", reason: "TimeLimit" },
    { id: "13", state: "cancelled", raw: "CANCELLED" },
    { id: "14", state: "out-of-memory", raw: "OUT_OF_MEMORY", reason: "OutOfMemory" },
    { id: "15", state: "node-fail", raw: "NODE_FAIL", reason: "NodeDown" },
  ]);
  assert.deepEqual(slurm.cancel(["9_1", "12"]).argv, ["scancel", "9_1", "12"]);
  assert.equal(slurm.elementId("9", 3), "9_3");
});

Deno.test("slurm: options are checked with one sentence each", () => {
  assert.deepEqual(slurm.checkOptions({ partition: "debug", extra: ["--exclusive"] }), []);
  assert.deepEqual(slurm.checkOptions({ partiton: "debug", qos: "a b", extra: 3 }), [
    'Cannot use the Slurm option "partiton": expected one of partition, account, qos, constraint, reservation, extra',
    'Cannot use "a b" for Slurm option "qos": expected one word',
    'Cannot use 3 for Slurm option "extra": expected a line or a list of lines',
  ]);
});

Deno.test("slurm: sacct reports jobs that left the queue; a site without accounting turns it off", () => {
  assert.deepEqual(slurm.history!(["12", "9_3"]).argv, [
    "sacct",
    "--noheader",
    "--parsable2",
    "--allocations",
    "--jobs=12,9_3",
    "--format=JobID,State,ExitCode",
  ]);
  // sacct --parsable2 lines as Slurm's documentation shows them (no accounting on the test cluster).
  assert.deepEqual(
    slurm.parseHistory!(
      "12|FAILED|3:0\n9_3|CANCELLED by 0|0:15\n13|TIMEOUT|0:0\n14|COMPLETED|0:0\n",
    ),
    [
      { id: "12", state: "failed", raw: "FAILED", exitCode: 3 },
      { id: "9_3", state: "cancelled", raw: "CANCELLED", reason: "by 0", exitCode: 0 },
      { id: "13", state: "timeout", raw: "TIMEOUT", exitCode: 0 },
      { id: "14", state: "completed", raw: "COMPLETED", exitCode: 0 },
    ],
  );
  // What sacct printed on the test cluster (accounting_storage/none), recorded.
  assert.ok(slurm.historyUnavailable!.test("Slurm accounting storage is disabled\n"));
});

Deno.test("slurm: paths with blanks, quotes, % and non-ASCII are quoted in directives; control characters are refused", () => {
  const req = {
    name: "ferry-a",
    resources: {},
    options: {},
    chdir: '/my "ws" ☃/100%/.ferry/t',
    output: '/my "ws" ☃/100%/.ferry/{array}_{index}.out',
    array: { count: 2 },
    body: "true",
  };
  const text = slurm.script(req);
  assert.match(text, /^#SBATCH --output="\/my \\"ws\\" ☃\/100%%\/\.ferry\/%A_%a\.out"$/m);
  assert.match(text, /^#SBATCH --chdir="\/my \\"ws\\" ☃\/100%\/\.ferry\/t"$/m);
  assert.throws(() => slurm.script({ ...req, chdir: "/ws\n#SBATCH --x/t" }), {
    message:
      'Cannot write a Slurm directive for the path "/ws\\n#SBATCH --x/t": it holds a control character',
  });
  assert.deepEqual(slurm.checkOptions({ extra: "--exclusive\necho pwned" }), [
    'Cannot use "--exclusive\\necho pwned" for Slurm option "extra": a line holds a line break (give a list of lines)',
  ]);
});
