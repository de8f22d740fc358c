/**
 * Writing a staging provider: the contract a custom provider implements (a
 * module a site file names as a rule's `action`, whose default export is a
 * {@linkcode StagingProviderFactory}), and the runtime that calls it
 * ({@linkcode stageIn}, {@linkcode stageOut}: temporary names, verification,
 * retries, the cache and redaction), to try a provider the way a run uses it.
 *
 * @example A provider that serves fixed text, fetched through the runtime
 * ```ts
 * import { stageIn, type StagingProviderFactory } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const hello: StagingProviderFactory = () => ({
 *   name: "hello",
 *   async fetch({ partial }) {
 *     await Deno.writeTextFile(partial, "hello\n");
 *     return { status: "fetched", validators: { size: 6 } };
 *   },
 * });
 * const dir = await Deno.makeTempDir();
 * const got = await stageIn(hello(), { url: "hello://x", dest: `${dir}/x.txt`, options: {} });
 * assert.equal(got.bytes, 6);
 * assert.equal(await Deno.readTextFile(`${dir}/x.txt`), "hello\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */

export type {
  FetchRequest,
  FetchResult,
  PutRequest,
  PutResult,
  StagingContext,
  StagingProvider,
  StagingProviderFactory,
  Validators,
} from "./types.ts";
export { StagingError } from "./types.ts";
export type {
  StageInCall,
  StageInResult,
  StageOutCall,
  StageOutResult,
  TransferCall,
} from "./transfer.ts";
export { stageIn, stageOut } from "./transfer.ts";
export { redactSecrets } from "../_shared/secrets.ts";
export type { ParamValue, Scalar } from "../../dsl/model.ts";
