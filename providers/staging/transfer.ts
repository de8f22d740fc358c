/**
 * The runtime around a staging provider: what makes a transfer safe whatever
 * the protocol. A fetch lands in `<dest>.ferry-part` (kept between attempts
 * and between runs: it is the resume point) and is renamed to its final name
 * only when complete and verified: size against what the server announced,
 * sha256 against the workflow's `checksum:` or the server's own digest.
 * Failures are retried with exponential backoff when they may pass. A cached
 * copy is kept with a metadata sidecar (URL, validators, size, digest) and
 * reused until the provider says the source changed.
 * @module
 */

import { retry, RETRY_BASE_MS } from "../_shared/retry.ts";
import { dirname } from "node:path";
import type { ParamValue } from "../../dsl/model.ts";
import { readSecret, redactSecrets } from "../_shared/secrets.ts";
import { type FetchResult, StagingError, type StagingProvider, type Validators } from "./types.ts";
import {
  type CacheRecord,
  digestFile,
  fileSize,
  metaPath,
  parseDigest,
  partialPath,
  readCacheRecord,
  removeQuietly,
  writeAtomic,
} from "./_transfer_files.ts";

export {
  type CacheRecord,
  metaPath,
  partialPath,
  readCacheRecord,
  sha256File,
} from "./_transfer_files.ts";

// Defined in providers/_shared/retry.ts (the job wrapper uses it too); exported here as before.
export { RETRY_BASE_MS };

/** Options shared by {@linkcode stageIn} and {@linkcode stageOut}. */
export interface TransferCall {
  /** The remote URL. */
  readonly url: string;
  /** The staging rule's options. */
  readonly options: Readonly<Record<string, ParamValue>>;
  /** Cancels the transfer (the partial file stays for a later resume). */
  readonly signal?: AbortSignal;
  /** Bytes present at the destination so far, and the total when known. */
  readonly progress?: (bytes: number, total?: number) => void;
  /** Attempts after the first. @default the rule's `retries`, else 3 */
  readonly retries?: number;
  /** First backoff delay; doubles per attempt, at most 30 s. @default {@linkcode RETRY_BASE_MS} */
  readonly retryBaseMs?: number;
}

/** A fetch to a local path. */
export interface StageInCall extends TransferCall {
  /** The final local path. */
  readonly dest: string;
  /** Declared digest, `sha256:<hex>`. */
  readonly checksum?: string;
  /** Reuse `dest` when the source is unchanged (a metadata sidecar records what was fetched). @default true */
  readonly cache?: boolean;
}

/** What a fetch did. */
export interface StageInResult {
  /** The final path (= dest). */
  readonly path: string;
  /** Size of the file. */
  readonly bytes: number;
  /** What identifies the version fetched. */
  readonly validators: Validators;
  /** The cached copy was still current: nothing was downloaded. */
  readonly reused: boolean;
  /** Attempts made (0 when reused without asking the server). */
  readonly attempts: number;
  /** sha256 of the content, hex, when it was computed (a checksum was declared or given). */
  readonly sha256?: string;
}

/** An upload of a local file. */
export interface StageOutCall extends TransferCall {
  /** The local file. */
  readonly source: string;
}

/** What an upload did. */
export interface StageOutResult {
  /** Bytes sent. */
  readonly bytes: number;
  /** What identifies the uploaded version. */
  readonly validators: Validators;
  /** Attempts made. */
  readonly attempts: number;
}

function retriesOf(call: TransferCall): number {
  if (call.retries !== undefined) return call.retries;
  const r = call.options.retries;
  return typeof r === "number" && r >= 0 ? r : 3;
}

