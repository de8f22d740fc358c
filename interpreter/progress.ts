/**
 * Progress for people: on a terminal a live display (done/total, running,
 * failed, elapsed, ETA, the running tasks) drawn with log-update; off a
 * terminal (CI) one plain line per task start and finish; and the summary at
 * the end with, for each failed task, the tail of its stderr and its log path.
 * @module
 */

import { visible, visibleLines } from "../dsl/visible.ts";
import { formatBytes, formatDuration, formatRate } from "./format.ts";
import { capLines, logTail } from "./log_tail.ts";
import type { PilotBlock } from "../providers/batch/types.ts";
import type { PilotBlockChange } from "./engine/types.ts";
import type { RunEvents, RunSummary, TaskOutcome } from "./run.ts";
import type { TransferEvent } from "./stager.ts";

/** Where progress goes. */
export interface ProgressIO {
  /** Write text (no newline added). */
  readonly write: (s: string) => void;
  /** Use ANSI colours. */
  readonly color: boolean;
}

/** Why an attempt failed, in a few words (each line at most 500 characters). */
export function describeOutcome(o: TaskOutcome): string {
  if (o.reason) return capLines(visibleLines(o.reason));
  if (o.message) return capLines(visibleLines(o.message));
  if (o.outcome === "timeout") return "exceeded its walltime and was killed";
  if (o.outcome === "cancelled") return "cancelled";
  if (o.signal) return `killed by ${o.signal}`;
  if (o.exitCode === 127) return "exit code 127 (command not found)";
  if (o.exitCode === 126) return "exit code 126 (not executable)";
  return `exit code ${o.exitCode ?? "?"}`;
}

/** A finished transfer in one line: what moved, how much, how fast. */
export function describeTransfer(e: TransferEvent): string {
  const verb = e.direction === "in" ? (e.reused ? "reused" : "fetched") : "uploaded";
  if (e.error !== undefined) {
    const next = e.fallback !== undefined ? `; falling back to ${visible(e.fallback)}` : "";
    return capLines(visibleLines(e.error + next));
  }
  if (e.reused) return `${verb} ${visible(e.url)} (unchanged, ${formatBytes(e.bytes)})`;
  const ms = e.ms ?? 0;
  const rate = formatRate(e.bytes, ms);
  const tries = (e.attempts ?? 1) > 1 ? `, ${e.attempts} attempts` : "";
  return `${verb} ${visible(e.url)} (${formatBytes(e.bytes)} in ${formatDuration(ms)}${
    rate ? `, ${rate}` : ""
  }${tries})`;
}

/** `2 tasks`, `1 task`. */
const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

/** The states a block is counted in, in the order shown. */
const BLOCK_STATES = ["pending", "running", "idle", "ending"] as const;

