/**
 * URL helpers shared by the interpreter and the providers.
 * @module
 */

import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** A local path (absolute, or relative to the current directory) as a file: URL string. */
export function toFileUrl(path: string): string {
  return /^[a-z][a-z0-9+.-]*:/i.test(path) ? path : pathToFileURL(resolve(path)).href;
}

/**
 * What `deno run` is given for one of ferry's own modules: its local path (decoded: a checkout's
 * path may hold spaces), or its URL when ferry itself was loaded from one.
 */
export function runnableModule(url: URL): string {
  return url.protocol === "file:" ? fileURLToPath(url) : url.href;
}
