/**
 * The plan for people: tasks grouped by app, every file with how it reaches
 * the task and the path the task sees, large fan-outs summarised, and a
 * summary line of tasks and transfers per executor.
 * @module
 */

import { visible } from "../dsl/visible.ts";
import { safeDecode, workspaceRelative } from "./urls.ts";
import type { Plan, PlanFallback, PlanFile, PlanStatus, PlanSummary, PlanTask } from "./plan.ts";
import { scaledDownText } from "./resources.ts";

/** Options for {@linkcode renderPlanText}. */
export interface TextOptions {
  /** Show at most this many tasks per app; the rest are counted. @default 10 */
  readonly maxTasksPerApp?: number;
  /** Use ANSI colours. @default false */
  readonly color?: boolean;
}

/**
 * A URL as people read it: workspace files relative to the workspace, control characters escaped
 * (a file name cannot drive the terminal).
 */
export function shortUrl(url: string, workspace: string): string {
  const rel = workspaceRelative(url, workspace);
  if (rel !== undefined) return visible(rel);
  return visible(url.startsWith("file://") ? safeDecode(url.slice("file://".length)) : url);
}

function how(f: PlanFile): string {
  const made = f.kept && `made by task ${visible(f.kept.task)}`;
  if (f.kept && f.provider === "kept") return `in place on ${visible(f.kept.executor)}, ${made}`;
  if (f.endpoint !== undefined) {
    return `${f.local !== undefined ? "moved into place" : "in place"}, endpoint ${
      visible(f.endpoint)
    }`;
  }
  const rule = f.rule === "default" ? "default" : `rule ${f.rule + 1}`;
  const kind = f.staging === "transfer" ? " transfer" : f.staging === "wrap" ? " on the node" : "";
  const from = f.kept ? `, after its transfer from ${visible(f.kept.executor)} (${made})` : "";
  return `${f.provider}${kind}, ${rule}${from}`;
}

function fileLines(t: PlanTask, workspace: string): string[] {
  const rows: [string, string, string, string][] = [];
  const notes = new Map<number, string[]>();
  for (const f of t.inputs) {
    rows.push(["in", f.name, shortUrl(f.url, workspace), `${how(f)} → ${visible(f.path)}`]);
    const note = [
      ...(f.hops
        ? f.hops.map((h, i) =>
          `        ${i === 0 ? "through" : "then"} ${visible(h.path)} (hop ${i + 1}: ${
            visible(h.transfer)
          })`
        )
        : f.via
        ? [`        through ${visible(f.via.path)} (first hop: ${visible(f.via.transfer)})`]
        : []),
      ...(f.replicas ? replicaLines(f, workspace) : []),
      // Fetched on the node: the job wrapper (or ferry) tries the other replicas in this order.
      ...(f.fallbacks?.length
        ? [`        on the node; if it fails, ${fallbackText(f.fallbacks)}`]
        : []),
    ];
    if (note.length > 0) notes.set(rows.length - 1, note);
  }
  for (const f of t.outputs) {
    const dyn = f.dynamic ? ` (${f.dynamic}, known after the task ran)` : f.temp ? " (temp)" : "";
    const to = f.url.startsWith("file:") ? shortUrl(f.url, "") : visible(f.url);
    const moved = f.local !== undefined ? `${visible(f.local)} (${visible(f.url)})` : undefined;
    const keep = f.keep;
    const tail = keep === undefined
      ? `${how(f)} → ${moved ?? to}`
      : `kept on ${visible(keep.executor)} for ${keep.readers.map(visible).join(", ")}${
        keep.deliver ? `, then its transfer → ${to}` : ", never copied to the workspace"
      }`;
    rows.push(["out", f.name, visible(f.path) + dyn, tail]);
  }
  const w1 = Math.max(0, ...rows.map((r) => r[1].length));
  return rows.flatMap(([dir, name, what, tail], i) => [
    `    ${dir.padEnd(3)} ${name.padEnd(w1)}  ${what}  ⇒ ${tail}`,
    ...(notes.get(i) ?? []),
  ]);
}

