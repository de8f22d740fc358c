/**
 * Which provider serves a staging action: the built-in ones, loaded on
 * first use (a run that never touches FTP never loads an FTP client), or a
 * custom provider module named by path in a staging rule.
 * @module
 */

import { resolve } from "node:path";
import { toFileUrl } from "../_shared/urls.ts";
import { StagingError, type StagingProvider, type StagingProviderFactory } from "./types.ts";

/** Built-in actions that move bytes, and how to load each provider. */
export const BUILTIN_STAGING: Readonly<Record<string, () => Promise<StagingProviderFactory>>> =
  Object.freeze({
    copy: async () => (await import("./copy.ts")).copyStaging,
    http: async () => (await import("./http.ts")).httpStaging,
    https: async () => (await import("./http.ts")).httpStaging,
    ftp: async () => (await import("./ftp.ts")).ftpStaging,
    ftps: async () => (await import("./ftp.ts")).ftpStaging,
    sftp: async () => (await import("./sftp.ts")).sftpStaging,
    rsync: async () => (await import("./rsync.ts")).rsyncStaging,
    globus: async () => (await import("./globus.ts")).globusStaging,
  });

/** Whether a value looks like a staging provider. */
function isProvider(v: unknown): v is StagingProvider {
  if (!v || typeof v !== "object") return false;
  const p = v as Record<string, unknown>;
  return typeof p.fetch === "function" || typeof p.put === "function";
}

/**
 * Load the provider for `action`: a built-in name, or a module path resolved
 * against `baseDir` (the folder of the file whose rule names it). The module's
 * default export is a factory (or a provider object).
 */
export async function loadStagingProvider(
  action: string,
  baseDir: string,
): Promise<StagingProvider> {
  const builtin = BUILTIN_STAGING[action];
  if (builtin) {
    const p = (await builtin())();
    return p.name === action ? p : { ...p, name: action, ...bind(p) };
  }
  const file = resolve(baseDir, action);
  let mod: Record<string, unknown>;
  try {
    // The user's module, by its file URL: no import map is involved. `deno publish` warns
    // (unanalyzable-dynamic-import) and Deno 2.9 has no way to silence it (denoland/deno#22594).
    mod = await import(toFileUrl(file));
  } catch (e) {
    throw new StagingError(
      `Cannot load staging provider ${action} (${file}): ${(e as Error).message.split("\n")[0]}`,
      { retryable: false },
    );
  }
  const d = mod.default;
  const made = typeof d === "function" ? (d as StagingProviderFactory)() : d;
  if (!isProvider(made)) {
    throw new StagingError(
      `Cannot use staging provider ${action} (${file}): its default export must be a function returning { fetch?, put?, close? } (see providers/staging/types.ts)`,
      { retryable: false },
    );
  }
  return { ...bind(made), name: made.name || action };
}

/** Methods bound to their object, so a spread copy still works. */
function bind(p: StagingProvider): Partial<StagingProvider> {
  return {
    ...(p.fetch ? { fetch: p.fetch.bind(p) } : {}),
    ...(p.put ? { put: p.put.bind(p) } : {}),
    ...(p.close ? { close: p.close.bind(p) } : {}),
  };
}
