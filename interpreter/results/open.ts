/**
 * The result store a command uses: `--store URL` if given, else the site
 * file's `store`, opened over its backend for one workspace.
 * @module
 */

import { dirname, join, resolve } from "node:path";
import type { Site } from "../../dsl/model.ts";
import type { StateStore } from "../state.ts";
import { openBackend } from "./backend.ts";
import { parseStoreUrl, type StoreLocation } from "./location.ts";
import { ResultStore, type ResultStoreOptions } from "./store.ts";

/** Options whose relative paths are relative to the site file. */
const PATH_OPTIONS = ["identity_file", "known_hosts", "ca_file"];

/** Where the store is: `--store`, else the site's; undefined when neither names one. */
export function storeLocation(
  flag: string | undefined,
  site: { readonly file?: string; readonly model?: Site },
): { ok: true; location?: StoreLocation } | { ok: false; message: string } {
  const declared = site.model?.store;
  const options: Record<string, unknown> = { ...(declared?.options ?? {}) };
  for (const k of PATH_OPTIONS) {
    const v = options[k];
    if (typeof v === "string" && !v.startsWith("/") && !v.startsWith("~") && site.file) {
      options[k] = resolve(dirname(site.file), v);
    }
  }
  if (flag !== undefined) return parseStoreUrl(flag, options, "--store");
  if (!declared) return { ok: true };
  return parseStoreUrl(declared.url, options, `${site.file ?? "the site file"}, store`);
}

/** A store at `location` for the workspace of `state`. */
export function openResultStore(
  location: StoreLocation,
  state: StateStore,
  options: Omit<ResultStoreOptions, "workspaceUrl" | "hash">,
): ResultStore {
  const scratch = join(state.workspace, ".ferry", "store-tmp");
  return new ResultStore(openBackend(location, scratch, options.retryBaseMs), {
    ...options,
    workspaceUrl: state.workspaceUrl,
    hash: (path) => state.hashPathAsync(path, false),
  });
}
