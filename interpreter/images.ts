/**
 * Container images' identities for the cache key and the plan, asked of the
 * executor's runtime once per plan or run per image (`podman image inspect`,
 * a `.sif` file's sha256). Executors on other hosts (`provider: ssh`, `via:`)
 * are not asked here: their images are identified by their reference.
 * @module
 */

import type { Executor } from "../dsl/model.ts";
import { imageIdentity } from "../providers/batch/container.ts";

/** An image's identity on an executor, or undefined when it cannot be told here. */
export type ImageResolver = (ex: Executor, image: string) => string | undefined;

/** A resolver that asks each runtime about each image once. */
export function imageResolver(): ImageResolver {
  const seen = new Map<string, string | undefined>();
  return (ex, image) => {
    const r = ex.containerRuntime;
    if (r === undefined || ex.provider === "ssh" || ex.via !== undefined) return undefined;
    const key = JSON.stringify([r.engine, r.command, r.args, image]);
    if (!seen.has(key)) seen.set(key, imageIdentity(r, image));
    return seen.get(key);
  };
}
