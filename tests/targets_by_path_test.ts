/**
 * Targets by output path, end to end (`deno run -A main.ts` as a
 * subprocess): a three-step chain over samples [A, B]; naming
 * `sorted_reads/D.bam.bai` for a sample D that is not in the params runs
 * exactly D's chain, with the usual ids in the plan, the progress, status,
 * the report and the event log; an impossible or ambiguous target says why,
 * exit 2.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, ferryRun, runDirOf, withTemp, writeWorkflow } from "./_run.ts";
import type { Plan } from "../interpreter/plan.ts";

const CHAIN = {
  ferry: 1,
  name: "chain",
  params: { samples: ["A", "B"] },
  apps: {
    bwa_map: {
      for_each: { sample: "${{ params.samples }}" },
      inputs: { fq: "data/samples/${{ sample }}.fastq" },
      outputs: { bam: "mapped_reads/${{ sample }}.bam" },
      shell: "tr a-z A-Z < ${{ inputs.fq }} > ${{ outputs.bam }}",
    },
    samtools_sort: {
      for_each: { sample: "${{ params.samples }}" },
      inputs: { bam: "mapped_reads/${{ sample }}.bam" },
      outputs: { bam: "sorted_reads/${{ sample }}.bam" },
      shell: "sort ${{ inputs.bam }} > ${{ outputs.bam }}",
    },
    samtools_index: {
      for_each: { sample: "${{ params.samples }}" },
      inputs: { bam: "sorted_reads/${{ sample }}.bam" },
      outputs: { bai: "sorted_reads/${{ sample }}.bam.bai" },
      shell: "wc -l < ${{ inputs.bam }} > ${{ outputs.bai }}",
    },
  },
};

const D_CHAIN = ["bwa_map[sample=D]", "samtools_sort[sample=D]", "samtools_index[sample=D]"];

async function chain(ws: string, samples: string[], wf: unknown = CHAIN): Promise<string> {
  await Deno.mkdir(join(ws, "data", "samples"), { recursive: true });
  for (const s of samples) {
    await Deno.writeTextFile(join(ws, "data", "samples", `${s}.fastq`), `b${s}\na${s}\n`);
  }
  return await writeWorkflow(ws, wf);
}

Deno.test("targets by path: plan and run a new sample's chain, and only it", async () => {
  await withTemp(async (ws) => {
    const wf = await chain(ws, ["A", "B", "D"]);
    const plan = await ferryRun(["--format", "json", wf, "sorted_reads/D.bam.bai"], {}, "plan");
    assert.equal(plan.code, 0, plan.stderr);
    const p = JSON.parse(plan.stdout) as Plan;
    assert.deepEqual(
      p.tasks.map((t) => [t.id, t.bindings]),
      D_CHAIN.map((id) => [id, { sample: "D" }]),
    );
    const text = await ferryRun([wf, "sorted_reads/D.bam.bai"], {}, "plan");
    assert.match(
      text.stdout,
      /^ {2}samtools_sort\[sample=D\] {2}\[run: new\]\n {4}after bwa_map\[sample=D\]$/m,
    );

    const r = await ferryRun([wf, "sorted_reads/D.bam.bai"]);
    assert.equal(r.code, 0, r.stderr);
    const started = [...r.stderr.matchAll(/^\[\d+\/\d+\] start (.*)$/gm)].map((m) => m[1]);
    assert.deepEqual(started, D_CHAIN);
    assert.match(r.stderr, /^done: 3 succeeded, 0 failed in /m);
    assert.equal(await Deno.readTextFile(join(ws, "sorted_reads", "D.bam")), "AD\nBD\n");
    assert.equal((await Deno.readTextFile(join(ws, "sorted_reads", "D.bam.bai"))).trim(), "2");
    for (const s of ["A", "B"]) {
      assert.equal(await exists(join(ws, "mapped_reads", `${s}.bam`)), false);
      assert.equal(await exists(join(ws, "sorted_reads", `${s}.bam`)), false);
    }
    const events = await Deno.readTextFile(join(runDirOf(r), "events.jsonl"));
    const tasks = new Set([...events.matchAll(/"task":"([^"]*)"/g)].map((m) => m[1]));
    assert.deepEqual([...tasks].sort(), [...D_CHAIN].sort());

    const status = await ferryRun(["--format", "json", "--workspace", ws], {}, "status");
    assert.equal(status.code, 0, status.stderr);
    const run = JSON.parse(status.stdout).run;
    assert.deepEqual(run.tasks.map((t: { id: string; state: string }) => [t.id, t.state]), [
      ...D_CHAIN.map((id) => [id, "succeeded"]),
    ]);
    const out = join(ws, "report.html");
    const rep = await ferryRun(["--workspace", ws, "-o", out], {}, "report");
    assert.equal(rep.code, 0, rep.stderr);
    const html = await Deno.readTextFile(out);
    for (const id of D_CHAIN) assert.ok(html.includes(id), `${id} in the report`);

    // Again: D's index is there, its input a file now; nothing runs.
    const again = await ferryRun([wf, "sorted_reads/D.bam.bai"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^plan: 0 to run, 1 cached$/m);
    const rerun = await ferryRun(["--rerun", "samtools_sort[sample=D]", wf, "sorted_reads/D.bam"]);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual(
      [...rerun.stderr.matchAll(/^\[\d+\/\d+\] start (.*)$/gm)].map((m) => m[1]),
      ["samtools_sort[sample=D]"],
    );
  });
});

Deno.test("targets by path: a new sample with a --param list, and a task id target afterwards", async () => {
  await withTemp(async (ws) => {
    const wf = await chain(ws, ["A", "B", "D", "E"]);
    const r = await ferryRun([wf, "--param", "samples=[A]", "sorted_reads/E.bam"], {}, "plan");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([...r.stdout.matchAll(/^ {2}(\S+) {2}\[run: new\]$/gm)].map((m) => m[1]), [
      "bwa_map[sample=E]",
      "samtools_sort[sample=E]",
    ]);
    const both = await ferryRun(
      [
        "--format",
        "json",
        wf,
        "sorted_reads/D.bam",
        "mapped_reads/E.bam",
        "samtools_sort[sample=A]",
      ],
      {},
      "plan",
    );
    assert.equal(both.code, 0, both.stderr);
    assert.deepEqual((JSON.parse(both.stdout) as Plan).tasks.map((t) => t.id), [
      "bwa_map[sample=A]",
      "bwa_map[sample=E]",
      "bwa_map[sample=D]",
      "samtools_sort[sample=A]",
      "samtools_sort[sample=D]",
    ]);
  });
});

Deno.test("targets by path: a missing input says which task reads it, exit 2", async () => {
  await withTemp(async (ws) => {
    const wf = await chain(ws, ["A", "B"]);
    const message =
      'ferry: Cannot make target "sorted_reads/D.bam.bai": samtools_index[sample=D] would write it but reads "sorted_reads/D.bam", for which samtools_sort[sample=D] would write it but reads "mapped_reads/D.bam", for which bwa_map[sample=D] would write it but reads "data/samples/D.fastq", which is no file and matches no output template\n';
    for (const command of ["plan", "run"]) {
      const r = await ferryRun([wf, "sorted_reads/D.bam.bai"], {}, command);
      assert.deepEqual([r.code, r.stdout, r.stderr], [2, "", message], command);
    }
    assert.equal(await exists(join(ws, ".ferry", "runs")), false);
  });
});

Deno.test("targets by path: two templates matching say which, exit 2", async () => {
  await withTemp(async (ws) => {
    const wf = await chain(ws, ["A", "B", "D"], {
      ...CHAIN,
      apps: {
        ...CHAIN.apps,
        merge: {
          for_each: { group: ["all"] },
          inputs: { bams: ["mapped_reads/A.bam", "mapped_reads/B.bam"] },
          outputs: { bam: "sorted_reads/${{ group }}.bam" },
          shell: "cat ${{ inputs.bams }} > ${{ outputs.bam }}",
        },
      },
    });
    const r = await ferryRun([wf, "sorted_reads/D.bam"], {}, "plan");
    assert.deepEqual([r.code, r.stdout, r.stderr], [
      2,
      "",
      'ferry: Cannot make target "sorted_reads/D.bam": 2 output templates match it: "sorted_reads/${{ sample }}.bam" of app samtools_sort gives sample=D; "sorted_reads/${{ group }}.bam" of app merge gives group=D\n',
    ]);
  });
});
