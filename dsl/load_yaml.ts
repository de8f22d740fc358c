/**
 * YAML front end: parse with npm:yaml (YAML 1.2 core schema), refuse duplicate
 * keys and alias bombs, and index every key and value position.
 * @module
 */

import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
} from "yaml";
import { error, type Problem } from "./diagnostic.ts";
import { SourceIndex } from "./source.ts";

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
export function parseYaml(text: string): Parsed {
  const lines = new LineCounter();
  const index = new SourceIndex();
  const docs = parseAllDocuments(text, {
    lineCounter: lines,
    uniqueKeys: true,
    prettyErrors: false,
    version: "1.2",
    merge: true,
    strict: true,
  });
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
    for (const e of doc.errors) {
      const pos = at(e.pos[0]);
      const code = CODES[e.code] ?? "yaml-syntax";
      const message = code === "duplicate-key"
        ? `Cannot use the key ${quoteKeyAt(text, e.pos[0])} twice in one mapping`
        : `Cannot parse YAML: ${firstLine(e.message)}`;
      problems.push({ ...error(code, [], message), line: pos.line, column: pos.col });
    }
  }
  const doc = list[0];
  if (!doc || problems.length > 0) return { index, problems };
  indexNode(doc.contents as Node | null, [], index, at);
  try {
    const value = (doc as Document).toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    return { value, index, problems };
  } catch (e) {
    const message = e instanceof ReferenceError && /alias/i.test(e.message)
      ? `Cannot expand YAML aliases: more than ${MAX_ALIAS_COUNT} expansions (an alias bomb?)`
      : `Cannot read YAML: ${firstLine(String((e as Error).message ?? e))}`;
    const code = /alias/i.test(message) ? "alias-limit" : "yaml-syntax";
    return { index, problems: [{ ...error(code, [], message), line: 1, column: 1 }] };
  }
}

function firstLine(message: string): string {
  return message.split("\n")[0]!.replace(/\s+at line \d+, column \d+:?$/, "").replace(/\.$/, "");
}

function quoteKeyAt(text: string, offset: number): string {
  const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^:\n#]+?)\s*:/.exec(text.slice(offset));
  return m ? JSON.stringify(m[1]!.replace(/^["']|["']$/g, "")) : "here";
}

function indexNode(
  node: Node | null,
  path: (string | number)[],
  index: SourceIndex,
  at: (offset: number) => { line: number; col: number },
): void {
  if (!node) return;
  const start = node.range?.[0];
  if (start !== undefined) {
    const p = at(start);
    const exact = isScalar(node) && (node.type === "PLAIN" || node.type === "QUOTE_SINGLE" ||
      node.type === "QUOTE_DOUBLE");
    const quoted = isScalar(node) && node.type !== "PLAIN" ? 1 : 0;
    index.setValue(path, { line: p.line, column: p.col + quoted, exact });
  }
  if (isAlias(node)) return; // never walk into an alias: that is how bombs explode
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = pair.key as Node | null;
      const name = isScalar(key) ? String(key.value) : String(key);
      const sub = [...path, name];
      if (key?.range) {
        const p = at(key.range[0]);
        index.setKey(sub, { line: p.line, column: p.col });
        if (!pair.value) index.setValue(sub, { line: p.line, column: p.col });
      }
      indexNode(pair.value as Node | null, sub, index, at);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => indexNode(item as Node | null, [...path, i], index, at));
  }
}
