/**
 * Loading: read a workflow or site file (YAML or TOML, chosen by extension)
 * into one raw document with positions, refusing what is not a text mapping.
 * @module
 */

import { type Diagnostic, error, type Problem } from "./diagnostic.ts";
import { decodeText, type SourceIndex } from "./source.ts";
import { type Parsed, parseYaml } from "./load_yaml.ts";
import { parseToml } from "./load_toml.ts";
import { irregularKind } from "./file_kind.ts";

/** The formats ferry reads. */
export type Format = "yaml" | "toml";

/** A file read and parsed: plain data plus where each key sits. */
export interface RawDocument {
  /** The file name as the user gave it (used in diagnostics). */
  readonly file: string;
  /** Which syntax it was written in. */
  readonly format: Format;
  /** The source text (for carets under diagnostics). */
  readonly text: string;
  /** The top-level mapping as plain data. */
  readonly value: Record<string, unknown>;
  /** Key and value positions. */
  readonly index: SourceIndex;
}

/** A loading problem, positioned directly (there may be no index yet). */
export type LoadProblem = Problem & { readonly line: number; readonly column: number };

/** The result of loading: a document, or the problems that stopped it. */
export interface LoadResult {
  /** The document, when the file parsed into a mapping. */
  readonly document?: RawDocument;
  /** The source text when it could be decoded, for carets. */
  readonly text?: string;
  /** Problems found while reading and parsing. */
  readonly problems: readonly LoadProblem[];
}

/** Pick the format from a file name: `.toml` is TOML, `.yaml`/`.yml` YAML. */
export function formatOf(file: string): Format | undefined {
  const lower = file.toLowerCase();
  if (lower.endsWith(".toml")) return "toml";
  if (lower.endsWith(".yaml") || lower.endsWith(".yml")) return "yaml";
  return undefined;
}

/** Parse text already in memory; `file` names it in diagnostics and picks the format. */
export function loadText(file: string, text: string, format?: Format): LoadResult {
  const fmt = format ?? formatOf(file);
  const at = (line: number, column: number, p: Problem): LoadProblem => ({ ...p, line, column });
  if (!fmt) {
    return {
      text,
      problems: [
        at(
          1,
          1,
          error("unknown-format", [], `Cannot read "${file}": name it .yaml, .yml or .toml`),
        ),
      ],
    };
  }
  if (text.trim() === "") {
    return {
      text,
      problems: [at(1, 1, error("empty-file", [], `Cannot read "${file}": the file is empty`))],
    };
  }
  const parsed: Parsed = fmt === "yaml" ? parseYaml(text) : parseToml(text);
  if (parsed.problems.length > 0) return { text, problems: parsed.problems };
  const value = parsed.value;
  const empty = value !== null && typeof value === "object" && !Array.isArray(value) &&
    Object.keys(value).length === 0;
  if (value === null || value === undefined || empty) {
    return {
      text,
      problems: [
        at(1, 1, error("empty-file", [], `Cannot read "${file}": the file holds no data`)),
      ],
    };
  }
  if (typeof value !== "object" || Array.isArray(value)) {
    const pos = parsed.index.find([], "value") ?? { line: 1, column: 1 };
    const kind = Array.isArray(value) ? "a list" : `a ${typeof value}`;
    return {
      text,
      problems: [at(
        pos.line,
        pos.column,
        error(
          "not-a-mapping",
          [],
          `Cannot read "${file}": the top level is ${kind}, not a mapping of keys`,
        ),
      )],
    };
  }
  return {
    text,
    document: {
      file,
      format: fmt,
      text,
      value: value as Record<string, unknown>,
      index: parsed.index,
    },
    problems: [],
  };
}

/**
 * The largest workflow or site file ferry reads: far above any written by hand or generated
 * (a YAML file this size takes seconds to parse), far below what fills memory.
 */
export const MAX_FILE_BYTES = 16 << 20;

/**
 * Read a file from disk and parse it; unreadable or binary files are problems, not exceptions.
 * Only a regular file of at most {@linkcode MAX_FILE_BYTES} is read: a FIFO would block, a
 * device (`/dev/zero`) never end.
 */
export async function loadFile(file: string, format?: Format): Promise<LoadResult> {
  const r = await readText(file);
  return "problems" in r ? r : loadText(file, r.text, format);
}

/**
 * A text file's contents, read as {@linkcode loadFile} reads them (a regular file of at most
 * {@linkcode MAX_FILE_BYTES}, valid UTF-8), or the problem that stopped it.
 */
export async function readText(
  file: string,
): Promise<{ readonly text: string } | { readonly problems: readonly LoadProblem[] }> {
  const bytes = await readBounded(file);
  if (typeof bytes === "string") {
    return {
      problems: [{
        ...error("read-error", [], `Cannot read "${file}": ${bytes}`),
        line: 1,
        column: 1,
      }],
    };
  }
  const decoded = decodeText(bytes);
  if ("why" in decoded) {
    const { line, column } = decoded;
    return {
      problems: [{
        ...error("not-text", [], `Cannot read "${file}": ${decoded.why}`),
        line,
        column,
      }],
    };
  }
  return { text: decoded.text };
}

/** The problems of loading `file` as diagnostics (they carry their own positions). */
export function loadDiagnostics(file: string, problems: readonly LoadProblem[]): Diagnostic[] {
  return problems.map((p) => ({
    file,
    line: p.line,
    column: p.column,
    code: p.code,
    severity: p.severity,
    message: p.message,
    path: "",
  }));
}

/** The bytes of a regular file of at most {@linkcode MAX_FILE_BYTES}, or why it cannot be read. */
async function readBounded(file: string): Promise<Uint8Array | string> {
  try {
    // Looked at before opening: opening a FIFO waits for a writer.
    const kind = irregularKind(await Deno.stat(file));
    if (kind !== undefined) return `it is ${kind}, not a regular file`;
    using f = await Deno.open(file);
    const info = await f.stat();
    if (info.isDirectory) return "it is a directory";
    const kindNow = irregularKind(info);
    if (kindNow !== undefined) return `it is ${kindNow}, not a regular file`;
    // One byte more than the cap tells a file at the cap from one over it (it may be growing).
    const buf = new Uint8Array(Math.min(info.size, MAX_FILE_BYTES) + 1);
    let n = 0;
    for (;;) {
      const r = await f.read(buf.subarray(n));
      if (r === null) break;
      n += r;
      if (n === buf.length) {
        if (n > MAX_FILE_BYTES) return tooLarge(info.size);
        break; // it grew while being read: what was there when it was looked at is read
      }
    }
    return buf.subarray(0, n);
  } catch (e) {
    return e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : String((e as Error).message ?? e);
  }
}

function tooLarge(size: number): string {
  const shown = (n: number) =>
    n >= 1 << 30
      ? `${Math.round(n / (1 << 30) * 10) / 10} GiB`
      : `${Math.round(n / (1 << 20) * 10) / 10} MiB`;
  const cap = shown(MAX_FILE_BYTES);
  return `it is ${
    size > MAX_FILE_BYTES ? shown(size) : `over ${cap}`
  } (ferry reads workflow and site files of at most ${cap})`;
}
