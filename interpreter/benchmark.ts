/**
 * An app's `benchmark:` file: what one task used, written after each success
 * in the columns of Snakemake's benchmark files that ferry measures. It is a
 * product of the task but no output: not hashed, not in the cache key, and a
 * missing one does not make the task run again.
 * @module
 */

import { dirname, join } from "node:path";
import type { Usage } from "../providers/batch/types.ts";
import { cpuSeconds } from "./format.ts";

/** The columns written, as Snakemake names them. */
export const BENCHMARK_COLUMNS = ["s", "h:m:s", "max_rss", "mean_load", "cpu_time"] as const;

/**
 * The file's text: a header line and one line of figures, tab-separated: wall seconds, the same
 * as h:m:s, peak RSS in MiB, CPU time / wall time × 100, CPU seconds; `NA` where not measured.
 *
 * @example
 * ```ts
 * import { benchmarkTsv } from "./benchmark.ts";
 * import assert from "node:assert/strict";
 * assert.equal(
 *   benchmarkTsv({ wallSeconds: 3723.5, userSeconds: 2, systemSeconds: 0.5, maxRssBytes: 10485760, measuredBy: "wait4" }),
 *   "s\th:m:s\tmax_rss\tmean_load\tcpu_time\n3723.5000\t1:02:03\t10.00\t0.07\t2.50\n",
 * );
 * assert.equal(
 *   benchmarkTsv({ wallSeconds: 2, measuredBy: "clock" }),
 *   "s\th:m:s\tmax_rss\tmean_load\tcpu_time\n2.0000\t0:00:02\tNA\tNA\tNA\n",
 * );
 * ```
 */
export function benchmarkTsv(u: Usage): string {
  const cpu = cpuSeconds(u);
  const s = Math.floor(u.wallSeconds);
  const hms = `${Math.floor(s / 3600)}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
  const figures = [
    u.wallSeconds.toFixed(4),
    hms,
    u.maxRssBytes !== undefined ? (u.maxRssBytes / 2 ** 20).toFixed(2) : "NA",
    cpu !== undefined && u.wallSeconds > 0 ? (cpu / u.wallSeconds * 100).toFixed(2) : "NA",
    cpu !== undefined ? cpu.toFixed(2) : "NA",
  ];
  return `${BENCHMARK_COLUMNS.join("\t")}\n${figures.join("\t")}\n`;
}

const two = (n: number) => String(n).padStart(2, "0");

/**
 * Write `usage` to the benchmark file `path` (workspace-relative) of the workspace: through a
 * temporary file renamed into place, so that a reader never sees half of it.
 */
export function writeBenchmark(workspace: string, path: string, usage: Usage): void {
  const file = join(workspace, path);
  Deno.mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.ferry-tmp`;
  try {
    Deno.writeTextFileSync(tmp, benchmarkTsv(usage));
    Deno.renameSync(tmp, file);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* never made, or gone */ }
    throw e;
  }
}
