/**
 * What a library user loads: mod.ts's module graph (static and analyzable dynamic imports, as
 * `deno info --json` reports it) holds no module of the CLI.
 * @module
 */

import assert from "node:assert/strict";
import { ROOT } from "./_cli.ts";
import { denoInfo } from "./_layers.ts";

/** The file: modules of `entry`'s graph, relative to the checkout. */
async function graphOf(entry: string): Promise<string[]> {
  const info = await denoInfo(entry, ROOT);
  const root = new URL(ROOT, "file://").href;
  return info.modules.map((m) => m.specifier).filter((s) => s.startsWith(root))
    .map((s) => s.slice(root.length));
}

Deno.test("mod.ts does not pull in the CLI (the builder loads it only when a script runs as one)", async () => {
  const modules = await graphOf("mod.ts");
  assert.ok(modules.includes("dsl/builder.ts"), "the graph was read");
  assert.deepEqual(modules.filter((m) => m.startsWith("cli/") || m === "main.ts"), []);
});
