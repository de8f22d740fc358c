/**
 * `ferry report`: one self-contained HTML file for a run, built from its
 * event log and the state store only (what `ferry status` reads): the
 * summary, the DAG with fan-outs collapsed to their app, a timeline of tasks
 * and transfers per executor and worker, a sortable table of tasks, what the
 * tasks used (per-app strip plots, and the tasks that used far less than they
 * requested), the
 * failures with the last lines of their logs, and the transfers with their
 * sizes and throughput.
 *
 * The graph is laid out with dagre (npm:@dagrejs/dagre) when the report is
 * made, and the DAG and timeline are inline SVG: the file needs no network,
 * no script library and no layout work in the browser, which keeps a
 * 10,000-task report fast to open. A few lines of inline JavaScript sort the
 * table.
 * @module
 */

import { basename } from "node:path";
import type { GraphApp, RunEvent } from "./events.ts";
import { formatBytes, formatDuration, formatRate } from "./format.ts";
import { capLines } from "./log_tail.ts";
import { renderDag, renderTimeline } from "./report_graphics.ts";
import { renderUsage } from "./report_usage.ts";
import {
  appOfTask,
  type BlockStates,
  COLORS,
  CSS,
  esc,
  SORT_JS,
  type TransferDone,
} from "./report_page.ts";
import type { AttemptStatus, RunDetail, TaskStatus } from "./status.ts";
import { readStatus } from "./status.ts";

export { appOfTask } from "./report_page.ts";

/** Options for {@linkcode buildReport}. */
export interface ReportOptions {
  /** A run id (or a unique prefix). @default the latest run */
  readonly run?: string;
  /** Only runs of this workflow file. */
  readonly workflow?: string;
  /** Lines of stderr shown for a failed task. @default 20 */
  readonly tailLines?: number;
}

/** The report, or why there is none. */
export type ReportResult =
  | { readonly ok: true; readonly html: string; readonly run: RunDetail }
  | { readonly ok: false; readonly message: string };

/** What the report needs of the event log beyond the status: taken in the same read. */
class ReportEvents {
  graph: readonly GraphApp[] = [];
  /** The workflow's own name (runs logged before it was recorded have none). */
  name: string | undefined;
  readonly transfers: TransferDone[] = [];
  /** Pilot blocks by executor and id, with their states in order. */
  readonly blocks = new Map<string, BlockStates & { states: { time: number; state: string }[] }>();
  readonly #started = new Map<string, number>();
  #graphSeen = false;

  add = (e: RunEvent): void => {
    if (e.event === "graph" && !this.#graphSeen) {
      this.#graphSeen = true;
      this.graph = e.apps;
    } else if (e.event === "planned") this.name ??= e.workflow;
    else if (e.event === "transfer-started") this.#started.set(e.id, e.time);
    else if (e.event === "pilot-block") {
      const key = `${e.executor}\0${e.block}`;
      let b = this.blocks.get(key);
      if (!b) this.blocks.set(key, b = { executor: e.executor, block: e.block, states: [] });
      b.states.push({ time: e.time, state: e.state });
    } else if (e.event === "transfer-finished") {
      const end = e.time, ms = e.ms, start = this.#started.get(e.id);
      this.#started.delete(e.id);
      this.transfers.push({
        id: e.id,
        direction: e.direction,
        url: e.url,
        provider: e.provider,
        bytes: e.bytes,
        ...(ms !== undefined ? { ms } : {}),
        startedAt: start ?? (ms !== undefined ? end - ms : end),
        endedAt: end,
        ...(e.reused === true ? { reused: true } : {}),
        ...(e.error !== undefined ? { error: e.error } : {}),
      });
    }
  };
}

