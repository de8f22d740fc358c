/**
 * The one reader of a run's event log: streams `events.jsonl` line by line
 * (memory bounded by the longest line, not the file) and hands each event to
 * the caller. A damaged line (not JSON, `null`, zeros from a crash, a line
 * longer than any ferry writes) is skipped and counted, never a crash.
 * @module
 */

import { isRunEvent, type RunEvent } from "./events.ts";

/** What reading a log found. */
export interface EventLogStats {
  /** Events handed over. */
  readonly events: number;
  /** Damaged lines skipped. */
  readonly damaged: number;
  /**
   * The last line has no newline and does not parse: ferry was writing it, or
   * died doing so. Not counted in `damaged` (a live run's log often ends so).
   */
  readonly torn: boolean;
}

/** Options for {@linkcode readEventLog}. */
export interface ReadEventLogOptions {
  /** A longer line is damaged (skipped without being held in memory). @default 64 MiB */
  readonly maxLineBytes?: number;
  /** Bytes read at a time. @default 1 MiB */
  readonly chunkBytes?: number;
}

/** How {@linkcode readEventLog} sorts lines, one at a time. */
class LineSorter {
  events = 0;
  damaged = 0;
  constructor(readonly onEvent: (e: RunEvent) => void, readonly maxLine: number) {}

  /** A whole line: an event, a blank line (ignored), or damaged. */
  line(text: string): void {
    if (text.length > this.maxLine) {
      this.damaged++;
      return;
    }
    if (text.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
      this.damaged++;
      return;
    }
    if (!isRunEvent(value)) {
      this.damaged++;
      return;
    }
    this.events++;
    this.onEvent(value);
  }
}

/**
 * Read the event log at `path`, calling `onEvent` for each event in order. A
 * log that does not exist (a run that died before writing one) has no events.
 *
 * @example
 * ```ts
 * import { readEventLog } from "./events_reader.ts";
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * const path = `${dir}/events.jsonl`;
 * Deno.writeTextFileSync(path, '{"time":1,"event":"cached","task":"a"}\nnull\n{"time":2,"ev');
 * const tasks: string[] = [];
 * const stats = await readEventLog(path, (e) => {
 *   if (e.event === "cached") tasks.push(e.task);
 * });
 * assert.deepEqual(tasks, ["a"]);
 * assert.deepEqual(stats, { events: 1, damaged: 1, torn: true });
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function readEventLog(
  path: string,
  onEvent: (e: RunEvent) => void,
  options: ReadEventLogOptions = {},
): Promise<EventLogStats> {
  const { maxLineBytes = 64 * 1024 * 1024, chunkBytes = 1024 * 1024 } = options;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { events: 0, damaged: 0, torn: false };
    throw e;
  }
  const sorter = new LineSorter(onEvent, maxLineBytes);
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(chunkBytes);
  // The start of a line whose end is not read yet; `overlong` once it grew past the limit
  // and was dropped (the rest of it is dropped up to its newline).
  let carry = "", overlong = false;
  try {
    for (;;) {
      const n = await file.read(buffer);
      if (n === null) break;
      const text = carry + decoder.decode(buffer.subarray(0, n), { stream: true });
      let start = 0;
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
        if (overlong) sorter.damaged++;
        else sorter.line(text.slice(start, nl));
        overlong = false;
        start = nl + 1;
      }
      carry = text.slice(start);
      // Counted in characters: never more than its bytes, so a line past the limit is too long.
      if (carry.length > maxLineBytes) {
        carry = "";
        overlong = true;
      }
    }
  } finally {
    file.close();
  }
  carry += decoder.decode();
  let torn = false;
  if (overlong) sorter.damaged++;
  else if (carry.trim() !== "") {
    // A last line without its newline is still an event when it parses whole.
    const before = sorter.damaged;
    sorter.line(carry);
    if (sorter.damaged > before) {
      sorter.damaged--;
      torn = true;
    }
  }
  return { events: sorter.events, damaged: sorter.damaged, torn };
}
