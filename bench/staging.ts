/**
 * `deno task bench staging`: staging throughput against reference tools in
 * the same run. HTTP (bench/_staging_http.ts): 1 GiB from a loopback server
 * vs `curl -o`, and 2,000 files of 16 KiB vs `xargs -P8 curl`. Scratch
 * (bench/_staging_scratch.ts): a 1 GiB input copied into a task directory on
 * scratch vs `cp`. Options go to the HTTP part (`--big-mib`, `--files`, ...);
 * `--scratch-dir DIR` (repeatable) puts the scratch side there (default: a
 * temp dir under bench/out, the same disk, then /dev/shm, the copy without
 * the disk).
 * @module
 */

import { workDir } from "./_measure.ts";
import { main as httpMain } from "./_staging_http.ts";
import { scratchBench } from "./_staging_scratch.ts";

/** Run both halves. */
export async function main(args: readonly string[] = []): Promise<void> {
  const rest = [...args];
  const scratchDirs: string[] = [];
  for (let at = rest.indexOf("--scratch-dir"); at >= 0; at = rest.indexOf("--scratch-dir")) {
    scratchDirs.push(rest.splice(at, 2)[1]!);
  }
  await httpMain(rest);
  const work = await workDir("staging-scratch-");
  try {
    console.log("\nscratch: one 1 GiB input copied into the task directory on scratch, vs cp");
    console.log("| scratch on | cp s | ferry s | ferry ÷ cp throughput |");
    console.log("| ---------- | ---: | ------: | --------------------: |");
    const shm = (() => {
      try {
        return Deno.statSync("/dev/shm").isDirectory ? ["/dev/shm"] : [];
      } catch {
        return [];
      }
    })();
    for (const dir of scratchDirs.length ? scratchDirs : [work, ...shm]) {
      const r = await scratchBench(work, dir, 1 << 30);
      const ratio = r.cp / r.ferry;
      console.log(
        `| ${dir === work ? "same disk" : dir} | ${r.cp.toFixed(3)} | ${r.ferry.toFixed(3)} | ${
          ratio.toFixed(2)
        }× ${ratio >= 0.9 ? "✓" : "✗"} (target ≥ 0.9×) |`,
      );
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
