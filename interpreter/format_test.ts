import assert from "node:assert/strict";
import { formatBytes, formatDuration, formatRate } from "./format.ts";

/** Each case: input, then the exact text. */
function cases<T>(f: (x: T) => unknown, table: readonly (readonly [T, unknown])[]): void {
  assert.deepEqual(table.map(([x]) => [x, f(x)]), table);
}

Deno.test("formatDuration() prints milliseconds below a second", () => {
  cases(formatDuration, [
    [0, "0ms"],
    [0.4, "0ms"],
    [1, "1ms"],
    [42, "42ms"],
    [850, "850ms"],
    [999.4, "999ms"],
  ]);
});

Deno.test("formatDuration() prints tenths of a second up to ten seconds", () => {
  cases(formatDuration, [
    [999.5, "1.0s"],
    [1000, "1.0s"],
    [1049, "1.0s"],
    [1050, "1.1s"],
    [4540, "4.5s"],
    [9949, "9.9s"],
  ]);
});

Deno.test("formatDuration() prints whole seconds up to a minute", () => {
  cases(formatDuration, [
    [9950, "10s"],
    [10_000, "10s"],
    [11_000, "11s"],
    [59_499, "59s"],
  ]);
});

Deno.test("formatDuration() prints minutes and seconds up to an hour", () => {
  cases(formatDuration, [
    [59_500, "1m00s"],
    [60_000, "1m00s"],
    [71_000, "1m11s"],
    [605_000, "10m05s"],
    [3_599_499, "59m59s"],
  ]);
});

Deno.test("formatDuration() prints hours and minutes from an hour on", () => {
  cases(formatDuration, [
    [3_599_500, "1h00m"],
    [3_600_000, "1h00m"],
    [7_380_000, "2h03m"],
    [7_169_999, "1h59m"],
    [7_170_000, "2h00m"],
    [100 * 3_600_000, "100h00m"],
  ]);
});

Deno.test("formatDuration() prints a negative duration as zero and refuses a non-number", () => {
  assert.equal(formatDuration(-5), "0ms");
  assert.throws(() => formatDuration(NaN), {
    name: "RangeError",
    message: 'Cannot format duration "NaN": not a number',
  });
});

Deno.test("formatBytes() prints whole bytes below a KiB", () => {
  cases(formatBytes, [[0, "0 B"], [1, "1 B"], [115.38461538461539, "115 B"], [1023.4, "1023 B"]]);
});

Deno.test("formatBytes() prints one decimal in the largest unit that keeps it below 1024", () => {
  cases(formatBytes, [
    [1023.5, "1.0 KiB"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [1024 * 1024 - 52, "1023.9 KiB"],
    [1024 * 1024 - 51, "1.0 MiB"],
    [1_258_291, "1.2 MiB"],
    [4 * 1024 ** 3, "4.0 GiB"],
    [1024 ** 4, "1.0 TiB"],
    [3 * 1024 ** 5, "3.0 PiB"],
    [2048 * 1024 ** 5, "2048.0 PiB"],
  ]);
});

Deno.test("formatBytes() prints a negative size as zero and refuses a non-number", () => {
  assert.equal(formatBytes(-1), "0 B");
  assert.throws(() => formatBytes(Infinity), {
    name: "RangeError",
    message: 'Cannot format size "Infinity": not a number',
  });
});

Deno.test("formatRate() prints bytes per second, and nothing for no time", () => {
  assert.equal(formatRate(1500, 13_000), "115 B/s");
  assert.equal(formatRate(1_258_291, 1000), "1.2 MiB/s");
  assert.equal(formatRate(2048, 500), "4.0 KiB/s");
  assert.equal(formatRate(1500, 0), undefined);
});
