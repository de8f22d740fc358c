/**
 * Rule: no Snakemake placeholders (`{input.bam}`, `{output}`,
 * `{wildcards.sample}`, `{params.x}`, `{threads}`, `{log}`) in `shell:` or
 * `command:`. ferry substitutes only `${{ }}`; a placeholder reaches the
 * tool as literal text (bash leaves `{input}` as it is), so a workflow ported
 * from Snakemake runs with names such as `{input.bam}` and fails far from
 * the cause, or writes a file of that name.
 * @module
 */

import { type Problem, warning } from "../diagnostic.ts";
import { expressions, parseTemplateCached } from "../expr.ts";
import type { App } from "../model.ts";
import type { WorkflowRule } from "./_context.ts";

/** `{input.x}`, `{output[0]}`, `{threads}`...: not after `$` (bash's `${output}`) nor doubled. */
const PLACEHOLDER =
  /(?<![{$\\])\{(input|output|wildcards|params|threads|log|resources)((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)\}(?!\})/g;

/**
 * The inputs Snakemake placeholders in `text` name (`{input.bam}`), "*" for
 * all (`{input}`, `{input[0]}`): an input so named is reported as a
 * placeholder, not as unused.
 */
export function placeholderInputs(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (m[1] !== "input") continue;
    out.push(/^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(m[2]!)?.[1] ?? "*");
  }
  return out;
}

/** What ferry spells a Snakemake placeholder as, for the app it appears in. */
export function ferrySpelling(kind: string, rest: string, app: App): string {
  const name = /^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(rest)?.[1];
  const sole = (slots: Readonly<Record<string, unknown>>) => {
    const names = Object.keys(slots);
    return names.length === 1 ? names[0]! : "NAME";
  };
  switch (kind) {
    case "input":
      return `\${{ inputs.${name ?? sole(app.inputs)} }}`;
    case "output":
      return `\${{ outputs.${name ?? sole(app.outputs)} }}`;
    case "log":
      return `\${{ outputs.${name ?? "log"} }} (with the log declared under outputs)`;
    case "params":
      return `\${{ params.${name ?? "NAME"} }}`;
    case "threads":
      return "${{ resources.cores }}";
    case "resources":
      return name === "mem_mb" || name === "mem"
        ? "${{ resources.memory }}"
        : `\${{ resources.${name === "runtime" ? "walltime" : name ?? "NAME"} }}`;
    default: {
      const v = name !== undefined && app.forEach.some((x) => x.name === name) ? name : undefined;
      return v !== undefined ? `\${{ ${v} }}` : `\${{ ${name ?? "NAME"} }} (a for_each variable)`;
    }
  }
}

/** Warn for each Snakemake placeholder in a shell script or a command's elements. */
export const snakemakePlaceholders: WorkflowRule = ({ workflow }) => {
  const out: Problem[] = [];
  for (const app of Object.values(workflow.apps)) {
    const run = app.run;
    const fields = run?.kind === "shell"
      ? [{ text: run.script, where: ["apps", app.name, "shell"] }]
      : run?.kind === "command"
      ? run.argv.map((text, i) => ({ text, where: ["apps", app.name, "command", i] }))
      : [];
    for (const { text, where } of fields) {
      const parsed = parseTemplateCached(text);
      if (!parsed.ok) continue; // reported by expressionNames
      const spans = expressions(parsed.template).map((
        e,
      ) => [e.offset, text.indexOf("}}", e.offset)]);
      for (const m of text.matchAll(PLACEHOLDER)) {
        if (spans.some(([from, to]) => m.index >= from! && m.index <= to!)) continue;
        const nth = text.slice(0, m.index).split(m[0]).length - 1;
        out.push({
          ...warning(
            "snakemake-placeholder",
            where,
            `"${
              m[0]
            }" is a Snakemake placeholder, which ferry does not substitute (the task gets the text as it is): write ${
              ferrySpelling(m[1]!, m[2]!, app)
            }`,
          ),
          offset: m.index,
          needle: { text: m[0], nth },
        });
      }
    }
  }
  return out;
};
