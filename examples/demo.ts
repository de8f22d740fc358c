/**
 * `deno task demo`: copies examples/quickstart into a fresh temporary
 * workspace, then plans and runs it there, so the demo never leaves state
 * (`.ferry/`, outputs) where the tests or the next demo would read it.
 * @module
 */

import { cp } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cli } from "../cli/mod.ts";

const QUICKSTART = join(dirname(fileURLToPath(import.meta.url)), "quickstart");

/** Copy the quickstart into a new temporary directory; returns its path. */
export async function demoWorkspace(): Promise<string> {
  const ws = await Deno.makeTempDir({ prefix: "ferry-demo-" });
  await cp(QUICKSTART, ws, { recursive: true });
  return ws;
}

if (import.meta.main) {
  const ws = await demoWorkspace();
  console.log(`demo workspace (a copy of examples/quickstart): ${ws}`);
  // Relative paths, as a user typing in that directory would see them.
  Deno.chdir(ws);
  let code = await cli(["plan", "workflow.yaml"]);
  if (code === 0) code = await cli(["run", "workflow.yaml"]);
  Deno.exit(code);
}
