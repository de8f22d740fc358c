/**
 * An internal error of the run engine, for the user: one line, and a log
 * file holding the stack and what ferry was doing. The log goes into the
 * run's directory, or into the system's temporary directory when that
 * cannot be written (a full disk).
 * @module
 */

import { join } from "node:path";

/** The run stopped on an internal error (a bug in ferry); the stack is in {@linkcode logPath}. */
export class RunCrashed extends Error {
  /** The file holding the stack. */
  readonly logPath: string;

  /** `message`: the error's first line; `logPath`: where its stack was written. */
  constructor(message: string, logPath: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RunCrashed";
    this.logPath = logPath;
  }
}

/** The text of a crash log: when, ferry's version, what it was doing, and the stack with causes. */
export function crashText(e: unknown, context: Readonly<Record<string, string>>): string {
  const lines = [
    `time: ${new Date().toISOString()}`,
    `deno: ${Deno.version.deno} (${Deno.build.os}/${Deno.build.arch})`,
    ...Object.entries(context).map(([k, v]) => `${k}: ${v}`),
    "",
  ];
  for (let c: unknown = e, depth = 0; c !== undefined && depth < 5; depth++) {
    lines.push(depth === 0 ? "error:" : "caused by:");
    lines.push(c instanceof Error ? (c.stack ?? `${c.name}: ${c.message}`) : String(c));
    c = c instanceof Error ? c.cause : undefined;
  }
  return lines.join("\n") + "\n";
}

/**
 * Write a crash log for `e` into `dir` (created if needed), else into the
 * system's temporary directory; returns its path, or a note when neither
 * could be written.
 */
export function writeCrashLog(
  dir: string | undefined,
  e: unknown,
  context: Readonly<Record<string, string>> = {},
): string {
  const text = crashText(e, context);
  const name = `crash-${new Date().toISOString().replace(/[:.]/g, "-")}-${Deno.pid}.log`;
  for (const d of [dir, tempDir()]) {
    if (d === undefined) continue;
    try {
      Deno.mkdirSync(d, { recursive: true });
      const path = join(d, name);
      Deno.writeTextFileSync(path, text);
      return path;
    } catch { /* next place */ }
  }
  return "(no crash log: neither the run's directory nor the temporary directory can be written)";
}

function tempDir(): string {
  try {
    return Deno.env.get("TMPDIR") || "/tmp";
  } catch {
    return "/tmp"; // no permission to read the environment
  }
}
