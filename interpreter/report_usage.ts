/**
 * The "Resources" section of `ferry report`: what each app's tasks used
 * (wall time, CPU time, peak memory) as strip plots in inline SVG, one row of
 * dots per app, the same figures as a table for screen readers and copying,
 * and the tasks that used far less than they requested (see
 * {@linkcode overRequested}).
 * @module
 */

import type { GraphApp } from "./events.ts";
import { cpuSeconds as cpuOf, formatBytes, formatDuration } from "./format.ts";
import type { TaskStatus } from "./status_types.ts";
import { appOfTask, esc } from "./report_page.ts";
import type { Usage } from "../providers/batch/types.ts";

/** A task is flagged when its peak memory is below this share of the memory it requested. */
export const MEMORY_FLAG_SHARE = 0.25;
/** ... or when its CPU time over its wall time is below this share of the cores it requested. */
export const CORES_FLAG_SHARE = 0.5;
/** Shorter tasks are not flagged for cores: start-up dominates their CPU share. */
export const CORES_FLAG_MIN_WALL_SECONDS = 1;

/** What an app's tasks asked for (per task), from the run's graph event. */
export type Requested = Pick<GraphApp, "cores" | "memory">;

/** A task's last measured attempt: what it used. */
interface Measured {
  readonly task: string;
  readonly app: string;
  readonly usage: Usage;
}

/**
 * Why a task's request was far more than it used, or nothing: peak memory below a quarter of the
 * memory requested; CPU time over wall time below half the cores requested, for a task that asked
 * for 2 cores or more and ran at least a second.
 *
 * @example
 * ```ts
 * import { overRequested } from "./report_usage.ts";
 * import assert from "node:assert/strict";
 * const usage = { wallSeconds: 10, userSeconds: 9, systemSeconds: 1, maxRssBytes: 2 ** 28, measuredBy: "wait4" as const };
 * assert.deepEqual(overRequested(usage, { cores: 8, memory: 2 ** 32 }), [
 *   "peak memory 256.0 MiB is 6% of the 4.0 GiB requested",
 *   "used 1.0 of the 8 cores requested (CPU 10s in 10s)",
 * ]);
 * assert.deepEqual(overRequested(usage, { cores: 1 }), []);
 * ```
 */
export function overRequested(u: Usage, req: Requested): string[] {
  const flags: string[] = [];
  if (req.memory !== undefined && u.maxRssBytes !== undefined) {
    const share = u.maxRssBytes / req.memory;
    if (share < MEMORY_FLAG_SHARE) {
      flags.push(
        `peak memory ${formatBytes(u.maxRssBytes)} is ${Math.round(share * 100)}% of the ${
          formatBytes(req.memory)
        } requested`,
      );
    }
  }
  const cpu = cpuOf(u);
  if (
    req.cores !== undefined && req.cores >= 2 && cpu !== undefined &&
    u.wallSeconds >= CORES_FLAG_MIN_WALL_SECONDS &&
    cpu / u.wallSeconds < CORES_FLAG_SHARE * req.cores
  ) {
    flags.push(
      `used ${(cpu / u.wallSeconds).toFixed(1)} of the ${req.cores} cores requested (CPU ${
        formatDuration(cpu * 1000)
      } in ${formatDuration(u.wallSeconds * 1000)})`,
    );
  }
  return flags;
}

/** One figure of the plots: its title, how to read it from a usage, and how to show a value. */
interface Metric {
  readonly name: string;
  readonly of: (u: Usage) => number | undefined;
  readonly show: (v: number) => string;
}

const METRICS: readonly Metric[] = [
  { name: "wall time", of: (u) => u.wallSeconds, show: (v) => formatDuration(v * 1000) },
  { name: "CPU time", of: cpuOf, show: (v) => formatDuration(v * 1000) },
  { name: "peak memory", of: (u) => u.maxRssBytes, show: formatBytes },
];

/** The section's HTML: the plots, the table and the flagged tasks. */
export function renderUsage(tasks: readonly TaskStatus[], graph: readonly GraphApp[]): string {
  const measured: Measured[] = [];
  for (const t of tasks) {
    const a = t.attempts.findLast((x) => x.usage !== undefined);
    if (a?.usage) measured.push({ task: t.id, app: appOfTask(t.id), usage: a.usage });
  }
  if (measured.length === 0) return `<p class="empty">No task of this run was measured.</p>`;
  const apps = [...new Set(measured.map((m) => m.app))];
  const plots = METRICS.map((m) => stripPlot(m, apps, measured)).filter((s) => s !== "");
  return `<div class="usage-plots">${plots.join("\n")}</div>
${usageTable(apps, measured)}
${flagged(measured, graph)}`;
}

const PLOT = { width: 640, label: 140, row: 22, top: 24, bottom: 22 };

/** Above this many tasks an app's row is a box plot (quartiles, median, range), not dots. */
export const MAX_DOTS_PER_APP = 400;
/** At most this many flagged tasks are listed; the rest are counted. */
export const MAX_FLAGGED_LISTED = 200;

/**
 * One plot: a row per app; a dot per task (its title names the task and the value), or a box
 * plot for an app with more than {@linkcode MAX_DOTS_PER_APP} tasks.
 */
