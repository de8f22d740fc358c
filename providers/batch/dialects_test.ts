import assert from "node:assert/strict";
import type { QueueEntry, ScriptRequest } from "./dialect.ts";
import { pbs } from "./pbs.ts";
import { lsf } from "./lsf.ts";
import { htcondor, htcondorDescription } from "./htcondor.ts";

const GiB = 1024 * 1024 * 1024;

function recorded(name: string): Promise<string> {
  return Deno.readTextFile(new URL(`./testdata/${name}`, import.meta.url));
}

/** A single job: 4 cores, 8 GiB, one hour, one GPU. */
function single(options: Record<string, unknown>): ScriptRequest {
  return {
    name: "align",
    resources: { cores: 4, memory: 8 * GiB, walltime: 3600, gpus: 1 },
    options,
    chdir: "/scratch/run 1",
    output: "/scratch/run1/logs/align.out",
    body: "exec ferry-wrap task.json",
  };
}

/** An array of 10 MPI tasks (4 ranks × 2 cores, 1 GiB per task), at most 5 at once. */
function mpiArray(output = "/scratch/run1/logs/{array}_{index}.out"): ScriptRequest {
  return {
    name: "7-fanout",
    resources: { cores: 2, memory: GiB, walltime: 90, ranks: 4 },
    options: {},
    chdir: "/scratch/run1",
    output,
    array: { count: 10, throttle: 5 },
    body: "exec ferry-wrap task.json",
  };
}

// ---------------------------------------------------------------- PBS

Deno.test("pbs: a single job's script has select, walltime, options, cd and the body", () => {
  const text = pbs.script(single({
    queue: "workq",
    account: "acct1",
    project: "proj2",
    select_extra: "model=rome",
    place: "scatter",
    extra: ["-r n", "#PBS -m n"],
  }));
  assert.equal(
    text,
    [
      "#!/bin/bash",
      "#PBS -N align",
      "#PBS -j oe",
      "#PBS -o /scratch/run1/logs/align.out",
      "#PBS -l select=1:ncpus=4:mem=8192mb:ngpus=1:model=rome",
      "#PBS -l place=scatter",
      "#PBS -l walltime=01:01:00",
      "#PBS -q workq",
      "#PBS -A acct1",
      "#PBS -P proj2",
      "#PBS -r n",
      "#PBS -m n",
      "cd '/scratch/run 1' || exit 1",
      "FERRY_ARRAY_INDEX=0",
      "export FERRY_ARRAY_INDEX",
      "export FERRY_LAUNCH=",
      "exec ferry-wrap task.json",
      "",
    ].join("\n"),
  );
});

Deno.test("pbs: an MPI array asks for ranks chunks, -J with throttle, and opens {array} output itself", () => {
  assert.equal(
    pbs.script(mpiArray()),
    [
      "#!/bin/bash",
      "#PBS -N f7-fanout",
      "#PBS -j oe",
      "#PBS -o /dev/null",
      "#PBS -J 0-9%5",
      "#PBS -l select=4:ncpus=2:mpiprocs=1:mem=1024mb",
      "#PBS -l walltime=00:02:30",
      "cd /scratch/run1 || exit 1",
      'exec >"/scratch/run1/logs/${PBS_ARRAY_ID:-$PBS_JOBID}_${PBS_ARRAY_INDEX:-0}.out" 2>&1',
      'FERRY_ARRAY_INDEX="$PBS_ARRAY_INDEX"',
      "export FERRY_ARRAY_INDEX",
      "export FERRY_LAUNCH=mpiexec",
      "exec ferry-wrap task.json",
      "",
    ].join("\n"),
  );
});

