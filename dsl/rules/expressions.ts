/**
 * Rule: every `${{ }}` expression parses and names something that exists
 * where it is used, with "did you mean" for typos.
 * @module
 */

import { error, inTemplate, type Problem, warning } from "../diagnostic.ts";
import { expressions, type ExprPart, parseTemplateCached } from "../expr.ts";
import type { App, Workflow } from "../model.ts";
import { didYouMean } from "../suggest.ts";
import { type Field, templateFields, type WorkflowRule } from "./_context.ts";

/** Properties every file value has. */
export const FILE_PROPERTIES = ["path", "name", "stem", "url"] as const;
/** Names under `resources`. */
export const RESOURCE_NAMES = ["cores", "memory", "walltime", "gpus", "ranks"] as const;
/** Names under `task`. */
export const TASK_NAMES = ["id", "label", "attempt"] as const;

const ROOTS_BY_FIELD: Record<Field, readonly string[]> = {
  files: ["params"],
  for_each: ["params", "files", "apps"],
  inputs: ["params", "files", "apps"],
  outputs: ["params", "files"],
  benchmark: ["params", "files"],
  id: ["params", "files"],
  label: ["params", "files", "inputs", "outputs", "resources", "task"],
  command: ["params", "files", "inputs", "outputs", "resources", "task"],
  shell: ["params", "files", "inputs", "outputs", "resources", "task"],
  script: ["params", "files"],
  stdout: ["params", "files", "inputs", "outputs", "resources", "task"],
  stderr: ["params", "files", "inputs", "outputs", "resources", "task"],
  env: ["params", "files", "inputs", "outputs", "resources", "task"],
  resources: ["params", "files"],
};

const ALL_ROOTS = ["params", "files", "inputs", "outputs", "resources", "task", "apps"];

/** Parse every template and resolve every name in it. */
export const expressionNames: WorkflowRule = ({ workflow }) => {
  const out: Problem[] = [];
  for (const f of templateFields(workflow)) {
    const parsed = parseTemplateCached(f.text);
    if (!parsed.ok) {
      out.push(
        inTemplate(
          error("expression-syntax", f.where, parsed.error.message),
          f.text,
          parsed.error.offset,
        ),
      );
      continue;
    }
    // The same expression repeated in one field is reported once, at its first use.
    const seen = new Set<string>();
    for (const e of expressions(parsed.template)) {
      if (seen.has(e.source)) continue;
      seen.add(e.source);
      const p = checkName(e, f.field, f.app, workflow);
      if (p) out.push(inTemplate({ ...p, path: f.where }, f.text, e.offset));
    }
  }
  return out;
};

function checkName(
  e: ExprPart,
  field: Field,
  app: App | undefined,
  w: Workflow,
): Problem | undefined {
  const [root, second, third, fourth] = e.path;
  const vars = app?.forEach.map((v) => v.name) ?? [];
  const roots = ROOTS_BY_FIELD[field];
  const here = `"\${{ ${e.source} }}"`;
  if (typeof root !== "string") return undefined;
  if (vars.includes(root) && field !== "for_each" && field !== "files") return undefined;
  if (!roots.includes(root)) {
    if (ALL_ROOTS.includes(root) || (field === "for_each" && vars.includes(root))) {
      return error(
        "expression-scope",
        [],
        `Cannot use ${here} in ${fieldName(field)}: ${scopeWhy(root, field)}`,
      );
    }
    const candidates = field === "files" || field === "for_each" ? roots : [...roots, ...vars];
    return error(
      "unknown-name",
      [],
      `Cannot resolve ${here}: "${root}" is not defined${
        didYouMean(root, candidates) || `; known here: ${candidates.join(", ")}`
      }`,
    );
  }
  // `known` may be a record: looking a name up must not cost a list of every app (10,000 apps).
  const names = (
    kind: string,
    known: readonly string[] | Readonly<Record<string, unknown>>,
    code: string,
    name: unknown,
  ) => {
    const has = (n: string) => Array.isArray(known) ? known.includes(n) : Object.hasOwn(known, n);
    if (typeof name === "string" && has(name)) return undefined;
    const list = Array.isArray(known) ? known as readonly string[] : Object.keys(known);
    if (typeof name === "string") {
      const what = kind.startsWith("output of app ")
        ? `app ${kind.slice(14)} has no output "${name}"`
        : `no ${kind} "${name}"`;
      const hint = didYouMean(name, list) ||
        (list.length
          ? `; known: ${list.slice(0, 20).join(", ")}${list.length > 20 ? ", …" : ""}`
          : "; none is declared");
      return error(code, [], `Cannot resolve ${here}: ${what}${hint}`);
    }
    if (name === undefined) {
      return error(
        "unknown-name",
        [],
        `Cannot use ${here} alone: name one of its ${kind}s, e.g. ${root}.${list[0] ?? "NAME"}`,
      );
    }
    return undefined;
  };
  switch (root) {
    case "params":
      return names("param", w.params, "unknown-param", second);
    case "files":
      return names("file", w.files, "unknown-file", second) ??
        fileProperty(third, here);
    case "inputs":
      return names("input", app?.inputs ?? {}, "unknown-input", second) ??
        fileProperty(typeof third === "number" ? fourth : third, here);
    case "outputs":
      return names("output", app?.outputs ?? {}, "unknown-output", second) ??
        fileProperty(typeof third === "number" ? fourth : third, here);
    case "resources":
      return names("resource", RESOURCE_NAMES, "unknown-name", second);
    case "task":
      if (field === "label" && second === "label") {
        return error("expression-scope", [], `Cannot use ${here} in the label itself`);
      }
      return names("task property", TASK_NAMES, "unknown-name", second);
    case "apps": {
      const a = names("app", w.apps, "unknown-app", second);
      if (a) return a;
      if (third !== "outputs") {
        return error(
          "unknown-name",
          [],
          `Cannot resolve ${here}: write apps.${String(second)}.outputs.NAME`,
        );
      }
      const other = w.apps[second as string]!;
      return names(
        `output of app "${other.name}"`,
        other.outputs,
        "unknown-output",
        fourth,
      ) ??
        (field === "for_each" ? fileProperty(e.path[4], here) : undefined);
    }
  }
  return undefined;
}

