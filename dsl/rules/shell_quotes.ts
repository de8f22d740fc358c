/**
 * Rule: no `${{ }}` inside quotes in a `shell:` script. ferry quotes every
 * substituted value itself, so `'@RG\tID:${{ s }}'` works only while the
 * value needs no quoting: a value with a space ends the single quotes early
 * and splits the word, and inside double quotes ferry's quotes become
 * literal characters. The script is read the way bash reads it (quotes,
 * `$'...'`, escapes, `$( )`, backticks, comments and here-documents), so an
 * apostrophe in a comment or a here-document is not taken for a quote.
 * @module
 */

import { inTemplate, type Problem, warning } from "../diagnostic.ts";
import { type ExprPart, parseTemplateCached, type Template } from "../expr.ts";
import type { App, Workflow } from "../model.ts";
import type { WorkflowRule } from "./_context.ts";

/** The quoting an expression stands in, as bash would read the substituted script. */
export type Quoting = "single" | "double";

type Frame = "code" | "paren" | "brace" | "backtick" | "double" | "single" | "ansi";

interface Heredoc {
  readonly delimiter: string;
  readonly stripTabs: boolean;
}

/** Word boundaries: after one of these a `#` starts a comment. */
const BREAK = /[\s;&|()<>]/;
/** Characters that end a here-document's delimiter word. */
const DELIMITER_END = /[\s;&|()<>]/;

/** A bash reader fed a script piece by piece, which knows the quoting at each point. */
class BashReader {
  readonly #stack: Frame[] = ["code"];
  #comment = false;
  #wordStart = true;
  readonly #pending: Heredoc[] = [];
  #heredoc: Heredoc | undefined;
  #line = "";

  /** The quoting at this point, or undefined outside quotes (comments and here-documents too). */
  get quoting(): Quoting | undefined {
    if (this.#comment || this.#heredoc) return undefined;
    const top = this.#stack.at(-1);
    return top === "double" ? "double" : top === "single" || top === "ansi" ? "single" : undefined;
  }

  /** Whether this point is in a comment or a here-document. */
  get inert(): boolean {
    return this.#comment || this.#heredoc !== undefined;
  }

  /** Something that is not text (an expression) takes this place: one word character. */
  word(): void {
    this.#wordStart = false;
    if (this.#heredoc) this.#line += "\u0000";
  }

  /** Read literal script text. */
  text(s: string): void {
    for (let i = 0; i < s.length; i++) i = this.#char(s, i);
  }

  /** Read the character at `i`; the index of the last character consumed. */
  #char(s: string, i: number): number {
    const c = s[i]!;
    if (this.#heredoc) {
      if (c !== "\n") this.#line += c;
      else this.#endOfHeredocLine();
      return i;
    }
    if (this.#comment) {
      if (c === "\n") this.#newline();
      return i;
    }
    const top = this.#stack.at(-1)!;
    if (top === "single") {
      if (c === "'") this.#stack.pop();
      return i;
    }
    if (top === "ansi") {
      if (c === "\\") return i + 1;
      if (c === "'") this.#stack.pop();
      return i;
    }
    if (top === "double") return this.#inDouble(s, i);
    return this.#inCode(s, i, top);
  }

  #inDouble(s: string, i: number): number {
    const c = s[i]!, next = s[i + 1];
    if (c === "\\") return i + 1;
    if (c === '"') this.#stack.pop();
    else if (c === "`") this.#stack.push("backtick");
    else if (c === "$" && next === "(") this.#stack.push("paren");
    else if (c === "$" && next === "{") this.#stack.push("brace");
    else return i;
    return c === "$" ? i + 1 : i;
  }

