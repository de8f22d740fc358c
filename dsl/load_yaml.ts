/**
 * YAML front end: parse with npm:yaml (YAML 1.2 core schema), refuse duplicate
 * keys and alias bombs, and index every key and value position.
 * @module
 */

import type { Document, LineCounter, Node } from "../deps/yaml.ts";
import jsyaml from "../deps/js_yaml.ts";
import { error, type KeyPath, type Problem } from "./diagnostic.ts";
import { type NodePositions, SourceIndex } from "./source.ts";
import { yamlModule } from "./lazy_modules.ts";

const YAML_OPTIONS = (lineCounter: LineCounter, uniqueKeys = true) => ({
  lineCounter,
  // Checking keys is quadratic in a mapping's size; the positions-only parse skips it.
  uniqueKeys,
  logLevel: "error" as const,
  prettyErrors: false,
  version: "1.2" as const,
  merge: true,
  strict: true,
});

const FAST_SCHEMA = jsyaml.CORE_SCHEMA.extend({ implicit: [jsyaml.types.merge] });

/**
 * The fast path: js-yaml reads a well-formed file about ten times faster than
 * the position-keeping parser. Anything unusual (an error, a second document,
 * a tag, aliases that need counting) returns undefined, and the careful parser
 * takes over to report it precisely.
 */
function parseFast(text: string): unknown {
  let value: unknown;
  try {
    value = jsyaml.load(text, { schema: FAST_SCHEMA });
  } catch {
    return undefined;
  }
  return value !== null && typeof value === "object" && !sharesNodes(value) ? value : undefined;
}

/** Whether an object graph reuses a node (what YAML aliases produce). */
function sharesNodes(root: object): boolean {
  const seen = new Set<object>();
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== "object") continue;
    if (seen.has(v)) return true;
    seen.add(v);
    for (const x of Array.isArray(v) ? v : Object.values(v)) {
      if (x !== null && typeof x === "object") stack.push(x);
    }
  }
  return false;
}

/** Aliases expanded beyond this count are refused as a resource-exhaustion attack. */
export const MAX_ALIAS_COUNT = 100;

/** The outcome of parsing one text. */
export interface Parsed {
  /** The document as plain JSON-like data, when it parsed. */
  readonly value?: unknown;
  /** Key and value positions. */
  readonly index: SourceIndex;
  /** Syntax problems; each carries its own position. */
  readonly problems: readonly (Problem & { readonly line: number; readonly column: number })[];
}

const CODES: Record<string, string> = {
  DUPLICATE_KEY: "duplicate-key",
  MULTIPLE_DOCS: "multiple-documents",
};

