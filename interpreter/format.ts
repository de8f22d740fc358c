/**
 * Durations, sizes and rates for people, in one place so that progress, the
 * run summary, `ferry status`, `ferry clean` and the HTML report print the
 * same value the same way. Each value is rounded once, to the precision of
 * the unit it ends up in, so a value just under a boundary never prints as
 * `60.0s` or `1024.0 KiB`.
 * @module
 */

import type { Usage } from "../providers/batch/types.ts";

/**
 * A duration in milliseconds for people, with about two significant digits:
 * `850ms`, `4.5s`, `11s`, `1m11s`, `2h03m`. Negative durations (clocks of two
 * hosts) print as `0ms`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./format.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatDuration(850), "850ms");
 * assert.equal(formatDuration(4_540), "4.5s");
 * assert.equal(formatDuration(71_000), "1m11s");
 * assert.equal(formatDuration(7_380_000), "2h03m");
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`Cannot format duration "${ms}": not a number`);
  const t = Math.max(0, ms);
  if (Math.round(t) < 1000) return `${Math.round(t)}ms`;
  const tenths = Math.round(t / 100);
  if (tenths < 100) return `${(tenths / 10).toFixed(1)}s`;
  const s = Math.round(t / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  const m = Math.round(t / 60_000);
  return `${Math.floor(m / 60)}h${two(m % 60)}m`;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/**
 * A size in bytes for people, in binary units: whole bytes below 1 KiB, one
 * decimal above (`115 B`, `1.0 KiB`, `1.2 MiB`).
 *
 * @example
 * ```ts
 * import { formatBytes } from "./format.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatBytes(115.38461538461539), "115 B");
 * assert.equal(formatBytes(1_258_291), "1.2 MiB");
 * ```
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`Cannot format size "${n}": not a number`);
  const b = Math.max(0, n);
  if (Math.round(b) < 1024) return `${Math.round(b)} B`;
  // Rounded in the unit it prints in: 1023.96 KiB is 1.0 MiB, not 1024.0 KiB.
  let i = 1, tenths = Math.round((b / 1024) * 10);
  while (tenths >= 10240 && i < UNITS.length - 1) tenths = Math.round((b / 1024 ** ++i) * 10);
  return `${(tenths / 10).toFixed(1)} ${UNITS[i]}`;
}

/**
 * A throughput for people (`115 B/s`, `1.2 MiB/s`), or undefined when the
 * time is zero (a transfer too quick to time says nothing about speed).
 *
 * @example
 * ```ts
 * import { formatRate } from "./format.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatRate(1500, 13_000), "115 B/s");
 * assert.equal(formatRate(2_621_440, 2_000), "1.3 MiB/s");
 * assert.equal(formatRate(1500, 0), undefined);
 * ```
 */
export function formatRate(bytes: number, ms: number): string | undefined {
  return ms > 0 ? `${formatBytes((bytes * 1000) / ms)}/s` : undefined;
}

function two(n: number): string {
  return String(n).padStart(2, "0");
}

/**
 * An attempt's CPU time (user and system), when it was measured.
 *
 * @example
 * ```ts
 * import { cpuSeconds } from "./format.ts";
 * import assert from "node:assert/strict";
 * assert.equal(cpuSeconds({ wallSeconds: 2, userSeconds: 1, systemSeconds: 0.5, measuredBy: "time" }), 1.5);
 * assert.equal(cpuSeconds({ wallSeconds: 2, measuredBy: "clock" }), undefined);
 * ```
 */
export function cpuSeconds(u: Usage): number | undefined {
  return u.userSeconds === undefined && u.systemSeconds === undefined
    ? undefined
    : (u.userSeconds ?? 0) + (u.systemSeconds ?? 0);
}

/**
 * What an attempt used, for people: its wall time, its CPU time (user and system) and its peak
 * memory, each when measured.
 *
 * @example
 * ```ts
 * import { formatUsage } from "./format.ts";
 * import assert from "node:assert/strict";
 * assert.equal(
 *   formatUsage({ wallSeconds: 4.54, userSeconds: 3, systemSeconds: 1.1, maxRssBytes: 220_200_960, measuredBy: "wait4" }),
 *   "wall 4.5s, CPU 4.1s, peak memory 210.0 MiB",
 * );
 * assert.equal(formatUsage({ wallSeconds: 0.5, measuredBy: "clock" }), "wall 500ms");
 * ```
 */
export function formatUsage(u: Usage): string {
  const parts = [`wall ${formatDuration(u.wallSeconds * 1000)}`];
  const cpu = cpuSeconds(u);
  if (cpu !== undefined) parts.push(`CPU ${formatDuration(cpu * 1000)}`);
  if (u.maxRssBytes !== undefined) parts.push(`peak memory ${formatBytes(u.maxRssBytes)}`);
  return parts.join(", ");
}
