/**
 * Pilot blocks as people see them, end to end: a workflow runs through a
 * batch provider named by module path, tests/fixtures/pilot_provider.ts (a
 * stand-in for the pilot provider built in parallel for issue 18: it holds
 * made-up blocks, runs each task as a local process on one of their worker
 * slots and says where, through `JobResult.pilot` and `pilotBlocks()`), and
 * the progress lines, the event log, `ferry status` (text and JSON, with and
 * without the event log) and the report are checked for real.
 * @module
 */

import assert from "node:assert/strict";
import { hostname } from "node:os";
import { join } from "node:path";
import { stringify } from "../deps/yaml.ts";
import { Ajv2020 } from "../deps/ajv.ts";
import eventsSchema from "../schemas/events.schema.json" with { type: "json" };
import { chromium } from "../deps/playwright_core.ts";
import { ferryRun, ROOT, runDirOf, withTemp, writeWorkflow } from "./_run.ts";
import { haveService } from "./_services.ts";

const PROVIDER = join(ROOT, "tests", "fixtures", "pilot_provider.ts");
/** The second block's id: every boundary must escape it. */
const HOSTILE = 'b<2>"\n$(x)';
const NODE = hostname();
const CHROMIUM = "/usr/bin/chromium";

/** Two blocks of two workers: b1 takes two tasks and ends, the other takes the rest. */
async function pilotWorkspace(dir: string): Promise<{ workflow: string; site: string }> {
  const workflow = await writeWorkflow(dir, {
    ferry: 1,
    name: "pilots",
    defaults: { executor: "hpc" },
    apps: {
      a: {
        for_each: { i: [1, 2, 3, 4, 5] },
        outputs: { out: "out/${{ i }}.txt" },
        // The first two are short: b1 ends while b2 still runs its two long ones.
        shell:
          'if [ ${{ i }} -le 2 ]; then sleep 0.5; else sleep 1.5; fi; echo "${{ i }}" > ${{ outputs.out }}',
      },
    },
  });
  const site = join(dir, "site.yaml");
  await Deno.writeTextFile(
    site,
    stringify({
      "ferry-site": 1,
      executors: {
        hpc: {
          provider: PROVIDER,
          max_workers: 4,
          options: {
            blocks: [{ id: "b1", workers: 2, end_after: 2 }, { id: HOSTILE, workers: 2 }],
            start_ms: 400,
            end_ms: 400,
          },
        },
      },
    }, { lineWidth: 0 }),
  );
  return { workflow, site };
}

Deno.test({
  name:
    "pilot blocks: progress lines per change of a block's state, status and report name each attempt's block and worker",
  // Chromium, when the report is opened, keeps resources the sanitizers would count.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withTemp(async (dir) => {
      const { workflow, site } = await pilotWorkspace(dir);
      const run = await ferryRun(["--site", site, "--progress", "lines", workflow]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(await Deno.readTextFile(join(dir, "out", "5.txt")), "5\n");
      // A line per change of state, never per task; the counter before it depends on timing.
      const blockLines = run.stderr.split("\n").filter((l) => /^\[\d\/5\] block /.test(l))
        .map((l) => l.replace(/^\[\d\/5\] /, ""));
      const h = 'b<2>"\\n$(x)';
      assert.deepEqual(blockLines, [
        "block b1 pending (2 workers); hpc: 2 pending",
        `block ${h} pending (2 workers); hpc: 2 pending`,
        "block b1 running: 2/2 workers busy, 0 tasks done; hpc: 2 running",
        `block ${h} running: 2/2 workers busy, 0 tasks done; hpc: 2 running`,
        "block b1 ending: 0/2 workers busy, 2 tasks done; hpc: 1 running, 1 ending",
        "block b1 gone: 2 tasks done; hpc: 1 running",
        `block ${h} idle: 0/2 workers busy, 3 tasks done; hpc: 1 idle`,
      ], run.stderr);
      const runDir = runDirOf(run);
      const events = (await Deno.readTextFile(join(runDir, "events.jsonl"))).trimEnd().split("\n")
        .map((l) => JSON.parse(l));
      // Every line, the pilot-block events and the finished events' pilot places, as documented.
      const valid = new Ajv2020({ strict: true, allowUnionTypes: true }).compile(eventsSchema);
      for (const e of events) {
        assert.ok(valid(e), `${JSON.stringify(e)}: ${JSON.stringify(valid.errors)}`);
      }
      assert.deepEqual(
        events.filter((e) => e.event === "pilot-block").map((e) =>
          `${e.block} ${e.state} ${e.done}`
        ),
        [
          "b1 pending 0",
          `${HOSTILE} pending 0`,
          "b1 running 0",
          `${HOSTILE} running 0`,
          "b1 ending 2",
          "b1 gone 2",
          `${HOSTILE} idle 3`,
        ],
      );
      const places = Object.fromEntries(
        events.filter((e) => e.event === "finished").map((e) => [e.task, e.pilot]),
      );
      await checkStatus(dir, places);
      await checkReport(dir, places);
      // Once the event log is gone the state still knows where each attempt ran.
      await Deno.remove(join(runDir, "events.jsonl"));
      const json = await ferryRun(["--format", "json", workflow], {}, "status");
      assert.deepEqual(pilotsOf(JSON.parse(json.stdout)), places);
    }),
});

/** Each task's pilot place, by task id. */
type Places = Record<string, { block: string; worker: string; node?: string }>;

