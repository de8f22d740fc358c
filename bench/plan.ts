/**
 * Benchmark of `ferry plan --format json` on generated split → N map → reduce
 * workflows (data dependencies through files), for N = 1,000, 10,000 and
 * 100,000: wall time and peak RSS at each N, the growth from one N to the
 * next (it should stay close to linear: about 10× for 10× the tasks), and,
 * as the reference measured in the same run, the bare cost of parsing the
 * same file (`bench/_parse_only.ts --js-yaml`, ferry's fast YAML path).
 *
 * `deno task bench plan [--sizes 1000,10000,100000] [--reps N] [--keep]`
 * @module
 */

import { join } from "node:path";
import { repeat, ROOT, type Row, table } from "./_measure.ts";

/** The targets of the issue at N = 100,000. */
export const TARGET = { seconds: 3, rssMiB: 1024 } as const;

/** A split → N map → reduce workflow as YAML text. */
export function mapReduceWorkflow(n: number): string {
  return [
    "ferry: 1",
    `name: map-reduce-${n}`,
    "params:",
    `  chunks: [${Array.from({ length: n }, (_, i) => i).join(", ")}]`,
    "apps:",
    "  split:",
    "    inputs: { data: input.txt }",
    "    outputs: { chunks: { dir: chunks } }",
    `    command: [split, -n, "l/${n}", -d, -a, "6", "\${{ inputs.data }}", chunks/]`,
    "  map:",
    '    for_each: { i: "${{ params.chunks }}" }',
    '    inputs: { chunk: "chunks/${{ i }}" }',
    '    outputs: { counts: "counts/${{ i }}.txt" }',
    "    shell: wc -w < ${{ inputs.chunk }} > ${{ outputs.counts }}",
    "  reduce:",
    '    inputs: { all: "${{ apps.map.outputs.counts }}" }',
    "    outputs: { total: total.txt }",
    "    shell: cat ${{ inputs.all }} | awk '{ s += $1 } END { print s }' > ${{ outputs.total }}",
    "",
  ].join("\n");
}

/** Run the benchmark. */
export async function main(args: readonly string[] = []): Promise<void> {
  const get = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const sizes = (get("--sizes") ?? "1000,10000,100000").split(",").map(Number);
  const reps = Number(get("--reps") ?? 3);
  const keep = args.includes("--keep");
  const dir = await Deno.makeTempDir({ dir: "/work", prefix: "ferry-bench-plan-" }).catch(() =>
    Deno.makeTempDir({ prefix: "ferry-bench-plan-" })
  );
  const rows: Row[] = [];
  const results: Record<string, unknown>[] = [];
  try {
    await Deno.writeTextFile(join(dir, "input.txt"), "some words to split\n");
    let previous: Row | undefined;
    for (const n of sizes) {
      const file = join(dir, `plan-${n}.yaml`);
      await Deno.writeTextFile(file, mapReduceWorkflow(n));
      const parse = await repeat(
        `parse only, N=${n}`,
        Deno.execPath(),
        ["run", "-A", join(ROOT, "bench/_parse_only.ts"), "--js-yaml", file],
        reps,
        0,
      );
      const plan = await repeat(
        `ferry plan --format json, N=${n}`,
        Deno.execPath(),
        ["run", "-A", join(ROOT, "main.ts"), "plan", "--format", "json", file],
        reps,
        0,
        parse.name,
      );
      rows.push(parse, plan);
      const growth = previous ? plan.median / previous.median : undefined;
      results.push({
        n,
        tasks: n + 2,
        seconds: plan.median,
        min: plan.min,
        rssMiB: plan.rssMiB,
        parseSeconds: parse.median,
        growth,
      });
      console.log(
        `N=${n}: ${plan.median.toFixed(3)} s, ${
          (plan.median / (n + 2) * 1e6).toFixed(1)
        } µs per task, peak RSS ${plan.rssMiB?.toFixed(0) ?? "n/a"} MiB` +
          (growth ? `, ${growth.toFixed(1)}× the time of N=${sizes[sizes.indexOf(n) - 1]}` : ""),
      );
      previous = plan;
    }
  } finally {
    if (!keep) await Deno.remove(dir, { recursive: true });
    else console.log(`files kept in ${dir}`);
  }
  console.log(`\n${table(rows)}\n`);
  const last = results.at(-1) as { n: number; seconds: number; rssMiB?: number } | undefined;
  if (last?.n === 100_000) {
    const ok = last.seconds < TARGET.seconds && (last.rssMiB ?? 0) < TARGET.rssMiB;
    console.log(
      `${ok ? "✓" : "✗"} N=100000: ${last.seconds.toFixed(2)} s (target < ${TARGET.seconds} s), ${
        last.rssMiB?.toFixed(0)
      } MiB (target < ${TARGET.rssMiB} MiB)`,
    );
  }
  await Deno.mkdir(join(ROOT, "bench/out"), { recursive: true });
  await Deno.writeTextFile(
    join(ROOT, "bench/out/plan.json"),
    JSON.stringify(
      { date: new Date().toISOString(), cores: navigator.hardwareConcurrency, results },
      null,
      2,
    ) + "\n",
  );
  console.log("results: bench/out/plan.json");
}

if (import.meta.main) await main(Deno.args);
