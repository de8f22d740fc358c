/**
 * The job scripts a scheduler provider submits: one attempt on its own, or an
 * array whose element i runs the i-th attempt's wrapper. `ferry plan
 * --show-scripts` prints the same scripts.
 * @module
 */

import { join } from "node:path";
import type { Executor } from "../../dsl/model.ts";
import { bashQuote, type Dialect, type ScriptRequest } from "./dialect.ts";
import type { RootedJob } from "./scheduler_job.ts";
import type { JobSpec } from "./types.ts";
import { wrapperFiles } from "./wrapper.ts";

/** A job script and the request it was made from. */
export interface JobScript {
  /** What the dialect was asked for. */
  readonly request: ScriptRequest;
  /** The script's text. */
  readonly text: string;
}

/**
 * A job name the schedulers accept: letters, digits, `-`, `_`, `.`; at most 64 characters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jobName } from "./job_scripts.ts";
 * assert.equal(jobName("align[sample=a b]"), "ferry-align_sample_a_b_");
 * ```
 */
export function jobName(text: string): string {
  return ("ferry-" + text.replace(/[^A-Za-z0-9_.-]+/g, "_")).slice(0, 64);
}

/** The job script of one attempt submitted on its own. */
export function singleScript(dialect: Dialect, ex: Executor, job: RootedJob): JobScript {
  const files = wrapperFiles(job.root);
  const request: ScriptRequest = {
    name: jobName(job.taskId),
    resources: job.resources,
    options: ex.options,
    chdir: job.root,
    output: join(job.root, "scheduler.out"),
    body: `exec bash ${bashQuote(files.script)}`,
  };
  return { request, text: dialect.script(request) };
}

/** Where an array job's files go. */
export interface ArrayPlace {
  /** The array's name (job name and file names). */
  readonly name: string;
  /** The directory of its script and output. */
  readonly dir: string;
  /** The file listing one wrapper per line, element i on line i + 1. */
  readonly list: string;
}

/** The job script of an array: element i runs the i-th wrapper listed in `place.list`. */
export function arrayScript(
  dialect: Dialect,
  ex: Executor,
  place: ArrayPlace,
  members: readonly JobSpec[],
): JobScript {
  const request: ScriptRequest = {
    name: jobName(place.name),
    resources: members[0]!.resources,
    options: ex.options,
    chdir: place.dir,
    output: join(place.dir, `${place.name}-{array}_{index}.out`),
    array: {
      count: members.length,
      ...(ex.maxJobs !== undefined ? { throttle: ex.maxJobs } : {}),
    },
    body: [
      `ferry_task=$(sed -n "$((FERRY_ARRAY_INDEX + 1))p" ${bashQuote(place.list)})`,
      'exec bash "$ferry_task"',
    ].join("\n"),
  };
  return { request, text: dialect.script(request) };
}
