/**
 * A file's metadata, looked up once per process: checking a workflow (do its
 * inputs exist?) and deciding what is cached (their hashes) ask about the
 * same thousands of files. Callers that change a file say so with
 * {@linkcode forgetStat}.
 * @module
 */

const seen = new Map<string, Deno.FileInfo | null>();

/** `Deno.statSync(path)`, remembered; null when the path does not exist. */
export function statOnce(path: string): Deno.FileInfo | null {
  let info = seen.get(path);
  if (info === undefined) {
    try {
      info = Deno.statSync(path);
    } catch {
      info = null;
    }
    if (seen.size > 1_000_000) seen.clear();
    seen.set(path, info);
  }
  return info;
}

/** Forget what was seen of `path` (it was written, replaced or deleted). */
export function forgetStat(path: string): void {
  seen.delete(path);
}
