/**
 * `ferry report`: one self-contained HTML file for a run, built from its
 * event log and the state store only (what `ferry status` reads): the
 * summary, the DAG with fan-outs collapsed to their app, a timeline of tasks
 * and transfers per executor and worker, a sortable table of tasks, the
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

import dagre from "../deps/dagre.ts";
import { basename, join } from "node:path";
import { formatBytes, formatDuration, formatRate } from "./format.ts";
import type { AttemptStatus, RunDetail, TaskStatus } from "./status.ts";
import { workspaceStatus } from "./status.ts";

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

interface GraphApp {
  readonly name: string;
  readonly executor: string;
  readonly deps: readonly string[];
}

interface TransferDone {
  readonly id: string;
  readonly direction: "in" | "out";
  readonly url: string;
  readonly provider: string;
  readonly bytes: number;
  readonly ms?: number;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly reused?: boolean;
  readonly error?: string;
}

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** The app of a task id: `align[sample=a]` → `align`. */
export function appOfTask(id: string): string {
  const i = id.indexOf("[");
  return i < 0 ? id : id.slice(0, i);
}

const COLORS: Record<string, string> = {
  succeeded: "#2e7d32",
  cached: "#90a4ae",
  failed: "#c62828",
  timeout: "#ef6c00",
  cancelled: "#8d6e63",
  crashed: "#6a1b9a",
  running: "#1565c0",
  blocked: "#bdbdbd",
  "not-run": "#e0e0e0",
};

/** Read a run's event log (one JSON object per line; a torn last line is skipped). */
async function readEvents(runDir: string): Promise<Record<string, unknown>[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(join(runDir, "events.jsonl"));
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line));
    } catch { /* torn */ }
  }
  return out;
}

/** Build the report of a run of the workspace. */
export async function buildReport(
  workspace: string,
  options: ReportOptions = {},
): Promise<ReportResult> {
  const st = await workspaceStatus(workspace, {
    ...(options.run !== undefined ? { run: options.run } : {}),
    ...(options.workflow !== undefined ? { workflow: options.workflow } : {}),
    tailLines: options.tailLines ?? 20,
  });
  if (!st.ok) return st;
  const run = st.report.run;
  if (!run) return { ok: false, message: `Cannot make a report: no run in ${workspace} yet` };
  const events = await readEvents(run.dir);
  const graph = (events.find((e) => e.event === "graph")?.apps ?? []) as GraphApp[];
  // The workflow's own name, from the event log (runs logged before it was recorded have none).
  const name = events.find((e) => e.event === "planned")?.workflow;
  const transfers: TransferDone[] = [];
  const started = new Map<string, number>();
  for (const e of events) {
    if (e.event === "transfer-started") started.set(String(e.id), Number(e.time));
    if (e.event === "transfer-finished") {
      const end = Number(e.time), ms = typeof e.ms === "number" ? e.ms : undefined;
      transfers.push({
        id: String(e.id),
        direction: e.direction === "out" ? "out" : "in",
        url: String(e.url),
        provider: String(e.provider),
        bytes: Number(e.bytes ?? 0),
        ...(ms !== undefined ? { ms } : {}),
        startedAt: started.get(String(e.id)) ?? (ms !== undefined ? end - ms : end),
        endedAt: end,
        ...(e.reused === true ? { reused: true } : {}),
        ...(typeof e.error === "string" ? { error: e.error } : {}),
      });
    }
  }
  const html = renderReport(run, {
    graph,
    transfers,
    ...(typeof name === "string" ? { name } : {}),
  });
  return { ok: true, run, html };
}

/** The HTML of a report: titled with the workflow's name, its file and the run id. */
function renderReport(
  run: RunDetail,
  { graph, transfers, name }: {
    graph: readonly GraphApp[];
    transfers: readonly TransferDone[];
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
  })</dd>
</dl>
</header>
<nav><a href="#dag">Graph</a> · <a href="#timeline">Timeline</a> · <a href="#tasks">Tasks</a> · <a href="#failures">Failures</a> · <a href="#transfers">Transfers</a></nav>
<section id="dag"><h2>Graph <small>(one node per app; fan-outs collapsed)</small></h2>
${renderDag(run.tasks, graph)}
</section>
<section id="timeline"><h2>Timeline <small>(per executor and worker)</small></h2>
${renderTimeline(run.tasks, graph, transfers)}
</section>
<section id="tasks"><h2>Tasks</h2>
${renderTable(run.tasks, graph)}
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