/** Build the report of a run of the workspace (its event log read once). */
export async function buildReport(
  workspace: string,
  options: ReportOptions = {},
): Promise<ReportResult> {
  const seen = new ReportEvents();
  const st = await readStatus(workspace, {
    ...(options.run !== undefined ? { run: options.run } : {}),
    ...(options.workflow !== undefined ? { workflow: options.workflow } : {}),
    tailLines: options.tailLines ?? 20,
    maxTails: 100,
    runsList: false,
    onEvent: seen.add,
  });
  if (!st.ok) return st;
  const run = st.report.run;
  if (!run) return { ok: false, message: `Cannot make a report: no run in ${workspace} yet` };
  const html = renderReport(run, {
    graph: seen.graph,
    transfers: seen.transfers,
    blocks: [...seen.blocks.values()],
    ...(seen.name !== undefined ? { name: seen.name } : {}),
  });
  return { ok: true, run, html };
}

/** The HTML of a report: titled with the workflow's name, its file and the run id. */
function renderReport(
  run: RunDetail,
  { graph, transfers, blocks, name }: {
    graph: readonly GraphApp[];
    transfers: readonly TransferDone[];
    blocks: readonly BlockStates[];
    name?: string;
  },
): string {
  const counts = new Map<string, number>();
  for (const t of run.tasks) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  const summary = [...counts].map(([s, n]) =>
    `<span class="pill" style="background:${COLORS[s] ?? "#999"}">${n} ${esc(s)}</span>`
  ).join(" ");
  const file = basename(run.workflow);
  const title = name !== undefined
    ? `${name} (${file}) · run ${run.id}`
    : `${file} · run ${run.id}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(`ferry report: ${title}`)}</title>
<style>${CSS}</style></head>
<body>
<header id="summary">
<h1>${esc(name ?? file)} <small>${name !== undefined ? `${esc(file)} · ` : ""}run ${
    esc(run.id)
  }</small></h1>
<p class="status status-${esc(run.status)}">${esc(run.status)}</p>
<dl>
<dt>workflow</dt><dd>${esc(run.workflow)}</dd>
<dt>started</dt><dd>${esc(run.startedAt)} by pid ${run.pid} on ${esc(run.host)}</dd>
<dt>took</dt><dd>${run.durationMs !== undefined ? formatDuration(run.durationMs) : "—"}</dd>
<dt>tasks</dt><dd>${run.tasks.length} ${summary}</dd>
<dt>transfers</dt><dd>${transfers.length} (${
    formatBytes(transfers.reduce((s, t) => s + (t.error ? 0 : t.bytes), 0))
  })</dd>${skippedLines(run)}
</dl>
</header>
<nav><a href="#dag">Graph</a> · <a href="#timeline">Timeline</a> · <a href="#tasks">Tasks</a> · <a href="#usage">Resources</a> · <a href="#failures">Failures</a> · <a href="#transfers">Transfers</a></nav>
<section id="dag"><h2>Graph <small>(one node per app; fan-outs collapsed)</small></h2>
${renderDag(run.tasks, graph)}
</section>
<section id="timeline"><h2>Timeline <small>(per executor and worker; pilot workers by block)</small></h2>
${renderTimeline(run.tasks, graph, transfers, blocks)}
</section>
<section id="tasks"><h2>Tasks</h2>
${renderTable(run.tasks, graph)}
</section>
<section id="usage"><h2>Resources <small>(what each task used: its last measured attempt)</small></h2>
${renderUsage(run.tasks, graph)}
</section>
<section id="failures"><h2>Failures</h2>
${renderFailures(run.tasks)}
</section>
<section id="transfers"><h2>Transfers</h2>
${renderTransfers(transfers)}
</section>
<footer>Made by ferry from ${esc(run.dir)}/events.jsonl and the state store.</footer>
<script>${SORT_JS}</script>
</body></html>
`;
}

function lastAttempt(t: TaskStatus): AttemptStatus | undefined {
  return t.attempts.at(-1);
}

/**
 * The task table: its rows as JSON data, drawn by the page's script a page of rows at a time
 * (a 10,000-row HTML table alone takes seconds to lay out), sortable by any column.
 */
