/**
 * A sleep that an AbortSignal cuts short, for every wait in ferry's runtime
 * (retries, polls). A leaf: it imports nothing, so any layer may use it.
 * @module
 */

/** Wait `ms`, or less if `signal` aborts first (it never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