function renderDag(tasks: readonly TaskStatus[], graph: readonly GraphApp[]): string {
  // Apps from the graph event; tasks of apps it does not name (older logs) get nodes too.
  const apps = new Map<string, { deps: readonly string[]; states: Map<string, number> }>();
  for (const a of graph) apps.set(a.name, { deps: a.deps, states: new Map() });
  for (const t of tasks) {
    const name = appOfTask(t.id);
    let a = apps.get(name);
    if (!a) apps.set(name, a = { deps: [], states: new Map() });
    a.states.set(t.state, (a.states.get(t.state) ?? 0) + 1);
  }
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 60, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const [name] of apps) {
    g.setNode(name, { width: Math.max(120, name.length * 8 + 40), height: 54 });
  }
  for (const [name, a] of apps) for (const d of a.deps) if (apps.has(d)) g.setEdge(d, name);
  dagre.layout(g);
  const gg = g.graph() as { width?: number; height?: number };
  const w = Math.ceil(gg.width ?? 200), h = Math.ceil(gg.height ?? 100);
  const edges = g.edges().map((e) => {
    const pts = (g.edge(e) as { points: { x: number; y: number }[] }).points;
    const d = pts.map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(
      " ",
    );
    return `<path class="dag-edge" d="${d}" marker-end="url(#arrow)"/>`;
  });
  const nodes = [...apps].map(([name, a]) => {
    const n = g.node(name) as { x: number; y: number; width: number; height: number };
    const total = [...a.states.values()].reduce((s, x) => s + x, 0);
    const x0 = n.x - n.width / 2, y0 = n.y - n.height / 2;
    // A bar of the app's tasks by state under its name.
    let off = 0;
    const bar = [...a.states].map(([s, c]) => {
      const bw = (n.width - 16) * c / Math.max(1, total);
      const r = `<rect x="${(x0 + 8 + off).toFixed(1)}" y="${(y0 + 34).toFixed(1)}" width="${
        bw.toFixed(1)
      }" height="10" fill="${COLORS[s] ?? "#999"}"><title>${c} ${esc(s)}</title></rect>`;
      off += bw;
      return r;
    }).join("");
    const label = `${esc(name)}${total > 1 ? ` ×${total}` : ""}`;
    return `<g class="dag-node" data-app="${
      esc(name)
    }" data-tasks="${total}"><rect class="dag-box" x="${x0.toFixed(1)}" y="${
      y0.toFixed(1)
    }" width="${n.width}" height="${n.height}" rx="6"/><text x="${n.x.toFixed(1)}" y="${
      (y0 + 22).toFixed(1)
    }" text-anchor="middle">${label}</text>${bar}</g>`;
  });
  return `<svg class="dag" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="task graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#607d8b"/></marker></defs>
${edges.join("\n")}
${nodes.join("\n")}
</svg>`;
}

interface Bar {
  readonly lane: string;
  readonly start: number;
  readonly end: number;
  readonly cls: string;
  readonly color: string;
  readonly label: string;
  readonly task?: string;
}