/** Each task's pilot place in a status report. */
function pilotsOf(report: { run: { tasks: { id: string; attempts: { pilot?: unknown }[] }[] } }) {
  return Object.fromEntries(report.run.tasks.map((t) => [t.id, t.attempts[0]!.pilot]));
}

/** `ferry status`: each attempt's block and worker, escaped in text, whole in JSON. */
async function checkStatus(dir: string, places: Places): Promise<void> {
  const worker = (slot: string) => ({ block: "b1", worker: `${NODE}/${slot}`, node: NODE });
  assert.deepEqual(places["a[i=1]"], worker("1"));
  assert.deepEqual(places["a[i=2]"], worker("2"));
  assert.deepEqual(places["a[i=3]"], { ...worker("1"), block: HOSTILE });
  assert.deepEqual(places["a[i=4]"], { ...worker("2"), block: HOSTILE });
  assert.equal(places["a[i=5]"]!.block, HOSTILE);
  const text = await ferryRun(["-w", dir], {}, "status");
  assert.equal(text.code, 0, text.stderr);
  const attempts = text.stdout.split("\n").filter((l) => l.startsWith("    attempt 1"));
  const escaped = 'b<2>"\\n$(x)';
  assert.deepEqual(
    attempts.map((l) => l.replace(/ in \S+ on /, " in T on ")),
    [
      `    attempt 1 (block b1, worker ${NODE}/1): succeeded in T on ${NODE}`,
      `    attempt 1 (block b1, worker ${NODE}/2): succeeded in T on ${NODE}`,
      `    attempt 1 (block ${escaped}, worker ${NODE}/1): succeeded in T on ${NODE}`,
      `    attempt 1 (block ${escaped}, worker ${NODE}/2): succeeded in T on ${NODE}`,
      `    attempt 1 (block ${escaped}, worker ${
        places["a[i=5]"]!.worker
      }): succeeded in T on ${NODE}`,
    ],
    text.stdout,
  );
  const json = await ferryRun(["-w", dir, "--format", "json"], {}, "status");
  assert.deepEqual(pilotsOf(JSON.parse(json.stdout)), places);
}

/** The report: a lane per block (its states) and per worker under it, every id escaped. */
async function checkReport(dir: string, places: Places): Promise<void> {
  const out = join(dir, "report.html");
  const rep = await ferryRun(["-w", dir, "-o", out], {}, "report");
  assert.equal(rep.code, 0, rep.stderr);
  const html = await Deno.readTextFile(out);
  const lanes = [...html.matchAll(/<text class="tl-lane"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  const h = "b&lt;2&gt;&quot;\n$(x)";
  // Lanes by name, as for hosts (`<` sorts before `1`).
  assert.deepEqual(lanes, [
    `hpc · block ${h}`,
    `hpc · block ${h} · ${NODE}/1`,
    `hpc · block ${h} · ${NODE}/2`,
    "hpc · block b1",
    `hpc · block b1 · ${NODE}/1`,
    `hpc · block b1 · ${NODE}/2`,
  ]);
  const states = [...html.matchAll(/<title>block (b1|b&lt;2[^:]*): (\w+) for /g)]
    .map((m) => `${m[1] === "b1" ? "b1" : "b2"} ${m[2]}`);
  assert.deepEqual(states, [
    "b2 pending",
    "b2 running",
    "b2 idle",
    "b1 pending",
    "b1 running",
    "b1 ending",
  ]);
  assert.equal(html.includes("b<2>"), false, "the block id appears only escaped");
  assert.ok(html.includes(`"block b1 · ${NODE}/1"`), "the task table's worker column");
  if (haveService("Chromium", [CHROMIUM])) await checkTable(out, places);
}

/** The task table as a browser draws it: a worker column, sorted by clicking it. */
async function checkTable(report: string, places: Places): Promise<void> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(String(e)));
    await page.goto(`file://${report}`);
    const column = (n: number) =>
      page.locator(`#task-table tbody tr td:nth-child(${n})`).evaluateAll((tds) =>
        tds.map((td) => td.textContent)
      );
    await page.locator("#task-table th", { hasText: "worker" }).click();
    const workers = await column(10);
    const expected = Object.values(places).map((p) => `block ${p.block} · ${p.worker}`);
    assert.deepEqual(workers, expected.sort((a, b) => a.localeCompare(b)));
    // The duration column still shows durations, as before the worker column.
    assert.ok((await column(5)).every((d) => /^\d+(\.\d)?(ms|s)$/.test(d ?? "")), "durations");
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
}

Deno.test("pilot blocks: the live display ends showing the blocks still held, with their tasks", async () => {
  await withTemp(async (dir) => {
    const { workflow, site } = await pilotWorkspace(dir);
    const run = await ferryRun(["--site", site, "--progress", "live", workflow]);
    assert.equal(run.code, 0, run.stderr);
    // The last frame (drawn when the run ends): b1 is gone, the other block idle.
    const frames = run.stderr.split("⧉");
    assert.ok(frames.length > 2, `frames with blocks in:\n${run.stderr}`);
    assert.ok(
      frames.at(-1)!.startsWith(
        ' hpc blocks: 1 idle\n    block b<2>"\\n$(x) idle: 0/2 workers busy, 3 tasks done',
      ),
      run.stderr,
    );
    assert.ok(frames.some((f) => f.startsWith(" hpc blocks: 2 pending\n")), run.stderr);
  });
});