function renderTable(tasks: readonly TaskStatus[], graph: readonly GraphApp[]): string {
  const executorOf = new Map(graph.map((a) => [a.name, a.executor]));
  const rows = tasks.map((t) => {
    const a = lastAttempt(t);
    const app = appOfTask(t.id);
    return [
      t.id,
      app,
      executorOf.get(app) ?? "",
      t.state,
      a?.durationMs ?? null,
      t.attempts.length,
      a?.exitCode ?? a?.signal ?? null,
      a?.host ?? "",
      t.state === "cached" ? (t.store !== undefined ? `store ${t.store}` : "yes") : "",
      a?.pilot ? `block ${a.pilot.block} · ${a.pilot.worker}` : "",
      // Formatted here, so the page shows durations exactly as the terminal does.
      a?.durationMs !== undefined ? formatDuration(a.durationMs) : "",
    ];
  });
  // No `<` at all: `</script` would end the element early, and `<!--<script>` (a task id may
  // hold it) would keep it open over the rest of the page.
  const data = JSON.stringify({ rows, colors: COLORS }).replace(/</g, "\\u003c");
  const heads = [
    "task",
    "app",
    "executor",
    "status",
    "duration",
    "attempts",
    "exit",
    "host",
    "cached",
    "worker",
  ];
  const numeric = new Set(["duration", "attempts", "exit"]);
  return `<table id="task-table"><thead><tr>${
    heads.map((hd) => `<th data-type="${numeric.has(hd) ? "num" : "text"}" tabindex="0">${hd}</th>`)
      .join("")
  }</tr></thead><tbody></tbody></table>
<p id="task-pager" class="pager"></p>
<script type="application/json" id="task-data">${data}</script>`;
}

/** The damaged lines of the event log the report skipped, when there were any. */
function skippedLines(run: RunDetail): string {
  const n = run.skippedEventLines ?? 0;
  return n === 0
    ? ""
    : `\n<dt>event log</dt><dd class="skipped">${n} damaged line${
      n === 1 ? "" : "s"
    } of events.jsonl skipped</dd>`;
}

function renderFailures(tasks: readonly TaskStatus[]): string {
  const failed = tasks.filter((t) => t.state === "failed" || t.state === "crashed");
  if (failed.length === 0) return `<p class="empty">No task failed.</p>`;
  return failed.map((t) => {
    const a = lastAttempt(t);
    const why = t.reason ?? a?.reason ??
      (a?.outcome === "timeout"
        ? "exceeded its walltime"
        : a?.signal
        ? `killed by ${a.signal}`
        : a?.exitCode !== undefined
        ? `exit code ${a.exitCode}`
        : t.state);
    const tail = (t.stderrTail ?? []).join("\n");
    return `<article class="failure" data-task="${esc(t.id)}"><h3>${esc(t.id)}</h3><p>${
      esc(capLines(why))
    } after ${t.attempts.length} attempt(s)</p>${tail ? `<pre>${esc(tail)}</pre>` : ""}${
      a?.stderr ? `<p class="log">full log: <code>${esc(a.stderr)}</code></p>` : ""
    }</article>`;
  }).join("\n");
}

function renderTransfers(transfers: readonly TransferDone[]): string {
  if (transfers.length === 0) return `<p class="empty">No transfer in this run.</p>`;
  const rows = transfers.map((t) => {
    const rate = t.ms !== undefined && !t.reused ? formatRate(t.bytes, t.ms) ?? "" : "";
    return `<tr class="transfer"><td>${t.direction}</td><td>${esc(t.url)}</td><td>${
      esc(t.provider)
    }</td><td data-v="${t.bytes}">${formatBytes(t.bytes)}</td><td>${
      t.ms !== undefined ? formatDuration(t.ms) : ""
    }</td><td>${rate}</td><td>${
      t.error ? esc(capLines(t.error)) : t.reused ? "reused" : "ok"
    }</td></tr>`;
  });
  return `<table id="transfer-table"><thead><tr><th>dir</th><th>url</th><th>provider</th><th>size</th><th>time</th><th>throughput</th><th>result</th></tr></thead><tbody>
${rows.join("\n")}
</tbody></table>`;
}
