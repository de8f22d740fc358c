/**
 * Waiting: counting semaphores for transfer concurrency (one global, one per
 * provider rule, one per host; waiters are served in arrival order and an
 * aborted waiter leaves the queue), and (from providers/_shared) a sleep that an AbortSignal
 * cuts short.
 * @module
 */

/** A counting semaphore. */
export class Limit {
  #free: number;
  readonly #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  /** A limit of `size` concurrent holders. */
  constructor(readonly size: number) {
    this.#free = size;
  }

  /** Wait for a slot; rejects with the signal's reason if aborted while waiting. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w = {
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(w);
    });
  }

  /** Give a slot back. */
  release(): void {
    const next = this.#waiters.shift();
    if (next) next.resolve();
    else this.#free++;
  }

  /** Run `f` holding a slot. */
  async run<T>(f: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await f();
    } finally {
      this.release();
    }
  }
}

/** Acquire several limits in a fixed order (global first), run `f`, release them. */
export async function withLimits<T>(
  limits: readonly Limit[],
  f: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const held: Limit[] = [];
  try {
    for (const l of limits) {
      await l.acquire(signal);
      held.push(l);
    }
    return await f();
  } finally {
    for (const l of held.reverse()) l.release();
  }
}

export { sleep } from "../_shared/sleep.ts";
