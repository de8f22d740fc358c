/**
 * `ferry report` escapes what a run put in it, checked on the HTML text
 * itself (no browser needed; tests/report_test.ts opens a report in Chromium
 * where it is installed). Task ids made of `<script>`, `</script>`, `<!--`,
 * quotes and entities, a log tail of the same, and a failure reason holding
 * them (an output path that was never written) appear only escaped; the
 * JSON island holding the task table has no `<` at all, so nothing in it can
 * close it early or, through `<!--<script>`, keep it open over the rest of
 * the page.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";

const VALUES = [
  "<script>alert(1)</script>",
  "<!--<script>",
  `"x" onmouseover='y' &amp;`,
  "a</script><b>",
];
const IDS = ["ok", "bad"].flatMap((app) => VALUES.map((v) => `${app}[s=${v}]`));
const TAIL = "</script><script>alert(2)</script><!--";
/** An output path the task never writes: its failure's reason holds it. */
const LOST = `out/</script><!--<i>"'&amp;.txt`;
const LOST_REASON = `the task did not write its output "o" (${LOST})`;
const ISLAND = '<script type="application/json" id="task-data">';

const unescape = (s: string) =>
  s.replace(
    /&(lt|gt|quot|#39|amp);/g,
    (_, e: string) => ({ lt: "<", gt: ">", quot: '"', "#39": "'", amp: "&" })[e]!,
  );

Deno.test("report: hostile task ids and logs appear only escaped, and the task data cannot leave its script element", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "hostile",
      params: { values: VALUES },
      apps: {
        ok: { for_each: { s: "${{ params.values }}" }, shell: "echo ${{ s }}" },
        bad: {
          for_each: { s: "${{ params.values }}" },
          shell: `echo '${TAIL}' >&2; exit 3`,
        },
        lost: { outputs: { o: LOST }, shell: "true" },
      },
    });
    const r = await ferryRun(["--keep-going", wf]);
    assert.equal(r.code, 1, r.stderr);
    const out = join(ws, "report.html");
    const rep = await ferryRun(["--workspace", ws, "-o", out], {}, "report");
    assert.equal(rep.code, 0, rep.stderr);
    const html = await Deno.readTextFile(out);

    // The island: plain script data from its start to the first `</script`, and all of the rows.
    const start = html.indexOf(ISLAND) + ISLAND.length;
    assert.ok(start > ISLAND.length, "the task table's data is in the page");
    const end = html.indexOf("</script", start);
    const island = html.slice(start, end);
    assert.ok(!island.includes("<"), `a "<" in the JSON island: ${island}`);
    const rows = (JSON.parse(island) as { rows: string[][] }).rows;
    assert.deepEqual(rows.map((row) => row[0]).sort(), [...IDS, "lost"].sort());

    // Two script elements, the page's own; no comment; no hostile text unescaped anywhere.
    assert.deepEqual(html.match(/<script\b[^>]*>/g), [ISLAND, "<script>"]);
    assert.ok(!html.includes("<!--"), "no comment opens in the page");
    for (const raw of [...VALUES, TAIL, "<b>", LOST, "<i>"]) {
      assert.ok(!html.includes(raw), `unescaped in the report: ${raw}`);
    }

    // Attribute values hold the ids whole (a quote let through would cut them short).
    const inAttributes = new Set(
      [...html.matchAll(/ data-task="([^"]*)"/g)].map((m) => unescape(m[1]!)),
    );
    assert.deepEqual([...inAttributes].sort(), [...IDS, "lost"].sort());
    // Each failure shows its id and the end of its log as text.
    for (const v of VALUES) {
      const id = `bad[s=${v}]`;
      assert.ok(html.includes(`<h3>${escapeHtml(id)}</h3>`), `the failure of ${id}`);
    }
    assert.equal(html.split(`<pre>${escapeHtml(TAIL)}</pre>`).length - 1, VALUES.length);
    // A failure's reason is text too.
    assert.ok(
      html.includes(`<h3>lost</h3><p>${escapeHtml(LOST_REASON)} after 1 attempt(s)</p>`),
      "the reason of lost's failure, escaped",
    );
  });
});

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}
