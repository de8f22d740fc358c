/**
 * TOML front end: values from npm:smol-toml, positions from a small scanner
 * of our own (smol-toml keeps none), so TOML diagnostics point at lines too.
 * @module
 */

import { parse, TomlDate, TomlError } from "../deps/smol_toml.ts";
import { error, type KeyPath } from "./diagnostic.ts";
import { LineIndex, SourceIndex } from "./source.ts";
import type { Parsed } from "./load_yaml.ts";

/** Parse TOML text into plain data plus a position index. */
export function parseToml(text: string): Parsed {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    const line = e instanceof TomlError ? e.line : 1;
    const column = e instanceof TomlError ? e.column : 1;
    const message = e instanceof RangeError
      ? "the document nests too deeply"
      : String((e as Error).message ?? e).split("\n")[0]!
        .replace(/^Invalid TOML document:\s*/, "").replace(/\.$/, "");
    const code = /already defined|duplicate|overwrite/i.test(message)
      ? "duplicate-key"
      : "toml-syntax";
    const key = /^\s*\[*\s*([^=\]#]+?)\s*[=\]]/.exec(text.split("\n")[line - 1] ?? "")?.[1];
    const why = code === "duplicate-key"
      ? `Cannot define the key ${key ? JSON.stringify(key) : ""} twice: ${message}`
      : `Cannot parse TOML: ${message}`;
    return { index: new SourceIndex(), problems: [{ ...error(code, [], why), line, column }] };
  }
  // Positions are needed only when something is reported: scan for them on demand.
  let scanned: SourceIndex | undefined;
  const lookup = (path: KeyPath) => {
    if (!scanned) {
      scanned = new SourceIndex(undefined, text);
      try {
        new Scanner(text, scanned).document();
      } catch {
        // Positions are a convenience: an input our scanner misreads keeps the
        // positions found so far, and lookups fall back to the nearest ancestor.
      }
    }
    return scanned.exact(path);
  };
  return { value: plain(raw), index: new SourceIndex(lookup, text), problems: [] };
}

/** TOML dates become the strings they were written as, like YAML's core schema. */
function plain(v: unknown): unknown {
  if (v instanceof TomlDate) return v.toISOString();
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

type Path = (string | number)[];

class Scanner {
  #i = 0;
  readonly #lines: LineIndex;
  readonly #aot = new Map<string, number>();

  constructor(readonly text: string, readonly index: SourceIndex) {
    this.#lines = new LineIndex(text);
  }

  #pos(offset: number, exact = false) {
    const p = this.#lines.position(offset);
    return { line: p.line, column: p.column, exact };
  }

  #peek(n = 0): string {
    return this.text[this.#i + n] ?? "";
  }

  #skip(newlines: boolean): void {
    for (;;) {
      const c = this.#peek();
      if (c === " " || c === "\t" || c === "\r" || (newlines && c === "\n")) this.#i++;
      else if (c === "#") { while (this.#i < this.text.length && this.#peek() !== "\n") this.#i++; }
      else return;
    }
  }

  document(): void {
    let table: Path = [];
    while (this.#i < this.text.length) {
      this.#skip(true);
      if (this.#i >= this.text.length) return;
      if (this.#peek() === "[") {
        const array = this.#peek(1) === "[";
        const start = this.#i;
        this.#i += array ? 2 : 1;
        const keys = this.#key();
        this.#i += array ? 2 : 1;
        table = this.#resolve(keys.map((k) => k.name), array);
        this.#keyPrefixes(table, keys, start);
        this.index.setKey(table, this.#pos(keys.at(-1)?.at ?? start));
        this.index.setValue(table, this.#pos(start));
      } else {
        this.#pair(table);
      }
      this.#toLineEnd();
    }
  }

  /** Insert array-of-tables indices into a header path. */
  #resolve(names: string[], array: boolean): Path {
    const out: Path = [];
    names.forEach((name, n) => {
      out.push(name);
      const id = JSON.stringify(out);
      if (array && n === names.length - 1) {
        const next = (this.#aot.get(id) ?? -1) + 1;
        this.#aot.set(id, next);
        out.push(next);
      } else if (this.#aot.has(id)) {
        out.push(this.#aot.get(id)!);
      }
    });
    return out;
  }

  #toLineEnd(): void {
    while (this.#i < this.text.length && this.#peek() !== "\n") {
      const c = this.#peek();
      if (c === "#") this.#skip(false);
      else if (c === '"' || c === "'") this.#string();
      else this.#i++;
    }
  }

  /** Record a key position for every named segment (`[apps.align]` gives apps and apps.align). */
  #keyPrefixes(path: Path, keys: { name: string; at: number }[], valueAt: number): void {
    let k = 0;
    path.forEach((seg, n) => {
      if (typeof seg === "number") return;
      const at = keys[k++]?.at ?? valueAt;
      const sub = path.slice(0, n + 1);
      this.index.setKey(sub, this.#pos(at));
      this.index.setValue(sub, this.#pos(valueAt));
    });
  }

  #pair(table: Path): void {
    const keys = this.#key();
    const path = [...table, ...keys.map((k) => k.name)];
    keys.forEach((k, j) =>
      this.index.setKey([...table, ...keys.slice(0, j + 1).map((x) => x.name)], this.#pos(k.at))
    );
    this.#skip(false);
    if (this.#peek() === "=") this.#i++;
    this.#skip(false);
    this.#value(path);
  }

  #key(): { name: string; at: number }[] {
    const out: { name: string; at: number }[] = [];
    for (;;) {
      this.#skip(false);
      const at = this.#i;
      const c = this.#peek();
      let name: string;
      if (c === '"' || c === "'") name = this.#string().value;
      else {
        const m = /^[A-Za-z0-9_-]+/.exec(this.text.slice(this.#i, this.#i + 256));
        if (!m) throw new Error("bad key");
        name = m[0];
        this.#i += name.length;
      }
      out.push({ name, at });
      this.#skip(false);
      if (this.#peek() !== ".") return out;
      this.#i++;
    }
  }

  #value(path: Path): void {
    const start = this.#i;
    const c = this.#peek();
    if (c === "[") {
      this.index.setValue(path, this.#pos(start));
      this.#i++;
      for (let n = 0;; n++) {
        this.#skip(true);
        if (this.#peek() === "]" || this.#i >= this.text.length) break;
        this.#value([...path, n]);
        this.#skip(true);
        if (this.#peek() === ",") this.#i++;
      }
      this.#i++;
    } else if (c === "{") {
      this.index.setValue(path, this.#pos(start));
      this.#i++;
      for (;;) {
        this.#skip(false);
        if (this.#peek() === "}" || this.#i >= this.text.length) break;
        this.#pair(path);
        this.#skip(false);
        if (this.#peek() === ",") this.#i++;
      }
      this.#i++;
    } else if (c === '"' || c === "'") {
      const s = this.#string();
      this.index.setValue(path, {
        ...this.#pos(start + s.quote, s.exact),
        range: [start, this.#i],
      });
    } else {
      while (this.#i < this.text.length && !/[,\]}\n#]/.test(this.#peek())) this.#i++;
      this.index.setValue(path, { ...this.#pos(start, true), range: [start, this.#i] });
    }
  }

  /** Read a string of any of TOML's four kinds; `exact` when it holds no escapes. */
  #string(): { value: string; quote: number; exact: boolean } {
    const q = this.#peek();
    const multi = this.#peek(1) === q && this.#peek(2) === q;
    const quote = multi ? 3 : 1;
    this.#i += quote;
    const begin = this.#i;
    let value = "";
    let exact = !multi;
    while (this.#i < this.text.length) {
      const c = this.#peek();
      if (q === '"' && c === "\\") {
        exact = false;
        this.#i += 2;
        continue;
      }
      if (c === q && (!multi || (this.#peek(1) === q && this.#peek(2) === q))) {
        while (multi && this.#peek(3) === q) this.#i++; // up to two quotes may end the content
        value = this.text.slice(begin, this.#i);
        this.#i += quote;
        return {
          value: exact || q === "'" ? value : unescapeBasic(value),
          quote,
          exact,
        };
      }
      if (!multi && c === "\n") break;
      this.#i++;
    }
    return { value, quote, exact: false };
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  b: "\b",
  t: "\t",
  n: "\n",
  f: "\f",
  r: "\r",
  '"': '"',
  "\\": "\\",
};

/** Undo TOML basic-string escapes (keys need their real text); unknown escapes stay as written. */
function unescapeBasic(s: string): string {
  return s.replace(
    /\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[btnfr"\\]|[ \t]*\r?\n\s*)/g,
    (m, e: string) => {
      if (e[0] === "u" || e[0] === "U") {
        const cp = parseInt(e.slice(1), 16);
        return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
      }
      return ESCAPES[e] ?? ""; // a line-ending backslash trims the newline and following space
    },
  );
}
