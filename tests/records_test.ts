/**
 * `for_each` over records, end to end (`deno run -A main.ts` as a
 * subprocess): a mapping param iterated as `{ key, value }` and a list of
 * mappings give short ids (`bwa_map[A]`) in the plan (text and JSON), the
 * progress, status, the report, the event log and as targets; hostile keys
 * (quotes, brackets, line breaks, `$()`) are quoted in ids, inject nothing
 * and reach the terminal escaped; a clash of ids is a located error.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { visible } from "../dsl/visible.ts";
import { exists, ferryRun, runDirOf, withTemp, writeWorkflow } from "./_run.ts";
import type { Plan } from "../interpreter/plan.ts";

const RECORDS = {
  ferry: 1,
  name: "records",
  params: {
    samples: { A: "data/A.fastq", B: "data/B.fastq" },
    runs: [{ name: "r1", lane: 1 }, { name: "r2", lane: 2 }],
  },
  apps: {
    bwa_map: {
      for_each: { sample: "${{ params.samples }}" },
      inputs: { fq: "${{ sample.value }}" },
      outputs: { bam: "mapped/${{ sample.key }}.bam" },
      shell: "tr a-z A-Z < ${{ inputs.fq }} > ${{ outputs.bam }}",
    },
    lanes: {
      for_each: { run: "${{ params.runs }}", sample: "${{ params.samples }}" },
      inputs: { bam: "mapped/${{ sample.key }}.bam" },
      outputs: { txt: "lanes/${{ sample.key }}-${{ run.name }}.txt" },
      shell: "echo ${{ run.lane }} ${{ task.id }} > ${{ outputs.txt }}",
    },
    tagged: {
      id: "${{ run.name }}-L${{ run.lane }}",
      for_each: { run: "${{ params.runs }}" },
      outputs: { txt: "tagged/${{ run.name }}.txt" },
      shell: "echo ${{ task.id }} > ${{ outputs.txt }}",
    },
  },
};

/** In plan order: dependencies first. */
const IDS = [
  "bwa_map[A]",
  "bwa_map[B]",
  "tagged[r1-L1]",
  "tagged[r2-L2]",
  "lanes[run=r1,sample=A]",
  "lanes[run=r2,sample=A]",
  "lanes[run=r1,sample=B]",
  "lanes[run=r2,sample=B]",
];

async function records(ws: string, wf: unknown = RECORDS): Promise<string> {
  await Deno.mkdir(join(ws, "data"));
  await Deno.writeTextFile(join(ws, "data", "A.fastq"), "acgt\n");
  await Deno.writeTextFile(join(ws, "data", "B.fastq"), "ttga\n");
  return await writeWorkflow(ws, wf);
}

