/**
 * The pictures of `ferry report`: the app graph and the timeline, as inline
 * SVG made when the report is made (dagre lays out the graph), so the page
 * needs no script library and no layout work in the browser.
 * @module
 */

import dagre from "../deps/dagre.ts";
import type { GraphApp } from "./events.ts";
import { formatBytes, formatDuration } from "./format.ts";
import { capLines } from "./log_tail.ts";
import type { TaskStatus } from "./status_types.ts";
import {
  appOfTask,
  BLOCK_COLORS,
  type BlockStates,
  COLORS,
  esc,
  type TransferDone,
} from "./report_page.ts";

/** The DAG as inline SVG: one node per app (a bar of its tasks by state), laid out by dagre. */
export function renderDag(tasks: readonly TaskStatus[], graph: readonly GraphApp[]): string {
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

/** Something on the timeline before it has a lane: an attempt, a transfer, a block's state. */
interface Item {
  /** Its executor and host (or pilot block), or the transfers' direction: its lanes' name. */
  readonly group: string;
  /**
   * Its own lane in the group (a pilot worker; "" for the block itself), where items are
   * not packed: absent for items packed on the fewest lanes where they do not overlap.
   */
  readonly lane?: string;
  readonly start: number;
  readonly end: number;
  readonly cls: string;
  readonly color: string;
  readonly label: string;
  readonly task?: string;
}

/** An item on its lane. */
interface Bar extends Omit<Item, "group"> {
  readonly lane: string;
}

/**
 * The timeline as inline SVG: attempts and transfers on lanes per executor and worker. Attempts
 * pilot workers ran are on a lane per worker, under a lane of their block's states.
 */
export function renderTimeline(
  tasks: readonly TaskStatus[],
  graph: readonly GraphApp[],
  transfers: readonly TransferDone[],
  blocks: readonly BlockStates[] = [],
): string {
  const items = attemptItems(tasks, graph);
  for (const x of transfers) items.push(transferItem(x));
  if (items.length === 0) return `<p class="empty">Nothing ran in this run.</p>`;
  // A block still held when the log ends is drawn to the end of the rest.
  let end = -Infinity;
  for (const it of items) end = Math.max(end, it.end);
  for (const b of blocks) items.push(...blockItems(b, end));
  const { bars, laneNames } = placeOnLanes(items);
  return drawTimeline(bars, laneNames);
}

/** Every attempt that started, grouped by its executor and host. */
function attemptItems(tasks: readonly TaskStatus[], graph: readonly GraphApp[]): Item[] {
  const executorOf = new Map(graph.map((a) => [a.name, a.executor]));
  const items: Item[] = [];
  for (const t of tasks) {
    for (const a of t.attempts) {
      const start = Date.parse(a.startedAt);
      const end = a.endedAt !== undefined ? Date.parse(a.endedAt) : start;
      if (!Number.isFinite(start)) continue;
      const ex = executorOf.get(appOfTask(t.id)) ?? "local";
      const p = a.pilot;
      items.push({
        ...(p
          ? { group: blockLane(ex, p.block), lane: p.worker }
          : { group: `${ex} · ${a.host ?? "?"}` }),
        start,
        end: Math.max(end, start),
        cls: "tl-task",
        color: COLORS[a.outcome] ?? "#999",
        label: `${t.id} attempt ${a.attempt}: ${a.outcome}${
          a.durationMs !== undefined ? ` in ${formatDuration(a.durationMs)}` : ""
        }${a.jobId !== undefined ? ` (job ${a.jobId})` : ""}${
          p ? ` on block ${p.block}, worker ${p.worker}` : ""
        }`,
        task: t.id,
      });
    }
  }
  return items;
}

/** The name of a pilot block's lanes. */
const blockLane = (executor: string, block: string) => `${executor} · block ${block}`;

/** A pilot block's states, each until the next (the last until `end`), on the block's lane. */
function blockItems(b: BlockStates, end: number): Item[] {
  const items: Item[] = [];
  const states = [...b.states].sort((x, y) => x.time - y.time);
  states.forEach((s, i) => {
    if (s.state === "gone") return;
    const until = states[i + 1]?.time ?? Math.max(end, s.time);
    items.push({
      group: blockLane(b.executor, b.block),
      lane: "",
      start: s.time,
      end: until,
      cls: "tl-block",
      color: BLOCK_COLORS[s.state] ?? "#999",
      label: `block ${b.block}: ${s.state} for ${formatDuration(until - s.time)}`,
    });
  });
  return items;
}

/** One transfer, grouped by its direction. */
function transferItem(x: TransferDone): Item {
  return {
    group: `transfers ${x.direction}`,
    start: x.startedAt,
    end: Math.max(x.endedAt, x.startedAt),
    cls: "tl-transfer",
    color: x.error ? COLORS.failed! : "#00838f",
    label: `${x.direction === "in" ? "fetch" : "upload"} ${x.url}: ${formatBytes(x.bytes)}${
      x.ms !== undefined ? ` in ${formatDuration(x.ms)}` : ""
    }${x.error ? ` — ${capLines(x.error)}` : ""}`,
  };
}

/** Workers: within each group (executor and host), the fewest lanes where items do not overlap. */
function placeOnLanes(items: readonly Item[]): { bars: Bar[]; laneNames: string[] } {
  const bars: Bar[] = [];
  const groups = new Map<string, Item[]>();
  for (const it of items) {
    const list = groups.get(it.group);
    if (list) list.push(it);
    else groups.set(it.group, [it]);
  }
  const laneNames: string[] = [];
  for (const [group, all] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    // Fixed lanes first (a block, then its workers in order), then the packed ones.
    const fixed = all.filter((it) => it.lane !== undefined);
    const named = (lane: string) => lane === "" ? group : `${group} · ${lane}`;
    const own = [...new Set(fixed.map((it) => it.lane!))].sort(byLaneName);
    laneNames.push(...own.map(named));
    for (const { lane, group: _, ...it } of fixed) bars.push({ ...it, lane: named(lane!) });
    const list = all.filter((it) => it.lane === undefined);
    const first = laneNames.length;
    list.sort((a, b) => a.start - b.start || a.end - b.end);
    const lanes = new Lanes();
    for (const it of list) {
      const lane = lanes.place(it.start, it.end);
      if (lane === laneNames.length - first) laneNames.push(`${group} #${lane + 1}`);
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
  return { bars, laneNames };
}

/** Lane names in order: the block's own ("") first, then `node/2` before `node/10`. */
function byLaneName(a: string, b: string): number {
  return a === b ? 0 : a === "" ? -1 : b === "" ? 1 : a.localeCompare(b, "en", { numeric: true });
}

/** The SVG of bars on their lanes, under a time axis from the first start to the last end. */
function drawTimeline(bars: readonly Bar[], laneNames: readonly string[]): string {
  // A loop, not Math.min(...bars): 100,000 arguments overflow the stack.
  let t0 = Infinity, t1 = -Infinity;
  for (const b of bars) {
    t0 = Math.min(t0, b.start);
    t1 = Math.max(t1, b.end);
  }
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

/**
 * The lanes of one group of the timeline: each bar goes on the lowest-numbered
 * lane free at its start (bars come in order of start). Two heaps, so 100,000
 * bars take no quadratic search.
 */
class Lanes {
  /** Lanes opened so far. */
  count = 0;
  /** Lanes in use, by the end of their last bar. */
  readonly #busy = new Heap<readonly [end: number, lane: number]>((a, b) => a[0] - b[0]);
  /** Lanes free again, by number. */
  readonly #free = new Heap<number>((a, b) => a - b);

  /** The lane of a bar from `start` to `end`. */
  place(start: number, end: number): number {
    for (
      let top = this.#busy.peek();
      top !== undefined && top[0] <= start;
      top = this.#busy.peek()
    ) {
      this.#free.push(this.#busy.pop()![1]);
    }
    const lane = this.#free.pop() ?? this.count++;
    this.#busy.push([end, lane]);
    return lane;
  }
}

/** A binary min-heap. */
class Heap<T> {
  readonly #items: T[] = [];
  constructor(readonly before: (a: T, b: T) => number) {}

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const h = this.#items;
    let i = h.push(item) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (this.before(h[i]!, h[up]!) >= 0) break;
      [h[i], h[up]] = [h[up]!, h[i]!];
      i = up;
    }
  }

  pop(): T | undefined {
    const h = this.#items, top = h[0], last = h.pop();
    if (h.length === 0 || last === undefined) return top;
    h[0] = last;
    for (let i = 0;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && this.before(h[l]!, h[m]!) < 0) m = l;
      if (r < h.length && this.before(h[r]!, h[m]!) < 0) m = r;
      if (m === i) return top;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