function renderTimeline(
  tasks: readonly TaskStatus[],
  graph: readonly GraphApp[],
  transfers: readonly TransferDone[],
): string {
  const executorOf = new Map(graph.map((a) => [a.name, a.executor]));
  const items: {
    group: string;
    start: number;
    end: number;
    cls: string;
    color: string;
    label: string;
    task?: string;
  }[] = [];
  for (const t of tasks) {
    for (const a of t.attempts) {
      const start = Date.parse(a.startedAt);
      const end = a.endedAt !== undefined ? Date.parse(a.endedAt) : start;
      if (!Number.isFinite(start)) continue;
      const ex = executorOf.get(appOfTask(t.id)) ?? "local";
      items.push({
        group: `${ex} · ${a.host ?? "?"}`,
        start,
        end: Math.max(end, start),
        cls: "tl-task",
        color: COLORS[a.outcome] ?? "#999",
        label: `${t.id} attempt ${a.attempt}: ${a.outcome}${
          a.durationMs !== undefined ? ` in ${formatDuration(a.durationMs)}` : ""
        }${a.jobId !== undefined ? ` (job ${a.jobId})` : ""}`,
        task: t.id,
      });
    }
  }
  for (const x of transfers) {
    items.push({
      group: `transfers ${x.direction}`,
      start: x.startedAt,
      end: Math.max(x.endedAt, x.startedAt),
      cls: "tl-transfer",
      color: x.error ? COLORS.failed! : "#00838f",
      label: `${x.direction === "in" ? "fetch" : "upload"} ${x.url}: ${formatBytes(x.bytes)}${
        x.ms !== undefined ? ` in ${formatDuration(x.ms)}` : ""
      }${x.error ? ` — ${x.error}` : ""}`,
    });
  }
  if (items.length === 0) return `<p class="empty">Nothing ran in this run.</p>`;
  // Workers: within each executor and host, the fewest lanes in which attempts do not overlap.
  const bars: Bar[] = [];
  const groups = new Map<string, typeof items>();
  for (const it of items) groups.set(it.group, [...(groups.get(it.group) ?? []), it]);
  const laneNames: string[] = [];
  for (const [group, list] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    list.sort((a, b) => a.start - b.start || a.end - b.end);
    const ends: number[] = [];
    for (const it of list) {
      let lane = ends.findIndex((e) => e <= it.start);
      if (lane < 0) {
        lane = ends.length;
        ends.push(0);
        laneNames.push(`${group} #${lane + 1}`);
      }
      ends[lane] = it.end;
      bars.push({
        lane: `${group} #${lane + 1}`,
        start: it.start,
        end: it.end,
        cls: it.cls,
        color: it.color,
        label: it.label,
        ...(it.task !== undefined ? { task: it.task } : {}),
      });
    }
  }
  const t0 = Math.min(...bars.map((b) => b.start)), t1 = Math.max(...bars.map((b) => b.end));
  const span = Math.max(1, t1 - t0);
  const left = 200, width = 1000, row = 16;
  const laneIndex = new Map(laneNames.map((n, i) => [n, i]));
  const h = laneNames.length * row + 30;
  const x = (t: number) => left + ((t - t0) / span) * width;
  const lanes = laneNames.map((n, i) =>
    `<text class="tl-lane" x="${left - 6}" y="${i * row + 12}" text-anchor="end">${esc(n)}</text>`
  );
  const rects = bars.map((b) => {
    const i = laneIndex.get(b.lane)!;
    const bw = Math.max(1, x(b.end) - x(b.start));
    return `<rect class="${b.cls}"${b.task ? ` data-task="${esc(b.task)}"` : ""} x="${
      x(b.start).toFixed(1)
    }" y="${i * row + 2}" width="${bw.toFixed(1)}" height="${row - 4}" fill="${b.color}"><title>${
      esc(b.label)
    }</title></rect>`;
  });
  const ticks: string[] = [];
  for (let k = 0; k <= 5; k++) {
    const tx = left + (width * k) / 5;
    ticks.push(
      `<line class="tl-tick" x1="${tx}" y1="0" x2="${tx}" y2="${h - 20}"/><text x="${tx}" y="${
        h - 6
      }" text-anchor="middle">${formatDuration((span * k) / 5)}</text>`,
    );
  }
  return `<svg class="timeline" width="${left + width + 20}" height="${h}" viewBox="0 0 ${
    left + width + 20
  } ${h}" role="img" aria-label="timeline">
${ticks.join("")}
${lanes.join("\n")}
${rects.join("\n")}
</svg>`;
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
      t.state === "cached" ? "yes" : "",
      // Formatted here, so the page shows durations exactly as the terminal does.
      a?.durationMs !== undefined ? formatDuration(a.durationMs) : "",
    ];
  });
  // `</` cannot end the script element early.
  const data = JSON.stringify({ rows, colors: COLORS }).replace(/<\//g, "<\\/");
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
  ];
  const numeric = new Set(["duration", "attempts", "exit"]);
  return `<table id="task-table"><thead><tr>${
    heads.map((hd) => `<th data-type="${numeric.has(hd) ? "num" : "text"}" tabindex="0">${hd}</th>`)
      .join("")
  }</tr></thead><tbody></tbody></table>
<p id="task-pager" class="pager"></p>
<script type="application/json" id="task-data">${data}</script>`;
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
      esc(why)
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
    }</td><td>${rate}</td><td>${t.error ? esc(t.error) : t.reused ? "reused" : "ok"}</td></tr>`;
  });
  return `<table id="transfer-table"><thead><tr><th>dir</th><th>url</th><th>provider</th><th>size</th><th>time</th><th>throughput</th><th>result</th></tr></thead><tbody>