/** An executor's blocks counted by state, `1 pending, 2 running` (`no blocks` when it holds none). */
export function blockCounts(blocks: readonly PilotBlock[]): string {
  const parts = BLOCK_STATES.map((s) => [s, blocks.filter((b) => b.state === s).length] as const)
    .filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`);
  return parts.length > 0 ? parts.join(", ") : "no blocks";
}

/**
 * A pilot block in a few words, after the word `block`: `4711 running: 2/4 workers busy, 17 tasks
 * done`; a pending one with its workers, a gone one with the tasks it did.
 */
export function describeBlock(b: PilotBlock | PilotBlockChange): string {
  const id = visible(b.id);
  if (b.state === "pending") return `${id} pending (${count(b.workers, "worker")})`;
  if (b.state === "gone") return `${id} gone: ${count(b.done, "task")} done`;
  return `${id} ${b.state}: ${b.busy}/${count(b.workers, "worker")} busy, ${
    count(b.done, "task")
  } done`;
}

/** One line per task start and finish (for logs and CI). */
export function plainProgress(io: ProgressIO): RunEvents {
  let total = 0, done = 0;
  const paint = (c: string, s: string) => (io.color ? `\x1b[${c}m${s}\x1b[0m` : s);
  return {
    start(n) {
      total = n;
    },
    grow(n) {
      total = n;
    },
    started(task, attempt) {
      io.write(
        `[${done}/${total}] start ${visible(task.id)}${
          attempt > 1 ? ` (attempt ${attempt})` : ""
        }\n`,
      );
    },
    finished(task, attempt, o) {
      done++;
      const took = formatDuration(o.endedAt - o.startedAt);
      if (o.outcome === "succeeded") {
        io.write(`[${done}/${total}] ${paint("32", "done")}  ${visible(task.id)} ${took}\n`);
      } else if (o.outcome === "cancelled") {
        io.write(`[${done}/${total}] ${paint("33", "cancelled")} ${visible(task.id)}\n`);
      } else {io.write(
          `[${done}/${total}] ${paint("31", o.outcome === "timeout" ? "timeout" : "FAILED")} ${
            visible(task.id)
          }${attempt > 1 ? ` (attempt ${attempt})` : ""}: ${describeOutcome(o)}\n`,
        );}
    },
    retrying(task, attempt, delayMs, o) {
      io.write(
        `[${done}/${total}] ${paint("33", "retry")} ${
          visible(task.id)
        }: attempt ${attempt} failed (${describeOutcome(o)}); again in ${
          formatDuration(delayMs)
        }\n`,
      );
    },
    cached() {
      done++; // counted, not printed: a re-run of 10,000 cached tasks stays quiet
    },
    transfer(e) {
      if (e.kind !== "finished") return;
      const tag = e.fallback !== undefined
        ? paint("33", "FALLBACK")
        : e.error !== undefined
        ? paint("31", "FAILED")
        : paint("36", e.direction);
      io.write(`[${done}/${total}] ${tag} ${describeTransfer(e)}\n`);
    },
    blocks(executor, blocks, changes) {
      // A line per change of a block's state, not per task it runs.
      const all = `${visible(executor)}: ${blockCounts(blocks)}`;
      for (const c of changes) {
        io.write(`[${done}/${total}] ${paint("35", "block")} ${describeBlock(c)}; ${all}\n`);
      }
    },
  };
}

/** No progress at all (`--quiet`). */
export function quietProgress(): RunEvents {
  const nothing = () => {};
  return { start: nothing, grow: nothing, started: nothing, finished: nothing, retrying: nothing };
}

/** Failed tasks the summary shows with their logs' last lines. */
const MAX_FAILURES_SHOWN = 20;

/** The summary printed after a run. */
export async function renderSummary(s: RunSummary, color: boolean): Promise<string> {
  const paint = (c: string, x: string) => (color ? `\x1b[${c}m${x}\x1b[0m` : x);
  const count = (state: string) => [...s.states.values()].filter((x) => x === state).length;
  const lines: string[] = [];
  const failed = [...s.states].filter(([, st]) => st === "failed");
  // The first failures in full; a run where 10,000 tasks failed reads 20 logs, not 10,000.
  for (const [id] of failed.slice(0, MAX_FAILURES_SHOWN)) {
    const o = s.outcomes.get(id);
    lines.push(
      `${paint("31", "✗")} ${paint("1", visible(id))}: ${o ? describeOutcome(o) : "failed"}`,
    );
    const log = o?.errorLog ?? o?.stderrPath;
    if (log) {
      // A log line is the task's text: it cannot drive the terminal either.
      for (const l of await logTail(log)) lines.push(`    ${paint("2", "│")} ${visibleLines(l)}`);
      lines.push(`    full log: ${visible(log)}`);
    }
  }
  const more = failed.length - MAX_FAILURES_SHOWN;
  if (more > 0) lines.push(`${paint("31", "✗")} and ${more} more failed: ferry status lists them`);
  const blocked = [...s.states].filter(([, st]) => st === "blocked").map(([id]) => visible(id));
  if (blocked.length > 0) {
    const shown = blocked.length > 10
      ? `${blocked.slice(0, 10).join(", ")} and ${blocked.length - 10} more`
      : blocked.join(", ");
    const why = s.storeOnly ? "not in the store, or after a task that is not" : "an input failed";
    lines.push(`${paint("33", "blocked")} (${why}): ${shown}`);
  }
  const parts = [
    `${count("succeeded")} succeeded`,
    ...(count("cached") ? [`${count("cached")} cached`] : []),
    `${count("failed")} failed`,
    ...(count("blocked") ? [`${count("blocked")} blocked`] : []),
    ...(count("cancelled") ? [`${count("cancelled")} cancelled`] : []),
    ...(count("waiting") ? [`${count("waiting")} not run`] : []),
  ];
  const head = s.interrupted
    ? paint("33", "interrupted")
    : failed.length
    ? paint("31", "failed")
    : paint("32", "done");
  lines.push(`${head}: ${parts.join(", ")} in ${formatDuration(s.wallMs)}`);
  const t = s.transfers;
  if (t && t.fetched + t.reused + t.uploaded + t.failed + t.fellBack > 0) {
    const bits = [
      ...(t.fetched ? [`${t.fetched} fetched`] : []),
      ...(t.reused ? [`${t.reused} reused`] : []),
      ...(t.uploaded ? [`${t.uploaded} uploaded`] : []),
      ...(t.fellBack ? [paint("33", `${t.fellBack} fell back to another replica`)] : []),
      ...(t.failed ? [paint("31", `${t.failed} failed`)] : []),
    ];
    lines.push(`transfers: ${bits.join(", ")}, ${formatBytes(t.bytes)} moved`);
  }
  return lines.join("\n") + "\n";
}
