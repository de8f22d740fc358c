/**
 * Which log holds a failed attempt's error. A tool that writes its messages
 * to a log file (`samtools ... 2> ${{ outputs.log }}` in the script, `--log
 * ${{ outputs.log }}`) leaves its standard error empty: the run summary and
 * `ferry status` then show the end of that log instead of an empty
 * `stderr.log`. Looked for only when an attempt failed, never on the way of
 * one that succeeded.
 * @module
 */

import { basename, join } from "node:path";

/** A declared output of the failed task: its slot name and its path in the attempt directory. */
export interface OutputLog {
  /** The output's name (`log`, `bwa_log`, `reads/0`). */
  readonly name: string;
  /** Its path, relative to the attempt's working directory (absolute paths are not looked at). */
  readonly path: string;
}

/** Names and file names of outputs that are logs: `log`, `map_log`, `logs/x.log`, `x.err`. */
const LOG_NAME = /(^|[^a-z])(logs?|err|stderr|stdout)([^a-z]|$)/i;
const LOG_FILE = /\.(log|err|stderr|stdout)$/i;

/**
 * Whether a declared output is a log, by its name or its file name.
 *
 * @example
 * ```ts
 * import { isLogOutput } from "./error_log.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isLogOutput({ name: "log", path: "logs/A.txt" }));
 * assert.ok(isLogOutput({ name: "out", path: "logs/bwa/A.log" }));
 * assert.ok(!isLogOutput({ name: "catalog", path: "catalog.tsv" }));
 * ```
 */
export function isLogOutput(o: OutputLog): boolean {
  return LOG_NAME.test(o.name.replace(/\/\d+$/, "")) || LOG_FILE.test(basename(o.path));
}

async function size(path: string): Promise<{ size: number; mtime: number } | undefined> {
  try {
    const s = await Deno.stat(path);
    return s.isFile ? { size: s.size, mtime: s.mtime?.getTime() ?? 0 } : undefined;
  } catch {
    return undefined;
  }
}

/** What {@linkcode errorLog} looks at. */
export interface FailedAttempt {
  /** The attempt's working directory. */
  readonly work: string;
  /** Its standard error (a default log or a declared output). */
  readonly stderrPath: string;
  /** Its standard output. */
  readonly stdoutPath: string;
  /** The task's declared outputs. */
  readonly outputs: readonly OutputLog[];
}

/**
 * The log that holds a failed attempt's error when its standard error is
 * empty: the declared log output it wrote last, else its standard output
 * when that is a log (not data redirected to an output); undefined when
 * standard error has something to show, or nothing else does.
 */
export async function errorLog(a: FailedAttempt): Promise<string | undefined> {
  if (a.stderrPath === "" || ((await size(a.stderrPath))?.size ?? 0) > 0) return undefined;
  let best: { path: string; mtime: number } | undefined;
  for (const o of a.outputs) {
    if (o.path.startsWith("/") || !isLogOutput(o)) continue;
    const path = join(a.work, o.path);
    if (path === a.stderrPath) continue;
    const s = await size(path);
    if (s && s.size > 0 && (!best || s.mtime > best.mtime)) best = { path, mtime: s.mtime };
  }
  if (best) return best.path;
  if (a.stdoutPath === "" || a.stdoutPath === a.stderrPath) return undefined;
  const declared = a.outputs.find((o) => join(a.work, o.path) === a.stdoutPath);
  if (declared && !isLogOutput(declared)) return undefined;
  return ((await size(a.stdoutPath))?.size ?? 0) > 0 ? a.stdoutPath : undefined;
}