Deno.test("pbs: {index} alone becomes ^array_index^; a one-element array is a plain job", () => {
  const indexOnly = pbs.script(mpiArray("/logs/fanout.{index}.out"));
  assert.match(indexOnly, /^#PBS -o \/logs\/fanout\.\^array_index\^\.out$/m);
  assert.doesNotMatch(indexOnly, /^exec >/m);
  const one = pbs.script({ ...mpiArray("/logs/fanout.{index}.out"), array: { count: 1 } });
  assert.match(one, /^#PBS -o \/logs\/fanout\.0\.out$/m);
  assert.doesNotMatch(one, /-J/);
  assert.match(one, /^FERRY_ARRAY_INDEX=0$/m);
  assert.equal(pbs.elementId("881.pbs01", 0), "881.pbs01");
  assert.equal(pbs.elementId("880[].pbs01", 7), "880[7].pbs01");
  // Characters special inside double quotes are escaped in the script's own redirection.
  assert.match(
    pbs.script(mpiArray('/l/$x"`\\{array}.out')),
    /^exec >"\/l\/\\\$x\\"\\`\\\\\$\{PBS_ARRAY_ID:-\$PBS_JOBID\}\.out" 2>&1$/m,
  );
});

Deno.test("pbs: submit, status and cancel argv", () => {
  assert.deepEqual(pbs.submit("/w/job.sh", single({})), { argv: ["qsub", "/w/job.sh"] });
  assert.deepEqual(pbs.status(["12.s", "13[].s"]), {
    argv: ["qstat", "-f", "-F", "json", "-x", "-t", "12.s", "13[].s"],
  });
  assert.deepEqual(pbs.cancel(["12.s", "13[].s"]), { argv: ["qdel", "12.s", "13[].s"] });
});

Deno.test("pbs: parseSubmit reads the job id qsub prints", () => {
  assert.equal(
    pbs.parseSubmit("4345644.aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov\n"),
    "4345644.aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov",
  );
  assert.equal(pbs.parseSubmit("1013.vm-priboy\n"), "1013.vm-priboy");
  assert.equal(pbs.parseSubmit("1234[].pbs01\n"), "1234[].pbs01");
  assert.equal(
    pbs.parseSubmit("qsub: Warning: job will not run before 12:00\n77.pbs01\n"),
    "77.pbs01",
  );
  assert.equal(pbs.parseSubmit("qsub: Unknown queue\n"), undefined);
  assert.equal(pbs.parseSubmit(""), undefined);
});

Deno.test("pbs: parseStatus on recorded qstat -x -f -F json output (Aurora)", async () => {
  const server = "aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov";
  assert.deepEqual(
    pbs.parseStatus(await recorded("pbs_qstat_x_f_F_json.aurora.txt")),
    [
      {
        id: `4345644.${server}`,
        state: "pending",
        raw: "H",
        reason: "job held, too many failed attempts to run",
      },
      {
        id: `4683812.${server}`,
        state: "pending",
        raw: "Q",
        reason: "Not Running: Insufficient amount of resource: at_queue",
      },
      {
        id: `4846771.${server}`,
        state: "cancelled",
        raw: "F",
        reason: "Not Running: Not enough free nodes available and terminated",
      },
      {
        id: `4905472.${server}`,
        state: "pending",
        raw: "H",
        reason: "Job held by mmin on Wed May 21 19:15:37 2025",
      },
    ] satisfies QueueEntry[],
  );
});

Deno.test("pbs: parseStatus on a recorded answer without jobs, empty output and errors", async () => {
  assert.deepEqual(pbs.parseStatus(await recorded("pbs_qstat_no_jobs.baw-server-877.txt")), []);
  assert.deepEqual(pbs.parseStatus(""), []);
  assert.deepEqual(pbs.parseStatus("qstat: Unknown Job Id 12.pbs01\n"), []);
});

Deno.test("pbs: finished jobs and array subjobs map by Exit_status (constructed document)", () => {
  // Constructed, not recorded: the recordings hold no Exit_status and no subjobs.
  const jobs: Record<string, unknown> = {
    "20[].s": { job_state: "B" },
    "20[0].s": { job_state: "X", Exit_status: 0 },
    "20[1].s": { job_state: "X", Exit_status: 2 },
    "20[2].s": { job_state: "R" },
    "21.s": { job_state: "F", Exit_status: -29, comment: "job killed: walltime 3720 exceeded" },
    "22.s": { job_state: "F", Exit_status: "-29" },
    "23.s": { job_state: "F", Exit_status: -27 },
    "24.s": { job_state: "F", Exit_status: 271 },
    "25.s": { job_state: "F", Exit_status: 265 },
    "26.s": { job_state: "F", Exit_status: 267 },
    "27.s": { job_state: "F", Exit_status: -3 },
    "28.s": { job_state: "F", Exit_status: -20 },
    "29.s": { job_state: "F", Exit_status: -17 },
    "30.s": { job_state: "E" },
    "31.s": { job_state: "W" },
    "32.s": { job_state: "Z" },
    "33.s": {},
  };
  const text = `qstat: 34.s Job has finished, use -x or -H\n${
    JSON.stringify({ pbs_version: "x", Jobs: jobs })
  }\n`;
  assert.deepEqual(pbs.parseStatus(text), [
    { id: "20[].s", state: "running", raw: "B" },
    { id: "20[0].s", state: "completed", raw: "X", exitCode: 0 },
    { id: "20[1].s", state: "failed", raw: "X", exitCode: 2 },
    { id: "20[2].s", state: "running", raw: "R" },
    { id: "21.s", state: "timeout", raw: "F", reason: "job killed: walltime 3720 exceeded" },
    { id: "22.s", state: "timeout", raw: "F" },
    { id: "23.s", state: "out-of-memory", raw: "F" },
    { id: "24.s", state: "cancelled", raw: "F" },
    { id: "25.s", state: "cancelled", raw: "F" },
    { id: "26.s", state: "failed", raw: "F" },
    { id: "27.s", state: "node-fail", raw: "F" },
    { id: "28.s", state: "node-fail", raw: "F" },
    { id: "29.s", state: "failed", raw: "F" },
    { id: "30.s", state: "running", raw: "E" },
    { id: "31.s", state: "pending", raw: "W" },
  ]);
});

Deno.test("pbs: qstat JSON that does not parse is read job by job", () => {
  // Constructed after openpbs/openpbs#2541: a bash function in Variable_List breaks the JSON.
  const text = [
    "{",
    '    "Jobs":{',
    '        "5.sched":{',
    '            "job_state":"F",',
    '            "Variable_List":{',
    '                "BASH_FUNC_f%%":"() {  echo "hi"',
    '}"',
    "            },",
    '            "Exit_status":-29',
    "        },",
    '        "6[2].sched":{',
    '            "job_state":"Q",',
    '            "comment":"Not Running: Insufficient amount of resource: ncpus "',
    "        }",
    "    }",
    "}",
  ].join("\n");
  assert.deepEqual(pbs.parseStatus(text), [
    { id: "5.sched", state: "timeout", raw: "F" },
    {
      id: "6[2].sched",
      state: "pending",
      raw: "Q",
      reason: "Not Running: Insufficient amount of resource: ncpus",
    },
  ]);
});

Deno.test("pbs: checkOptions names unknown keys and wrong types", () => {
  assert.deepEqual(
    pbs.checkOptions({
      queue: "workq",
      account: "a",
      project: "p",
      select_extra: "x=1",
      place: "free",
      extra: ["-r n"],
    }),
    [],
  );
  assert.deepEqual(pbs.checkOptions({ partition: "x", queue: "two words", place: 3, extra: [1] }), [
    'Cannot use the PBS option "partition": expected one of queue, account, project, select_extra, place, extra',
    'Cannot use "two words" for PBS option "queue": expected one word',
    'Cannot use 3 for PBS option "place": expected one word',
    'Cannot use [1] for PBS option "extra": expected a line or a list of lines',
  ]);
});

// ---------------------------------------------------------------- LSF

Deno.test("lsf: a single job's script has slots on one host, memory per slot, run limit, options", () => {
  assert.equal(
    lsf.script(single({ queue: "normal", project: "proj1", extra: ["-x", "#BSUB -B"] })),
    [
      "#!/bin/bash",
      "#BSUB -J align",
      "#BSUB -oo /scratch/run1/logs/align.out",
      '#BSUB -cwd "/scratch/run 1"',
      "#BSUB -n 4",
      '#BSUB -R "span[hosts=1] rusage[mem=2048MB]"',
      "#BSUB -W 1:01",
      '#BSUB -gpu "num=1"',
      "#BSUB -q normal",
      "#BSUB -P proj1",
      "#BSUB -x",
      "#BSUB -B",
      "FERRY_ARRAY_INDEX=0",
      "export FERRY_ARRAY_INDEX",
      "export FERRY_LAUNCH=",
      "exec ferry-wrap task.json",
      "",
    ].join("\n"),
  );
});

Deno.test("lsf: an MPI array is name[1-N]%T with a 1-based index turned 0-based", () => {
  assert.equal(
    lsf.script({ ...mpiArray(), name: "fanout", resources: { ...mpiArray().resources, gpus: 2 } }),
    [
      "#!/bin/bash",
      '#BSUB -J "fanout[1-10]%5"',
      "#BSUB -oo /dev/null",
      "#BSUB -cwd /scratch/run1",
      "#BSUB -n 8",
      '#BSUB -R "rusage[mem=512MB]"',
      "#BSUB -W 0:03",
      '#BSUB -gpu "num=2/task"',
      'exec >"/scratch/run1/logs/${LSB_JOBID}_$((LSB_JOBINDEX - 1)).out" 2>&1',
      "FERRY_ARRAY_INDEX=$((LSB_JOBINDEX - 1))",
      "export FERRY_ARRAY_INDEX",
      "export FERRY_LAUNCH=mpiexec",
      "exec ferry-wrap task.json",
      "",
    ].join("\n"),
  );
  const one = lsf.script({ ...mpiArray(), name: "one", array: { count: 1 } });
  assert.match(one, /^#BSUB -J "one\[1-1\]"$/m);
  const own = lsf.script({ ...single({}), output: "/logs/$x {array}.out" });
  assert.match(own, /^#BSUB -oo "\/logs\/\$x %J\.out"$/m);
  assert.doesNotMatch(own, /^exec >/m);
  assert.equal(lsf.elementId("1234", 0), "1234[1]");
  assert.equal(lsf.elementId("1234", 9), "1234[10]");
});

Deno.test("lsf: submit feeds the script to bsub on stdin; status and cancel argv", () => {
  assert.deepEqual(lsf.submit("/w/a b.sh", single({})), {
    argv: ["sh", "-c", 'exec bsub < "$1"', "bsub", "/w/a b.sh"],
  });
  assert.deepEqual(lsf.status(["1234", "1235"]), {
    argv: [
      "bjobs",
      "-json",
      "-a",
      "-o",
      "jobid jobindex stat exit_code exit_reason pend_reason",
      "1234",
      "1235",
    ],
  });
  assert.deepEqual(lsf.cancel(["1234", "1235[3]"]), { argv: ["bkill", "1234", "1235[3]"] });
});

Deno.test("lsf: parseSubmit reads `Job <id> is submitted`", () => {
  assert.equal(lsf.parseSubmit("Job <22005> is submitted to queue <short-dmg>.\n"), "22005");
  assert.equal(
    lsf.parseSubmit(
      "Warning: job will use the default project\nJob <7> is submitted to default queue <normal>.\n",
    ),
    "7",
  );
  assert.equal(
    lsf.parseSubmit("short: User cannot use the queue. Job not submitted.\n"),
    undefined,
  );
});

Deno.test("lsf: parseStatus on recorded bjobs -json output (BatchEuphoria)", async () => {
  assert.deepEqual(
    lsf.parseStatus(await recorded("lsf_bjobs_json.batcheuphoria_exit_done.txt")),
    [
      { id: "487641", state: "failed", raw: "EXIT" },
      { id: "487642", state: "failed", raw: "EXIT" },
      { id: "488155", state: "failed", raw: "EXIT" },
      { id: "491861", state: "completed", raw: "DONE", exitCode: 0 },
      { id: "491864", state: "completed", raw: "DONE", exitCode: 0 },
      { id: "491867", state: "completed", raw: "DONE", exitCode: 0 },
    ] satisfies QueueEntry[],
  );
  assert.deepEqual(lsf.parseStatus(await recorded("lsf_bjobs_json.batcheuphoria_done_full.txt")), [
    { id: "22005", state: "completed", raw: "DONE", exitCode: 0 },
  ]);
});

Deno.test("lsf: array elements, reasons and exit reasons (constructed records)", () => {
  // Constructed, not recorded: the recordings have no JOBINDEX, EXIT_REASON or exit codes.
  const rec = (jobid: string, stat: string, more: Record<string, string> = {}) => ({
    JOBID: jobid,
    JOBINDEX: "0",
    STAT: stat,
    EXIT_CODE: "",
    EXIT_REASON: "",
    PEND_REASON: "",
    ...more,
  });
  const records = [
    rec("40", "RUN", { JOBINDEX: "1" }),
    rec("40", "PEND", { JOBINDEX: "2", PEND_REASON: "New job is waiting for scheduling;" }),
    rec("40", "EXIT", { JOBINDEX: "3", EXIT_CODE: "1" }),
    rec("41", "EXIT", {
      EXIT_CODE: "140",
      EXIT_REASON: "TERM_RUNLIMIT: job killed after reaching LSF run time limit",
    }),
    rec("42", "EXIT", {
      EXIT_REASON: "TERM_MEMLIMIT: job killed after reaching LSF memory usage limit",
    }),
    rec("43", "EXIT", { EXIT_CODE: "130", EXIT_REASON: "TERM_OWNER: job killed by owner" }),
    rec("44", "PSUSP", { PEND_REASON: "The job was suspended by the user while pending;" }),
    rec("45", "USUSP"),
    rec("46", "UNKWN"),
    rec("47", "ZOMBI"),
    rec("48", "DONE", { EXIT_CODE: "0" }),
    { JOBID: "49", ERROR: "Job <49> is not found" },
    rec("50", "NOSUCH"),
  ];
  const text = JSON.stringify({ COMMAND: "bjobs", JOBS: records.length, RECORDS: records });
  assert.deepEqual(lsf.parseStatus(text), [
    { id: "40[1]", state: "running", raw: "RUN" },
    { id: "40[2]", state: "pending", raw: "PEND", reason: "New job is waiting for scheduling" },
    { id: "40[3]", state: "failed", raw: "EXIT", exitCode: 1 },
    {
      id: "41",
      state: "timeout",
      raw: "EXIT",
      reason: "TERM_RUNLIMIT: job killed after reaching LSF run time limit",
    },
    {
      id: "42",
      state: "out-of-memory",
      raw: "EXIT",
      reason: "TERM_MEMLIMIT: job killed after reaching LSF memory usage limit",
    },
    { id: "43", state: "cancelled", raw: "EXIT", reason: "TERM_OWNER: job killed by owner" },
    {
      id: "44",
      state: "pending",
      raw: "PSUSP",
      reason: "The job was suspended by the user while pending",
    },
    { id: "45", state: "running", raw: "USUSP" },
    { id: "46", state: "running", raw: "UNKWN" },
    { id: "47", state: "cancelled", raw: "ZOMBI" },
    { id: "48", state: "completed", raw: "DONE", exitCode: 0 },
  ]);
  assert.deepEqual(lsf.parseStatus(""), []);
  assert.deepEqual(lsf.parseStatus("No unfinished job found\n"), []);
  assert.deepEqual(lsf.parseStatus('{"COMMAND":"bjobs","JOBS":0,"RECORDS":[]}'), []);
  assert.deepEqual(lsf.parseStatus("{ not json"), []);
});

Deno.test("lsf: checkOptions names unknown keys and wrong types", () => {
  assert.deepEqual(lsf.checkOptions({ queue: "normal", project: "p", extra: "-x" }), []);
  assert.deepEqual(lsf.checkOptions({ account: "a", queue: "", extra: { a: 1 } }), [
    'Cannot use the LSF option "account": expected one of queue, project, extra',
    'Cannot use "" for LSF option "queue": expected one word',
    'Cannot use {"a":1} for LSF option "extra": expected a line or a list of lines',
  ]);
});

// ---------------------------------------------------------------- HTCondor

Deno.test("htcondor: the script is the bash body; the description goes to condor_submit's stdin", () => {
  const req = single({
    universe: "container",
    requirements: '(OpSys == "LINUX") && (Arch == "X86_64")',
    accounting_group: "group_physics.alice",
    extra: ["container_image = /img/tool.sif", '+ProjectName = "ferry"'],
  });
  assert.equal(
    htcondor.script(req),
    [
      "#!/bin/bash",
      "exec 2>&1",
      "FERRY_ARRAY_INDEX=0",
      "export FERRY_ARRAY_INDEX",
      "export FERRY_LAUNCH=",
      "exec ferry-wrap task.json",
      "",
    ].join("\n"),
  );
  const description = [
    "universe = container",
    "executable = /bin/bash",
    "transfer_executable = false",
    `arguments = "'/scratch/run 1/.ferry/it''s.sh'"`,
    "initialdir = /scratch/run 1",
    "output = /scratch/run1/logs/align.out",
    "batch_name = align",
    "should_transfer_files = NO",
    "request_cpus = 4",
    "request_memory = 8192M",
    "request_gpus = 1",
    "allowed_execute_duration = 3660",
    "accounting_group = group_physics.alice",
    'requirements = (OpSys == "LINUX") && (Arch == "X86_64")',
    "leave_in_queue = JobStatus == 4 && (CompletionDate =?= undefined || CompletionDate == 0 || " +
    "time() - CompletionDate < 3600)",
    "container_image = /img/tool.sif",
    '+ProjectName = "ferry"',
    "queue 1",
    "",
  ].join("\n");
  assert.equal(htcondorDescription("/scratch/run 1/.ferry/it's.sh", req), description);
  assert.deepEqual(htcondor.submit("/scratch/run 1/.ferry/it's.sh", req), {
    argv: ["condor_submit", "-terse", "-"],
    stdin: description,
  });
});

Deno.test("htcondor: an MPI array passes $(Process), requests ranks × cores, throttles", () => {
  const req = mpiArray();
  assert.equal(
    htcondor.script(req),
    [
      "#!/bin/bash",
      "exec 2>&1",
      'FERRY_ARRAY_INDEX="$1"',
      "export FERRY_ARRAY_INDEX",
      "export FERRY_LAUNCH=mpiexec",
      "exec ferry-wrap task.json",
      "",
    ].join("\n"),
  );
  assert.equal(
    htcondorDescription("/scratch/run1/job.sh", req),
    [
      "universe = vanilla",
      "executable = /bin/bash",
      "transfer_executable = false",
      `arguments = "'/scratch/run1/job.sh' $(Process)"`,
      "initialdir = /scratch/run1",
      "output = /scratch/run1/logs/$(Cluster)_$(Process).out",
      "batch_name = 7-fanout",
      "should_transfer_files = NO",
      "request_cpus = 8",
      "request_memory = 4096M",
      "allowed_execute_duration = 150",
      "leave_in_queue = JobStatus == 4 && (CompletionDate =?= undefined || CompletionDate == 0 || " +
      "time() - CompletionDate < 3600)",
      "max_materialize = 5",
      "queue 10",
      "",
    ].join("\n"),
  );
});

Deno.test("htcondor: parseSubmit reads the -terse range; status and cancel argv", () => {
  assert.equal(htcondor.parseSubmit("2001.0 - 2001.9\n"), "2001");
  assert.equal(htcondor.parseSubmit("2002.0 - 2002.0\n"), "2002.0");
  assert.equal(
    htcondor.parseSubmit("WARNING: the line 'foo = bar' was unused\n2003.0 - 2003.4\n"),
    "2003",
  );
  assert.equal(
    htcondor.parseSubmit("ERROR: Failed to connect to local queue manager\n"),
    undefined,
  );
  assert.equal(htcondor.elementId("2001", 4), "2001.4");
  assert.equal(htcondor.elementId("2002.0", 0), "2002.0");
  assert.deepEqual(htcondor.status(["2001", "2002.0"]), {
    argv: [
      "condor_q",
      "-json",
      "-attributes",
      "ClusterId,ProcId,JobStatus,ExitCode,ExitBySignal,ExitSignal," +
      "HoldReason,HoldReasonCode,HoldReasonSubCode,RemoveReason",
      "2001",
      "2002.0",
    ],
  });
  assert.deepEqual(htcondor.cancel(["2001", "2002.0"]), { argv: ["condor_rm", "2001", "2002.0"] });
});

Deno.test("htcondor: parseStatus on a recorded condor_q -nobatch -json job ad (HTCondor 8.8.10)", async () => {
  // A running job with its full ad; its earlier hold (LastHoldReason) must not count.
  assert.deepEqual(
    htcondor.parseStatus(await recorded("htcondor_condor_q_json.jlab_gemc.txt")),
    [{ id: "3472942.81", state: "running", raw: "Running" }],
  );
});

Deno.test("htcondor: parseStatus on condor_q -json in the documented format (not recorded)", async () => {
  assert.deepEqual(
    htcondor.parseStatus(await recorded("htcondor_condor_q_json.documented_format.txt")),
    [
      { id: "2001.0", state: "completed", raw: "Completed", exitCode: 0 },
      { id: "2001.1", state: "failed", raw: "Completed", exitCode: 3 },
      { id: "2001.2", state: "running", raw: "Running" },
      { id: "2001.3", state: "pending", raw: "Idle" },
      {
        id: "2001.4",
        state: "timeout",
        raw: "Held",
        reason: "The job exceeded allowed execute duration of 00:11:00",
      },
      {
        id: "2001.5",
        state: "out-of-memory",
        raw: "Held",
        reason:
          "Error from slot1_1@node12.example.org: Job has gone over cgroup memory limit of 2048 megabytes.",
      },
      { id: "2001.6", state: "failed", raw: "Completed", reason: "killed by signal 9" },
      { id: "2002.0", state: "cancelled", raw: "Removed", reason: "via condor_rm (by user alice)" },
      { id: "2003.0", state: "pending", raw: "Held", reason: "via condor_hold (by user alice)" },
    ] satisfies QueueEntry[],
  );
});

Deno.test("htcondor: parseStatus copes with empty output, warnings, odd ads", () => {
  assert.deepEqual(htcondor.parseStatus(""), []);
  assert.deepEqual(htcondor.parseStatus("-- Failed to fetch ads from: <1.2.3.4:9618>\n"), []);
  const ads = [
    { ClusterId: 7, ProcId: 0, JobStatus: 6 },
    { ClusterId: 7, ProcId: 1, JobStatus: 7 },
    { ClusterId: 7, ProcId: 2, JobStatus: 0 },
    { ClusterId: 7, ProcId: 3, JobStatus: 5, HoldReasonCode: 34, HoldReasonSubCode: 104 },
    {
      ClusterId: 7,
      ProcId: 4,
      JobStatus: 5,
      HoldReasonCode: 13,
      HoldReason: "Transfer input files failure",
    },
    { ClusterId: 7, ProcId: 5, JobStatus: 9 },
    { ClusterId: "7", ProcId: 6, JobStatus: 2 },
  ];
  assert.deepEqual(htcondor.parseStatus(`warning: something\n${JSON.stringify(ads)}\n`), [
    { id: "7.0", state: "running", raw: "TransferringOutput" },
    { id: "7.1", state: "running", raw: "Suspended" },
    { id: "7.2", state: "pending", raw: "Unexpanded" },
    { id: "7.3", state: "failed", raw: "Held" },
    { id: "7.4", state: "failed", raw: "Held", reason: "Transfer input files failure" },
  ]);
});

Deno.test("htcondor: checkOptions names unknown keys and wrong types", () => {
  assert.deepEqual(
    htcondor.checkOptions({
      universe: "vanilla",
      requirements: "Memory > 1024",
      accounting_group: "g.u",
      extra: ["+A = 1"],
    }),
    [],
  );
  assert.deepEqual(
    htcondor.checkOptions({ queue: "q", universe: "my universe", requirements: "a\nb", extra: 5 }),
    [
      'Cannot use the HTCondor option "queue": expected one of universe, requirements, accounting_group, extra',
      'Cannot use "my universe" for HTCondor option "universe": expected one word',
      'Cannot use "a\\nb" for HTCondor option "requirements": expected a ClassAd expression on one line',
      'Cannot use 5 for HTCondor option "extra": expected a line or a list of lines',
    ],
  );
});

// ---------------------------------------------------------------- hostile paths

Deno.test("pbs, lsf, htcondor: paths with blanks, quotes and $ stay one argument; control characters are refused", () => {
  const req: ScriptRequest = {
    name: "a",
    resources: {},
    options: {},
    chdir: `/w s/"q"/$(x) ☃`,
    output: `/w s/"q"/$(x) ☃/a.out`,
    body: "true",
  };
  const pbsText = pbs.script(req);
  assert.match(pbsText, /^#PBS -o "\/w s\/\\"q\\"\/\$\(x\) ☃\/a\.out"$/m);
  assert.match(pbsText, /^cd '\/w s\/"q"\/\$\(x\) ☃' \|\| exit 1$/m);
  const lsfText = lsf.script(req);
  assert.match(lsfText, /^#BSUB -oo "\/w s\/\\"q\\"\/\$\(x\) ☃\/a\.out"$/m);
  assert.match(lsfText, /^#BSUB -cwd "\/w s\/\\"q\\"\/\$\(x\) ☃"$/m);
  const description = htcondorDescription(`/w s/$(x)/job.sh`, req);
  assert.match(description, /^initialdir = \/w s\/"q"\/\$\(DOLLAR\)\(x\) ☃$/m);
  assert.match(description, /^output = \/w s\/"q"\/\$\(DOLLAR\)\(x\) ☃\/a\.out$/m);
  assert.match(description, /^arguments = "'\/w s\/\$\(DOLLAR\)\(x\)\/job\.sh'"$/m);
  const bad = { ...req, chdir: "/w\nrm -rf ~" };
  assert.throws(() => pbs.script({ ...req, output: "/w\r/a.out" }), {
    message:
      'Cannot write a PBS directive for the path "/w\\r/a.out": it holds a control character',
  });
  assert.throws(() => lsf.script(bad), {
    message:
      'Cannot write a LSF directive for the path "/w\\nrm -rf ~": it holds a control character',
  });
  assert.throws(() => htcondorDescription("/w/job.sh", bad), {
    message: 'Cannot write the HTCondor initialdir "/w\\nrm -rf ~": it holds a control character',
  });
});
