/**
 * Bounded retry with exponential backoff and jitter: the one formula for the
 * wait before another attempt, of a task (the run) or a transfer (the staging
 * runtime; the job wrapper's bash copy in providers/batch/wrapper.sh follows
 * it). A leaf that the interpreter and both provider families may import.
 * @module
 */

import { sleep } from "./sleep.ts";

/** How long to wait before another attempt: {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /** The wait after the first attempt, in ms; each later wait doubles it. */
  readonly baseMs: number;
  /** The longest wait, in ms. @default 30000 */
  readonly maxMs?: number;
  /**
   * The share of each wait left to chance: a wait lies between `1 - jitter`
   * times the doubled base and the doubled base itself, so that work that
   * failed together (a server restarting) does not all come back at once.
   * @default 0.2
   */
  readonly jitter?: number;
  /** A number in [0, 1), uniformly at random. @default Math.random */
  readonly random?: () => number;
}

/**
 * Milliseconds before the first retry of a failed transfer or task unless told: ferry's one
 * default of this setting (`ferry run --retry-base`), for the run, the staging runtime and the
 * job wrapper's node-side transfers. Each retry waits twice as long, at most 30 s.
 */
export const RETRY_BASE_MS = 1000;

/** The longest wait between attempts unless told, in ms. */
export const MAX_BACKOFF_MS = 30_000;

/** The share of a wait left to chance unless told. */
export const BACKOFF_JITTER = 0.2;

/**
 * The wait in whole ms after failed attempt `attempt` (1 for the first):
 * `baseMs` doubled for each attempt before it, at most `maxMs`, then up to
 * `jitter` of it taken off at random.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { backoffDelay } from "./retry.ts";
 * const half = () => 0.5;
 * assert.equal(backoffDelay(1, { baseMs: 1000, random: half }), 900);
 * assert.equal(backoffDelay(3, { baseMs: 1000, jitter: 0 }), 4000);
 * assert.equal(backoffDelay(20, { baseMs: 1000, jitter: 0 }), 30_000);
 * ```
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const { baseMs, maxMs = MAX_BACKOFF_MS, jitter = BACKOFF_JITTER, random = Math.random } = options;
  // 2 ** 30 is past any maxMs: the exponent is capped so the product stays finite.
  const full = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.floor(full) - Math.floor(full * jitter * random());
}

/** Options for {@linkcode retry}. */
export interface RetryOptions extends BackoffOptions {
  /** Attempts after the first (0: one attempt only). */
  readonly retries: number;
  /** Whether another attempt may help after `error`. @default every error may pass */
  readonly retryable?: (error: unknown) => boolean;
  /** Told before each wait: the attempt that failed, the wait, and its error. */
  readonly onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
}

/**
 * Run `fn(attempt)` until it resolves, at most `retries + 1` times, waiting
 * {@linkcode backoffDelay} between attempts. Rejects with the last attempt's
 * error: after the last attempt, at once on an error that is not retryable,
 * and when `signal` aborts (no attempt starts after that; a wait ends early).
 * When `signal` aborted before the first attempt, rejects with its reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { retry } from "./retry.ts";
 * const seen: number[] = [];
 * const got = await retry(async (attempt) => {
 *   seen.push(attempt);
 *   if (attempt < 3) throw new Error("not yet");
 *   return "done";
 * }, { retries: 5, baseMs: 1 });
 * assert.equal(got, "done");
 * assert.deepEqual(seen, [1, 2, 3]);
 * ```
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
  signal?: AbortSignal,
): Promise<T> {
  const { retries, retryable = () => true, onRetry } = options;
  if (signal?.aborted) throw signal.reason;
  for (let attempt = 1;; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt > retries || signal?.aborted || !retryable(e)) throw e;
      const delay = backoffDelay(attempt, options);
      onRetry?.(attempt, delay, e);
      await sleep(delay, signal);
      if (signal?.aborted) throw e;
    }
  }
}
