import assert from "node:assert/strict";
import { locate } from "../diagnostic.ts";
import { loadText } from "../load.ts";
import { validateWorkflow } from "../validate.ts";

function warnings(app: string): string[] {
  const yaml = `ferry: 1\nname: t\napps:\n  a:\n${app}`;
  const { document } = loadText("w.yaml", yaml);
  assert.ok(document);
  return validateWorkflow(document.value).problems
    .filter((p) => p.code === "snakemake-placeholder" || p.code === "unused-input")
    .map((p) => {
      const d = locate(p, "w.yaml", document.index);
      return `${d.code}@${d.line}:${d.column} ${d.message}`;
    });
}

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
      `snakemake-placeholder@9:12 "{input}" ${WHY}: write \${{ inputs.bam }}`,
      `snakemake-placeholder@9:20 "{input[0]}" ${WHY}: write \${{ inputs.bam }}`,
      `snakemake-placeholder@9:31 "{output.out}" ${WHY}: write \${{ outputs.out }}`,
      `snakemake-placeholder@9:44 "{wildcards.sample}" ${WHY}: write \${{ sample }}`,
      `snakemake-placeholder@9:63 "{wildcards.other}" ${WHY}: write \${{ other }} (a for_each variable)`,
      `snakemake-placeholder@10:12 "{params.depth}" ${WHY}: write \${{ params.depth }}`,
      `snakemake-placeholder@10:27 "{threads}" ${WHY}: write \${{ resources.cores }}`,
      `snakemake-placeholder@10:37 "{resources.mem_mb}" ${WHY}: write \${{ resources.memory }}`,
      `snakemake-placeholder@10:56 "{log}" ${WHY}: write \${{ outputs.log }} (with the log declared under outputs)`,
      `snakemake-placeholder@10:62 "{output}" ${WHY}: write \${{ outputs.NAME }}`,
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
    `snakemake-placeholder@5:23 "{output}" ${WHY}: write \${{ outputs.NAME }}`,
  ]);
});
