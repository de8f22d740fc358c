/**
 * The job script of a pilot block (`bundle: pilot`): the dialect's directives
 * for a block (one core per worker, the block's walltime), then a launcher
 * that runs the executor's `worker_init` once and starts the block's workers
 * from the pilot library (`pilot.sh`, written once into the queue directory).
 * A block over several nodes (`nodes_per_block`) first starts the same script
 * on each node with the scheduler's launcher (`srun`, `pbsdsh`, `blaunch`):
 * `worker_init` and the workers then run once per node.
 * `ferry plan --show-scripts` prints the same script.
 * @module
 */

import { join } from "node:path";
import type { Executor, PilotSettings } from "../../dsl/model.ts";
import { bashQuote, type Dialect, DirectiveError, type ScriptRequest } from "./dialect.ts";
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
  const nodes = p.nodesPerBlock;
  const body = [
    "# shellcheck disable=SC2034 # the pilot library reads it",
    `ferry_q=${q(place.queue)}`,
    ...(nodes > 1 ? perNodeStart(dialect, ex, place) : []),
    ...(ex.workerInit
      ? [
        `# worker_init, once for the ${nodes > 1 ? "node" : "block"}`,
        ex.workerInit,
        // It may have turned on -e, -u or -x: the workers need none of them.
        "{ set +euxv; set +o pipefail; } 2>/dev/null",
      ]
      : []),
    "# shellcheck source=/dev/null # written into the queue directory at run time",
    `source ${q(pilotLibrary(place.queue))}`,
    `ferry_pilot_block ${place.key} ${p.workersPerNode} ${Math.ceil(p.idleTimeout)}${
      nodes > 1 ? ' "$ferry_node" "$ferry_node_name"' : ""
    }`,
  ];
  const request: ScriptRequest = {
    name: jobName(`pilot-${ex.name}-${place.key}`),
    resources: { cores: p.workersPerNode, walltime: p.walltime },
    ...(nodes > 1 ? { nodes } : {}),
    options: ex.options,
    chdir: place.queue,
    output: join(place.queue, "blocks", `${place.key}.out`),
    body: body.join("\n"),
  };
  return { request, text: dialect.script(request) };
}

/**
 * A block over several nodes: run as the job, the script starts itself once on each node with
 * the scheduler's launcher (`bash SCRIPT node I NAME`) and ends with them; run so on a node, it
 * goes on to that node's `worker_init` and workers (`I` numbers their slots).
 */
function perNodeStart(dialect: Dialect, ex: Executor, place: BlockPlace): string[] {
  if (dialect.perNode === undefined) {
    throw new DirectiveError(
      `${dialect.label} runs no job over several nodes (executor "${ex.name}" has nodes_per_block: ${ex.pilot?.nodesPerBlock})`,
    );
  }
  const p = ex.pilot!;
  return [
    'if [ "${1-}" != node ]; then',
    `  # The block's own shell: this script on each of its ${p.nodesPerBlock} nodes`,
    indent(dialect.perNode(p.nodesPerBlock, p.workersPerNode, blockScriptPath(place))),
    "  exit",
    "fi",
    "# This node's number and name, kept before worker_init could change the arguments",
    "ferry_node=$2 ferry_node_name=$3",
  ];
}

/** `text` indented by two spaces, line by line. */
function indent(text: string): string {
  return text.split("\n").map((l) => (l ? "  " + l : l)).join("\n");
}
