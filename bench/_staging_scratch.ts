/**
 * The scratch half of bench/staging: copying a 1 GiB input from the shared
 * filesystem into a task's directory on scratch, as a `scratch` rule does
 * before the task starts (`placeInputs`), against `cp` of the same file, in
 * the same run, alternating so both see the same page-cache state.
 * @module
 */

import { join } from "node:path";
import { placeInputs } from "../interpreter/attempt.ts";
import type { PlanTask } from "../interpreter/plan.ts";
import { toFileUrl } from "../providers/_shared/urls.ts";

/** Median of a list of numbers. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Write `bytes` of pseudo-random data (incompressible, so no filesystem shortcut). */
export async function makeFile(path: string, bytes: number): Promise<void> {
  using f = await Deno.open(path, { write: true, create: true, truncate: true });
  const block = new Uint8Array(8 << 20);
  for (let i = 0; i < block.length; i += 65536) {
    crypto.getRandomValues(block.subarray(i, i + 65536));
  }
  for (let done = 0; done < bytes; done += block.length) {
    const n = Math.min(block.length, bytes - done);
    for (let w = 0; w < n;) w += await f.write(block.subarray(w, n));
    block[0] = (block[0]! + 1) & 255;
  }
}

/** Times, in seconds, of `cp` and of ferry's scratch placement of one `bytes`-sized file. */
export async function scratchBench(
  dir: string,
  scratchDir: string,
  bytes: number,
  reps = 5,
): Promise<{ cp: number; ferry: number; bytes: number }> {
  const shared = join(dir, "shared");
  const scratch = join(scratchDir, "ferry-bench-scratch");
  await Deno.mkdir(shared, { recursive: true });
  await Deno.mkdir(scratch, { recursive: true });
  const src = join(shared, "input.bin");
  await makeFile(src, bytes);
  const task: PlanTask = {
    id: "t",
    app: "t",
    label: "t",
    executor: "local",
    bindings: {},
    deps: [],
    inputs: [{
      name: "data",
      url: toFileUrl(src),
      provider: "scratch",
      staging: "wrap",
      path: "_inputs/data/input.bin",
      rule: 0,
    }],
    outputs: [],
    env: {},
    resources: {},
    retries: 0,
    status: { action: "run", reason: "new" },
    scratch,
  };
  const cpTimes: number[] = [], ferryTimes: number[] = [];
  const runCp = async (i: number) => {
    const target = join(scratch, `cp-${i}`);
    await Deno.mkdir(target);
    // Each copy starts with no dirty pages of the previous one still being written back.
    await new Deno.Command("sync").output();
    const t0 = performance.now();
    const r = await new Deno.Command("cp", { args: [src, join(target, "input.bin")] }).output();
    const seconds = (performance.now() - t0) / 1000;
    if (!r.success) throw new Error("cp failed");
    await Deno.remove(target, { recursive: true });
    return seconds;
  };
  const runFerry = async (i: number) => {
    const work = join(scratch, `ferry-${i}`);
    await Deno.mkdir(work);
    await new Deno.Command("sync").output();
    const t0 = performance.now();
    const problem = await placeInputs(task, work);
    const seconds = (performance.now() - t0) / 1000;
    if (problem) throw new Error(problem);
    if (Deno.statSync(join(work, "_inputs/data/input.bin")).size !== bytes) {
      throw new Error("short copy");
    }
    await Deno.remove(work, { recursive: true });
    return seconds;
  };
  for (let i = 0; i <= reps; i++) {
    // Alternate which goes first; the first round only warms the page cache.
    const [cp, ferry] = i % 2
      ? [await runCp(i), await runFerry(i)]
      : await runFerry(i).then(async (f) => [await runCp(i), f]);
    if (i > 0) {
      cpTimes.push(cp!);
      ferryTimes.push(ferry!);
    }
  }
  await Deno.remove(scratch, { recursive: true });
  return { cp: median(cpTimes), ferry: median(ferryTimes), bytes };
}