${rows.join("\n")}
</tbody></table>`;
}

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0 24px 40px;color:#212121}
h1{font-size:20px;margin:16px 0 4px}h1 small,h2 small{color:#757575;font-weight:normal;font-size:13px}
h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #e0e0e0}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:8px 0}dt{color:#757575}dd{margin:0}
.pill{color:#fff;border-radius:8px;padding:0 6px;font-size:12px}
.status{display:inline-block;font-weight:bold;padding:2px 8px;border-radius:4px;background:#eceff1}
.status-failed,.status-crashed{background:#ffebee;color:#b71c1c}.status-succeeded{background:#e8f5e9;color:#1b5e20}
nav{margin:8px 0}svg{max-width:100%;height:auto;overflow:visible}
.dag-box{fill:#fafafa;stroke:#90a4ae}.dag-edge{fill:none;stroke:#607d8b;stroke-width:1.5}
.dag-node text,.timeline text{font-size:12px}.tl-tick{stroke:#eeeeee}.tl-lane{fill:#616161}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #eeeeee;text-align:left}
th{cursor:pointer;user-select:none;background:#fafafa;position:sticky;top:0}th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px}
.failure{border-left:4px solid #c62828;padding:2px 12px;margin:10px 0;background:#fff8f8}
.failure pre{background:#263238;color:#eceff1;padding:8px;overflow:auto;max-height:320px}
.empty{color:#757575}footer{margin-top:32px;color:#9e9e9e;font-size:12px}
`;

const SORT_JS = `
(function(){
  var table=document.getElementById("task-table");if(!table)return;
  var data=JSON.parse(document.getElementById("task-data").textContent);
  var rows=data.rows,colors=data.colors,PAGE=500,page=0;
  var body=table.tBodies[0],pager=document.getElementById("task-pager");
  var heads=table.querySelectorAll("th");
  function cell(tr,text,v){var td=document.createElement("td");td.textContent=text;
    td.setAttribute("data-v",v===null||v===undefined?"":String(v));tr.appendChild(td);return td;}
  function draw(){
    var f=document.createDocumentFragment(),end=Math.min(rows.length,(page+1)*PAGE);
    for(var i=page*PAGE;i<end;i++){var r=rows[i],tr=document.createElement("tr");
      cell(tr,r[0],r[0]);cell(tr,r[1],r[1]);cell(tr,r[2],r[2]);
      var st=cell(tr,r[3],r[3]),dot=document.createElement("span");dot.className="dot";
      dot.style.background=colors[r[3]]||"#999";st.insertBefore(dot,st.firstChild);
      cell(tr,r[9],r[4]===null?-1:r[4]);cell(tr,String(r[5]),r[5]);
      cell(tr,r[6]===null?"":String(r[6]),r[6]);cell(tr,r[7],r[7]);cell(tr,r[8],r[8]);f.appendChild(tr);}
    body.textContent="";body.appendChild(f);
    var pages=Math.ceil(rows.length/PAGE);pager.textContent="";
    if(pages>1){pager.appendChild(document.createTextNode("rows "+(page*PAGE+1)+"–"+end+" of "+rows.length+" "));
      [["‹ previous",page-1],["next ›",page+1]].forEach(function(b){var btn=document.createElement("button");
        btn.textContent=b[0];btn.disabled=b[1]<0||b[1]>=pages;
        btn.addEventListener("click",function(){page=b[1];draw();});pager.appendChild(btn);});}
  }
  function sortBy(i,type,dir){
    rows.sort(function(a,b){var x=a[i],y=b[i];
      if(type==="num"){x=typeof x==="number"?x:-1;y=typeof y==="number"?y:-1;return dir*(x-y);}
      return dir*String(x).localeCompare(String(y));});
    page=0;draw();
  }
  heads.forEach(function(th,i){
    function go(){var dir=th.classList.contains("asc")?-1:1;
      heads.forEach(function(h){h.classList.remove("asc","desc")});
      th.classList.add(dir===1?"asc":"desc");sortBy(i,th.getAttribute("data-type"),dir);}
    th.addEventListener("click",go);
    th.addEventListener("keydown",function(e){if(e.key==="Enter")go();});
  });
  draw();
})();
`;