  #inCode(s: string, i: number, top: Frame): number {
    const c = s[i]!, next = s[i + 1];
    const wordStart = this.#wordStart;
    this.#wordStart = BREAK.test(c);
    if (c === "\\") return i + 1;
    if (c === "'") this.#stack.push("single");
    else if (c === '"') this.#stack.push("double");
    else if (c === "`") top === "backtick" ? this.#stack.pop() : this.#stack.push("backtick");
    else if (c === "$" && (next === "'" || next === "(" || next === "{")) {
      this.#stack.push(next === "'" ? "ansi" : next === "(" ? "paren" : "brace");
      this.#wordStart = next === "(";
      return i + 1;
    } else if (c === "(" && top !== "code") this.#stack.push("paren");
    else if ((c === ")" && top === "paren") || (c === "}" && top === "brace")) this.#stack.pop();
    else if (c === "#" && wordStart) this.#comment = true;
    else if (c === "\n") this.#newline();
    else if (c === "<" && next === "<") {
      return s[i + 2] === "<" ? i + 2 : this.#heredocStart(s, i + 2); // `<<<` is a here-string
    }
    return i;
  }

  /** `<<` or `<<-` followed by a delimiter word (quotes in it removed). */
  #heredocStart(s: string, i: number): number {
    const stripTabs = s[i] === "-";
    if (stripTabs) i++;
    while (s[i] === " " || s[i] === "\t") i++;
    let delimiter = "";
    for (; i < s.length && !DELIMITER_END.test(s[i]!); i++) {
      if (s[i] === "\\") delimiter += s[++i] ?? "";
      else if (s[i] !== "'" && s[i] !== '"') delimiter += s[i];
    }
    if (delimiter !== "") this.#pending.push({ delimiter, stripTabs });
    this.#wordStart = true;
    return i - 1;
  }

  #newline(): void {
    this.#comment = false;
    this.#wordStart = true;
    this.#heredoc = this.#pending.shift();
    this.#line = "";
  }

  #endOfHeredocLine(): void {
    const h = this.#heredoc!;
    const line = h.stripTabs ? this.#line.replace(/^\t+/, "") : this.#line;
    this.#line = "";
    if (line === h.delimiter) this.#heredoc = this.#pending.shift();
  }
}

/** Each expression of a shell template that stands inside quotes, with the quoting. */
export function quotedExpressions(
  t: Template,
): { readonly expr: ExprPart; readonly quoting: Quoting }[] {
  const reader = new BashReader();
  const out: { expr: ExprPart; quoting: Quoting }[] = [];
  for (const part of t) {
    if (part.kind === "text") {
      reader.text(part.text);
      continue;
    }
    const quoting = reader.quoting;
    if (quoting !== undefined) out.push({ expr: part, quoting });
    reader.word();
  }
  return out;
}

/** Whether every value the expression can have is a number or a boolean, which need no quotes. */
function neverQuoted(e: ExprPart, app: App, w: Workflow): boolean {
  const [root, name] = e.path;
  if (root === "resources" || (root === "task" && name === "attempt")) return true;
  if (root === "params" && typeof name === "string" && e.path.length === 2) {
    const v = w.params[name];
    return typeof v === "number" || typeof v === "boolean";
  }
  const v = app.forEach.find((x) => x.name === root);
  return e.path.length === 1 && v !== undefined && typeof v.source !== "string" &&
    v.source.every((x) => typeof x === "number" || typeof x === "boolean");
}

const WHY: Readonly<Record<Quoting, string>> = {
  single: "a value with a space or a quote ends the quotes early and splits into several words",
  double: "a value with a space or a quote keeps ferry's quotes as literal ' characters",
};

/** Warn for each `${{ }}` inside single or double quotes in a `shell:` script. */
export const quotedSubstitutions: WorkflowRule = ({ workflow }) => {
  const out: Problem[] = [];
  for (const app of Object.values(workflow.apps)) {
    if (app.run?.kind !== "shell") continue;
    const text = app.run.script;
    const parsed = parseTemplateCached(text);
    if (!parsed.ok) continue; // reported by expressionNames
    for (const { expr, quoting } of quotedExpressions(parsed.template)) {
      if (neverQuoted(expr, app, workflow)) continue;
      const q = quoting === "single" ? "'" : '"';
      const here = `\${{ ${expr.source} }}`;
      out.push(inTemplate(
        warning(
          "quoted-substitution",
          ["apps", app.name, "shell"],
          `"${here}" is inside ${quoting} quotes: ferry already quotes each substituted value, so ${
            WHY[quoting]
          }; close the quotes around it: ${q}...${q}${here}${q}...${q}`,
        ),
        text,
        expr.offset,
      ));
    }
  }
  return out;
};
