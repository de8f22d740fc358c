/**
 * Rendering what a task runs: `command` elements become argv entries (a list
 * value becomes several), `shell` scripts get every substituted value
 * shell-quoted, so a file named `$(rm -rf ~); x` is only ever a file name (and one holding
 * control characters is written `$'a\nb'`, so the script holds none raw).
 * @module
 */

import type { ExprPart } from "../dsl/expr.ts";
import type { App } from "../dsl/model.ts";
import { asText, evaluateText, ExpressionError, lookup, type Scope, template } from "./evaluate.ts";
import { DynamicList, FileValue, kindOf, type Value } from "./values.ts";
import { bashQuote } from "../providers/_shared/shell.ts";
import type { RenderedRun } from "../providers/batch/types.ts";

// What a task runs is the batch providers' input: the type is theirs, rendered here.
export type { RenderedRun };

function words(v: Value, e: ExprPart): string[] {
  if (Array.isArray(v)) return v.flatMap((x) => words(x, e));
  if (v instanceof DynamicList) {
    throw new ExpressionError(
      `Cannot use "\${{ ${e.source} }}" before its files are known`,
      e.offset,
      "wrong-type",
    );
  }
  return [asText(v, e)];
}

/** Render argv: each element is one entry, except a sole list expression, which is several. */
export function renderArgv(argv: readonly string[], scope: Scope): string[] {
  const out: string[] = [];
  for (const arg of argv) {
    const t = template(arg);
    const only = t.length === 1 ? t[0] : undefined;
    if (only?.kind !== "expr") out.push(evaluateText(t, scope));
    // One push per word: a gather of 100,000 files is one expression.
    else for (const w of words(lookup(only, scope), only)) out.push(w);
  }
  return out;
}

/** Render a bash script: every substituted value quoted, a list as one quoted word per element. */
export function renderShell(script: string, scope: Scope): string {
  return evaluateText(template(script), scope, (v, e) => words(v, e).map(bashQuote).join(" "));
}

/** Render plain text (env values, stdout paths, labels): values as text, lists refused. */
export function renderText(text: string, scope: Scope): string {
  return evaluateText(template(text), scope, (v: Value, e) => {
    if (Array.isArray(v)) return (v as Value[]).map((x) => asText(x, e)).join(" ");
    if (v instanceof FileValue || typeof v !== "object" || v === null) return asText(v, e);
    throw new ExpressionError(
      `Cannot put ${kindOf(v)} into text: "\${{ ${e.source} }}"`,
      e.offset,
      "wrong-type",
    );
  });
}

/** Render an app's run section for one task. */
export function renderRun(app: App, scope: Scope): RenderedRun | undefined {
  const run = app.run;
  if (!run) return undefined;
  if (run.kind === "command") return { kind: "command", argv: renderArgv(run.argv, scope) };
  if (run.kind === "shell") return { kind: "shell", script: renderShell(run.script, scope) };
  if (run.kind === "script") return undefined; // its file is found by the plan (script_run.ts)
  return run;
}