function stripPlot(m: Metric, apps: readonly string[], measured: readonly Measured[]): string {
  const byApp = new Map<string, { task: string; v: number }[]>(apps.map((a) => [a, []]));
  let max = 0;
  for (const x of measured) {
    const v = m.of(x.usage);
    if (v === undefined) continue;
    byApp.get(x.app)?.push({ task: x.task, v });
    if (v > max) max = v;
  }
  if ([...byApp.values()].every((vs) => vs.length === 0)) return "";
  max ||= 1;
  const span = PLOT.width - PLOT.label - 20;
  const h = PLOT.top + apps.length * PLOT.row + PLOT.bottom;
  const xOf = (v: number) => (PLOT.label + (v / max) * span).toFixed(1);
  const rows = apps.map((app, i) => {
    const y = PLOT.top + i * PLOT.row + PLOT.row / 2;
    const vs = byApp.get(app)!;
    const marks = vs.length > MAX_DOTS_PER_APP
      ? boxPlot(vs.map((x) => x.v), y, xOf, m)
      : vs.map((x) =>
        `<circle class="usage-dot" cx="${xOf(x.v)}" cy="${y}" r="4"><title>${esc(x.task)}: ${
          esc(m.show(x.v))
        }</title></circle>`
      ).join("");
    return `<text x="${PLOT.label - 8}" y="${y + 4}" text-anchor="end">${esc(app)}</text>${marks}`;
  });
  const axis = PLOT.top + apps.length * PLOT.row;
  return `<svg class="usage-plot" data-metric="${
    esc(m.name)
  }" width="${PLOT.width}" height="${h}" viewBox="0 0 ${PLOT.width} ${h}" role="img" aria-label="${
    esc(`${m.name} per task, by app (table below)`)
  }">
<text x="0" y="14" class="usage-title">${esc(m.name)}</text>
<line class="tl-tick" x1="${PLOT.label}" y1="${axis}" x2="${PLOT.label + span}" y2="${axis}"/>
<text x="${PLOT.label}" y="${axis + 16}">0</text><text x="${PLOT.label + span}" y="${
    axis + 16
  }" text-anchor="end">${esc(m.show(max))}</text>
${rows.join("\n")}
</svg>`;
}

/** An app's figures as a box: whiskers from least to largest, the box from the first to the third quartile. */
function boxPlot(
  values: number[],
  y: number,
  xOf: (v: number) => string,
  m: Metric,
): string {
  const vs = values.sort((a, b) => a - b);
  const q = (p: number) => vs[Math.min(vs.length - 1, Math.floor(p * (vs.length - 1)))]!;
  const [lo, q1, mid, q3, hi] = [0, 0.25, 0.5, 0.75, 1].map(q) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const title = `${vs.length} tasks: least ${m.show(lo)}, quartiles ${m.show(q1)} / ${
    m.show(mid)
  } / ${m.show(q3)}, largest ${m.show(hi)}`;
  return `<g class="usage-box"><title>${esc(title)}</title>` +
    `<line x1="${xOf(lo)}" y1="${y}" x2="${xOf(hi)}" y2="${y}"/>` +
    `<rect x="${xOf(q1)}" y="${y - 6}" width="${
      (Number(xOf(q3)) - Number(xOf(q1))).toFixed(1)
    }" height="12"/>` +
    `<line x1="${xOf(mid)}" y1="${y - 6}" x2="${xOf(mid)}" y2="${y + 6}"/></g>`;
}

/** The same figures as text: per app and metric, the number of tasks, median and largest. */
function usageTable(apps: readonly string[], measured: readonly Measured[]): string {
  const rows = apps.map((app) => {
    const mine = measured.filter((x) => x.app === app);
    const cells = METRICS.map((m) => {
      const vs = mine.map((x) => m.of(x.usage)).filter((v) => v !== undefined).sort((a, b) =>
        a - b
      );
      if (vs.length === 0) return "<td>—</td>";
      const median = vs[Math.floor((vs.length - 1) / 2)]!;
      return `<td>${esc(m.show(median))} / ${esc(m.show(vs.at(-1)!))}</td>`;
    });
    return `<tr><td>${esc(app)}</td><td>${mine.length}</td>${cells.join("")}</tr>`;
  });
  return `<table id="usage-table"><thead><tr><th>app</th><th>tasks</th>${
    METRICS.map((m) => `<th>${esc(m.name)} (median / max)</th>`).join("")
  }</tr></thead><tbody>
${rows.join("\n")}
</tbody></table>`;
}

/** The tasks that used far less than they requested, each with why. */
function flagged(measured: readonly Measured[], graph: readonly GraphApp[]): string {
  const req = new Map(graph.map((a) => [a.name, a]));
  const items = measured.flatMap((m) => {
    const r = req.get(m.app);
    const why = r ? overRequested(m.usage, r) : [];
    return why.length === 0 ? [] : [
      `<li class="over-request" data-task="${esc(m.task)}"><code>${esc(m.task)}</code>: ${
        esc(why.join("; "))
      }</li>`,
    ];
  });
  const rule = `Flagged: peak memory below ${MEMORY_FLAG_SHARE * 100}% of the memory requested, ` +
    `or CPU time / wall time below ${CORES_FLAG_SHARE * 100}% of the cores requested ` +
    `(2 cores or more, tasks of ${CORES_FLAG_MIN_WALL_SECONDS} s or longer).`;
  const more = items.length - MAX_FLAGGED_LISTED;
  const listed = more > 0
    ? [...items.slice(0, MAX_FLAGGED_LISTED), `<li class="more">and ${more} more tasks</li>`]
    : items;
  return `<p class="usage-rule">${esc(rule)}</p>\n${
    items.length === 0
      ? `<p class="empty">No task used far less than it requested.</p>`
      : `<ul id="over-requested">${listed.join("\n")}</ul>`
  }`;
}
