/**
 * The FERRY_TASK file of a `script:` task: everything the script needs to know about its task,
 * as JSON in the attempt's directory (`task.json`), its path in the environment variable
 * `FERRY_TASK`. Its shape is `ferryTask: 1`; docs/guides/script-apps.md documents every field,
 * and a field is only ever added, never changed or removed, while `ferryTask` stays 1.
 * @module
 */

import { join } from "node:path";
import type { JobSpec } from "../providers/batch/types.ts";
import type { PlanTask } from "./plan.ts";

/** What a script finds in its FERRY_TASK file. */
export interface FerryTask {
  /** The format's version: 1. */
  readonly ferryTask: 1;
  /** The task's id: `plot[sample=a]`. */
  readonly id: string;
  /** Its app. */
  readonly app: string;
  /** Its label. */
  readonly label: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** How many times a failed attempt is tried again. */
  readonly retries: number;
  /** The `for_each` variables of this task (Snakemake's wildcards): name → value. */
  readonly bindings: Readonly<Record<string, string>>;
  /**
   * Inputs by slot: the path the task sees (relative to its working directory unless absolute), a
   * list for a slot written as a list.
   */
  readonly inputs: Readonly<Record<string, string | string[]>>;
  /** Outputs by slot, likewise: where the script writes them. */
  readonly outputs: Readonly<Record<string, string | string[]>>;
  /** Every param in effect. */
  readonly params: Readonly<Record<string, unknown>>;
  /** What the task was given: cores, memory (bytes), walltime (seconds), gpus, ranks. */
  readonly resources: JobSpec["resources"];
  /** Where its standard output and error go (absolute paths). */
  readonly log: { readonly stdout: string; readonly stderr: string };
  /** Its working directory (absolute). */
  readonly workdir: string;
}

/** Where an attempt's FERRY_TASK file is. */
export function taskFilePath(root: string): string {
  return join(root, "task.json");
}

/**
 * A task's files grouped by slot, each path as `at` makes it: one path per slot, a list where a
 * slot holds several or is named in `lists` (then also when it holds one or none).
 */
export function slotPaths(
  files: readonly { readonly name: string; readonly path: string }[],
  at: (path: string) => string = (p) => p,
  lists: readonly string[] = [],
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of lists) out[name] = [];
  for (const f of files) {
    const p = at(f.path);
    const prev = out[f.name];
    out[f.name] = prev === undefined ? p : [...(Array.isArray(prev) ? prev : [prev]), p];
  }
  return out;
}

/** The FERRY_TASK file's content for one attempt of a script task. */
export function ferryTask(task: PlanTask, job: JobSpec): FerryTask {
  const run = task.run?.kind === "script" ? task.run : undefined;
  return {
    ferryTask: 1,
    id: task.id,
    app: task.app,
    label: task.label,
    attempt: job.attempt,
    retries: task.retries,
    bindings: task.bindings,
    inputs: slotPaths(task.inputs, undefined, run?.lists.inputs),
    outputs: slotPaths(task.outputs, undefined, run?.lists.outputs),
    params: run?.params ?? {},
    resources: job.resources,
    log: { stdout: job.stdout, stderr: job.stderr },
    workdir: job.dir,
  };
}
