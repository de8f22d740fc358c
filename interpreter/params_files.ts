/**
 * Params files (`--params FILE`): YAML, TOML or JSON mappings of param names
 * to values, read with positions, checked against the workflow's declared
 * params (an unknown name, with a did-you-mean; a value of another type than
 * the param's) and merged in order: a later file wins, and `--param` wins
 * over every file. Every problem is located in the params file.
 * @module
 */

import { type Diagnostic, error, locate, type Problem } from "../dsl/diagnostic.ts";
import { type Format, loadDiagnostics, loadFile, type LoadResult } from "../dsl/load.ts";
import type { ParamValue, Workflow } from "../dsl/model.ts";
import { paramTypeProblem } from "../dsl/params.ts";
import { didYouMean } from "../dsl/suggest.ts";

/** The params the files set (later files winning), and the diagnostics of each file. */
export interface ParamsFiles {
  /** Values by name. */
  readonly params: Record<string, ParamValue>;
  /** Problems, each located in its params file. */
  readonly diagnostics: Diagnostic[];
}

/** The format of a params file by its extension: JSON is read as YAML (it is YAML 1.2). */
function formatOf(file: string): Format | undefined {
  const m = /\.(ya?ml|toml|json)$/i.exec(file);
  if (!m) return undefined;
  return m[1]!.toLowerCase() === "toml" ? "toml" : "yaml";
}

/** Read every params file, check it against `workflow`'s params, and merge them in order. */
export async function readParamsFiles(
  files: readonly string[],
  workflow: Workflow,
  sources: Map<string, string>,
): Promise<ParamsFiles> {
  const params: Record<string, ParamValue> = {};
  const diagnostics: Diagnostic[] = [];
  for (const file of files) {
    const format = formatOf(file);
    if (format === undefined) {
      const message = `Cannot read params file "${file}": name it .yaml, .yml, .toml or .json`;
      const p = { ...error("unknown-format", [], message), line: 1, column: 1 };
      diagnostics.push(...loadDiagnostics(file, [p]));
      continue;
    }
    const r: LoadResult = await loadFile(file, format);
    if (r.text !== undefined) sources.set(file, r.text);
    diagnostics.push(...loadDiagnostics(file, r.problems));
    if (!r.document) continue;
    const doc = r.document;
    for (const [name, value] of Object.entries(doc.value)) {
      const problem = checkParam(name, value as ParamValue, file, workflow);
      if (problem) diagnostics.push(locate(problem, file, doc.index));
      else params[name] = value as ParamValue;
    }
  }
  return { params, diagnostics };
}

/** Why param `name` of a params file cannot be `value`, located at it; undefined when it can. */
function checkParam(
  name: string,
  value: ParamValue,
  file: string,
  workflow: Workflow,
): Problem | undefined {
  if (!Object.hasOwn(workflow.params, name)) {
    const declared = Object.keys(workflow.params);
    const hint = didYouMean(name, declared) ||
      (declared.length === 0
        ? "; it declares none"
        : `; it declares ${declared.map((p) => `"${p}"`).join(", ")}`);
    return {
      ...error(
        "unknown-param",
        [name],
        `Cannot set param "${name}" from "${file}": the workflow has no such param${hint}`,
      ),
      at: "key",
    };
  }
  const why = paramTypeProblem(value, workflow.params[name], workflow.paramTypes?.[name]);
  if (why === undefined) return undefined;
  return error("wrong-type", [name], `Cannot set param "${name}" from "${file}": ${why}`);
}