function fileProperty(prop: string | number | undefined, here: string): Problem | undefined {
  if (prop === undefined || typeof prop === "number") return undefined;
  if ((FILE_PROPERTIES as readonly string[]).includes(prop)) return undefined;
  return error(
    "unknown-name",
    [],
    `Cannot resolve ${here}: files have no "${prop}"${
      didYouMean(prop, FILE_PROPERTIES) || `; use ${FILE_PROPERTIES.map((p) => `.${p}`).join(", ")}`
    }`,
  );
}

function fieldName(field: Field): string {
  return field === "files" ? "files" : field === "for_each" ? "for_each" : `"${field}"`;
}

function scopeWhy(root: string, field: Field): string {
  if (root === "apps") {
    return "another app's outputs reach a task only as an input; declare one under inputs and use ${{ inputs.NAME }}";
  }
  if (field === "files") return "named files may only use params";
  if (field === "for_each") {
    return "for_each lists are made from params, files and other apps' outputs";
  }
  if (field === "inputs" || field === "outputs" || field === "id") {
    return `${field === "id" ? "task ids are" : `${field} are`} resolved before ${root} exist`;
  }
  if (field === "resources") {
    return "resources are granted before a task's files exist; use params, files or for_each variables";
  }
  return `${root} is not available here`;
}

/** Warning: a named file used in a command without being an input is not staged. */
export const unstagedFiles: WorkflowRule = ({ workflow }) => {
  const out: Problem[] = [];
  for (const f of templateFields(workflow)) {
    if (!["command", "shell", "stdout", "stderr", "env"].includes(f.field)) continue;
    const parsed = parseTemplateCached(f.text);
    if (!parsed.ok) continue;
    const seen = new Set<string>();
    for (const e of expressions(parsed.template)) {
      if (
        e.path[0] !== "files" || typeof e.path[1] !== "string" ||
        !Object.hasOwn(workflow.files, e.path[1])
      ) continue;
      if (e.path[2] === "url" || seen.has(e.path[1])) continue; // the URL itself is deliberate
      seen.add(e.path[1]);
      out.push(inTemplate(
        warning(
          "unstaged-file",
          f.where,
          `"files.${
            e.path[1]
          }" is used in ${f.field} but is not an input, so it is not staged to the task: declare it under inputs and use \${{ inputs.NAME }}`,
        ),
        f.text,
        e.offset,
      ));
    }
  }
  return out;
};

/** The set of param and file names any expression uses, for unused warnings. */
export function usedNames(w: Workflow): { params: Set<string>; files: Set<string> } {
  const params = new Set<string>(), files = new Set<string>();
  for (const f of templateFields(w)) {
    const parsed = parseTemplateCached(f.text);
    if (!parsed.ok) continue;
    for (const e of expressions(parsed.template)) {
      if (e.path[0] === "params" && typeof e.path[1] === "string") params.add(e.path[1]);
      if (e.path[0] === "files" && typeof e.path[1] === "string") files.add(e.path[1]);
    }
  }
  return { params, files };
}

/** Warnings: params and files nothing uses. */
export const unusedNames: WorkflowRule = ({ workflow }) => {
  const used = usedNames(workflow);
  const out: Problem[] = [];
  // A script gets every param (in its FERRY_TASK file): any may be used there.
  const scripts = Object.values(workflow.apps).some((a) => a.run?.kind === "script");
  for (const p of Object.keys(workflow.params)) {
    if (!used.params.has(p) && !scripts) {
      out.push({
        ...warning("unused-param", ["params", p], `Param "${p}" is never used`),
        at: "key",
      });
    }
  }
  for (const f of Object.keys(workflow.files)) {
    if (!used.files.has(f)) {
      out.push({ ...warning("unused-file", ["files", f], `File "${f}" is never used`), at: "key" });
    }
  }
  return out;
};
