/**
 * Job array elements map to their tasks, checked without Slurm: `sbatch`,
 * `squeue`, `sacct` and `scancel` are small scripts on PATH that run each
 * element of an array (last first) the way Slurm would, with
 * SLURM_ARRAY_TASK_ID set, and answer COMPLETED. Every task records which
 * element ran it; that element's id must be the job id ferry recorded for the
 * task, and its line of the array's task list must be the task's wrapper.
 * The ids are hostile (quotes, `$(…)`, backquotes, globs, `~`, spaces), and
 * nothing in them may run. tests/slurm_test.ts does the same on real Slurm
 * where it is installed.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { taskDirName } from "../interpreter/attempt.ts";
import { wrapperFiles } from "../providers/batch/wrapper.ts";
import { ferryRun, runDirOf, walk, withTemp, writeWorkflow } from "./_run.ts";

const FIRST_ID = 4100;

/** The fake Slurm commands, by name. */
const FAKE_SLURM: Record<string, string> = {
  // sbatch --parsable SCRIPT: runs the job (each array element, last first) before answering.
  sbatch: `#!/bin/bash
set -eu
script="\${!#}"
id=$(cat "$FAKE_SLURM/next")
echo $((id + 1)) > "$FAKE_SLURM/next"
echo "$*" >> "$FAKE_SLURM/sbatch.log"
dir=$(sed -n 's/^#SBATCH --chdir=//p' "$script")
last=$(sed -n 's/^#SBATCH --array=0-\\([0-9]*\\).*/\\1/p' "$script")
if [ -n "$last" ]; then
  for ((i = last; i >= 0; i--)); do
    (cd "$dir" && SLURM_JOB_ID="$id" SLURM_ARRAY_JOB_ID="$id" SLURM_ARRAY_TASK_ID="$i" \\
      bash "$script") >>"$FAKE_SLURM/jobs.out" 2>&1 || true
    echo "\${id}_$i" >> "$FAKE_SLURM/done"
  done
else
  (cd "$dir" && SLURM_JOB_ID="$id" bash "$script") >>"$FAKE_SLURM/jobs.out" 2>&1 || true
  echo "$id" >> "$FAKE_SLURM/done"
fi
echo "$id"
`,
  // squeue ... --jobs=A,B --format=%i|%T|%r: every finished job or element of A and B.
  squeue: `#!/bin/bash
for a in "$@"; do case "$a" in --jobs=*) jobs="\${a#--jobs=}" ;; esac; done
IFS=, read -ra ids <<< "$jobs"
for id in "\${ids[@]}"; do
  grep -E "^\${id}(_[0-9]+)?$" "$FAKE_SLURM/done" | sed 's/$/|COMPLETED|None/'
done
exit 0
`,
  sacct: `#!/bin/bash
exit 0
`,
  scancel: `#!/bin/bash
echo "$*" >> "$FAKE_SLURM/scancel.log"
`,
};

/** Values the task ids are made of: each one a single, inert word wherever it goes. */
const VALUES = ["plain", "a b", "it's", '"q"', "$(touch PWNED)", "`touch PWNED`", "*", "~", "x;y"];

Deno.test("job array: element i runs the task whose job id is ARRAY_i, hostile ids included (fake Slurm on PATH)", async () => {
  await withTemp(async (ws) => {
    const fake = join(ws, "fake-slurm");
    const bin = join(fake, "bin");
    await Deno.mkdir(bin, { recursive: true });
    for (const [name, text] of Object.entries(FAKE_SLURM)) {
      await Deno.writeTextFile(join(bin, name), text, { mode: 0o755 });
    }
    await Deno.writeTextFile(join(fake, "next"), `${FIRST_ID}\n`);
    await Deno.writeTextFile(join(fake, "done"), "");
    const site = await writeWorkflow(
      ws,
      { "ferry-site": 1, executors: { cluster: { provider: "slurm", bundle: "array" } } },
      "site.yaml",
    );
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "elements",
      params: { values: VALUES },
      defaults: { executor: "cluster" },
      apps: {
        tag: {
          for_each: { s: "${{ params.values }}" },
          outputs: { o: "out/${{ s }}.txt" },
          shell: 'printf "%s\\n%s\\n" ${{ s }} "$SLURM_ARRAY_TASK_ID" > ${{ outputs.o }}',
        },
      },
    });
    const env = { FAKE_SLURM: fake, PATH: `${bin}:${Deno.env.get("PATH")}` };
    const r = await ferryRun(["--poll-interval", "0.1", "--site", site, wf], env);
    const log = await Deno.readTextFile(join(fake, "jobs.out")).catch(() => "");
    assert.equal(r.code, 0, `${r.stderr}\njobs.out:\n${log}`);
    assert.match(r.stderr, new RegExp(`^done: ${VALUES.length} succeeded, 0 failed in `, "m"));
    // One array of all the tasks.
    const submits = (await Deno.readTextFile(join(fake, "sbatch.log"))).trim().split("\n");
    assert.equal(submits.length, 1, submits.join("\n"));

    const runDir = runDirOf(r);
    const elements = new Set<number>();
    for (const v of VALUES) {
      const id = `tag[s=${v}]`;
      const attempt = join(runDir, "tasks", taskDirName(id), "attempt-1");
      const [value, ran] = (await Deno.readTextFile(join(ws, "out", `${v}.txt`))).split("\n");
      assert.equal(value, v, `${id} got its own value`);
      const k = Number(ran);
      elements.add(k);
      const job = JSON.parse(await Deno.readTextFile(join(attempt, "job.json")));
      assert.equal(job.jobId, `${FIRST_ID}_${k}`, `${id} ran as element ${k}`);
      const list = (await Deno.readTextFile(job.script.replace(/\.sh$/, ".tasks"))).split("\n");
      assert.equal(list[k], wrapperFiles(attempt).script, `line ${k + 1} is ${id}'s wrapper`);
    }
    assert.deepEqual([...elements].sort((a, b) => a - b), VALUES.map((_, i) => i));
    // Nothing in an id ran.
    assert.deepEqual((await walk(ws)).filter((p) => p.split("/").at(-1) === "PWNED"), []);
  });
});
