/**
 * The staging-provider interface. The decision (transfer node, wrap, rewrite,
 * nothing) is plain data made at compile time (`interpreter/staging.ts`);
 * this is the effectful half: moving bytes. A provider only talks its
 * protocol. The runtime around it (`transfer.ts`) owns everything else:
 * temporary names and the final rename, size and checksum verification,
 * retries with backoff, the cache under `.ferry/staged/`, concurrency limits
 * and redaction of secrets. Only the runtime calls a provider.
 *
 * A custom provider is a module named in a staging rule (`action:
 * ./my_staging.ts`) whose default export is a {@linkcode StagingProviderFactory}.
 * @module
 */

import type { ParamValue } from "../../dsl/model.ts";

/** What identifies one version of a remote file (what the cache compares). */
export interface Validators {
  /** Size in bytes. */
  readonly size?: number;
  /** HTTP entity tag, as the server sent it (quotes kept). */
  readonly etag?: string;
  /** HTTP Last-Modified, as the server sent it. */
  readonly lastModified?: string;
  /** Modification time in ms since the epoch (FTP MDTM, SFTP/rsync stat). */
  readonly mtime?: number;
  /** A digest the server gave: `sha256:<hex>`, `sha512:<hex>`, `sha1:<hex>` or `md5:<hex>`. */
  readonly digest?: string;
}

/** What every call gets besides its own request. */
export interface StagingContext {
  /** The staging rule's options as written in the site file (`user`, `password_env`, ...). */
  readonly options: Readonly<Record<string, ParamValue>>;
  /** Aborted when the run is cancelled or the transfer timed out: stop at once. */
  readonly signal: AbortSignal;
  /** Report progress: bytes of the file now present at the destination, and the total if known. */
  readonly progress: (bytes: number, total?: number) => void;
  /**
   * Read a secret (password, token, passphrase) from the environment variable `name`.
   * Use this rather than `Deno.env`: the value is then redacted from every message,
   * log and state ferry writes. Undefined when the variable is not set.
   */
  readonly secret: (name: string) => string | undefined;
}

/** Fetch `url` into the local file `partial`. */
export interface FetchRequest extends StagingContext {
  /** The source URL (never carries a password). */
  readonly url: string;
  /**
   * The temporary file to write. It may already hold the first bytes from an
   * interrupted attempt: append from its size when the protocol can resume,
   * else truncate it. The runtime renames it to its final name after checking it.
   */
  readonly partial: string;
  /**
   * What was recorded when the cached copy was fetched. When the source is
   * unchanged, answer `{ status: "unchanged" }` without writing anything.
   */
  readonly previous?: Validators;
}

/** How a fetch ended. */
export type FetchResult =
  | {
    /** `partial` holds the whole file. */
    readonly status: "fetched";
    /** What identifies this version (size at least, when the protocol tells it). */
    readonly validators: Validators;
  }
  | {
    /** The cached copy is still current; nothing was written. */
    readonly status: "unchanged";
    /** Validators, refreshed where the server sent new ones. */
    readonly validators: Validators;
  };

/** Upload the local file `source` to `url`. */
export interface PutRequest extends StagingContext {
  /** The destination URL (never carries a password). */
  readonly url: string;
  /** The local file to send. */
  readonly source: string;
  /** Its size in bytes. */
  readonly size: number;
}

/** How an upload ended. */
export interface PutResult {
  /** What identifies the uploaded version on the server. */
  readonly validators: Validators;
}

/**
 * One protocol. A provider never leaves a partial file under a final name on
 * the remote side either: it uploads under a temporary name and renames.
 * Failures throw a {@linkcode StagingError}; anything else thrown is treated as
 * a retryable failure with its message.
 */
export interface StagingProvider {
  /** The action name (`http`, `ftp`, ... or the module path). */
  readonly name: string;
  /** Fetch a remote file. Absent: the provider cannot stage in. */
  fetch?(request: FetchRequest): Promise<FetchResult>;
  /** Upload a file. Absent: the provider cannot stage out. */
  put?(request: PutRequest): Promise<PutResult>;
  /** Release connections once the run is over. */
  close?(): Promise<void>;
}

/** Builds a provider. Called once per run per action; options come per call. */
export type StagingProviderFactory = () => StagingProvider;

/** A transfer failure, with whether trying again could help. */
export class StagingError extends Error {
  /** True for dropped connections, timeouts, 5xx; false for 404, refused logins, bad options. */
  readonly retryable: boolean;
  /** Create a staging error. */
  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "StagingError";
    this.retryable = options.retryable;
  }
}
