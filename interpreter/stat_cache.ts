/**
 * Files' metadata, looked up once per plan or run: checking a workflow (do
 * its inputs exist?) and deciding what is cached (their hashes) ask about the
 * same thousands of files. A cache lives as long as the plan or run that
 * made it, never longer: a library process that plans again sees files made
 * since. Callers that change a file say so with {@linkcode StatCache.forget}.
 * @module
 */

/** `Deno.statSync`, remembered for one plan or run. */
export class StatCache {
  readonly #seen = new Map<string, Deno.FileInfo | null>();

  /** `Deno.statSync(path)`, remembered; null when the path does not exist. */
  stat(path: string): Deno.FileInfo | null {
    let info = this.#seen.get(path);
    if (info === undefined) {
      try {
        info = Deno.statSync(path);
      } catch {
        info = null;
      }
      this.#seen.set(path, info);
    }
    return info;
  }

  /** Forget what was seen of `path` (it was written, replaced or deleted). */
  forget(path: string): void {
    this.#seen.delete(path);
  }
}
