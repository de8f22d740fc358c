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

  /** @param lookup Finds positions on demand (so big documents are not indexed up front). */
  constructor(lookup?: (path: KeyPath) => NodePositions | undefined) {
    this.#lookup = lookup;
  }

  /** Record where the key at `path` starts. */
  setKey(path: KeyPath, pos: Position): void {
    this.#keys.set(pathKey(path), pos);
  }
  /** Record where the value at `path` starts. */
  setValue(path: KeyPath, pos: Position): void {
    this.#values.set(pathKey(path), pos);
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

/** Decoded text, or why the bytes are not a text file. */
export type Decoded = { readonly text: string } | { readonly why: string; readonly offset: number };

/** Decode UTF-8 strictly; NUL bytes and invalid sequences mean "not a text file". */
export function decodeText(bytes: Uint8Array): Decoded {
  const nul = bytes.indexOf(0);
  if (nul >= 0) return { why: "it contains a NUL byte, so it is not a text file", offset: nul };
  try {
    let text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    // deno-lint-ignore no-control-regex
    const ctl = text.search(/[\u0001-\u0008\u000e-\u001f\u007f]/);
    if (ctl >= 0) {
      return { why: "it contains control characters, so it is not a text file", offset: ctl };
    }
    return { text };
  } catch {
    return { why: "it is not valid UTF-8 text", offset: 0 };
  }
}
