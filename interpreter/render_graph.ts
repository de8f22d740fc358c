/**
 * The plan as a graph: Mermaid and Graphviz DOT, and a Markdown PR comment
 * (summary table plus the Mermaid graph). Fan-outs wider than 20 tasks
 * collapse into one node marked ×N so that big workflows stay readable.
 * @module
 */

import type { Plan, PlanStatus } from "./plan.ts";
import { shortUrl, summaryLine } from "./render_text.ts";

/** Fan-outs wider than this collapse into one node. */
export const COLLAPSE_ABOVE = 20;

interface GraphNode {
  readonly id: string;
  readonly label: string;
  readonly kind: "task" | "group" | "transfer";
}

interface Graph {
  readonly nodes: GraphNode[];
  readonly edges: [string, string][];
}

/** Group tasks and transfers into graph nodes; collapse wide apps. */
function graphOf(plan: Plan): Graph {
  const count = new Map<string, number>();
  for (const t of plan.tasks) count.set(t.app, (count.get(t.app) ?? 0) + 1);
  const nodeOf = new Map<string, string>();
  const nodes: GraphNode[] = [];
  const seen = new Set<string>();
  plan.tasks.forEach((t, i) => {
    const n = count.get(t.app)!;
    if (n > COLLAPSE_ABOVE) {
      const id = `g_${t.app.replace(/[^A-Za-z0-9_]/g, "_")}`;
      if (!seen.has(id)) {
        seen.add(id);
        nodes.push({ id, label: `${t.app} ×${n}`, kind: "group" });
      }
      nodeOf.set(t.id, id);
    } else {
      nodes.push({
        id: `t${i}`,
        label: t.label !== t.id ? `${t.id}\n${t.label}` : t.id,
        kind: "task",
      });
      nodeOf.set(t.id, `t${i}`);
    }
  });
  const edges = new Set<string>();
  for (const t of plan.tasks) {
    for (const d of t.deps) edges.add(`${nodeOf.get(d)}\u0000${nodeOf.get(t.id)}`);
  }
  // A kept output's transfer home starts once its maker succeeded.
  const makers = new Map<string, string>();
  for (const t of plan.tasks) {
    for (const f of t.outputs) if (f.keep?.deliver) makers.set(f.url, t.id);
  }
  // Transfers: one node each, or one per (provider, consumer group) when many.
  const byTarget = new Map<string, { label: string; n: number; id: string }>();
  plan.transfers.forEach((x, i) => {
    const targets = [...new Set(x.consumers.map((c) => nodeOf.get(c)!))];
    const group = targets.length === 1 && targets[0]!.startsWith("g_") &&
      plan.transfers.length > COLLAPSE_ABOVE;
    const key = group ? `${x.direction}:${x.provider}:${targets[0]}` : `x${i}`;
    const entry = byTarget.get(key);
    if (entry) entry.n++;
    else {
      const label = `${x.direction === "in" ? "fetch" : "send"} ${x.provider}\n${
        shortUrl(x.url, plan.workspace)
      }`;
      byTarget.set(key, { label, n: 1, id: `x${byTarget.size}` });
      const maker = x.provider === "kept" ? makers.get(x.url) : undefined;
      if (maker !== undefined) edges.add(`${nodeOf.get(maker)}\u0000x${byTarget.size - 1}`);
      for (const t of targets) {
        edges.add(
          x.direction === "in"
            ? `x${byTarget.size - 1}\u0000${t}`
            : `${t}\u0000x${byTarget.size - 1}`,
        );
      }
    }
  });
  for (const v of byTarget.values()) {
    nodes.push({
      id: v.id,
      label: v.n > 1 ? `${v.label.split("\n")[0]} ×${v.n}` : v.label,
      kind: "transfer",
    });
  }
  return {
    nodes,
    edges: [...edges].map((e) => e.split("\u0000") as [string, string]).filter(([a, b]) => a !== b),
  };
}

function mermaidText(s: string): string {
  return s.replace(/"/g, "#quot;").replace(/\n/g, "<br/>");
}

/** Render a Mermaid flowchart. */
export function renderMermaid(plan: Plan): string {
  const g = graphOf(plan);
  const lines = ["flowchart LR"];
  for (const n of g.nodes) {
    const text = `"${mermaidText(n.label)}"`;
    lines.push(
      `  ${n.id}${
        n.kind === "transfer" ? `[/${text}/]` : n.kind === "group" ? `[[${text}]]` : `[${text}]`
      }`,
    );
  }
  for (const [a, b] of g.edges) lines.push(`  ${a} --> ${b}`);
  return lines.join("\n") + "\n";
}

function dotText(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Render a Graphviz DOT digraph. */
export function renderDot(plan: Plan): string {
  const g = graphOf(plan);
  const lines = [
    `digraph "${dotText(plan.workflow)}" {`,
    "  rankdir=LR;",
    '  node [shape=box, fontname="Helvetica"];',
  ];
  for (const n of g.nodes) {
    const style = n.kind === "transfer"
      ? ", shape=parallelogram"
      : n.kind === "group"
      ? ", shape=box3d"
      : "";
    lines.push(`  ${n.id} [label="${dotText(n.label)}"${style}];`);
  }
  for (const [a, b] of g.edges) lines.push(`  ${a} -> ${b};`);
  lines.push("}");
  return lines.join("\n") + "\n";
}

/** The per-app table's status columns, in the summary line's order. */
const COLUMNS: readonly (readonly [PlanStatus["action"], string])[] = [
  ["run", "to run"],
  ["may-run", "may run"],
  ["cached", "cached"],
  ["dynamic", "expands at run time"],
];

/**
 * Render a Markdown PR comment: summary tables and the Mermaid graph. The
 * per-app table has the summary line's columns: "may run" and "expands at
 * run time" only when some task is so.
 */
export function renderMarkdown(plan: Plan): string {
  const s = plan.summary;
  const shown = { run: true, "may-run": s.mayRun > 0, cached: true, dynamic: s.dynamic > 0 };
  const columns = COLUMNS.filter(([k]) => shown[k]);
  const apps = new Map<string, { counts: Map<string, number>; executor: Set<string> }>();
  for (const t of plan.tasks) {
    const a = apps.get(t.app) ?? { counts: new Map(), executor: new Set() };
    a.counts.set(t.status.action, (a.counts.get(t.status.action) ?? 0) + 1);
    a.executor.add(t.executor);
    apps.set(t.app, a);
  }
  const lines = [
    `### ferry plan: \`${plan.workflow}\``,
    "",
    `**${summaryLine(plan)}**`,
    "",
    `| app | tasks | ${columns.map(([, h]) => h).join(" | ")} | executor |`,
    `| --- | ---: | ${columns.map(() => "---:").join(" | ")} | --- |`,
    ...[...apps].map(([app, a]) =>
      `| \`${app}\` | ${[...a.counts.values()].reduce((x, y) => x + y, 0)} | ${
        columns.map(([k]) => a.counts.get(k) ?? 0).join(" | ")
      } | ${[...a.executor].join(", ")} |`
    ),
    "",
    "| executor | tasks | transfers |",
    "| --- | ---: | ---: |",
    ...Object.entries(s.executors).map(([e, c]) => `| \`${e}\` | ${c.tasks} | ${c.transfers} |`),
    "",
    "```mermaid",
    renderMermaid(plan).trimEnd(),
    "```",
  ];
  return lines.join("\n") + "\n";
}
