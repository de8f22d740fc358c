/**
 * Moved to `providers/_shared/secrets.ts`; this re-export remains only for
 * `interpreter/run.ts` until its rewrite imports the shared module.
 * @module
 */

export { redactSecrets } from "../_shared/secrets.ts";
