/**
 * Stale outputs: files an earlier run's `glob` or `dir` output left in the
 * workspace that no task produces any more (a glob that now finds fewer
 * files, a `dir:` that moved). Each success record keeps, per dynamic
 * output, the files earlier successes collected and this one did not; a file
 * is stale while it is still there and no recorded output is it.
 * `ferry status` reports them, `ferry clean --stale` removes them.
 * @module
 */

import { relative } from "node:path";
import type { OutputRecord, SuccessRecord } from "./state.ts";
import { localPath } from "./values.ts";

/** Whether something (a file, a link, even a dangling one) is at `path`. */
function present(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The files an earlier record of a dynamic output collected (or already
 * found stale) that `files` now lacks, still in the workspace.
 */
export function leftBehind(was: OutputRecord | undefined, files: readonly string[]): string[] {
  if (!was?.files && !was?.stale) return [];
  const now = new Set(files);
  return [...new Set([...(was.files ?? []), ...(was.stale ?? [])])].filter((u) => {
    const here = localPath(u);
    return !now.has(u) && here !== undefined && present(here);
  });
}

/**
 * The stale files of a workspace, relative to it, sorted: left behind by a
 * dynamic output, still there, and no recorded output of any task.
 *
 * @example
 * ```ts
 * import { staleOutputs } from "./stale.ts";
 * import assert from "node:assert/strict";
 * const ws = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${ws}/old.txt`, "old\n");
 * const output = { name: "g", url: `file://${ws}/*.txt`, size: 0, sha256: "", glob: true };
 * const record = (files: string[], stale: string[]) => ({
 *   taskId: "t", key: "k", parts: {}, runId: "r", attempt: 1, finishedAt: 0,
 *   outputs: [{ ...output, files, stale }],
 * });
 * assert.deepEqual(staleOutputs([record([], [`file://${ws}/old.txt`])], ws), ["old.txt"]);
 * assert.deepEqual(staleOutputs([record([`file://${ws}/old.txt`], [`file://${ws}/old.txt`])], ws), []);
 * Deno.removeSync(ws, { recursive: true });
 * ```
 */
export function staleOutputs(records: Iterable<SuccessRecord>, workspace: string): string[] {
  const left = new Set<string>();
  const produced = new Set<string>();
  for (const r of records) {
    for (const o of r.outputs) {
      produced.add(o.url);
      for (const u of o.files ?? []) produced.add(u);
      for (const u of o.stale ?? []) left.add(u);
    }
  }
  const out: string[] = [];
  for (const u of left) {
    const here = localPath(u);
    if (produced.has(u) || here === undefined || !present(here)) continue;
    out.push(relative(workspace, here));
  }
  return out.sort();
}
