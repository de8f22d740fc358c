/**
 * The compiled spawner: spawner.c built by `deno task build` (run by `deno task demo` and
 * `deno task test` first) into `.bin/` beside it, under a name that holds the hash of its source,
 * so that a binary built from an older spawner.c is never run. Without a C compiler nothing is
 * built and ferry uses spawner.py (or spawner.pl), which speak the same protocol.
 *
 * Run as a script, it builds: `deno run -A providers/batch/spawner_build.ts`.
 * @module
 */

import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SOURCE = import.meta.url.startsWith("file:")
  ? fileURLToPath(new URL("./spawner.c", import.meta.url))
  : undefined;

/** Where the spawner built from `source` (spawner.c's text) lives. */
export function builtSpawnerPath(source: string, sourcePath = SOURCE ?? ""): string {
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  return join(dirname(sourcePath), ".bin", `ferry-spawner-${hash}`);
}

/** The built spawner for this checkout's spawner.c, when it has been built; else undefined. */
export function builtSpawner(): string | undefined {
  if (SOURCE === undefined) return undefined;
  try {
    const path = builtSpawnerPath(Deno.readTextFileSync(SOURCE));
    return Deno.statSync(path).isFile ? path : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Compile the spawner.c at `sourcePath` into `out` with the C compiler `cc`: written under a temporary
 * name and renamed, so a binary at `out` is always whole. Returns the compiler's complaint when it
 * failed, or undefined.
 */
export async function compileSpawner(
  sourcePath: string,
  out: string,
  cc = Deno.env.get("CC") ?? "cc",
): Promise<string | undefined> {
  await Deno.mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.${Deno.pid}.tmp`;
  try {
    const r = await new Deno.Command(cc, {
      args: ["-O2", "-Wall", "-o", tmp, sourcePath],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) return new TextDecoder().decode(r.stderr).trim() || `${cc} failed`;
    await Deno.rename(tmp, out);
    return undefined;
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? `no C compiler ("${cc}")` : (e as Error).message;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

if (import.meta.main && SOURCE !== undefined) {
  const out = builtSpawnerPath(await Deno.readTextFile(SOURCE));
  let present = false;
  try {
    present = (await Deno.stat(out)).isFile;
  } catch { /* not built yet */ }
  if (!present) {
    const problem = await compileSpawner(SOURCE, out);
    console.error(
      problem === undefined
        ? `built ferry's spawner: ${out}`
        : `ferry's spawner not compiled (${problem}); ferry starts tasks through spawner.py instead`,
    );
  }
  // Spawners built from earlier sources are never run again.
  try {
    for (const e of Deno.readDirSync(dirname(out))) {
      const path = join(dirname(out), e.name);
      if (e.name.startsWith("ferry-spawner-") && path !== out) Deno.removeSync(path);
    }
  } catch { /* nothing built: nothing to remove */ }
}
