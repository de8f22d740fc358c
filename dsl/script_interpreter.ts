/**
 * Which program runs a `script:` app's file: the one its extension names, else the one its
 * `#!` line names (read the way the kernel reads it). `check` and the plan both ask here.
 * @module
 */

/** How a script runs: a program's argv before the script's path, or ferry's own Deno. */
export type ScriptInterpreter = "deno" | readonly string[];

/** Interpreters by file extension (lower case); Deno scripts run with a function's permissions. */
const BY_EXTENSION: Readonly<Record<string, ScriptInterpreter>> = Object.freeze({
  py: ["python3"],
  r: ["Rscript"],
  sh: ["bash"],
  bash: ["bash"],
  jl: ["julia"],
  ts: "deno",
  js: "deno",
  mjs: "deno",
});

/** The extensions ferry knows, for messages. */
export const SCRIPT_EXTENSIONS = ".py, .R, .r, .sh, .bash, .jl, .ts, .js, .mjs";

/** What {@linkcode scriptInterpreter} found: the interpreter, or why there is none. */
export type InterpreterResult =
  | { readonly ok: true; readonly interpreter: ScriptInterpreter }
  | {
    readonly ok: false;
    readonly code: "missing-script" | "unknown-interpreter";
    readonly why: string;
  };

/**
 * The interpreter of the script at `path` (absolute), by its extension or its `#!` line. A
 * `#!` line gives its program and, like Linux, the rest of the line as one argument.
 *
 * @example
 * ```ts
 * import { scriptInterpreter } from "./script_interpreter.ts";
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/plot.py`, "print(1)\n");
 * assert.deepEqual(scriptInterpreter(`${dir}/plot.py`), { ok: true, interpreter: ["python3"] });
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function scriptInterpreter(path: string): InterpreterResult {
  let head: Uint8Array;
  try {
    if (!Deno.statSync(path).isFile) {
      return { ok: false, code: "missing-script", why: "it is not a file" };
    }
    head = readHead(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { ok: false, code: "missing-script", why: "there is no such file" };
    }
    return { ok: false, code: "missing-script", why: (e as Error).message };
  }
  const ext = /\.([A-Za-z]+)$/.exec(path.slice(path.lastIndexOf("/") + 1))?.[1]?.toLowerCase();
  const known = ext !== undefined ? BY_EXTENSION[ext] : undefined;
  if (known !== undefined) return { ok: true, interpreter: known };
  const shebang = shebangOf(head);
  if (shebang !== undefined) return { ok: true, interpreter: shebang };
  return {
    ok: false,
    code: "unknown-interpreter",
    why: `its extension names no interpreter (${SCRIPT_EXTENSIONS}) and it has no #! line`,
  };
}

/** The sentence for a script without an interpreter, as `path` is written. */
export function interpreterMessage(
  path: string,
  found: Extract<InterpreterResult, { ok: false }>,
): string {
  const action = found.code === "missing-script" ? "find script" : "run script";
  return `Cannot ${action} "${path}": ${found.why}`;
}

/** The first bytes of a file (a `#!` line is read from at most 256 of them, as Linux does). */
function readHead(path: string): Uint8Array {
  const f = Deno.openSync(path);
  try {
    const buf = new Uint8Array(256);
    const n = f.readSync(buf) ?? 0;
    return buf.subarray(0, n);
  } finally {
    f.close();
  }
}

/** `#!PROGRAM [ARG]` → [PROGRAM] or [PROGRAM, ARG]; undefined without one. */
function shebangOf(head: Uint8Array): string[] | undefined {
  if (head[0] !== 0x23 || head[1] !== 0x21) return undefined;
  const text = new TextDecoder().decode(head.subarray(2));
  const end = text.indexOf("\n");
  const line = (end < 0 ? text : text.slice(0, end)).replace(/\r$/, "").trim();
  const m = /^(\S+)(?:[ \t]+(.*))?$/.exec(line);
  if (!m) return undefined;
  return m[2] !== undefined && m[2].trim() !== "" ? [m[1]!, m[2].trim()] : [m[1]!];
}
