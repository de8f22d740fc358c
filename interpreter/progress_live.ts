/**
 * The live progress display for terminals (done/total, running, failed,
 * elapsed, ETA, the running tasks, transfers in flight), drawn with
 * log-update on standard error. A module of its own so that runs off a
 * terminal never load it.
 * @module
 */

import { createLogUpdate } from "../deps/log_update.ts";
import process from "node:process";
import { visible } from "../dsl/visible.ts";
import { formatBytes, formatDuration } from "./format.ts";
import type { PilotBlock } from "../providers/batch/types.ts";
import {
  blockCounts,
  describeBlock,
  describeOutcome,
  describeTransfer,
  type ProgressIO,
} from "./progress.ts";
import type { RunEvents } from "./run.ts";
import type { TransferEvent } from "./stager.ts";

/** Blocks shown per executor; the rest are counted. */
const BLOCKS_SHOWN = 4;

/**
 * The live display's lines for pilot blocks: per executor its blocks counted by state, then its
 * first blocks each with the tasks it runs and ran.
 *
 * @example
 * ```ts
 * import { blockLines } from "./progress_live.ts";
 * import assert from "node:assert/strict";
 * const b = { id: "7", state: "running" as const, workers: 2, busy: 1, done: 3 };
 * assert.deepEqual(blockLines(new Map([["hpc", [b]]]), (_, s) => s), [
 *   "  ⧉ hpc blocks: 1 running",
 *   "    block 7 running: 1/2 workers busy, 3 tasks done",
 * ]);
 * ```
 */
export function blockLines(
  pilots: ReadonlyMap<string, readonly PilotBlock[]>,
  paint: (c: string, s: string) => string,
): string[] {
  const lines: string[] = [];
  for (const [executor, blocks] of pilots) {
    lines.push(`  ${paint("35", "⧉")} ${visible(executor)} blocks: ${blockCounts(blocks)}`);
    for (const b of blocks.slice(0, BLOCKS_SHOWN)) lines.push(`    block ${describeBlock(b)}`);
    const more = blocks.length - BLOCKS_SHOWN;
    if (more > 0) lines.push(`    … ${more} more block${more === 1 ? "" : "s"}`);
  }
  return lines;
}

/** The live display's lines for the running tasks (the first six) and the transfers in flight. */
function workLines(
  running: ReadonlyMap<string, number>,
  moving: ReadonlyMap<string, TransferEvent>,
  paint: (c: string, s: string) => string,
): string[] {
  const lines = [...running].slice(0, 6).map(([id, since]) =>
    `  ${paint("36", "▸")} ${visible(id)} ${paint("2", formatDuration(Date.now() - since))}`
  );
  if (running.size > 6) lines.push(`  … ${running.size - 6} more`);
  if (moving.size > 0) {
    const bytes = [...moving.values()].reduce((n, e) => n + e.bytes, 0);
    lines.push(`  ${paint("36", "⇅")} ${moving.size} transfer(s), ${formatBytes(bytes)} so far`);
  }
  return lines;
}

/** A live display that redraws in place (for terminals). */
export function liveProgress(io: ProgressIO): RunEvents & { close(): void } {
  // Drawn on standard error, like the lines and the summary, so stdout stays free.
  const logUpdate = createLogUpdate(process.stderr, { showCursor: false });
  let total = 0, done = 0, failed = 0;
  const running = new Map<string, number>();
  const moving = new Map<string, TransferEvent>();
  /** Each executor's pilot blocks, as last told. */
  const pilots = new Map<string, readonly PilotBlock[]>();
  const t0 = Date.now();
  const paint = (c: string, s: string) => (io.color ? `\x1b[${c}m${s}\x1b[0m` : s);
  const draw = () => {
    const elapsed = Date.now() - t0;
    const eta = done > 0 && total > done
      ? `, ETA ${formatDuration((elapsed / done) * (total - done))}`
      : "";
    const lines = [
      `${paint("1", `${done}/${total}`)} done · ${running.size} running · ${
        failed > 0 ? paint("31", `${failed} failed`) : "0 failed"
      } · ${formatDuration(elapsed)}${eta}`,
      ...workLines(running, moving, paint),
      ...blockLines(pilots, paint),
    ];
    logUpdate(lines.join("\n"));
  };
  const timer = setInterval(draw, 100);
  const above = (s: string) => {
    logUpdate.clear();
    io.write(s);
    draw();
  };
  return {
    start(n) {
      total = n;
      draw();
    },
    grow(n) {
      total = n;
    },
    started(task) {
      running.set(task.id, Date.now());
    },
    finished(task, _attempt, o) {
      running.delete(task.id);
      done++;
      if (o.outcome === "cancelled") above(`${paint("33", "•")} ${visible(task.id)}: cancelled\n`);
      else if (o.outcome !== "succeeded") {
        failed++;
        above(`${paint("31", "✗")} ${visible(task.id)}: ${describeOutcome(o)}\n`);
      }
    },
    retrying(task, attempt, delayMs, o) {
      running.delete(task.id);
      above(
        `${paint("33", "↻")} ${visible(task.id)}: attempt ${attempt} failed (${
          describeOutcome(o)
        }); again in ${formatDuration(delayMs)}\n`,
      );
    },
    cached() {
      done++;
    },
    transfer(e) {
      if (e.kind === "finished") {
        moving.delete(e.id);
        if (e.error !== undefined) above(`${paint("31", "✗")} ${describeTransfer(e)}\n`);
      } else moving.set(e.id, e);
    },
    blocks(executor, blocks) {
      if (blocks.length > 0) pilots.set(executor, blocks);
      else pilots.delete(executor);
    },
    close() {
      clearInterval(timer);
      draw();
      logUpdate.done();
    },
  };
}
