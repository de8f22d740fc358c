/**
 * `deno task bench resume`: a completed workflow run again with nothing to do.
 * N tasks (default 10,000) each copy `in/I.txt` to `out/I.txt`, and one
 * reduce concatenates all outputs. Both ferry and `make -j2` first complete
 * the work once (not timed); then each re-run, which must find every task up
 * to date, is timed as a fresh process (median of --reps, default 5). ferry
 * checks content hashes and its state store; make compares mtimes.
 * Target: ferry under 1 s at 10,000 tasks.
 * @module
 */

import { join } from "node:path";
import {
  copyWorkflowYaml,
  repeat,
  ROOT,
  type Row,
  table,
  taskBenchArgs,
  workDir,
} from "./_measure.ts";

/** The target, seconds. */
export const TARGET_SECONDS = 1;

async function prepare(dir: string, n: number): Promise<void> {
  await Deno.mkdir(join(dir, "in"), { recursive: true });
  for (let i = 0; i < n; i++) Deno.writeTextFileSync(join(dir, "in", `${i}.txt`), `line ${i}\n`);
  await Deno.writeTextFile(
    join(dir, "workflow.yaml"),
    copyWorkflowYaml(`resume-${n}`, n),
  );
  await Deno.writeTextFile(
    join(dir, "Makefile"),
    [
      `OUTS := $(patsubst in/%.txt,out/%.txt,$(wildcard in/*.txt))`,
      "all: total.txt",
      ".PHONY: all",
      "total.txt: $(OUTS)",
      "\t@cat $^ > $@",
      "out/%.txt: in/%.txt",
      "\t@mkdir -p out && cp $< $@",
      "",
    ].join("\n"),
  );
}

/** Run the benchmark. */
export async function main(args: readonly string[] = []): Promise<void> {
  const o = taskBenchArgs("resume", args, { n: 10_000, reps: 5 });
  const work = await workDir("resume-", o.dir);
  const ferryDir = join(work, "ferry"), makeDir = join(work, "make");
  try {
    console.log(`bench resume: ${o.n.toLocaleString("en")} tasks + 1 reduce, completed, run again`);
    for (const d of [ferryDir, makeDir]) await prepare(d, o.n);
    const deno = Deno.execPath();
    const ferryArgs = [
      "run",
      "-A",
      join(ROOT, "main.ts"),
      "run",
      "--quiet",
      join(ferryDir, "workflow.yaml"),
    ];
    const first = await new Deno.Command(deno, { args: ferryArgs, stdout: "null", stderr: "piped" })
      .output();
    if (!first.success) throw new Error(new TextDecoder().decode(first.stderr));
    const mk = await new Deno.Command("make", { args: ["-j2", "-s", "-C", makeDir] }).output();
    if (!mk.success) throw new Error("make failed");
    const rows: Row[] = [];
    rows.push(
      await repeat("make -j2 (up to date)", "make", ["-j2", "-s", "-C", makeDir], o.reps, 0),
    );
    rows.push(
      await repeat("ferry run (all cached)", deno, ferryArgs, o.reps, 0, "make -j2 (up to date)"),
    );
    // ferry really did nothing: its last summary says so.
    const check = await new Deno.Command(deno, { args: ferryArgs, stdout: "null", stderr: "piped" })
      .output();
    const summary = new TextDecoder().decode(check.stderr);
    if (!summary.includes(`0 succeeded, ${o.n + 1} cached`)) {
      throw new Error(`ferry re-ran tasks:\n${summary}`);
    }
    console.log("\n" + table(rows) + "\n");
    const f = rows[1]!;
    console.log(
      `${f.median < TARGET_SECONDS ? "✓" : "✗"} ferry re-run with nothing to do: ${
        f.median.toFixed(3)
      } s median (target under ${TARGET_SECONDS} s)`,
    );
  } finally {
    if (!o.keep) await Deno.remove(work, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
