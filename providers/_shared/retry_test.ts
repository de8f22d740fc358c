import assert from "node:assert/strict";
import { backoffDelay, retry } from "./retry.ts";

/** Numbers from a fixed list, in turn: the "random" draws a test chooses. */
function draws(...xs: number[]): () => number {
  let i = 0;
  return () => xs[i++ % xs.length]!;
}

Deno.test("backoffDelay() doubles from the base, stops at the maximum, and takes up to jitter off", () => {
  const none = () => 0;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, { baseMs: 1000, random: none })),
    [1000, 2000, 4000, 8000, 16000, 30000],
  );
  assert.equal(backoffDelay(1000, { baseMs: 1000, random: none }), 30000);
  assert.equal(backoffDelay(3, { baseMs: 50, maxMs: 100, random: none }), 100);
  // The draw takes off its share of the jitter: 0.2 of the wait at most, by default.
  assert.equal(backoffDelay(1, { baseMs: 1000, random: () => 0.5 }), 900);
  assert.equal(backoffDelay(1, { baseMs: 1000, random: () => 0.999999 }), 801);
  assert.equal(backoffDelay(2, { baseMs: 1000, jitter: 1, random: () => 0.25 }), 1500);
  assert.equal(backoffDelay(2, { baseMs: 1000, jitter: 0, random: () => 0.9 }), 2000);
  assert.equal(backoffDelay(1, { baseMs: 0 }), 0);
});

Deno.test("backoffDelay() spreads waits that start together (Math.random by default)", () => {
  const waits = Array.from({ length: 200 }, () => backoffDelay(1, { baseMs: 10_000 }));
  assert.ok(waits.every((w) => w > 8000 && w <= 10_000), String(waits));
  assert.ok(new Set(waits).size > 100, "the waits differ");
});

Deno.test("retry() tries again after retryable errors, waiting the backoff between attempts", async () => {
  const waits: number[] = [];
  const tried: number[] = [];
  const got = await retry(async (attempt) => {
    tried.push(attempt);
    await Promise.resolve();
    if (attempt < 3) throw new Error(`fail ${attempt}`);
    return attempt * 10;
  }, {
    retries: 3,
    baseMs: 40,
    random: draws(0.5, 0),
    onRetry: (attempt, delayMs, e) =>
      waits.push(attempt, delayMs, Number((e as Error).message.at(-1))),
  });
  assert.equal(got, 30);
  assert.deepEqual(tried, [1, 2, 3]);
  assert.deepEqual(waits, [1, 36, 1, 2, 80, 2]);
});

Deno.test("retry() gives up with the last error after retries + 1 attempts, and at once when not retryable", async () => {
  let calls = 0;
  await assert.rejects(
    retry(() => Promise.reject(new Error(`fail ${++calls}`)), { retries: 2, baseMs: 1 }),
    { message: "fail 3" },
  );
  assert.equal(calls, 3);

  calls = 0;
  await assert.rejects(
    retry(() => Promise.reject(new Error(`fail ${++calls}`)), { retries: 0, baseMs: 1 }),
    { message: "fail 1" },
  );
  assert.equal(calls, 1);

  calls = 0;
  await assert.rejects(
    retry(() => Promise.reject(new TypeError(`bad ${++calls}`)), {
      retries: 5,
      baseMs: 1,
      retryable: (e) => !(e instanceof TypeError),
    }),
    { message: "bad 1" },
  );
  assert.equal(calls, 1);
});

Deno.test("retry() stops when its signal aborts: during a wait, and before the first attempt", async () => {
  const ac = new AbortController();
  let calls = 0;
  const t0 = performance.now();
  const running = retry(
    () => {
      calls++;
      setTimeout(() => ac.abort(new Error("stop")), 20);
      return Promise.reject(new Error(`fail ${calls}`));
    },
    { retries: 5, baseMs: 60_000, jitter: 0 },
    ac.signal,
  );
  await assert.rejects(running, { message: "fail 1" });
  assert.equal(calls, 1);
  assert.ok(performance.now() - t0 < 10_000, "the wait ended with the abort");

  await assert.rejects(
    retry(() => Promise.resolve(1), { retries: 1, baseMs: 1 }, ac.signal),
    { message: "stop" },
  );
});
