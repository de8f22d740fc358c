import assert from "node:assert/strict";
import { located } from "./_test_located.ts";

/** `line:column message` of each unused-input warning. */
const unused = (apps: string) => located(`ferry: 1\nname: t\napps:\n${apps}`, ["unused-input"]);

Deno.test("unused-input names the input nothing mentions, at its key", () => {
  assert.deepEqual(
    unused(
      "  call:\n    inputs: { bam: a.bam, ref: ref.fa }\n    outputs: { vcf: c.vcf }\n" +
        "    command: [bcftools, mpileup, '${{ inputs.bam }}', -o, '${{ outputs.vcf }}']\n",
    ),
    [
      `5:27 Input "ref" of app "call" is never used by its command: pass it to the tool as \${{ inputs.ref }}, or remove it if the task does not read it`,
    ],
  );
  assert.deepEqual(
    unused("  a:\n    inputs: { x: x.txt }\n    shell: cat y.txt\n"),
    [
      `5:15 Input "x" of app "a" is never used by its shell script: pass it to the tool as \${{ inputs.x }}, or remove it if the task does not read it`,
    ],
  );
});

Deno.test("unused-input counts every way a task reads an input", () => {
  const quiet = [
    // env, stdout and stderr count
    "  a:\n    inputs: { x: x.txt }\n    env: { X: '${{ inputs.x }}' }\n    shell: cat \"$X\"\n",
    // the path written as it is, also the path another app's output stands for
    "  a:\n    inputs: { x: data/x.txt }\n    shell: cat data/x.txt\n",
    "  p:\n    outputs: { o: p/out.txt }\n    command: [touch, '${{ outputs.o }}']\n" +
    "  a:\n    inputs: { x: '${{ apps.p.outputs.o }}' }\n    shell: wc -l p/out.txt\n",
    // companions: an index beside what it indexes, followed through apps and files
    "  a:\n    inputs: { bam: a.bam, bai: a.bam.bai, csi: a.csi }\n    command: [samtools, view, '${{ inputs.bam }}']\n",
    "  p:\n    outputs: { bam: 's/x.bam', bai: 's/x.bam.bai' }\n    command: [p]\n" +
    "  a:\n    inputs: { bam: '${{ apps.p.outputs.bam }}', bai: '${{ apps.p.outputs.bai }}' }\n" +
    "    command: [samtools, idxstats, '${{ inputs.bam }}']\n",
    // a script that is an input may open the others by path
    "  a:\n    inputs: { script: plot.R, data: t.tsv }\n    command: [Rscript, '${{ inputs.script }}']\n",
    // function apps get every input
    "  a:\n    inputs: { x: x.txt }\n    function: ./steps.ts#run\n",
    // a typo'd input is an error of its own
    "  a:\n    inputs: { reads: r.fq }\n    command: [cat, '${{ inputs.raeds }}']\n",
    // a Snakemake placeholder is reported as one
    "  a:\n    inputs: { reads: r.fq }\n    shell: cat {input.reads}\n",
  ];
  for (const apps of quiet) assert.deepEqual(unused(apps), [], apps);
});
