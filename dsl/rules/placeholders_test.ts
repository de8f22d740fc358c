import assert from "node:assert/strict";
import { located } from "./_test_located.ts";

/** `line:column message` of each snakemake-placeholder warning of app `a`. */
const warnings = (app: string) =>
  located(`ferry: 1\nname: t\napps:\n  a:\n${app}`, ["snakemake-placeholder", "unused-input"]);

const WHY =
  "is a Snakemake placeholder, which ferry does not substitute (the task gets the text as it is)";

Deno.test("snakemake-placeholder names the ferry spelling of each placeholder", () => {
  assert.deepEqual(
    warnings(
      "    for_each: { sample: [A] }\n    inputs: { bam: x.bam }\n    outputs: { out: y.txt, log: l.txt }\n" +
        "    shell: |\n      tool {input} {input[0]} {output.out} {wildcards.sample} {wildcards.other}\n" +
        "      tool {params.depth} {threads} {resources.mem_mb} {log} {output}\n",
    ),
    [
      `9:12 "{input}" ${WHY}: write \${{ inputs.bam }}`,
      `9:20 "{input[0]}" ${WHY}: write \${{ inputs.bam }}`,
      `9:31 "{output.out}" ${WHY}: write \${{ outputs.out }}`,
      `9:44 "{wildcards.sample}" ${WHY}: write \${{ sample }}`,
      `9:63 "{wildcards.other}" ${WHY}: write \${{ other }} (a for_each variable)`,
      `10:12 "{params.depth}" ${WHY}: write \${{ params.depth }}`,
      `10:27 "{threads}" ${WHY}: write \${{ resources.cores }}`,
      `10:37 "{resources.mem_mb}" ${WHY}: write \${{ resources.memory }}`,
      `10:56 "{log}" ${WHY}: write \${{ outputs.log }} (with the log declared under outputs)`,
      `10:62 "{output}" ${WHY}: write \${{ outputs.NAME }}`,
    ],
  );
});

Deno.test("snakemake-placeholder leaves bash and ferry's own syntax alone", () => {
  assert.deepEqual(
    warnings(
      '    inputs: { i: x }\n    shell: echo ${input} {{input}} \\{input} {inputs} "${{ inputs.i }}" {a,b}\n',
    ),
    [],
  );
  assert.deepEqual(warnings('    command: [echo, "a{output}b", "${{ task.id }}"]\n'), [
    `5:23 "{output}" ${WHY}: write \${{ outputs.NAME }}`,
  ]);
});
