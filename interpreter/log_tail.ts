/**
 * The end of a task's log, as the run summary, `ferry status` and `ferry
 * report` show it: read from the end of the file (a bounded number of bytes,
 * however big the log), and every line shown capped in length, so a task
 * that wrote 200 MB to stderr shows a few short lines.
 * @module
 */

/** The longest line shown, in characters. */
export const MAX_LINE_CHARS = 500;

const encoder = new TextEncoder();

/**
 * `line` as shown: at most `max` characters, the rest replaced by a marker
 * saying how many bytes were left out.
 *
 * @example
 * ```ts
 * import { capLine } from "./log_tail.ts";
 * import assert from "node:assert/strict";
 * assert.equal(capLine("short"), "short");
 * assert.equal(capLine("abcdef", 4), "abcd… (2 more bytes)");
 * ```
 */
export function capLine(line: string, max: number = MAX_LINE_CHARS): string {
  if (line.length <= max) return line;
  return `${line.slice(0, max)}… (${encoder.encode(line.slice(max)).length} more bytes)`;
}

/** Each line of `text` capped with {@linkcode capLine}. */
export function capLines(text: string, max: number = MAX_LINE_CHARS): string {
  return text.length <= max ? text : text.split("\n").map((l) => capLine(l, max)).join("\n");
}

/** Options for {@linkcode logTail}. */
export interface LogTailOptions {
  /** Lines kept. @default 10 */
  readonly lines?: number;
  /** Bytes read from the end of the file, at most. @default 65536 */
  readonly maxBytes?: number;
  /** Characters shown of each line. @default 500 */
  readonly maxLineChars?: number;
}

/**
 * The last lines of the log at `path`, read from at most `maxBytes` at its
 * end, each capped; none when the file does not exist (any more). When even
 * the last line began before those bytes, its end is shown after a marker.
 *
 * @example
 * ```ts
 * import { logTail } from "./log_tail.ts";
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/err.log`, "one\ntwo\nthree\n");
 * assert.deepEqual(await logTail(`${dir}/err.log`, { lines: 2 }), ["two", "three"]);
 * Deno.writeTextFileSync(`${dir}/big.log`, "x".repeat(100_000) + " boom\n");
 * assert.deepEqual(await logTail(`${dir}/big.log`, { maxBytes: 20, maxLineChars: 10 }), [
 *   "… (99995 earlier bytes) xxxxx boom",
 * ]);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function logTail(path: string, options: LogTailOptions = {}): Promise<string[]> {
  const { lines = 10, maxBytes = 65_536, maxLineChars = MAX_LINE_CHARS } = options;
  if (lines <= 0) return [];
  let read: Awaited<ReturnType<typeof readEnd>>;
  try {
    read = await readEnd(path, maxBytes);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    return [`(cannot read ${path}: ${(e as Error).message})`];
  }
  const text = new TextDecoder().decode(read.bytes).trimEnd();
  if (text === "") return [];
  const all = text.split("\n");
  // Bytes were read from the middle of a line: the first line read is only the end of one.
  const partial = read.midLine ? all.shift()! : undefined;
  const shown = all.slice(-lines).map((l) => capLine(l, maxLineChars));
  if (shown.length > 0 || partial === undefined) return shown;
  const end = partial.slice(-maxLineChars);
  const before = read.start + encoder.encode(partial).length - encoder.encode(end).length;
  return [`… (${before} earlier bytes) ${end}`];
}

/**
 * The text of at most the last `maxBytes` of the log at `path` (its first line
 * may be the end of one); "" when the file does not exist.
 *
 * @example
 * ```ts
 * import { logEnd } from "./log_tail.ts";
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/err.log`, "one\ntwo\n");
 * assert.equal(await logEnd(`${dir}/err.log`, 5), "\ntwo\n");
 * assert.equal(await logEnd(`${dir}/none.log`), "");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function logEnd(path: string, maxBytes = 65_536): Promise<string> {
  try {
    return new TextDecoder().decode((await readEnd(path, maxBytes)).bytes);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
}

/**
 * At most `maxBytes` from the end of the file, where they start, and whether
 * they start in the middle of a line (the byte before them is not a newline).
 */
async function readEnd(
  path: string,
  maxBytes: number,
): Promise<{ start: number; bytes: Uint8Array; midLine: boolean }> {
  using file = await Deno.open(path);
  const { size } = await file.stat();
  const start = Math.max(0, size - maxBytes);
  const from = Math.max(0, start - 1);
  await file.seek(from, Deno.SeekMode.Start);
  const bytes = new Uint8Array(size - from);
  let got = 0;
  while (got < bytes.length) {
    const n = await file.read(bytes.subarray(got));
    if (n === null) break; // shortened while being read
    got += n;
  }
  const skip = start - from;
  return {
    start,
    bytes: bytes.subarray(skip, Math.max(skip, got)),
    midLine: skip > 0 && bytes[0] !== 0x0a,
  };
}
