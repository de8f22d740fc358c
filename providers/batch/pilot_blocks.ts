/**
 * Pilot blocks as ferry keeps track of them, and the scaling rule (Parsl's
 * block scaling): `init_blocks` at the first task; more blocks while tasks
 * waiting for a worker outnumber the free workers, never past `max_blocks`;
 * never fewer than `min_blocks` while tasks remain. Plain data and pure
 * functions, tested without a scheduler.
 * @module
 */

import type { PilotSettings } from "../../dsl/model.ts";
import type { PilotBlock } from "./types.ts";

/** One block: its key in the queue directory, its scheduler id, what ferry knows of it. */
export class Block {
  /** `b1`, `b2`, ... (file names in the queue directory). */
  readonly key: string;
  /** Workers it runs (on all its nodes). */
  readonly workers: number;
  /** The scheduler's id, once submitted. */
  jobId?: string;
  /** Where the scheduler writes the block's own output. */
  output?: string;
  /** A worker of it was seen (a heartbeat or a finished task). */
  workersSeen = false;
  /** The scheduler said it runs (or a worker of it was seen). */
  started = false;
  /** ferry cancelled it, or its workers are ending. */
  ending = false;
  /** It left the queue. */
  gone = false;
  /** Status polls in a row that did not find it in the queue. */
  missing = 0;
  /** Tasks running in it now. */
  busy = 0;
  /** Tasks it finished. */
  done = 0;

  constructor(key: string, workers: number) {
    this.key = key;
    this.workers = workers;
  }

  /** Whether it can still take tasks (queued or running, not ending). */
  get capacity(): number {
    return this.gone || this.ending ? 0 : this.workers;
  }

  /** As progress shows it. */
  view(): PilotBlock {
    const state = this.ending
      ? "ending"
      : !this.started
      ? "pending"
      : this.busy > 0
      ? "running"
      : "idle";
    return {
      id: this.jobId ?? this.key,
      state,
      workers: this.workers,
      busy: this.busy,
      done: this.done,
    };
  }
}

/** What the scaling rule looks at. */
export interface ScaleInput {
  /** Blocks in the queue (pending or running), ending ones included. */
  readonly live: number;
  /** Workers of live blocks that are not ending (started or to come). */
  readonly capacity: number;
  /** Tasks running on a worker. */
  readonly busy: number;
  /** Tasks not yet taken by a worker. */
  readonly waiting: number;
  /** Whether no block was submitted yet. */
  readonly first: boolean;
}

/**
 * How many blocks to submit now.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { blocksToSubmit } from "./pilot_blocks.ts";
 * const p = { nodesPerBlock: 1, workersPerNode: 2, initBlocks: 1, minBlocks: 0,
 *   maxBlocks: 3, walltime: 3600, idleTimeout: 60 };
 * // 9 tasks waiting, one block of 2 workers queued: 2 more blocks (3 at most).
 * assert.equal(blocksToSubmit({ live: 1, capacity: 2, busy: 0, waiting: 9, first: false }, p), 2);
 * ```
 */
export function blocksToSubmit(s: ScaleInput, p: PilotSettings): number {
  const room = Math.max(0, p.maxBlocks - s.live);
  if (s.waiting + s.busy === 0) return 0;
  const perBlock = p.nodesPerBlock * p.workersPerNode;
  const short = s.waiting - Math.max(0, s.capacity - s.busy);
  let want = short > 0 ? Math.ceil(short / perBlock) : 0;
  if (s.first) want = Math.max(want, p.initBlocks - s.live);
  want = Math.max(want, p.minBlocks - s.live);
  // Tasks but no block able to take them (all ended or ending): one at least.
  if (s.capacity === 0) want = Math.max(want, 1);
  return Math.min(room, Math.max(0, want));
}