/** The replicas fetched in turn when a transfer fails: `http URL, then https URL`. */
function fallbackText(fallbacks: readonly PlanFallback[]): string {
  return fallbacks.map((b) => `${b.provider} ${visible(b.url)}`).join(", then ");
}

const REACH_TEXT: Readonly<Record<string, string>> = {
  "in-place": "in place",
  "same-site": "same site",
  transfer: "transfer",
};

/** A logical file's replicas under its line: which one the task uses, and how it reaches each. */
function replicaLines(f: PlanFile, workspace: string): string[] {
  const out = [`        replicas of ${visible(f.logical ?? f.name)}:`];
  for (const r of f.replicas ?? []) {
    const site = r.site !== undefined ? ` @${visible(r.site)}` : "";
    const reach = r.reach === "unusable"
      ? `unusable: ${visible(r.why ?? "")}`
      : REACH_TEXT[r.reach];
    out.push(
      `          ${r.chosen ? "✓" : " "} ${shortUrl(r.url, workspace)}${site}  (${reach}${
        r.chosen ? ", used" : ""
      })`,
    );
  }
  return out;
}

/** A task's status as the plan shows it: `run: new`, `may run: prep runs first`, `cached`. */
export function statusText(s: PlanStatus): string {
  switch (s.action) {
    case "cached":
      return s.reason === "cached" ? "cached" : `cached: ${s.reason}`;
    case "dynamic":
      return visible(s.reason);
    case "may-run":
      return `may run: ${visible(s.reason)}`;
    case "run":
      return `run: ${visible(s.reason)}`;
  }
}

const STATUS_COLOR: Readonly<Record<PlanStatus["action"], string>> = {
  run: "33",
  "may-run": "36",
  cached: "32",
  dynamic: "35",
};

function taskBlock(
  t: PlanTask,
  workspace: string,
  paint: (c: string, s: string) => string,
): string[] {
  const label = t.label !== t.id ? `  "${visible(t.label)}"` : "";
  const status = paint(STATUS_COLOR[t.status.action], statusText(t.status));
  const out = [`  ${paint("1", visible(t.id))}${label}  [${status}]`];
  if (t.deps.length > 0) {
    const shown = t.deps.length > 6
      ? `${t.deps.slice(0, 5).map(visible).join(", ")} and ${t.deps.length - 5} more`
      : t.deps.map(visible).join(", ");
    out.push(`    after ${shown}`);
  }
  for (const l of scaledDownText(t.resources, t.scaledDown, t.executor)) {
    out.push(`    ${visible(l)}`);
  }
  if (t.placement !== undefined) {
    out.push(`    placed on ${visible(t.executor)}: ${visible(t.placement.reason)}`);
  }
  if (t.scratch !== undefined) {
    out.push(
      `    runs in node-local scratch ${t.scratch}/ferry/<task>/: relative paths below are there`,
    );
  }
  if (t.container !== undefined) {
    const c = t.container;
    const id = c.identity !== c.image ? `, image ${visible(c.identity)}` : "";
    out.push(`    in container ${visible(c.image)} (${c.engine ?? "no runtime"}${id})`);
  }
  if (t.expandsAfter) {
    out.push(
      `    expands into one task per file of ${t.expandsAfter.app}.${t.expandsAfter.output} once it is known`,
    );
  }
  for (const l of fileLines(t, workspace)) out.push(l); // a gather may list 100,000 files
  return out;
}

