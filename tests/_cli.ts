/** Test helpers: run the CLI in-process and capture what it prints. @module */

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { cli } from "../cli/mod.ts";

/** What one in-process CLI run printed and returned. */
export interface CliRun {
  /** Exit code. */
  readonly code: number;
  /** Standard output. */
  readonly stdout: string;
  /** Standard error. */
  readonly stderr: string;
}

/** Run `ferry ARGS` in-process. */
export async function runCli(args: readonly string[]): Promise<CliRun> {
  let stdout = "", stderr = "";
  const code = await cli(args, {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    color: false,
  });
  return { code, stdout, stderr };
}

/** The repository root as a path ending in "/". */
export const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Compare with a stored snapshot; `UPDATE_SNAPSHOTS=1` rewrites it. */
export async function matchSnapshot(name: string, actual: string): Promise<void> {
  const file = `${ROOT}tests/snapshots/${name}`;
  if (Deno.env.get("UPDATE_SNAPSHOTS") === "1") {
    await Deno.writeTextFile(file, actual);
    return;
  }
  const expected = await Deno.readTextFile(file);
  assert.equal(actual, expected, `snapshot ${name} differs (UPDATE_SNAPSHOTS=1 to accept)`);
}
