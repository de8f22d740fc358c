/**
 * `deno task bench report [--tasks N] [--reps N] [--keep]`: the report of a
 * completed N-task run (default 10,000: each task copies a file, one reduce
 * gathers them), opened in headless Chromium (Debian's chromium, driven by
 * playwright-core): the time from navigation until the page has loaded and
 * painted twice (two animation frames), median of --reps (default 5), beside
 * a reference page measured the same way in the same run: a plain HTML table
 * with the same number of rows and nothing else. Also `ferry report`'s own
 * time to write the file. Target: under 3 s to open and render.
 * @module
 */

import { join } from "node:path";
import { chromium } from "../deps/playwright_core.ts";
import { copyWorkflowYaml, median, ROOT, taskBenchArgs, workDir } from "./_measure.ts";

/** The target, seconds. */
export const TARGET_SECONDS = 3;
const CHROMIUM = "/usr/bin/chromium";

/** Run the benchmark. */
export async function main(args: readonly string[] = []): Promise<void> {
  const o = taskBenchArgs("report", args, { n: 10_000, reps: 5 });
  const ws = await workDir("report-", o.dir);
  try {
    console.log(
      `bench report: a completed ${o.n.toLocaleString("en")}-task run's report in Chromium`,
    );
    await Deno.mkdir(join(ws, "in"));
    for (let i = 0; i < o.n; i++) Deno.writeTextFileSync(join(ws, "in", `${i}.txt`), `line ${i}\n`);
    await Deno.writeTextFile(
      join(ws, "workflow.yaml"),
      copyWorkflowYaml("report-bench", o.n),
    );
    const ferry = (...a: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", join(ROOT, "main.ts"), ...a],
        cwd: ws,
        stdout: "null",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
    const ran = await ferry("run", "--quiet", "workflow.yaml");
    if (!ran.success) throw new Error(new TextDecoder().decode(ran.stderr));
    const t0 = performance.now();
    const rep = await ferry("report", "-o", "report.html");
    const writeS = (performance.now() - t0) / 1000;
    if (!rep.success) throw new Error(new TextDecoder().decode(rep.stderr));
    const reportFile = join(ws, "report.html");
    const size = (await Deno.stat(reportFile)).size;
    // The reference: the same number of rows as a bare table.
    const rows = Array.from(
      { length: o.n + 1 },
      (_, i) =>
        `<tr><td>copy[i=${i}]</td><td>copy</td><td>local</td><td>succeeded</td><td>0.01s</td><td>1</td><td>0</td><td>vm</td><td></td></tr>`,
    );
    const refFile = join(ws, "reference.html");
    await Deno.writeTextFile(
      refFile,
      `<!doctype html><html><head><meta charset="utf-8"><title>reference</title></head><body><table>${
        rows.join("\n")
      }</table></body></html>`,
    );
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    const open = async (file: string) => {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      const t = performance.now();
      await page.goto(`file://${file}`, { waitUntil: "load" });
      // Two animation frames: the page has been laid out and painted.
      await page.evaluate(
        `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))`,
      );
      const s = (performance.now() - t) / 1000;
      await page.close();
      if (errors.length > 0) throw new Error(`errors in ${file}: ${errors.join("; ")}`);
      return s;
    };
    const times = { report: [] as number[], reference: [] as number[] };
    try {
      await open(reportFile); // warm-up (the browser's own start-up)
      for (let i = 0; i < o.reps; i++) {
        times.reference.push(await open(refFile));
        times.report.push(await open(reportFile));
      }
    } finally {
      await browser.close();
    }
    const rm = median(times.report), ref = median(times.reference);
    console.log(
      `\n| case | median s | min s | ratio to reference |\n| --- | ---: | ---: | --- |\n` +
        `| reference: a bare ${o.n + 1}-row table | ${ref.toFixed(3)} | ${
          Math.min(...times.reference).toFixed(3)
        } | (reference) |\n` +
        `| ferry report (${(size / 1024 / 1024).toFixed(1)} MiB) | ${rm.toFixed(3)} | ${
          Math.min(...times.report).toFixed(3)
        } | ${(rm / ref).toFixed(2)}× |\n`,
    );
    console.log(`ferry report wrote the file in ${writeS.toFixed(2)} s`);
    console.log(
      `${rm < TARGET_SECONDS ? "✓" : "✗"} the report opens and renders in ${
        rm.toFixed(3)
      } s median (target under ${TARGET_SECONDS} s)`,
    );
  } finally {
    if (!o.keep) await Deno.remove(ws, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
