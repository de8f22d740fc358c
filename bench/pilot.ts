/**
 * `deno task bench pilot [--tasks N] [--sample N] [--reps N]`: no-op tasks on
 * a private single-node Slurm cluster (started here, as tests/_slurm.ts does),
 * end to end until `ferry run` exits, each case in a fresh workspace:
 *
 * - pilots: `bundle: pilot`, 2 blocks × 2 workers, N tasks (default 5,000);
 * - ferry's local executor on the same machine, N tasks;
 * - `bundle: array` and one job per task, on `--sample` tasks (default 200:
 *   at Slurm's pace N would take many minutes), compared by throughput.
 *
 * Reported: tasks/s and ms/task of each case (median of --reps, default 1),
 * and the ratios the issue sets as targets, from the same run: pilots ≥ 20×
 * the array's throughput and ≥ 0.5× the local executor's. Parsl's HTEX
 * publishes ~1,200 tasks/s on many nodes, for comparison.
 * `--dir DIR` puts the workspaces in a fresh directory under DIR (a tmpfs) instead of the
 * cluster's directory under /tmp. Needs root and the Debian packages slurm-wlm and munge. Not a timed test:
 * run it on a quiet machine.
 * @module
 */

import { join } from "node:path";
import { median } from "./_measure.ts";
import { ferryNoop } from "./slurm.ts";
import { startSlurm } from "../tests/_slurm.ts";

/** Targets of issue 18: pilots' throughput over the array's, and over the local executor's. */
export const TARGETS = { overArray: 20, overLocal: 0.5 };

/** The pilot executor measured. */
const PILOTS =
  "{ provider: slurm, bundle: pilot, pilot: { workers_per_node: 2, init_blocks: 2, max_blocks: 2 } }";

function parseArgs(args: readonly string[]) {
  const o: { n: number; sample: number; reps: number; dir?: string } = {
    n: 5000,
    sample: 200,
    reps: 1,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--tasks") o.n = Number(args[++i]);
    else if (a === "--sample") o.sample = Number(args[++i]);
    else if (a === "--reps") o.reps = Number(args[++i]);
    else if (a === "--dir") {
      const d = args[++i];
      if (!d) throw new Error("bench pilot: --dir needs a directory");
      o.dir = d;
    } else {
      throw new Error(
        `bench pilot: unknown option ${a} (--tasks N, --sample N, --reps N, --dir DIR)`,
      );
    }
  }
  return o;
}

/** Run the benchmark. */
export async function main(args: readonly string[] = []): Promise<void> {
  const o = parseArgs(args);
  console.log(
    `bench pilot: ${o.n} no-op tasks (${o.sample} for arrays and single jobs) on a single-node Slurm (${navigator.hardwareConcurrency} CPUs), ${o.reps} round(s)`,
  );
  const c = await startSlurm();
  // The workspaces: in the cluster's directory (under /tmp), or in a fresh one under --dir (a
  // tmpfs: on this VM's ext4 making a file can cost milliseconds, see bench/README.md).
  const base = o.dir === undefined
    ? join(c.dir, "work")
    : await Deno.makeTempDir({ dir: o.dir, prefix: "bench-pilot-" });
  const cases = [
    { name: "pilots, 2 blocks × 2 workers", n: o.n, executor: PILOTS, label: "pilot" },
    { name: "local executor", n: o.n, executor: undefined, label: "local" },
    {
      name: "bundle: array",
      n: o.sample,
      executor: "{ provider: slurm, bundle: array }",
      label: "array",
    },
    { name: "one job per task", n: o.sample, executor: "{ provider: slurm }", label: "single" },
  ];
  const rate: Record<string, number[]> = {};
  try {
    for (let i = 0; i < o.reps; i++) {
      for (const k of cases) {
        const s = await ferryNoop(c, base, k.n, k.executor, k.label);
        (rate[k.label] ??= []).push(k.n / s);
        console.log(`  round ${i + 1}: ${k.name}: ${k.n} tasks in ${s.toFixed(2)} s`);
      }
    }
  } finally {
    await c.stop();
    if (o.dir !== undefined) await Deno.remove(base, { recursive: true });
  }
  console.log("\n| case | tasks | tasks/s (median) | ms/task |\n| --- | ---: | ---: | ---: |");
  for (const k of cases) {
    const r = median(rate[k.label]!);
    console.log(`| ${k.name} | ${k.n} | ${r.toFixed(1)} | ${(1000 / r).toFixed(2)} |`);
  }
  const pilots = median(rate.pilot!);
  const overArray = pilots / median(rate.array!), overLocal = pilots / median(rate.local!);
  const mark = (ok: boolean) => (ok ? "✓" : "✗");
  console.log(
    `\n${mark(overArray >= TARGETS.overArray)} pilots: ${
      overArray.toFixed(1)
    }× the array's throughput (target ≥ ${TARGETS.overArray}×)`,
  );
  console.log(
    `${mark(overLocal >= TARGETS.overLocal)} pilots: ${
      overLocal.toFixed(2)
    }× the local executor's throughput (target ≥ ${TARGETS.overLocal}×); Parsl HTEX publishes ~1,200 tasks/s`,
  );
}

if (import.meta.main) await main(Deno.args);
