/**
 * The `${{ expr }}` template language: literal text with property-path
 * expressions (`params.samples`, `apps.align.outputs.bam`, `frame.stem`,
 * `inputs.reads[0]`). No code is ever evaluated; this is a parser, not a regex.
 * @module
 */

/** Literal text between expressions. */
export interface TextPart {
  /** Discriminant. */
  readonly kind: "text";
  /** The text, verbatim. */
  readonly text: string;
}

/** One `${{ path }}` expression. */
export interface ExprPart {
  /** Discriminant. */
  readonly kind: "expr";
  /** The property path: names and list indices. */
  readonly path: readonly (string | number)[];
  /** The expression as written, e.g. `params.samples`. */
  readonly source: string;
  /** Offset of `${{` in the template string. */
  readonly offset: number;
}

/** A parsed template: text and expressions in order. */
export type Template = readonly (TextPart | ExprPart)[];

/** A syntax problem inside a template string. */
export interface TemplateError {
  /** One sentence. */
  readonly message: string;
  /** Offset in the template string. */
  readonly offset: number;
}

/** Result of {@linkcode parseTemplate}. */
export type ParsedTemplate =
  | { readonly ok: true; readonly template: Template }
  | { readonly ok: false; readonly error: TemplateError };

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_-]/;

/**
 * Parse a template string.
 *
 * @example
 * ```ts
 * import { parseTemplate } from "./expr.ts";
 * import assert from "node:assert/strict";
 * const t = parseTemplate("out/${{ sample }}.bam");
 * assert.ok(t.ok);
 * assert.deepEqual(t.template[1], { kind: "expr", path: ["sample"], source: "sample", offset: 4 });
 * ```
 */
export function parseTemplate(s: string): ParsedTemplate {
  const parts: (TextPart | ExprPart)[] = [];
  let i = 0;
  while (i < s.length) {
    const open = s.indexOf("${{", i);
    if (open < 0) {
      parts.push({ kind: "text", text: s.slice(i) });
      break;
    }
    if (open > i) parts.push({ kind: "text", text: s.slice(i, open) });
    const parsed = parseExpr(s, open);
    if ("message" in parsed) return { ok: false, error: parsed };
    parts.push(parsed.part);
    i = parsed.end;
  }
  return { ok: true, template: parts };
}

function parseExpr(s: string, open: number): { part: ExprPart; end: number } | TemplateError {
  let i = open + 3;
  const skip = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  const close = s.indexOf("}}", i);
  if (close < 0) {
    return {
      message: `Cannot find the closing "}}" of the expression starting here`,
      offset: open,
    };
  }
  const name = (): string | undefined => {
    if (!NAME_START.test(s[i] ?? "")) return undefined;
    const begin = i;
    while (i < s.length && NAME_CHAR.test(s[i]!)) i++;
    return s.slice(begin, i);
  };
  skip();
  const begin = i;
  const path: (string | number)[] = [];
  const first = name();
  if (first === undefined) {
    const what = i >= close ? "nothing" : JSON.stringify(s[i]);
    return {
      message: `Cannot parse expression "${
        s.slice(open, close + 2)
      }": expected a name, found ${what}`,
      offset: i,
    };
  }
  path.push(first);
  for (;;) {
    skip();
    const c = s[i];
    if (c === ".") {
      i++;
      skip();
      const n = name();
      if (n === undefined) {
        return {
          message: `Cannot parse expression "${
            s.slice(open, close + 2)
          }": expected a name after "."`,
          offset: i,
        };
      }
      path.push(n);
    } else if (c === "[") {
      i++;
      skip();
      const m = /^\d+/.exec(s.slice(i));
      if (!m) {
        return {
          message: `Cannot parse expression "${
            s.slice(open, close + 2)
          }": expected a list index such as [0]`,
          offset: i,
        };
      }
      i += m[0].length;
      skip();
      if (s[i] !== "]") {
        return {
          message: `Cannot parse expression "${s.slice(open, close + 2)}": expected "]"`,
          offset: i,
        };
      }
      i++;
      path.push(Number(m[0]));
    } else if (c === "}" && s[i + 1] === "}") {
      const source = s.slice(begin, i).trim();
      return { part: { kind: "expr", path, source, offset: open }, end: i + 2 };
    } else {
      const what = c === undefined ? "the end of the text" : JSON.stringify(c);
      return {
        message: `Cannot parse expression "${
          s.slice(open, close + 2)
        }": unexpected ${what}; only property paths such as params.samples are allowed`,
        offset: i,
      };
    }
  }
}

/** Every expression in a template, for rules that check names. */
export function expressions(t: Template): ExprPart[] {
  return t.filter((p): p is ExprPart => p.kind === "expr");
}

/** The template is exactly one expression (so it may stand for a list). */
export function soleExpression(t: Template): ExprPart | undefined {
  return t.length === 1 && t[0]!.kind === "expr" ? t[0] : undefined;
}

const parsedCache = new Map<string, ParsedTemplate>();

/** {@linkcode parseTemplate}, memoised: the same template text is parsed once per process. */
export function parseTemplateCached(s: string): ParsedTemplate {
  let p = parsedCache.get(s);
  if (!p) {
    p = parseTemplate(s);
    if (parsedCache.size > 200_000) parsedCache.clear();
    parsedCache.set(s, p);
  }
  return p;
}
