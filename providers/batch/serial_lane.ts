/**
 * One lane of work done in order: the scheduler provider's submissions, status
 * calls and cancellations run one after another (a cancel always follows the
 * submission it concerns). A step that fails fails only its own promise; the
 * steps queued after it still run.
 * @module
 */

/** Work done one step at a time, in the order it was queued. */
export class SerialLane {
  #tail: Promise<void> = Promise.resolve();

  /**
   * Queue `step`; its promise settles with the step's result or error.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SerialLane } from "./serial_lane.ts";
   * const lane = new SerialLane();
   * const failed = lane.run(() => Promise.reject(new Error("no")));
   * const next = lane.run(() => Promise.resolve(2));
   * await assert.rejects(failed, /no/);
   * assert.equal(await next, 2);
   * ```
   */
  run<T>(step: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(step);
    // The lane goes on whatever this step did; its caller sees the error through `result`.
    this.#tail = result.then(() => {}, () => {});
    return result;
  }

  /** Settles once every step queued so far has ended. */
  idle(): Promise<void> {
    return this.#tail;
  }
}
