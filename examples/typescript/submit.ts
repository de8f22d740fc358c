/**
 * ferry's executor API: submit calls of exported functions, each run as a
 * task in its own Deno process, recorded in the workspace's state (run the
 * script twice: the second time every result comes from the record).
 *
 *   deno run --check -A examples/typescript/submit.ts
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { executor } from "../../mod.ts";

/** Estimate pi from `n` random points (a task). */
export function estimatePi(n: number, seed: number): number {
  let s = seed >>> 0, inside = 0;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) {
    const x = rand(), y = rand();
    if (x * x + y * y <= 1) inside++;
  }
  return (4 * inside) / n;
}

/** The mean of several estimates, each a task of its own (a task that submits tasks). */
export async function meanOfEstimates(n: number, seeds: number[]): Promise<number> {
  await using ex = executor("local");
  const parts = await Promise.all(seeds.map((seed) => ex.submit(estimatePi, n, seed)));
  return parts.reduce((a, b) => a + b, 0) / parts.length;
}

if (import.meta.main) {
  // The state (and each task's logs) live under the example's folder.
  await using ex = executor("local", {
    workspace: fileURLToPath(new URL(".", import.meta.url)),
    requirements: { cores: 1, walltime: "5m" },
  });
  const quick = ex.submit(estimatePi, 100_000, 1);
  quick.label = "a quick estimate";
  const mean = ex.submit(meanOfEstimates, 200_000, [1, 2, 3, 4]);
  console.log(`${quick.label}: ${(await quick).toFixed(4)} (${quick.status})`);
  console.log(`mean of 4 estimates: ${(await mean).toFixed(4)} (${mean.status})`);
}
