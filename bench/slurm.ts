/**
 * `deno task bench slurm [--tasks N] [--reps N] [--oversubscribe NO|FORCE:8]`:
 * N no-op tasks (default 200) on a private single-node Slurm cluster (started
 * here, as tests/_slurm.ts does), end to end until all finished:
 *
 * - raw `sbatch --array=0-(N-1)` of a script running the same no-op, timed
 *   from submission until `squeue` no longer lists the job (polled every 100 ms);
 * - `ferry run` with `bundle: array` (one array for the fan-out);
 * - `ferry run` with one job per task (`bundle: none`).
 *
 * Each ferry run is a fresh process in a fresh workspace (nothing cached) and
 * is timed until it exits, outputs delivered and state committed. Runs are
 * interleaved, and the median of --reps (default 3) is reported. Target:
 * ferry with arrays within 1.3× of the raw array.
 * Needs root and the Debian packages slurm-wlm and munge.
 * @module
 */

import { join } from "node:path";
import { median, ROOT } from "./_measure.ts";
import { type SlurmCluster, startSlurm } from "../tests/_slurm.ts";

/** The issue's target: ferry with arrays at most this many times the raw array. */
export const TARGET_RATIO = 1.3;

function parseArgs(args: readonly string[]) {
  const o = { n: 200, reps: 3, over: "FORCE:8" };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--tasks") o.n = Number(args[++i]);
    else if (a === "--reps") o.reps = Number(args[++i]);
    else if (a === "--oversubscribe") o.over = String(args[++i]);
    else {
      throw new Error(
        `bench slurm: unknown option ${a} (--tasks N, --reps N, --oversubscribe NO|FORCE:8)`,
      );
    }
  }
  return o;
}

async function raw(c: SlurmCluster, dir: string, n: number): Promise<number> {
  const script = join(dir, `raw-${crypto.randomUUID()}.sh`);
  await Deno.writeTextFile(
    script,
    `#!/bin/bash\n#SBATCH --array=0-${
      n - 1
    }\n#SBATCH --output=/dev/null\n#SBATCH --chdir=${dir}\ntrue\n`,
  );
  const t0 = performance.now();
  const sub = await c.run("sbatch", "--parsable", script);
  if (sub.code !== 0) throw new Error(`sbatch: ${sub.stderr}`);
  const id = sub.stdout.trim().split(";")[0]!;
  for (;;) {
    const q = await c.run("squeue", "--noheader", `--jobs=${id}`, "--format=%i");
    if (q.stdout.trim() === "") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return (performance.now() - t0) / 1000;
}

function ferry(
  c: SlurmCluster,
  base: string,
  n: number,
  bundle: "array" | "none",
): Promise<number> {
  return ferryNoop(c, base, n, `{ provider: slurm, bundle: ${bundle} }`, bundle);
}

/**
 * Seconds for `ferry run` of `n` no-op tasks in a fresh workspace under `base`, on the executor
 * `cluster` that the YAML mapping `executor` describes (on `local` when undefined).
 */
export async function ferryNoop(
  c: SlurmCluster,
  base: string,
  n: number,
  executor: string | undefined,
  label: string,
): Promise<number> {
  const ws = await Deno.makeTempDir({ dir: base, prefix: `ferry-${label}-` });
  await Deno.writeTextFile(
    join(ws, "site.yaml"),
    `ferry-site: 1\nexecutors:\n  ${executor ? `cluster: ${executor}` : "local: {}"}\n`,
  );
  await Deno.writeTextFile(
    join(ws, "workflow.yaml"),
    [
      "ferry: 1",
      "name: noop",
      `params: { ids: [${Array.from({ length: n }, (_, i) => i).join(", ")}] }`,
      `defaults: { executor: ${executor ? "cluster" : "local"} }`,
      "apps:",
      "  noop:",
      '    for_each: { i: "${{ params.ids }}" }',
      '    command: ["true"]',
      "",
    ].join("\n"),
  );
  const t0 = performance.now();
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(ROOT, "main.ts"),
      "run",
      "--quiet",
      "--site",
      "site.yaml",
      "workflow.yaml",
    ],
    cwd: ws,
    env: { ...c.env, NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  const s = (performance.now() - t0) / 1000;
  const err = new TextDecoder().decode(r.stderr);
  if (r.code !== 0 || !err.includes(`done: ${n} succeeded, 0 failed`)) {
    throw new Error(`ferry (${label}) failed:\n${err.slice(0, 3000)}`);
  }
  await Deno.remove(ws, { recursive: true });
  return s;
}

/** Run the benchmark. */
export async function main(args: readonly string[] = []): Promise<void> {
  const o = parseArgs(args);
  console.log(
    `bench slurm: ${o.n} no-op tasks on a single-node Slurm (${navigator.hardwareConcurrency} CPUs, OverSubscribe=${o.over}), ${o.reps} rounds`,
  );
  const c = await startSlurm({ overSubscribe: o.over });
  const base = join(c.dir, "work");
  const times: Record<string, number[]> = { raw: [], array: [], single: [] };
  try {
    for (let i = 0; i < o.reps; i++) {
      times.raw!.push(await raw(c, base, o.n));
      times.array!.push(await ferry(c, base, o.n, "array"));
      times.single!.push(await ferry(c, base, o.n, "none"));
      console.log(
        `  round ${i + 1}: raw ${times.raw!.at(-1)!.toFixed(2)} s, ferry arrays ${
          times.array!.at(-1)!.toFixed(2)
        } s, ferry one job per task ${times.single!.at(-1)!.toFixed(2)} s`,
      );
    }
  } finally {
    await c.stop();
  }
  const ref = median(times.raw!);
  const rows: [string, number[]][] = [
    [`sbatch --array=0-${o.n - 1} (raw)`, times.raw!],
    ["ferry run, bundle: array", times.array!],
    ["ferry run, one job per task", times.single!],
  ];
  console.log("\n| case | median s | min s | ratio to raw array |\n| --- | ---: | ---: | --- |");
  for (const [name, xs] of rows) {
    const m = median(xs);
    console.log(
      `| ${name} | ${m.toFixed(2)} | ${Math.min(...xs).toFixed(2)} | ${
        xs === times.raw ? "(reference)" : `${(m / ref).toFixed(2)}×`
      } |`,
    );
  }
  const ratio = median(times.array!) / ref;
  console.log(
    `\n${ratio <= TARGET_RATIO ? "✓" : "✗"} ferry with arrays: ${
      ratio.toFixed(2)
    }× the raw array (target ≤ ${TARGET_RATIO}×)`,
  );
}

if (import.meta.main) await main(Deno.args);
