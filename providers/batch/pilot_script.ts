/**
 * The job script of a pilot block (`bundle: pilot`): the dialect's directives
 * for a block (one core per worker, the block's walltime), then a launcher
 * that runs the executor's `worker_init` once and starts the block's workers
 * from the pilot library (`pilot.sh`, written once into the queue directory).
 * `ferry plan --show-scripts` prints the same script.
 * @module
 */

import { join } from "node:path";
import type { Executor, PilotSettings } from "../../dsl/model.ts";
import { bashQuote, type Dialect, type ScriptRequest } from "./dialect.ts";
import { jobName, type JobScript } from "./job_scripts.ts";
// A text import, like the job wrapper's library, so that it works from a published package too.
import PILOT_LIBRARY from "./pilot.sh" with { type: "text" };

export { PILOT_LIBRARY };

/** Where a block's files go: its queue directory and its key there (`b1`, `b2`, ...). */
export interface BlockPlace {
  /** The executor's queue directory (under the run's directory). */
  readonly queue: string;
  /** The block's key in the queue: `b` and a number. */
  readonly key: string;
}

/** The queue directory of executor `executor` in run directory `runDir`. */
export function pilotQueueDir(runDir: string, executor: string): string {
  return join(runDir, "pilot", executor.replace(/[^A-Za-z0-9_.-]+/g, "_"));
}

/** The pilot library's path in a queue directory. */
export function pilotLibrary(queue: string): string {
  return join(queue, "pilot.sh");
}

/** The block's script path in its queue directory. */
export function blockScriptPath(place: BlockPlace): string {
  return join(place.queue, "blocks", `${place.key}.sh`);
}

/** The job script of block `place.key` of executor `ex` (which has `bundle: pilot`). */
export function blockScript(
  dialect: Dialect,
  ex: Executor & { readonly pilot: PilotSettings },
  place: BlockPlace,
): JobScript {
  const p = ex.pilot;
  const q = bashQuote;
  const body = [
    "# shellcheck disable=SC2034 # the pilot library reads it",
    `ferry_q=${q(place.queue)}`,
    ...(ex.workerInit
      ? [
        "# worker_init, once for the block",
        ex.workerInit,
        // It may have turned on -e, -u or -x: the workers need none of them.
        "{ set +euxv; set +o pipefail; } 2>/dev/null",
      ]
      : []),
    "# shellcheck source=/dev/null # written into the queue directory at run time",
    `source ${q(pilotLibrary(place.queue))}`,
    `ferry_pilot_block ${place.key} ${p.workersPerNode} ${Math.ceil(p.idleTimeout)}`,
  ];
  const request: ScriptRequest = {
    name: jobName(`pilot-${ex.name}-${place.key}`),
    resources: { cores: p.workersPerNode, walltime: p.walltime },
    options: ex.options,
    chdir: place.queue,
    output: join(place.queue, "blocks", `${place.key}.out`),
    body: body.join("\n"),
  };
  return { request, text: dialect.script(request) };
}
