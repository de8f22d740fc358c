/**
 * The quickstart (examples/quickstart/workflow.yaml) written with ferry's
 * TypeScript builder: the same plan, typed references between apps.
 *
 *   deno run --check -A examples/typescript/quickstart.ts plan
 *   deno run --check -A examples/typescript/quickstart.ts run
 *
 * It runs in examples/quickstart (its data and its outputs' folder).
 * @module
 */

import { workflow } from "../../mod.ts";

/** The workflow. */
export const quickstart = workflow("quickstart", {
  description: "Count words in a poem, split it into parts and measure them.",
  params: { words: ["alpha", "beta", "gamma"], lines_per_part: 2 },
});

const count = quickstart.app("count", {
  forEach: { word: quickstart.param("words") },
  label: "count ${{ word }}",
  inputs: { text: "data/poem.txt" },
  outputs: { n: "counts/${{ word }}.txt" },
  shell:
    "tr -cs '[:alpha:]' '\\n' < ${{ inputs.text }} | grep -ic -x ${{ word }} > ${{ outputs.n }} || true\n",
});

quickstart.app("total", {
  inputs: { counts: count.outputs.n },
  outputs: { sum: "total.txt" },
  shell: "awk '{ s += $1 } END { print s }' ${{ inputs.counts }} > ${{ outputs.sum }}\n",
});

const split = quickstart.app("split", {
  inputs: { text: "data/poem.txt" },
  outputs: { parts: { dir: "parts" } },
  shell:
    "mkdir -p parts\nsplit -l ${{ params.lines_per_part }} -d ${{ inputs.text }} parts/part-\n",
});

const measure = quickstart.app("measure", {
  forEach: { part: split.outputs.parts },
  label: "measure ${{ part.name }}",
  inputs: { part: "${{ part }}" },
  outputs: { size: "sizes/${{ part.name }}.txt" },
  command: ["wc", "-c", "${{ inputs.part }}"],
  stdout: "${{ outputs.size }}",
});

quickstart.app("report", {
  after: [measure],
  // As in the YAML: the path (total.outputs.sum would say the same through the producing app).
  inputs: { total: "total.txt" },
  outputs: { report: "report.txt" },
  cache: false,
  shell: 'echo "words counted: $(cat ${{ inputs.total }})" > ${{ outputs.report }}\n',
});

if (import.meta.main) {
  // The quickstart's data and outputs live in examples/quickstart.
  await quickstart.main(Deno.args, { workspace: new URL("../quickstart/", import.meta.url) });
}
