/**
 * Test helper: a private copy of examples/ in a fresh temporary directory.
 * Tests plan, run and check copies, never examples/ in place, so state a demo
 * or another test left there (`.ferry/`, outputs) cannot change what they see,
 * and nothing they write lands in the checkout.
 * @module
 */

import { cp } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout's examples/ (read only to copy it). */
export const EXAMPLES = fileURLToPath(new URL("../examples", import.meta.url));

/** Stands for the temporary directory in snapshots, so they do not depend on where it was made. */
export const TMP = "<tmp>";

/** A temporary copy of examples/ (or of the listed examples only). */
export interface ExamplesCopy extends AsyncDisposable {
  /** The temporary directory; the copy is its `examples/`. */
  readonly tmp: string;
  /** `<tmp>/examples/NAME/FILE...`. */
  path(name: string, ...file: string[]): string;
  /** Replace the temporary directory in `text` with {@linkcode TMP}. */
  portable(text: string): string;
}

/**
 * Copy examples/ (only `names`, when given) into `<tmp>/examples/`; dispose of
 * the result (`await using`) to remove it.
 */
export async function copyExamples(...names: string[]): Promise<ExamplesCopy> {
  const tmp = await Deno.makeTempDir({ prefix: "ferry-examples-" });
  try {
    // A run's state, should an older ferry have left one in examples/, is not copied.
    const filter = (src: string) => basename(src) !== ".ferry";
    if (names.length === 0) await cp(EXAMPLES, join(tmp, "examples"), { recursive: true, filter });
    for (const name of names) {
      await cp(join(EXAMPLES, name), join(tmp, "examples", name), { recursive: true, filter });
    }
  } catch (e) {
    await Deno.remove(tmp, { recursive: true });
    throw e;
  }
  return {
    tmp,
    path: (name, ...file) => join(tmp, "examples", name, ...file),
    portable: (text) => text.replaceAll(tmp, TMP),
    [Symbol.asyncDispose]: () => Deno.remove(tmp, { recursive: true }),
  };
}
