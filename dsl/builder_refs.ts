/**
 * Checked references for the TypeScript builder. `deno run` does not
 * type-check, so `count.outputs.nn` (a typo) would be `undefined`, drop out of
 * the document and surface later as a confusing problem in the generated
 * file. Here such a name fails where it is written: a {@linkcode BuilderError}
 * naming the script's line and the names that exist, which a script that does
 * not catch it ends with (exit code 2, no stack trace).
 * @module
 */

import { fileURLToPath } from "node:url";
import { didYouMean } from "./suggest.ts";

/** A reference to a name the workflow does not have, located in the script that wrote it. */
export class BuilderError extends Error {
  /** The script (a path, or a URL when it is not a local file); empty when unknown. */
  readonly file: string;
  /** 1-based line in the script (0 when unknown). */
  readonly line: number;
  /** 1-based column in the script (0 when unknown). */
  readonly column: number;
  /** Create an error for `problem` (one sentence), found at `where`. */
  constructor(problem: string, where: { file: string; line: number; column: number }) {
    super(where.file ? `${where.file}:${where.line}:${where.column}: ${problem}` : problem);
    this.name = "BuilderError";
    this.file = where.file;
    this.line = where.line;
    this.column = where.column;
  }
}

// Names the runtime and common tools probe on any object (JSON.stringify, await, inspection);
// they are not references and must read as absent rather than throw.
const PROBES = new Set(["toJSON", "then", "constructor", "inspect", "asymmetricMatch", "$$typeof"]);

/** What a set of names is called in messages. */
export interface NameSet {
  /** The thing looked up, for a name: `output "nn" of app "count"`. */
  readonly subject: (name: string) => string;
  /** The names that exist, as a heading: `outputs of app "count"`. */
  readonly collection: string;
  /** When there are none: `app "count" has no outputs`. */
  readonly empty: string;
}

/** `record` with its unknown string keys failing as {@linkcode unknownName} says. */
export function checkedRecord<T extends object>(record: T, names: NameSet): T {
  return new Proxy(record, {
    get(target, key, receiver) {
      if (typeof key !== "string" || key in target || PROBES.has(key)) {
        return Reflect.get(target, key, receiver);
      }
      unknownName(key, Object.keys(target), names);
    },
  });
}

/**
 * Fail for `name`, which is not among `known`: `Cannot use output "nn" of app
 * "count": did you mean "n"? (outputs of app "count": n)`.
 */
export function unknownName(name: string, known: readonly string[], names: NameSet): never {
  const hint = didYouMean(name, known);
  const listing = known.length > 0 ? `${names.collection}: ${known.join(", ")}` : names.empty;
  fail(
    hint
      ? `Cannot use ${names.subject(name)}${hint} (${listing})`
      : `Cannot use ${names.subject(name)}: ${listing}`,
  );
}

/** Throw a {@linkcode BuilderError} for `problem`, located at the script line that caused it. */
export function fail(problem: string): never {
  endScriptOnBuilderError();
  throw new BuilderError(problem, callerOutside(new Error().stack ?? ""));
}

const HERE = new URL(".", import.meta.url).href;

/** The first stack frame outside ferry's builder modules: the user's script line. */
function callerOutside(stack: string): { file: string; line: number; column: number } {
  for (const m of stack.matchAll(/((?:file|https?|jsr):[^\s()]+):(\d+):(\d+)/g)) {
    const url = m[1]!;
    if (url.startsWith(HERE) && /\/builder(_refs)?\.ts$/.test(url)) continue;
    const file = url.startsWith("file:") ? fileURLToPath(url) : url;
    return { file, line: Number(m[2]), column: Number(m[3]) };
  }
  return { file: "", line: 0, column: 0 };
}

let listening = false;

/**
 * A BuilderError nobody caught ends the process as bad input does in the CLI:
 * its message on standard error, exit code 2. Installed on the first error,
 * so importing the builder changes nothing, and other errors are left alone.
 */
function endScriptOnBuilderError(): void {
  if (listening) return;
  listening = true;
  const end = (e: Event, error: unknown) => {
    if (!(error instanceof BuilderError)) return;
    e.preventDefault();
    console.error(`error: ${error.message}`);
    Deno.exit(2);
  };
  globalThis.addEventListener("error", (e) => end(e, e.error));
  globalThis.addEventListener("unhandledrejection", (e) => end(e, e.reason));
}
