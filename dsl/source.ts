/**
 * Source text and positions: decoding a file's bytes safely and mapping key
 * paths to the line and column where each key and value starts.
 * @module
 */

import type { KeyPath } from "./diagnostic.ts";

/** A 1-based position; `exact` means the value's text starts here verbatim. */
export interface Position {
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** The value's characters can be offset into from here (no escapes before). */
  readonly exact?: boolean;
  /** Source offsets [start, end) of the value's text, for finding text inside it. */
  readonly range?: readonly [number, number];
}

/** Line starts of a text, for offset → line/column. */
export class LineIndex {
  readonly #starts: number[] = [0];
  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.#starts.push(i + 1);
  }
  /** 1-based line and column (in UTF-16 units + 1) of a character offset. */
  position(offset: number): { line: number; column: number } {
    let lo = 0, hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.#starts[lo]! + 1 };
  }
}

function pathKey(path: KeyPath): string {
  return path.map(String).join("\u0000");
}

/** Where each key and value of a document starts; lookups fall back to the nearest ancestor. */
export class SourceIndex {
  readonly #keys = new Map<string, Position>();
  readonly #values = new Map<string, Position>();
  readonly #lookup: ((path: KeyPath) => NodePositions | undefined) | undefined;
  readonly #text: string | undefined;
  #lines: LineIndex | undefined;

  /**
   * An index filled with `setKey` and `setValue`, or answered on demand by `lookup`.
   * @param lookup Finds positions on demand (so big documents are not indexed up front).
   * @param text The source text, for finding text inside multi-line values.
   */
  constructor(lookup?: (path: KeyPath) => NodePositions | undefined, text?: string) {
    this.#lookup = lookup;
    this.#text = text;
  }

  /** The positions recorded for exactly `path` (no fallback to ancestors). */
  exact(path: KeyPath): NodePositions | undefined {
    const k = pathKey(path);
    const key = this.#keys.get(k), value = this.#values.get(k);
    if (key === undefined && value === undefined) return this.#lookup?.(path);
    return { ...(key ? { key } : {}), ...(value ? { value } : {}) };
  }

  /** Where the `nth` occurrence of `needle` sits inside the value at `path` (block scalars, multi-line strings). */
  findInValue(path: KeyPath, needle: string, nth: number): Position | undefined {
    const value = this.#values.get(pathKey(path)) ?? this.#lookup?.(path)?.value;
    if (!value?.range || this.#text === undefined || needle === "") return undefined;
    const src = this.#text.slice(value.range[0], value.range[1]);
    let at = -1;
    for (let k = 0; k <= nth; k++) {
      at = src.indexOf(needle, at + 1);
      if (at < 0) return undefined;
    }
    this.#lines ??= new LineIndex(this.#text);
    return this.#lines.position(value.range[0] + at);
  }

  /** Record where the key at `path` starts. */
  setKey(path: KeyPath, pos: Position): void {
    const k = pathKey(path);
    if (!this.#keys.has(k)) this.#keys.set(k, pos); // the first definition is where it was written
  }
  /** Record where the value at `path` starts. */
  setValue(path: KeyPath, pos: Position): void {
    const k = pathKey(path);
    if (!this.#values.has(k)) this.#values.set(k, pos);
  }
  /** The position of `path`'s key or value, else of its nearest recorded ancestor. */
  find(path: KeyPath, at: "key" | "value"): Position | undefined {
    const first = (at === "key" ? this.#keys : this.#values).get(pathKey(path)) ??
      (this.#lookup ? this.#lookup(path)?.[at] : undefined);
    if (first) return first;
    for (let n = path.length; n >= 0; n--) {
      const sub = path.slice(0, n);
      const k = pathKey(sub);
      const found = this.#lookup?.(sub);
      const p = (n === path.length ? undefined : this.#values.get(k) ?? found?.value) ??
        this.#keys.get(k) ?? found?.key ?? this.#values.get(k) ?? found?.value;
      if (p) return { line: p.line, column: p.column };
    }
    return undefined;
  }
}

/** Where a node's key and value start. */
export interface NodePositions {
  /** The key's position (map entries only). */
  readonly key?: Position;
  /** The value's position. */
  readonly value?: Position;
}

/** Decoded text, or why the bytes are not a text file and where (1-based line and column). */
export type Decoded =
  | { readonly text: string }
  | { readonly why: string; readonly line: number; readonly column: number };

/** Byte offset of the first invalid UTF-8 sequence, or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    const n = c < 0x80
      ? 0
      : c >= 0xc2 && c <= 0xdf
      ? 1
      : c >= 0xe0 && c <= 0xef
      ? 2
      : c >= 0xf0 && c <= 0xf4
      ? 3
      : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k]! & 0xc0) !== 0x80) return i;
    if ((c === 0xe0 && b[i + 1]! < 0xa0) || (c === 0xed && b[i + 1]! > 0x9f)) return i; // overlong, surrogates
    if ((c === 0xf0 && b[i + 1]! < 0x90) || (c === 0xf4 && b[i + 1]! > 0x8f)) return i;
    i += n + 1;
  }
  return -1;
}

function positionOfByte(bytes: Uint8Array, byte: number): { line: number; column: number } {
  const before = new TextDecoder().decode(bytes.subarray(0, byte));
  return new LineIndex(before).position(before.length);
}

/** Decode UTF-8 strictly; NUL bytes, control characters and invalid sequences mean "not a text file". */
export function decodeText(bytes: Uint8Array): Decoded {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return { why: "it is UTF-16 text; save it as UTF-8", line: 1, column: 1 };
  }
  const bad = firstInvalidUtf8(bytes);
  const nul = bytes.indexOf(0);
  if (nul >= 0 && (bad < 0 || nul < bad)) {
    return {
      why: "it contains a NUL byte, so it is not a text file",
      ...positionOfByte(bytes, nul),
    };
  }
  if (bad >= 0) return { why: "it is not valid UTF-8 text", ...positionOfByte(bytes, bad) };
  let text = new TextDecoder("utf-8").decode(bytes);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // deno-lint-ignore no-control-regex
  const ctl = text.search(/[\u0001-\u0008\u000e-\u001f\u007f]/);
  if (ctl >= 0) {
    return {
      why: "it contains control characters, so it is not a text file",
      ...new LineIndex(text).position(ctl),
    };
  }
  return { text };
}
