/**
 * `ferry state check` and `ferry state repair` for people: whether the state
 * is sound, SQLite's findings, and table by table what is readable (or was
 * kept) and what losing the rest means.
 * @module
 */

import { shellQuote } from "../providers/_shared/shell.ts";
import { dirname } from "node:path";
import {
  STATE_TABLES,
  type StateCheck,
  type StateRepair,
  type TableSalvage,
} from "./state_repair.ts";

/** At most this many of SQLite's findings are shown. */
const MAX_PROBLEMS = 10;

/**
 * The check as text.
 *
 * @example
 * ```ts
 * import { renderStateCheck } from "./render_state.ts";
 * import assert from "node:assert/strict";
 * const tables = ["runs", "attempts", "successes", "file_hashes"]
 *   .map((table) => ({ table, rows: 1, damagedParts: 0, lostAtMost: 0 }));
 * assert.equal(
 *   renderStateCheck({ path: "/ws/.ferry/state.db", sound: true, problems: [], tables }),
 *   "/ws/.ferry/state.db is sound: 1 run, 1 attempt, 1 success, 1 file hash\n",
 * );
 * ```
 */
export function renderStateCheck(check: StateCheck): string {
  if (check.sound) return `${check.path} is sound: ${counts(check.tables)}\n`;
  const lines = [...damaged(check), "still readable:"];
  const width = Math.max(...check.tables.map((t) => t.table.length));
  for (const t of check.tables) {
    lines.push(`  ${t.table.padEnd(width)}  ${rows(t.rows)}${loss(t, "unreadable")}`);
  }
  const ws = shellQuote(dirname(dirname(check.path)));
  lines.push(
    `to recover: "ferry state repair -w ${ws}" keeps what is readable (the damaged file is backed up), or "ferry clean --all -w ${ws}" forgets every run`,
  );
  return lines.join("\n") + "\n";
}

/** The repair as text. */
export function renderStateRepair(repair: StateRepair): string {
  if (repair.backup === undefined) return `${repair.path} is sound: nothing to repair\n`;
  const lines = [...damaged(repair), `backed up the damaged state to ${repair.backup}`];
  const width = Math.max(...repair.tables.map((t) => t.table.length));
  for (const t of repair.tables) {
    lines.push(`kept ${t.table.padEnd(width)}  ${rows(t.rows)}${loss(t, "lost")}`);
  }
  const lost = repair.tables.some((t) => t.lostAtMost !== 0);
  lines.push(
    `repaired ${repair.path}: ${
      lost ? "every readable row kept" : "every row kept, the damaged pages rebuilt"
    }`,
  );
  return lines.join("\n") + "\n";
}

/** The first lines: damaged, and SQLite's findings. */
function damaged(check: StateCheck): string[] {
  const n = check.problems.length;
  const lines = [
    `${check.path} is damaged: SQLite's integrity check found ${n} problem${n === 1 ? "" : "s"}`,
  ];
  for (const p of check.problems.slice(0, MAX_PROBLEMS)) lines.push(`  ${p}`);
  if (n > MAX_PROBLEMS) lines.push(`  … and ${n - MAX_PROBLEMS} more`);
  return lines;
}

/** `3 runs, 120 attempts, 1 success, 300 file hashes`. */
function counts(tables: readonly TableSalvage[]): string {
  const noun: Record<string, [string, string]> = {
    runs: ["run", "runs"],
    attempts: ["attempt", "attempts"],
    successes: ["success", "successes"],
    file_hashes: ["file hash", "file hashes"],
  };
  return tables.map((t) => {
    const [one, many] = noun[t.table] ?? [t.table, t.table];
    return `${t.rows} ${t.rows === 1 ? one : many}`;
  }).join(", ");
}

function rows(n: number): string {
  return `${n} row${n === 1 ? "" : "s"}`;
}

/** What a table lost (or could not give), and what that means; empty when nothing. */
function loss(t: TableSalvage, word: "lost" | "unreadable"): string {
  const means = STATE_TABLES[t.table] ?? "";
  if (t.lostAtMost === undefined) return `; the rest of the table ${word} (${means})`;
  if (t.lostAtMost === 0) return "";
  return `; up to ${rows(t.lostAtMost)} ${word} (${means})`;
}
