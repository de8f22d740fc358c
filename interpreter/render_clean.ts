/**
 * `ferry clean` for people: one line per directory removed (or that would
 * be, with `--dry-run`) with its size, then the space freed and what was kept.
 * @module
 */

import type { CleanReport } from "./clean.ts";
import { formatBytes } from "./format.ts";

/**
 * The clean report as text.
 *
 * @example
 * ```ts
 * import { renderCleanText } from "./render_clean.ts";
 * import assert from "node:assert/strict";
 * const text = renderCleanText({
 *   workspace: "/ws", dryRun: true, all: false, bytes: 2048, errors: [],
 *   entries: [{ path: ".ferry/runs/r1/tasks", bytes: 2048 }],
 * });
 * assert.equal(
 *   text,
 *   "would remove .ferry/runs/r1/tasks (2.0 KiB)\n" +
 *     "would free 2.0 KiB in /ws; would keep .ferry/state.db and each run's events.jsonl\n",
 * );
 * ```
 */
export function renderCleanText(report: CleanReport): string {
  const { workspace, dryRun, all, stale, entries, bytes } = report;
  if (entries.length === 0) {
    return stale ? `no stale outputs in ${workspace}\n` : `nothing to clean in ${workspace}\n`;
  }
  const verb = dryRun ? "would remove" : "removed";
  const lines = entries.map((e) =>
    `${verb} ${JSON.stringify(e.path).slice(1, -1)} (${formatBytes(e.bytes)}${
      e.path === ".ferry/trash" ? ": what dir: outputs replaced that ferry had not written" : ""
    })`
  );
  const freed = `${dryRun ? "would free" : "freed"} ${formatBytes(bytes)} in ${workspace}`;
  const kept = dryRun ? "would keep" : "kept";
  lines.push(
    all
      ? `${freed}; with the state gone, the next ferry run runs every task`
      : stale
      ? `${freed} (stale outputs: no task produces them any more); ${kept} .ferry/`
      : `${freed}; ${kept} .ferry/state.db and each run's events.jsonl`,
  );
  return lines.join("\n") + "\n";
}
