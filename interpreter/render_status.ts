/**
 * `ferry status` for people and for programs: the runs as a table and one
 * run task by task (text), or the same report as JSON with one run and one
 * task per line, so a large run still greps well.
 * @module
 */

import { visible, visibleLines } from "../dsl/visible.ts";
import { formatDuration, formatUsage } from "./format.ts";
import { capLines } from "./log_tail.ts";
import { describeOutcome } from "./progress.ts";
import type { TaskOutcome } from "./run.ts";
import {
  type AttemptStatus,
  type RunDetail,
  type StatusReport,
  TASK_STATES,
  type TaskStatus,
  type TaskStatusState,
} from "./status.ts";

/** Options for {@linkcode renderStatusText}. */
export interface StatusTextOptions {
  /** Use ANSI colours. @default false */
  readonly color?: boolean;
  /** Show at most this many runs in the list (the newest). @default 10 */
  readonly maxRuns?: number;
}

/** `2026-11-21 14:03:01` from an ISO time. */
const when = (iso: string) => iso.replace("T", " ").replace(/(\.\d+)?Z$/, "");

/** Counts as the run summary words them: `3 succeeded, 2 cached, 0 failed, 1 blocked`. */
function countWords(counts: Readonly<Record<TaskStatusState, number>>): string {
  return TASK_STATES
    .filter((s) => s === "succeeded" || s === "failed" || counts[s] > 0)
    .map((s) => `${counts[s]} ${s === "not-run" ? "not run" : s}`)
    .join(", ");
}

/**
 * The report as text: without a run asked for, the runs (newest first) and
 * then the latest run in detail; with one, that run only.
 *
 * @example
 * ```ts
 * import { renderStatusText } from "./render_status.ts";
 * import assert from "node:assert/strict";
 * const text = renderStatusText({ ferryStatus: 1, workspace: "/ws", runs: [] });
 * assert.equal(text, "no runs in /ws yet\n");
 * ```
 */
export function renderStatusText(
  report: StatusReport,
  options: StatusTextOptions = {},
): string {
  const { color = false, maxRuns = 10 } = options;
  const paint = (c: string, s: string) => (color ? `\x1b[${c}m${s}\x1b[0m` : s);
  const lines: string[] = [];
  if (report.runs) {
    if (report.runs.length === 0) return `no runs in ${report.workspace} yet\n`;
    lines.push(`runs in ${report.workspace}, newest first:`);
    const rows = [
      ["RUN", "STATUS", "STARTED (UTC)", "TOOK", "TASKS"],
      ...report.runs.slice(0, maxRuns).map((r) => [
        r.id,
        r.status,
        when(r.startedAt),
        r.durationMs !== undefined ? formatDuration(r.durationMs) : "-",
        countWords(r.counts),
      ]),
    ];
    const widths = rows[0]!.map((_, i) => rows.reduce((w, row) => Math.max(w, row[i]!.length), 0));
    for (const row of rows) {
      lines.push(
        `  ${row.map((c, i) => i < row.length - 1 ? c.padEnd(widths[i]!) : c).join("  ")}`,
      );
    }
    const older = report.runs.length - maxRuns;
    if (older > 0) lines.push(`  (and ${older} older run${older === 1 ? "" : "s"})`);
    lines.push("");
  }
  if (report.run) runLines(lines, report.run, paint);
  if (report.stale) staleLines(lines, report.stale);
  return lines.join("\n") + "\n";
}

/** The stale files, a few of them by name, and how to remove them. */
function staleLines(lines: string[], stale: readonly string[]): void {
  const n = stale.length;
  if (lines.length > 0 && lines.at(-1) !== "") lines.push("");
  lines.push(
    `stale: ${n} file${
      n === 1 ? "" : "s"
    } that earlier glob or dir outputs left and no task produces any more (ferry clean --stale removes ${
      n === 1 ? "it" : "them"
    }):`,
  );
  for (const p of stale.slice(0, 10)) lines.push(`  ${JSON.stringify(p).slice(1, -1)}`);
  if (n > 10) lines.push(`  (and ${n - 10} more: ferry clean --stale --dry-run lists them all)`);
}

const STATUS_COLOR: Readonly<Record<string, string>> = {
  succeeded: "32",
  failed: "31",
  crashed: "31",
  interrupted: "33",
  running: "36",
};

/** Append a run in detail to `lines` (one push per line: a run may have 100,000 tasks). */
function runLines(
  lines: string[],
  run: RunDetail,
  paint: (c: string, s: string) => string,
): void {
  const took = run.durationMs !== undefined
    ? formatDuration(run.durationMs)
    : run.status === "running"
    ? "still running"
    : `unknown: its ferry (pid ${run.pid} on ${run.host}) died; the next ferry run resumes the work`;
  const skipped = run.skippedEventLines ?? 0;
  lines.push(
    `run ${run.id}: ${paint(STATUS_COLOR[run.status] ?? "0", run.status)}`,
    `  workflow: ${run.workflow}`,
    `  started:  ${when(run.startedAt)} UTC by pid ${run.pid} on ${run.host}`,
    `  took:     ${took}`,
    `  tasks:    ${countWords(run.counts)}`,
    `  logs:     ${run.dir}${run.logsKept ? "" : " (attempt directories removed by ferry clean)"}`,
  );
  if (skipped > 0) {
    lines.push(
      `  ${paint("33", "skipped:")}  ${skipped} damaged line${
        skipped === 1 ? "" : "s"
      } of events.jsonl`,
    );
  }
  lines.push("");
  for (const t of run.tasks) taskLines(lines, t, paint);
}

