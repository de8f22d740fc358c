/**
 * `ferry report` of a real run (a fan-out, a task that fails once and succeeds on retry, a task
 * that fails, an HTTP input), opened in headless Chromium (Debian's chromium driven by
 * playwright-core): no console errors, the graph and timeline elements in the right numbers, a
 * sortable table, the failure with its log; a screenshot is saved in the test's temp dir.
 */

import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { chromium } from "../deps/playwright_core.ts";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";
import { haveService } from "./_services.ts";
import { startHttpServer } from "./_http_server.ts";
import { formatDuration, formatRate } from "../interpreter/format.ts";

const msOf = (shown: string) => Number(shown.replace(/ms$/, ""));

const CHROMIUM = "/usr/bin/chromium";
const HAVE = haveService("Chromium", [CHROMIUM]);

Deno.test({
  name:
    "report: a real run's report renders in headless Chromium with its graph, timeline and failures",
  ignore: !HAVE,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const http = await startHttpServer({ files: { "/words.txt": "alpha\nbeta\n" } });
    try {
      await withTemp(async (ws) => {
        const marker = join(ws, "failed-once");
        const wf = await writeWorkflow(ws, {
          ferry: 1,
          name: "reported",
          params: { ids: [1, 2, 3] },
          apps: {
            gen: {
              for_each: { i: "${{ params.ids }}" },
              inputs: { words: `${http.origin}/words.txt` },
              outputs: { o: "gen/${{ i }}.txt" },
              shell: "sleep 0.2; cat ${{ inputs.words }} > ${{ outputs.o }}",
            },
            flaky: {
              retries: 1,
              inputs: { all: "${{ apps.gen.outputs.o }}" },
              outputs: { o: "flaky.txt" },
              shell:
                `if [ ! -e '${marker}' ]; then touch '${marker}'; exit 3; fi; cat \${{ inputs.all }} > \${{ outputs.o }}`,
            },
            broken: {
              after: ["gen"],
              outputs: { o: "broken.txt" },
              shell: "echo 'something went wrong <here>' >&2; exit 7",
            },
          },
        });
        const r = await ferryRun(["--keep-going", "--retry-base", "0.01", wf]);
        assert.equal(r.code, 1, r.stderr);
        const out = join(ws, "report.html");
        const rep = await ferryRun(["--workspace", ws, "-o", out], {}, "report");
        assert.equal(rep.code, 0, rep.stderr);
        const id = rep.stderr.match(/^report of run (\S+) \(failed, 5 tasks\): .*report\.html\n$/)
          ?.[1];
        assert.ok(id, rep.stderr);
        const html = await Deno.readTextFile(out);
        // Self-contained: nothing fetched from anywhere.
        assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=["']?https?:/i);

        const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
        try {
          const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
          const problems: string[] = [];
          page.on("console", (m) => {
            if (m.type() === "error") problems.push(m.text());
          });
          page.on("pageerror", (e) => problems.push(String(e)));
          page.on("request", (q) => {
            if (!q.url().startsWith("file:")) problems.push(`request to ${q.url()}`);
          });
          await page.goto(`file://${out}`);
          // Titled with the workflow's name; its file and the run id second.
          assert.equal(await page.title(), `ferry report: reported (${basename(wf)}) · run ${id}`);
          assert.equal(
            await page.locator("h1").innerText(),
            `reported ${basename(wf)} · run ${id}`,
          );
          // The graph: one node per app, one edge per app dependency.
          assert.equal(await page.locator(".dag-node").count(), 3);
          assert.equal(await page.locator(".dag-edge").count(), 2);
          assert.equal(
            await page.locator('.dag-node[data-app="gen"]').getAttribute("data-tasks"),
            "3",
          );
          // The timeline: one bar per attempt (3 gen + 2 flaky + 1 broken), one per transfer.
          assert.equal(await page.locator(".tl-task").count(), 6);
          assert.equal(await page.locator('.tl-task[data-task="flaky"]').count(), 2);
          assert.equal(await page.locator(".tl-transfer").count(), 1);
          // The table: one row per task, sortable by duration.
          assert.equal(await page.locator("#task-table tbody tr").count(), 5);
          await page.locator("#task-table th", { hasText: "duration" }).click();
          const durations = await page.locator("#task-table tbody tr td:nth-child(5)").evaluateAll(
            (cells) => cells.map((c) => Number(c.getAttribute("data-v"))),
          );
          assert.deepEqual(durations, [...durations].sort((a, b) => a - b));
          // Each shown as formatDuration() shows it, as in the terminal.
          const shown = await page.locator("#task-table tbody tr td:nth-child(5)").evaluateAll(
            (cells) => cells.map((c) => [Number(c.getAttribute("data-v")), c.textContent]),
          );
          assert.deepEqual(shown, shown.map(([ms]) => [ms, formatDuration(Number(ms))]));
          // The failure with the end of its log, escaped.
          assert.equal(await page.locator(".failure").count(), 1);
          assert.match(
            await page.locator('.failure[data-task="broken"] pre').innerText(),
            /something went wrong <here>/,
          );
          assert.equal(await page.locator("#transfer-table tbody tr").count(), 1);
          // Size and throughput in formatBytes() and formatRate() units, never a raw float.
          const [size, time, rate] = await page.locator("#transfer-table tbody td").evaluateAll(
            (cells) => cells.slice(3, 6).map((c) => c.textContent ?? ""),
          );
          assert.equal(size, "11 B");
          assert.match(time!, /^\d+ms$/);
          assert.equal(rate, formatRate(11, msOf(time!)) ?? "");
          await page.screenshot({ path: join(ws, "report.png"), fullPage: true });
          assert.ok((await Deno.stat(join(ws, "report.png"))).size > 10_000);
          assert.deepEqual(problems, []);
        } finally {
          await browser.close();
        }
      });
    } finally {
      await http.close();
    }
  },
});
