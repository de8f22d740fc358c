/**
 * URL helpers shared by the interpreter and the providers.
 * @module
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** A local path (absolute, or relative to the current directory) as a file: URL string. */
export function toFileUrl(path: string): string {
  return /^[a-z][a-z0-9+.-]*:/i.test(path) ? path : pathToFileURL(resolve(path)).href;
}