const MARK: Readonly<Record<TaskStatusState, [string, string]>> = {
  succeeded: ["32", "✓"],
  cached: ["32", "✓"],
  failed: ["31", "✗"],
  crashed: ["31", "✗"],
  cancelled: ["33", "✗"],
  blocked: ["33", "-"],
  "not-run": ["2", "-"],
  waiting: ["2", "-"],
  running: ["36", "▸"],
  retrying: ["33", "↻"],
};

/** Why an attempt did not succeed, in the run summary's words. */
function why(a: AttemptStatus): string {
  return describeOutcome({ ...a, startedAt: 0, endedAt: 0, host: "" } as unknown as TaskOutcome);
}

/** ` (job 42)`, ` (block 4711, worker node-a/2)`, both, or nothing: what ran an attempt. */
function ranBy(a: AttemptStatus): string {
  const by = [
    ...(a.jobId !== undefined ? [`job ${visible(a.jobId)}`] : []),
    ...(a.pilot ? [`block ${visible(a.pilot.block)}`, `worker ${visible(a.pilot.worker)}`] : []),
  ];
  return by.length > 0 ? ` (${by.join(", ")})` : "";
}

/** Append a task, its attempts and its stderr's last lines to `lines`. */
function taskLines(
  lines: string[],
  t: TaskStatus,
  paint: (c: string, s: string) => string,
): void {
  const [c, mark] = MARK[t.state];
  const last = t.attempts.at(-1);
  const detail = t.state === "blocked" && t.blockedBy !== undefined
    ? ` by ${visible(t.blockedBy)}`
    : t.state === "failed"
    ? `: ${capLines(visibleLines(t.reason ?? (last ? why(last) : "failed")))}`
    : t.state === "crashed"
    ? ": it was running when its ferry died"
    : t.state === "cached" && t.store !== undefined
    ? `: store ${visible(t.store)}`
    : "";
  lines.push(
    `${paint(c, mark)} ${visible(t.id)}: ${t.state === "not-run" ? "not run" : t.state}${detail}`,
  );
  for (const a of t.attempts) {
    const head = `    attempt ${a.attempt}${ranBy(a)}: `;
    if (a.endedAt === undefined) {
      lines.push(
        `${head}${a.outcome === "running" ? "running since" : "crashed; started"} ${
          when(a.startedAt)
        } UTC`,
      );
    } else {
      const because = a.outcome === "failed" || a.outcome === "timeout" || a.reason !== undefined
        ? ` (${capLines(visibleLines(why(a)))})`
        : "";
      const where = a.host !== undefined ? ` on ${visible(a.host)}` : "";
      lines.push(`${head}${a.outcome}${because} in ${formatDuration(a.durationMs ?? 0)}${where}`);
    }
    // Wall time alone (no spawner) says no more than the line above.
    if (a.usage && a.usage.measuredBy !== "clock") {
      lines.push(`      used:   ${formatUsage(a.usage)}`);
    }
    if (a.stdout !== undefined) lines.push(`      stdout: ${visible(a.stdout)}`);
    if (a.stdoutGone !== undefined) lines.push(`      stdout: gone (was ${visible(a.stdoutGone)})`);
    if (a.stderr !== undefined) lines.push(`      stderr: ${visible(a.stderr)}`);
    if (a.stderrGone !== undefined) lines.push(`      stderr: gone (was ${visible(a.stderrGone)})`);
    if (a.errorLog !== undefined) {
      lines.push(`      log:    ${visible(a.errorLog)} (stderr is empty)`);
    }
    if (a.errorLogGone !== undefined) {
      lines.push(`      log:    gone (was ${visible(a.errorLogGone)})`);
    }
  }
  // A log line is the task's text: it cannot drive the terminal either.
  for (const l of t.stderrTail ?? []) lines.push(`      ${paint("2", "│")} ${visibleLines(l)}`);
}

/**
 * The report as JSON text (`JSON.parse` gives it back): one run and one task
 * per line.
 *
 * @example
 * ```ts
 * import { renderStatusJson } from "./render_status.ts";
 * import assert from "node:assert/strict";
 * const report = { ferryStatus: 1 as const, workspace: "/ws", runs: [] };
 * assert.deepEqual(JSON.parse(renderStatusJson(report)), report);
 * ```
 */
export function renderStatusJson(
  report: StatusReport,
): string {
  const list = (items: readonly unknown[], indent: string) =>
    items.length === 0
      ? "[]"
      : `[\n${items.map((x) => `${indent}  ${JSON.stringify(x)}`).join(",\n")}\n${indent}]`;
  const fields = [
    `  "ferryStatus": ${report.ferryStatus}`,
    `  "workspace": ${JSON.stringify(report.workspace)}`,
  ];
  if (report.runs) fields.push(`  "runs": ${list(report.runs, "  ")}`);
  if (report.run) {
    const { tasks, ...head } = report.run;
    const inner = Object.entries(head).map(([k, v]) =>
      `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`
    );
    inner.push(`    "tasks": ${list(tasks, "    ")}`);
    fields.push(`  "run": {\n${inner.join(",\n")}\n  }`);
  }
  if (report.stale) fields.push(`  "stale": ${list(report.stale, "  ")}`);
  return `{\n${fields.join(",\n")}\n}\n`;
}
