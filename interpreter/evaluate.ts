/**
 * Evaluating templates against a scope. An expression that is the whole
 * template keeps its value (a list stays a list); embedded in text, values
 * are converted to text. Nothing is ever executed.
 * @module
 */

import { type ExprPart, parseTemplateCached, type Template } from "../dsl/expr.ts";
import { DynamicList, FileValue, kindOf, type Value } from "./values.ts";

/** Names an expression can reach. */
export type Scope = Readonly<Record<string, Value>>;

/** An evaluation failure, with the offset of the offending expression. */
export class ExpressionError extends Error {
  /**
   * @param message One sentence.
   * @param offset Offset of `${{` in the template.
   * @param code The diagnostic code: a name that resolves to nothing, or a value of the wrong kind.
   */
  constructor(
    message: string,
    readonly offset: number,
    readonly code: "unknown-name" | "wrong-type" | "expression-syntax" = "unknown-name",
  ) {
    super(message);
  }
}

/** Parse a template once; syntax errors were reported by `check`. */
export function template(text: string): Template {
  const parsed = parseTemplateCached(text);
  if (!parsed.ok) {
    throw new ExpressionError(parsed.error.message, parsed.error.offset, "expression-syntax");
  }
  return parsed.template;
}

/** Resolve one expression's path in a scope. */
export function lookup(e: ExprPart, scope: Scope): Value {
  const root = e.path[0] as string;
  let v: Value | undefined = Object.hasOwn(scope, root) ? scope[root] : undefined;
  for (let i = 1; i < e.path.length && v !== undefined; i++) {
    const key = e.path[i]!;
    if (v instanceof FileValue) v = typeof key === "string" ? v.property(key) : undefined;
    else if (Array.isArray(v)) {
      if (typeof key === "number") v = v[key];
      else if (v.every((x) => x instanceof FileValue)) {
        // A property of a list of files is the list of that property.
        v = (v as FileValue[]).map((f) => f.property(key) ?? null);
      } else v = undefined;
    } else if (v && typeof v === "object" && !(v instanceof DynamicList)) {
      v = typeof key === "string" && Object.hasOwn(v, key)
        ? (v as Record<string, Value>)[key]
        : undefined;
    } else v = undefined;
  }
  if (v === undefined) {
    throw new ExpressionError(
      `Cannot resolve "\${{ ${e.source} }}": it names nothing here`,
      e.offset,
    );
  }
  return v;
}

/** Evaluate a template: the value itself when it is one expression, else text. */
export function evaluate(text: string, scope: Scope): Value {
  const t = template(text);
  const only = t.length === 1 ? t[0] : undefined;
  if (only?.kind === "expr") return lookup(only, scope);
  return evaluateText(t, scope);
}

/** Evaluate a template to text; `render` turns each value into text. */
export function evaluateText(
  t: Template,
  scope: Scope,
  render: (v: Value, e: ExprPart) => string = asText,
): string {
  let out = "";
  for (const part of t) out += part.kind === "text" ? part.text : render(lookup(part, scope), part);
  return out;
}

/** A value as text inside a longer string: files by path, scalars as written. */
export function asText(v: Value, e: ExprPart): string {
  if (v instanceof FileValue) return v.path;
  if (v === null) return "";
  if (typeof v !== "object") return String(v);
  throw new ExpressionError(
    `Cannot put ${
      kindOf(v)
    } inside text: "\${{ ${e.source} }}" must be the whole value to stand for a list`,
    e.offset,
    "wrong-type",
  );
}