/** Render a plan as text. */
export function renderPlanText(plan: Plan, options: TextOptions = {}): string {
  const { maxTasksPerApp = 10, color = false } = options;
  const paint = (c: string, s: string) => (color ? `\x1b[${c}m${s}\x1b[0m` : s);
  const byApp = new Map<string, PlanTask[]>();
  for (const t of plan.tasks) {
    const list = byApp.get(t.app) ?? [];
    list.push(t);
    byApp.set(t.app, list);
  }
  const lines = [
    `Plan for workflow "${visible(plan.workflow)}" in ${shortUrl(plan.workspace, "")}`,
    "",
  ];
  for (const [app, tasks] of byApp) {
    const executors = [...new Set(tasks.map((t) => t.executor))].join(", ");
    const vars = Object.keys(tasks[0]!.bindings);
    const fan = vars.length > 0 ? `, for_each ${vars.join(" × ")}` : "";
    lines.push(
      paint("1;36", `${app}`) +
        ` · ${tasks.length} task${tasks.length === 1 ? "" : "s"} on ${executors}${fan}`,
    );
    const shown = tasks.length <= maxTasksPerApp
      ? tasks
      : [...tasks.slice(0, 3), ...tasks.slice(-1)];
    shown.forEach((t, i) => {
      if (tasks.length > maxTasksPerApp && i === 3) {
        const hidden = tasks.slice(3, -1);
        const reasons = new Map<string, number>();
        for (const h of hidden) {
          const k = statusText(h.status);
          reasons.set(k, (reasons.get(k) ?? 0) + 1);
        }
        const summary = [...reasons].map(([k, n]) => `${k} ×${n}`).join(", ");
        lines.push(`  … ${hidden.length} more tasks like these [${summary}]`);
      }
      for (const l of taskBlock(t, plan.workspace, paint)) lines.push(l);
    });
    lines.push("");
  }
  if (plan.transfers.length > 0) {
    lines.push(paint("1;36", "transfers") + ` · ${plan.transfers.length}`);
    const shown = plan.transfers.length <= maxTasksPerApp * 2
      ? plan.transfers
      : plan.transfers.slice(0, maxTasksPerApp);
    for (const x of shown) {
      const who = x.consumers.length > 3
        ? `${x.consumers.slice(0, 2).map(visible).join(", ")} and ${x.consumers.length - 2} more`
        : x.consumers.length > 0
        ? x.consumers.map(visible).join(", ")
        : "the workspace";
      const url = x.provider === "kept"
        ? `${shortUrl(x.url, plan.workspace)} on ${visible(x.executor)}`
        : visible(x.url);
      const path = visible(x.path);
      const arrow = x.direction === "in" ? `${url} → ${path}` : `${path} → ${url}`;
      const after = x.after !== undefined ? `after ${visible(x.after)}, ` : "";
      const fallback = x.fallbacks?.length ? `; if it fails, ${fallbackText(x.fallbacks)}` : "";
      lines.push(
        `  ${x.direction.padEnd(3)} ${
          x.provider.padEnd(6)
        } ${arrow}  (${after}${x.storage}, for ${who}${fallback})`,
      );
    }
    if (shown.length < plan.transfers.length) {
      lines.push(`  … ${plan.transfers.length - shown.length} more transfers`);
    }
    lines.push("");
  }
  lines.push(summaryLine(plan));
  return lines.join("\n") + "\n";
}

/**
 * How many tasks run, may run, are cached and expand at run time (each task
 * in one of them; the last two only when there are any):
 * `5 to run, 1 may run, 0 cached, 1 expands at run time`. The plan's summary
 * line and the first line of `ferry run` say it the same way.
 */
export function statusCounts(s: PlanSummary): string {
  return [
    `${s.run} to run`,
    ...(s.mayRun > 0 ? [`${s.mayRun} may run`] : []),
    `${s.cached} cached`,
    ...(s.dynamic > 0 ? [`${s.dynamic} expand${s.dynamic === 1 ? "s" : ""} at run time`] : []),
  ].join(", ");
}

/** `7 tasks (6 to run, 0 cached, 1 expands at run time) · 4 transfers · cluster: 3 tasks, 3 transfers · local: …` */
export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  const n = (k: number, w: string) => `${k} ${w}${k === 1 ? "" : "s"}`;
  const per = Object.entries(s.executors).map(([e, c]) =>
    `${e}: ${n(c.tasks, "task")}, ${n(c.transfers, "transfer")}`
  );
  return [
    `${n(s.tasks, "task")} (${statusCounts(s)})`,
    n(s.transfers, "transfer"),
    ...per,
  ].join(" · ");
}
