/**
 * `ferry check` of several workflow files at once: one list of diagnostics in
 * which a site file checked with every workflow reports its problems once.
 * @module
 */

import type { Diagnostic } from "../dsl/diagnostic.ts";
import { type CheckOptions, checkWorkflowFile } from "./check.ts";

/** What checking several workflow files found. */
export interface FilesCheckResult {
  /** Every distinct diagnostic, file by file in the order given, each file's sorted. */
  readonly diagnostics: readonly Diagnostic[];
  /** Source texts by file name, for carets. */
  readonly sources: ReadonlyMap<string, string>;
  /** Tasks of every workflow that expanded, added up. */
  readonly tasks: number;
}

/** Check each of `files` with the same `options`: every problem of every file at once. */
export async function checkWorkflowFiles(
  files: readonly string[],
  options: CheckOptions = {},
): Promise<FilesCheckResult> {
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  const sources = new Map<string, string>();
  let tasks = 0;
  for (const file of files) {
    const r = await checkWorkflowFile(file, options);
    for (const d of r.diagnostics) {
      const key = `${d.file}\0${d.line}\0${d.column}\0${d.code}\0${d.message}`;
      if (!seen.has(key)) {
        seen.add(key);
        diagnostics.push(d);
      }
    }
    for (const [k, v] of r.sources) sources.set(k, v);
    tasks += r.expansion?.tasks.length ?? 0;
  }
  return { diagnostics, sources, tasks };
}