function baseDelayOf(call: TransferCall): number {
  return call.retryBaseMs ?? RETRY_BASE_MS;
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

function isRetryable(e: unknown): boolean {
  return e instanceof StagingError ? e.retryable : true;
}

function context(call: TransferCall, signal: AbortSignal) {
  return {
    options: call.options,
    signal,
    progress: call.progress ?? (() => {}),
    secret: readSecret,
  };
}

/** What one attempt of a fetch needs besides the call. */
interface FetchAttempt {
  readonly provider: StagingProvider;
  readonly call: StageInCall;
  readonly signal: AbortSignal;
  readonly partial: string;
  readonly previous: CacheRecord | undefined;
  readonly declared: { algorithm: string; hex: string } | undefined;
}

/** A failure of one attempt that the provider did not throw (size, checksum). */
function attemptFailed(why: string, retryable: boolean): StagingError {
  return new StagingError(why, { retryable });
}

/**
 * The message of a transfer that gave up after `attempts` attempts on `error`
 * (retryable as a whole only when the retries ran out, so the task may try again later).
 */
function gaveUp(
  fail: (attempts: number, why: string, retryable?: boolean) => StagingError,
  attempts: number,
  retries: number,
  error: unknown,
  signal: AbortSignal,
): StagingError {
  if (aborted(signal)) return fail(attempts, "cancelled");
  return fail(attempts, messageOf(error), attempts > retries && isRetryable(error));
}

/**
 * Fetch `url` to `dest` through `provider`: resumable, verified, atomic, cached.
 * Rejects with a {@linkcode StagingError} naming the URL and the provider.
 */
export async function stageIn(
  provider: StagingProvider,
  call: StageInCall,
): Promise<StageInResult> {
  const { url, dest } = call;
  const fail = (attempts: number, why: string, retryable = false) =>
    new StagingError(
      redactSecrets(
        `Cannot fetch "${url}" with ${provider.name} after ${attempts} attempt(s): ${why}`,
      ),
      { retryable },
    );
  if (!provider.fetch) {
    throw new StagingError(
      `Cannot fetch "${
        redactSecrets(url)
      }" with ${provider.name}: this provider can only stage out`,
      { retryable: false },
    );
  }
  const signal = call.signal ?? new AbortController().signal;
  const declared = call.checksum !== undefined ? parseDigest(call.checksum) : undefined;
  const cache = call.cache !== false;
  Deno.mkdirSync(dirname(dest), { recursive: true });
  let previous = cache ? readCacheRecord(dest, url) : undefined;
  if (previous && fileSize(dest) !== previous.size) previous = undefined;
  if (previous && declared?.algorithm === "sha256" && previous.sha256 === declared.hex) {
    // The content is pinned by its checksum and the copy has it: no need to ask the server.
    call.progress?.(previous.size, previous.size);
    return {
      path: dest,
      bytes: previous.size,
      validators: previous.validators,
      reused: true,
      attempts: 0,
      sha256: previous.sha256,
    };
  }
  const retries = retriesOf(call);
  const job: FetchAttempt = {
    provider,
    call,
    signal,
    partial: partialPath(dest),
    previous,
    declared,
  };
  let attempts = 0;
  try {
    return await retry(
      (attempt) => {
        attempts = attempt;
        return fetchOnce(job, attempt);
      },
      { retries, baseMs: baseDelayOf(call), retryable: isRetryable },
      signal,
    );
  } catch (e) {
    throw gaveUp(fail, attempts, retries, e, signal);
  }
}

/** One attempt of a fetch: the provider's, then the checks, then the rename and the cache record. */
async function fetchOnce(job: FetchAttempt, attempt: number): Promise<StageInResult> {
  const { provider, call, signal, partial, previous } = job;
  const { url, dest } = call;
  const result: FetchResult = await provider.fetch!({
    ...context(call, signal),
    url,
    partial,
    ...(previous ? { previous: previous.validators } : {}),
  });
  if (result.status === "unchanged") {
    if (!previous) {
      throw attemptFailed(
        "the provider answered `unchanged` without a cached copy (a bug in it)",
        false,
      );
    }
    const record: CacheRecord = {
      ...previous,
      validators: { ...previous.validators, ...result.validators },
    };
    writeAtomic(metaPath(dest), JSON.stringify(record));
    call.progress?.(previous.size, previous.size);
    return {
      path: dest,
      bytes: previous.size,
      validators: record.validators,
      reused: true,
      attempts: attempt,
      ...(record.sha256 ? { sha256: record.sha256 } : {}),
    };
  }
  const size = fileSize(partial);
  if (size === undefined) {
    throw attemptFailed("the provider reported success but wrote nothing", true);
  }
  const v = result.validators;
  if (v.size !== undefined && size !== v.size) {
    // More bytes than announced cannot be resumed: start over.
    if (size > v.size) removeQuietly(partial);
    throw attemptFailed(`got ${size} bytes, the server announced ${v.size}`, true);
  }
  const sha256 = await verified(job, v);
  Deno.renameSync(partial, dest);
  const record: CacheRecord = {
    url,
    size,
    validators: v,
    ...(sha256 ? { sha256 } : {}),
    fetchedAt: Date.now(),
  };
  if (call.cache !== false) writeAtomic(metaPath(dest), JSON.stringify(record));
  return {
    path: dest,
    bytes: size,
    validators: v,
    reused: false,
    attempts: attempt,
    ...(sha256 ? { sha256 } : {}),
  };
}

/**
 * Check the partial file against the workflow's checksum and the server's
 * digest; its sha256 when one was computed. A mismatch discards the file
 * (never resumed from) and fails the attempt.
 */
async function verified(job: FetchAttempt, v: Validators): Promise<string | undefined> {
  const { partial, declared } = job;
  let sha256: string | undefined;
  const given = v.digest !== undefined ? parseDigest(v.digest) : undefined;
  const checks = [
    ...(declared ? [{ ...declared, from: "the workflow's checksum" }] : []),
    ...(given ? [{ ...given, from: "the server's digest" }] : []),
  ];
  for (const c of checks) {
    const got = c.algorithm === "sha256" && sha256
      ? sha256
      : await digestFile(partial, c.algorithm);
    if (c.algorithm === "sha256") sha256 = got;
    if (got !== c.hex) {
      removeQuietly(partial);
      throw attemptFailed(
        `checksum mismatch: ${c.from} is ${c.algorithm}:${c.hex}, the file has ${c.algorithm}:${got}`,
        true,
      );
    }
  }
  return sha256;
}

/**
 * Upload `source` to `url` through `provider`, with retries. The provider
 * writes under a temporary name on the server and renames when complete.
 */
export async function stageOut(
  provider: StagingProvider,
  call: StageOutCall,
): Promise<StageOutResult> {
  const { url, source } = call;
  const fail = (attempts: number, why: string, retryable = false) =>
    new StagingError(
      redactSecrets(
        `Cannot upload "${source}" to "${url}" with ${provider.name} after ${attempts} attempt(s): ${why}`,
      ),
      { retryable },
    );
  if (!provider.put) {
    throw new StagingError(
      redactSecrets(
        `Cannot upload to "${url}" with ${provider.name}: this provider can only stage in`,
      ),
      { retryable: false },
    );
  }
  const put = provider.put;
  const signal = call.signal ?? new AbortController().signal;
  const size = fileSize(source);
  if (size === undefined) throw fail(0, `${source} does not exist`);
  const retries = retriesOf(call);
  let attempts = 0;
  try {
    return await retry(
      async (attempt) => {
        attempts = attempt;
        const r = await put({ ...context(call, signal), url, source, size });
        if (r.validators.size !== undefined && r.validators.size !== size) {
          throw attemptFailed(
            `the server has ${r.validators.size} bytes, the file has ${size}`,
            true,
          );
        }
        return { bytes: size, validators: r.validators, attempts: attempt };
      },
      { retries, baseMs: baseDelayOf(call), retryable: isRetryable },
      signal,
    );
  } catch (e) {
    throw gaveUp(fail, attempts, retries, e, signal);
  }
}
