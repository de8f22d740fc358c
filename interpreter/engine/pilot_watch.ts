/**
 * Pilot blocks as the run sees them: the providers that hold blocks
 * (`pilotBlocks()`, an executor with `bundle: pilot`) are asked what they
 * hold every {@linkcode PILOT_POLL_MS} while the run goes, and once more at
 * its end. Whenever an executor's blocks changed (a state, a count of tasks),
 * the reporter is told, with the blocks whose state changed: those become
 * `pilot-block` lines of the event log and lines of the progress. Runs
 * without such a provider start no timer.
 * @module
 */

import type { BatchProvider, PilotBlock } from "../../providers/batch/types.ts";
import type { PilotBlockChange } from "./types.ts";

/** How often the providers are asked for their blocks, in ms. */
export const PILOT_POLL_MS = 200;

/** Told an executor's blocks when they changed, with the blocks whose state changed. */
export type PilotBlocksListener = (
  executor: string,
  blocks: readonly PilotBlock[],
  changes: readonly PilotBlockChange[],
) => void;

/**
 * What changed from `before` (the blocks of the last look, by id) to `now`:
 * each block that is new or in another state, then each block no longer
 * held (`gone`, with its last counts). Counts alone are no change of state.
 *
 * @example
 * ```ts
 * import { blockChanges } from "./pilot_watch.ts";
 * import assert from "node:assert/strict";
 * const b = { id: "7", state: "pending" as const, workers: 2, busy: 0, done: 0 };
 * assert.deepEqual(blockChanges(new Map(), [b]), [b]);
 * assert.deepEqual(blockChanges(new Map([["7", b]]), [{ ...b, done: 1 }]), []);
 * assert.deepEqual(blockChanges(new Map([["7", b]]), []), [{ ...b, state: "gone" }]);
 * ```
 */
export function blockChanges(
  before: ReadonlyMap<string, PilotBlock>,
  now: readonly PilotBlock[],
): PilotBlockChange[] {
  const changes: PilotBlockChange[] = [];
  const held = new Set<string>();
  for (const b of now) {
    held.add(b.id);
    if (before.get(b.id)?.state !== b.state) changes.push(b);
  }
  for (const [id, b] of before) if (!held.has(id)) changes.push({ ...b, state: "gone" });
  return changes;
}

/** Whether two looks at an executor's blocks differ in anything shown. */
function differ(before: ReadonlyMap<string, PilotBlock>, now: readonly PilotBlock[]): boolean {
  if (before.size !== now.length) return true;
  return now.some((b) => {
    const o = before.get(b.id);
    return !o || o.state !== b.state || o.workers !== b.workers || o.busy !== b.busy ||
      o.done !== b.done;
  });
}

/** Asks the providers that hold pilot blocks what they hold, and tells what changed. */
export class PilotWatch {
  /** The executors to ask (one per provider), with their provider. */
  readonly #watched: (readonly [string, BatchProvider])[] = [];
  /** What each executor held at the last look, by block id. */
  readonly #last = new Map<string, Map<string, PilotBlock>>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    providers: ReadonlyMap<string, BatchProvider>,
    readonly listener: PilotBlocksListener,
    readonly onError: (e: unknown) => void,
  ) {
    const seen = new Set<BatchProvider>();
    for (const [name, p] of providers) {
      if (typeof p.pilotBlocks !== "function" || seen.has(p)) continue;
      seen.add(p);
      this.#watched.push([name, p]);
    }
  }

  /** Look now, then every `ms` until {@linkcode stop}; nothing when no provider holds blocks. */
  start(ms: number = PILOT_POLL_MS): void {
    if (this.#watched.length === 0 || this.#timer !== undefined) return;
    this.poll();
    this.#timer = setInterval(() => this.poll(), ms);
  }

  /** Stop looking, after a last look (the blocks as the run ends). */
  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.poll();
  }

  /** Ask every provider once; a provider that throws is a bug, handed to `onError`. */
  poll(): void {
    for (const [name, p] of this.#watched) {
      let now: readonly PilotBlock[];
      try {
        now = p.pilotBlocks!() ?? [];
      } catch (e) {
        this.onError(e);
        continue;
      }
      const before = this.#last.get(name) ?? new Map<string, PilotBlock>();
      if (!differ(before, now)) continue;
      this.#last.set(name, new Map(now.map((b) => [b.id, { ...b }])));
      this.listener(name, now, blockChanges(before, now));
    }
  }
}