Deno.test("records: short ids in the plan, the run, status, the report and the events", async () => {
  await withTemp(async (ws) => {
    const wf = await records(ws);
    const plan = await ferryRun(["--format", "json", wf], {}, "plan");
    assert.equal(plan.code, 0, plan.stderr);
    const p = JSON.parse(plan.stdout) as Plan;
    assert.deepEqual(p.tasks.map((t) => t.id), IDS);
    assert.deepEqual(p.tasks[0]!.bindings, { sample: '{"key":"A","value":"data/A.fastq"}' });
    const text = await ferryRun([wf], {}, "plan");
    assert.deepEqual(
      [...text.stdout.matchAll(/^ {2}(\S+) {2}\[run: new\]$/gm)].map((m) => m[1]),
      IDS,
    );

    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    const done = [...r.stderr.matchAll(/^\[\d+\/\d+\] done {2}(\S+) /gm)].map((m) => m[1]);
    assert.deepEqual(done.sort(), [...IDS].sort());
    assert.equal(await Deno.readTextFile(join(ws, "mapped", "B.bam")), "TTGA\n");
    assert.equal(
      await Deno.readTextFile(join(ws, "lanes", "B-r2.txt")),
      "2 lanes[run=r2,sample=B]\n",
    );
    assert.equal(await Deno.readTextFile(join(ws, "tagged", "r1.txt")), "tagged[r1-L1]\n");
    const events = await Deno.readTextFile(join(runDirOf(r), "events.jsonl"));
    const inEvents = new Set([...events.matchAll(/"task":"([^"]*)"/g)].map((m) => m[1]));
    assert.deepEqual([...inEvents].sort(), [...IDS].sort());

    const status = await ferryRun(["--format", "json", "--workspace", ws], {}, "status");
    const tasks = JSON.parse(status.stdout).run.tasks.map((t: { id: string }) => t.id);
    assert.deepEqual(tasks.sort(), [...IDS].sort());
    const out = join(ws, "report.html");
    assert.equal((await ferryRun(["--workspace", ws, "-o", out], {}, "report")).code, 0);
    const html = await Deno.readTextFile(out);
    for (const id of IDS) assert.ok(html.includes(id), `${id} in the report`);

    // A record's id as a target; a changed input runs that task (and what reads it) only.
    await Deno.writeTextFile(join(ws, "data", "A.fastq"), "gggg\n");
    const again = await ferryRun([wf, "bwa_map[A]"]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      [...again.stderr.matchAll(/^\[\d+\/\d+\] start (\S+)$/gm)].map((m) => m[1]),
      ["bwa_map[A]"],
    );
    assert.equal(await Deno.readTextFile(join(ws, "mapped", "A.bam")), "GGGG\n");
  });
});

Deno.test("records: hostile keys are quoted in ids, run as data, and print escaped", async () => {
  await withTemp(async (ws) => {
    const canary = join(ws, "canary");
    const keys = [`a"]b`, `l1\nl2`, `$(touch ${canary})`, "`touch " + canary + "`", "x\x1b[2Jy"];
    const wf = {
      ferry: 1,
      name: "hostile",
      params: { things: Object.fromEntries(keys.map((k, i) => [k, i])) },
      apps: {
        each: {
          for_each: { t: "${{ params.things }}" },
          outputs: { o: "out/${{ t.value }}.txt" },
          shell: "printf '%s|%s' ${{ t.key }} ${{ task.id }} > ${{ outputs.o }}",
        },
      },
    };
    // JSON is YAML; every control character as an escape (ferry refuses raw ones in a file).
    const path = join(ws, "workflow.yaml");
    await Deno.writeTextFile(
      path,
      JSON.stringify(wf).replace(
        // deno-lint-ignore no-control-regex
        /[\x00-\x1f]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
      ),
    );
    const ids = [
      'each["a\\"]b"]',
      'each["l1\\nl2"]',
      `each["$(touch ${canary})"]`,
      `each["\`touch ${canary}\`"]`,
      'each["x\\u001b[2Jy"]',
    ];
    const plan = await ferryRun(["--format", "json", path], {}, "plan");
    assert.equal(plan.code, 0, plan.stderr);
    assert.deepEqual((JSON.parse(plan.stdout) as Plan).tasks.map((t) => t.id), ids);
    const r = await ferryRun([path]);
    assert.equal(r.code, 0, r.stderr);
    for (const [i, k] of keys.entries()) {
      assert.equal(await Deno.readTextFile(join(ws, "out", `${i}.txt`)), `${k}|${ids[i]}`);
    }
    assert.equal(await exists(canary), false);
    assert.equal(
      r.stderr,
      visible(r.stderr.replaceAll("\n", "\u2028")).replaceAll("\\u2028", "\n"),
    );
    for (const id of ids) assert.ok(r.stderr.includes(`start ${id}\n`), id);
    // Each id is a target as it is printed.
    const one = await ferryRun(["--format", "json", path, ids[0]!], {}, "plan");
    assert.deepEqual((JSON.parse(one.stdout) as Plan).tasks.map((t) => t.id), [ids[0]]);
  });
});

Deno.test("records: two records with one name are a located error naming both, exit 2", async () => {
  await withTemp(async (ws) => {
    const wf = await records(ws, {
      ...RECORDS,
      params: { runs: [{ name: "r1", lane: 1 }, { name: "r1", lane: 2 }] },
      apps: { lanes: { ...RECORDS.apps.tagged, id: "${{ run.name }}" } },
    });
    const r = await ferryRun([wf], {}, "check");
    assert.equal(r.code, 2);
    assert.equal(
      r.stdout.replaceAll(wf, "<wf>"),
      '<wf>:11:5: error[duplicate-task-id]: Cannot give two tasks the id "lanes[r1]": the bindings run={"name":"r1","lane":1} and run={"name":"r1","lane":2} both give it\n' +
        "   11 |     id: ${{ run.name }}\n" +
        "      |     ^\n" +
        "✗ <wf>: 1 error, 0 warnings\n",
    );
  });
});
