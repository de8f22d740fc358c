/**
 * Test helpers for running ferry as a subprocess (`deno run -A main.ts ...`)
 * in temporary workspaces, as users run it.
 * @module
 */

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "../deps/yaml.ts";

export const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MAIN = join(ROOT, "main.ts");
const decoder = new TextDecoder();

/** What one `ferry run` printed and returned. */
export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time of the subprocess in ms. */
  readonly ms: number;
}

/**
 * `deno run -A main.ts COMMAND ARGS` (`run` unless told), not started yet. A
 * run retries after 50 ms, not ferry's 1 s, unless ARGS say otherwise.
 */
export function ferry(
  args: readonly string[],
  env: Record<string, string> = {},
  command = "run",
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      command,
      ...(command === "run" ? ["--retry-base", "0.05"] : []),
      ...args,
    ],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Run `ferry COMMAND ARGS` (`run` unless told) to its end. */
export async function ferryRun(
  args: readonly string[],
  env: Record<string, string> = {},
  command = "run",
): Promise<Ran> {
  const t0 = performance.now();
  const out = await ferry(args, env, command).output();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    ms: performance.now() - t0,
  };
}

/** A fresh temporary directory for `fn`, removed afterwards. */
export async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-run-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Write a workflow (an object) as YAML into `dir`; returns its path. */
export async function writeWorkflow(
  dir: string,
  wf: unknown,
  name = "workflow.yaml",
): Promise<string> {
  const path = join(dir, name);
  await Deno.writeTextFile(path, stringify(wf, { lineWidth: 0 }));
  return path;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Every path under `dir` (files and folders), relative to it, sorted. */
export async function walk(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    out.push(rel);
    if (e.isDirectory) out.push(...await walk(dir, rel));
  }
  return out.sort();
}

/** The run directory named by the summary's `logs:` line. */
export function runDirOf(r: Ran): string {
  const m = r.stderr.match(/^logs: (.*)$/m);
  assert.ok(m, `a "logs:" line in:\n${r.stderr}`);
  return m[1]!;
}

/** `deno run -A script` in `cwd` with `env` added; fails unless it exits 0; its stdout as JSON. */
export async function runScriptJson(
  script: string,
  cwd: string,
  env: Record<string, string>,
): Promise<unknown> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
    cwd,
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`${script} exited ${out.code}: ${decoder.decode(out.stderr)}`);
  }
  return JSON.parse(decoder.decode(out.stdout));
}
