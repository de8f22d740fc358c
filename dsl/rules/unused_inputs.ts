/**
 * Rule: every declared input of a `command:` or `shell:` app is mentioned by
 * what the task runs. An input nothing mentions is staged for nothing, and
 * is most often a typo'd or forgotten argument. Not reported when the task
 * can read it without naming it:
 * - the command, script, `env`, `stdout` or `stderr` uses `${{ inputs.X }}`
 *   (or all `inputs`) or writes the input's path as it is declared, or
 *   names it by a Snakemake placeholder (`{input.X}`, reported as such);
 * - it is a companion of an input that is mentioned, read by the tool next
 *   to it (`x.bam.bai` or `x.bai` beside `x.bam`, `genome.fa.bwt` beside
 *   `genome.fa`);
 * - the app runs a script that is one of its inputs (`python
 *   ${{ inputs.script }}`): the script may open files by their paths;
 * - the app is a `function:` app (it gets every input);
 * - an expression names an input the app does not have (that typo is an
 *   error of its own, and the input it meant would look unused).
 * @module
 */

import { type Problem, warning } from "../diagnostic.ts";
import { expressions, parseTemplateCached, soleExpression } from "../expr.ts";
import type { App, Workflow } from "../model.ts";
import type { WorkflowRule } from "./_context.ts";
import { placeholderInputs } from "./placeholders.ts";

/** File names of scripts a task may run, which may read their inputs by path. */
const SCRIPT =
  /(\.(py|r|rmd|qmd|ipynb|sh|bash|zsh|pl|pm|rb|jl|js|mjs|cjs|ts|mts|lua|awk|sed|smk|nf|wdl|cwl|mk|m|groovy|java|jar|tcl|php)|(^|\/)(makefile|snakefile))$/i;

/** The texts of what a task runs: the command or script, its env, its redirects. */
function runTexts(app: App): string[] {
  const run = app.run;
  const texts = run?.kind === "shell" ? [run.script] : run?.kind === "command" ? [...run.argv] : [];
  texts.push(...Object.values(app.env));
  if (app.stdout !== undefined) texts.push(app.stdout);
  if (app.stderr !== undefined) texts.push(app.stderr);
  return texts;
}

/**
 * The input names the texts use by expression; undefined when they use all
 * `inputs`, or one the app does not have (a typo, reported as unknown-input,
 * most likely meant an input that would then look unused).
 */
function namedInputs(texts: readonly string[], app: App): Set<string> | undefined {
  const names = new Set<string>();
  for (const text of texts) {
    for (const name of placeholderInputs(text)) {
      if (name === "*") return undefined;
      names.add(name);
    }
    const parsed = parseTemplateCached(text);
    if (!parsed.ok) continue;
    for (const e of expressions(parsed.template)) {
      if (e.path[0] !== "inputs") continue;
      if (typeof e.path[1] !== "string" || !Object.hasOwn(app.inputs, e.path[1])) return undefined;
      names.add(e.path[1]);
    }
  }
  return names;
}

/** The path templates an input's value stands for: another app's output or a named file, followed. */
function pathTexts(value: string, w: Workflow): string[] {
  const parsed = parseTemplateCached(value);
  const e = parsed.ok ? soleExpression(parsed.template) : undefined;
  if (e?.path[0] === "apps" && e.path[2] === "outputs" && e.path.length === 4) {
    const slot = w.apps[String(e.path[1])]?.outputs[String(e.path[3])];
    if (slot) return slot.files.map((f) => f.value);
  }
  if (e?.path[0] === "files" && e.path.length === 2) {
    const f = w.files[String(e.path[1])];
    if (f) return [f.value];
  }
  return [value];
}

/** Whether `path` is read beside `main`: `main` itself extended, or the same stem. */
function companion(path: string, main: string): boolean {
  if (path.startsWith(main)) return true;
  const stem = /^(.*[^/])\.[A-Za-z0-9]+$/.exec(main)?.[1];
  return stem !== undefined && path.startsWith(`${stem}.`);
}

/** Warn for each input of a command or shell app that nothing the task runs mentions. */
export const unusedInputs: WorkflowRule = ({ workflow }) => {
  const out: Problem[] = [];
  for (const app of Object.values(workflow.apps)) {
    if (app.run?.kind !== "shell" && app.run?.kind !== "command") continue;
    const texts = runTexts(app);
    const named = namedInputs(texts, app);
    if (named === undefined) continue;
    const paths = (name: string) =>
      app.inputs[name]!.files.flatMap((f) => pathTexts(f.value, workflow));
    const mentioned = Object.keys(app.inputs).filter((name) =>
      named.has(name) || paths(name).some((p) => texts.some((t) => t.includes(p)))
    );
    const mains = mentioned.flatMap(paths);
    if (mains.some((p) => SCRIPT.test(p))) continue;
    for (const name of Object.keys(app.inputs)) {
      if (mentioned.includes(name)) continue;
      if (paths(name).every((p) => mains.some((m) => companion(p, m)))) continue;
      out.push({
        ...warning(
          "unused-input",
          ["apps", app.name, "inputs", name],
          `Input "${name}" of app "${app.name}" is never used by its ${
            app.run.kind === "shell" ? "shell script" : "command"
          }: pass it to the tool as \${{ inputs.${name} }}, or remove it if the task does not read it`,
        ),
        at: "key",
      });
    }
  }
  return out;
};