/** Parse YAML text into plain data plus a position index. */
export function parseYaml(text: string, options: { readonly fast?: boolean } = {}): Parsed {
  const { fast: tryFast = true } = options;
  const fast = tryFast ? parseFast(text) : undefined;
  if (fast !== undefined) {
    // Positions are needed only when something is reported: parse for them on demand.
    let full:
      | { root: Node | null; at: (offset: number) => { line: number; col: number } }
      | undefined;
    const lookup = (path: KeyPath) => {
      if (!full) {
        const lines = new (yamlModule().LineCounter)();
        const doc = yamlModule().parseAllDocuments(text, YAML_OPTIONS(lines, false)) as Document[];
        full = { root: (doc[0]?.contents ?? null) as Node | null, at: (o) => lines.linePos(o) };
      }
      return positionsOf(full.root, path, full.at);
    };
    return { value: fast, index: new SourceIndex(lookup, text), problems: [] };
  }
  const lines = new (yamlModule().LineCounter)();
  const index = new SourceIndex();
  const docs = yamlModule().parseAllDocuments(text, YAML_OPTIONS(lines));
  const at = (offset: number) => lines.linePos(Math.max(0, Math.min(offset, text.length)));
  const problems: (Problem & { line: number; column: number })[] = [];
  const list = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    // An empty stream: parseAllDocuments returns an empty-ish marker.
    return { value: undefined, index, problems };
  }
  for (const [i, doc] of list.entries()) {
    if (i === 1) {
      const pos = at(doc.range[0]);
      problems.push({
        ...error(
          "multiple-documents",
          [],
          "Cannot read more than one YAML document per file: put each workflow in its own file",
        ),
        line: pos.line,
        column: pos.col,
      });
    }
    for (const w of doc.warnings) {
      if (w.code !== "TAG_RESOLVE_FAILED") continue;
      const pos = at(w.pos[0]);
      const tag = /Unresolved tag: (\S+)/.exec(w.message)?.[1] ?? "this tag";
      problems.push({
        ...error(
          "yaml-syntax",
          [],
          `Cannot use the YAML tag "${tag}": ferry reads plain YAML, without custom tags`,
        ),
        line: pos.line,
        column: pos.col,
      });
    }
    for (const e of doc.errors) {
      const pos = at(
        e.code === "MISSING_CHAR" ? openingQuote(text, e.pos[0], e.message) : e.pos[0],
      );
      const code = CODES[e.code] ?? "yaml-syntax";
      // One syntax error usually causes many more after it: report the first only.
      if (code === "yaml-syntax" && problems.some((p) => p.code === "yaml-syntax")) continue;
      const line = text.split("\n")[pos.line - 1] ?? "";
      // The error sits at the `{` of an unquoted `${{`, or the line holds one.
      const atBraces = text.slice(e.pos[0] - 1, e.pos[0] + 2) === "${{";
      const hint = atBraces ||
          /(^|[\s\[{,:])\$\{\{/.test(line) && !/(["'])[^"']*\$\{\{[^"']*\1/.test(line)
        ? `; quote a value that holds \${{ }}, e.g. "\${{ params.x }}"`
        : "";
      const message = code === "duplicate-key"
        ? `Cannot use the key ${quoteKeyAt(text, e.pos[0])} twice in one mapping`
        : `Cannot parse YAML: ${firstLine(e.message)}${hint}`;
      problems.push({ ...error(code, [], message), line: pos.line, column: pos.col });
    }
  }
  const doc = list[0];
  if (!doc || problems.length > 0) return { index, problems };
  const lazy = new SourceIndex((path) => positionsOf(doc.contents as Node | null, path, at), text);
  const cycle = aliasCycle(doc as Document);
  if (cycle) {
    const pos = at(cycle.offset);
    const message =
      `Cannot expand the alias "*${cycle.name}": it is inside the node "&${cycle.name}" it repeats, which would never end`;
    return {
      index,
      problems: [{ ...error("alias-limit", [], message), line: pos.line, column: pos.col }],
    };
  }
  try {
    const value = (doc as Document).toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    return { value, index: lazy, problems };
  } catch (e) {
    const unresolved = /Unresolved alias[^:]*: (.+)$/.exec(String((e as Error).message));
    if (unresolved) {
      const name = unresolved[1]!.trim();
      let where = 0;
      const { visit } = yamlModule();
      visit(doc, {
        Alias(_, node) {
          if (node.source !== name || !node.range) return;
          where = node.range[0];
          return visit.BREAK;
        },
      });
      const pos = at(where);
      return {
        index,
        problems: [{
          ...error(
            "yaml-syntax",
            [],
            `Cannot resolve the alias "*${name}": no anchor "&${name}" comes before it`,
          ),
          line: pos.line,
          column: pos.col,
        }],
      };
    }
    const message = e instanceof ReferenceError && /alias/i.test(e.message)
      ? `Cannot expand YAML aliases: more than ${MAX_ALIAS_COUNT} expansions (an alias bomb?)`
      : e instanceof RangeError
      ? "Cannot read YAML: the document nests too deeply"
      : `Cannot read YAML: ${firstLine(String((e as Error).message ?? e))}`;
    const code = /alias/i.test(message) ? "alias-limit" : "yaml-syntax";
    return { index, problems: [{ ...error(code, [], message), line: 1, column: 1 }] };
  }
}

/** The first alias inside the node its anchor names (`p: &a [*a]`): its name and offset. */
function aliasCycle(doc: Document): { name: string; offset: number } | undefined {
  let found: { name: string; offset: number } | undefined;
  const { visit } = yamlModule();
  visit(doc, {
    Alias(_, node, path) {
      const inside = path.some((p) => (p as { anchor?: string }).anchor === node.source);
      if (!inside) return;
      found = { name: node.source, offset: node.range?.[0] ?? 0 };
      return visit.BREAK;
    },
  });
  return found;
}

/** Where the quote that was never closed opens (YAML reports the end of the file). */
function openingQuote(text: string, end: number, message: string): number {
  const q = message.includes("'") ? "'" : '"';
  for (let i = Math.min(end, text.length) - 1; i >= 0; i--) {
    if (text[i] !== q) continue;
    if (q === '"' && text[i - 1] === "\\") continue;
    if (q === "'" && (text[i - 1] === "'" || text[i + 1] === "'")) continue;
    return i;
  }
  return end;
}

function firstLine(message: string): string {
  return message.split("\n")[0]!.replace(/\s+at line \d+, column \d+:?$/, "").replace(/\.$/, "");
}

function quoteKeyAt(text: string, offset: number): string {
  const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^:\n#]+?)\s*:/.exec(text.slice(offset));
  return m ? JSON.stringify(m[1]!.replace(/^["']|["']$/g, "")) : "here";
}

/** Find a node's key and value positions by walking the document along `path`. */
function positionsOf(
  root: Node | null,
  path: KeyPath,
  at: (offset: number) => { line: number; col: number },
): NodePositions | undefined {
  const { isAlias, isMap, isScalar, isSeq } = yamlModule();
  let node: Node | null = root;
  let keyNode: Node | null = null;
  for (const seg of path) {
    if (!node || isAlias(node)) return undefined; // never walk into an alias: that is how bombs explode
    if (isMap(node)) {
      const pair = node.items.find((p) => {
        const k = p.key as Node | null;
        return String(isScalar(k) ? k.value : k) === String(seg);
      });
      if (!pair) return undefined;
      keyNode = pair.key as Node | null;
      node = pair.value as Node | null;
      if (!node && keyNode?.range) {
        const p = at(keyNode.range[0]);
        return { key: { line: p.line, column: p.col }, value: { line: p.line, column: p.col } };
      }
    } else if (isSeq(node) && typeof seg === "number") {
      keyNode = null;
      node = node.items[seg] as Node | null;
    } else return undefined;
  }
  const start = node?.range?.[0];
  if (start === undefined) return undefined;
  const p = at(start);
  const exact = isScalar(node) && (node.type === "PLAIN" || node.type === "QUOTE_SINGLE" ||
    node.type === "QUOTE_DOUBLE");
  const quoted = isScalar(node) && node.type !== "PLAIN" ? 1 : 0;
  const end = node!.range?.[1] ?? start;
  const value = { line: p.line, column: p.col + quoted, exact, range: [start, end] as const };
  if (!keyNode?.range) return { key: { line: p.line, column: p.col }, value };
  const k = at(keyNode.range[0]);
  return { key: { line: k.line, column: k.col }, value };
}
