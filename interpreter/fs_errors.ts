/**
 * What went wrong with one of ferry's own files, in words: a full disk, a
 * read-only file system, a permission, or a damaged SQLite file. Used where
 * ferry writes its state, logs and locks, so such faults end in a clear
 * message (and the right exit code) instead of an internal error.
 * @module
 */

/** The message of an error, whatever was thrown. */
function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** SQLite's primary result codes of the faults below, by number (node:sqlite's `errcode`). */
const SQLITE_CODES: Readonly<Record<number, string>> = {
  8: "SQLITE_READONLY",
  11: "SQLITE_CORRUPT",
  13: "SQLITE_FULL",
  26: "SQLITE_NOTADB",
};

/**
 * The `code` of a Node-style error (`ENOSPC`), or of a SQLite error
 * (`SQLITE_FULL`): node:sqlite says `ERR_SQLITE_ERROR` and keeps SQLite's
 * number in `errcode` (an extended code carries the primary one in its low byte).
 */
function codeOf(e: unknown): string {
  const { code, errcode } = (e ?? {}) as { code?: unknown; errcode?: unknown };
  if (typeof errcode === "number" && SQLITE_CODES[errcode & 0xff]) {
    return SQLITE_CODES[errcode & 0xff]!;
  }
  return typeof code === "string" ? code : "";
}

/** The disk (or quota) is full: `ENOSPC`, `EDQUOT`, or SQLite's "database or disk is full". */
export function isNoSpace(e: unknown): boolean {
  const code = codeOf(e);
  if (code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL") return true;
  const m = messageOf(e);
  return /No space left on device|os error 28\b|Disk quota exceeded|os error 122\b|database or disk is full/i
    .test(m);
}

/** The file system is mounted read-only (`EROFS`), or writing was refused (`EACCES`, `EPERM`). */
export function isReadOnly(e: unknown): boolean {
  if (e instanceof Deno.errors.PermissionDenied) return true;
  const code = codeOf(e);
  if (code === "EROFS" || code === "EACCES" || code === "EPERM" || code === "SQLITE_READONLY") {
    return true;
  }
  return /Read-only file system|os error 30\b|Permission denied|os error 13\b|attempt to write a readonly database/i
    .test(messageOf(e));
}

/** SQLite says the file is not a database or is damaged (`SQLITE_CORRUPT`, `SQLITE_NOTADB`). */
export function isDamagedDatabase(e: unknown): boolean {
  const code = codeOf(e);
  if (code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB") return true;
  return /database disk image is malformed|file is not a database|file is encrypted or is not a database/i
    .test(messageOf(e));
}

/** A part of the path is a file where a directory should be (`ENOTDIR`). */
function isNotADirectory(e: unknown): boolean {
  return e instanceof Deno.errors.NotADirectory || codeOf(e) === "ENOTDIR" ||
    /Not a directory|os error 20\b/.test(messageOf(e));
}

/** Why writing was refused, in words: `read-only file system` or `permission denied`. */
function readOnlyReason(e: unknown): string {
  return codeOf(e) === "EROFS" || /Read-only|os error 30/i.test(messageOf(e))
    ? "read-only file system"
    : "permission denied";
}

/**
 * One line for a fault of ferry's own file `path` while `doing` something
 * ("writing the run's event log"), or undefined when `e` is none of the
 * faults above (then it is a bug, not the machine).
 */
export function describeFsFault(e: unknown, doing: string, path: string): string | undefined {
  if (e instanceof FerryFileError) return e.message;
  if (isNoSpace(e)) return `no space left on device while ${doing} (${path})`;
  if (isReadOnly(e)) return `cannot write ${path} while ${doing}: ${readOnlyReason(e)}`;
  if (isDamagedDatabase(e)) return `${path} is damaged (${messageOf(e)}) while ${doing}`;
  if (isNotADirectory(e)) {
    return `cannot write ${path} while ${doing}: a part of that path is a file, not a directory`;
  }
  return undefined;
}

/**
 * One of ferry's own files (its state, lock, logs) cannot be used: the disk
 * is full, the file system read-only, the state damaged. Its message is one
 * line for the user, naming the file, why, and what to do; `code` says which
 * fault (`ENOSPC`, `EROFS`, `EACCES`, `SQLITE_CORRUPT`, ...) so the checks
 * above still recognise it. The CLI prints it without a stack and exits 2.
 */
export class FerryFileError extends Error {
  /** The fault's code, as the error that caused it had it (empty when none). */
  readonly code: string;

  /** An error saying `message`, caused by `cause` (whose code it keeps). */
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "FerryFileError";
    this.code = cause === undefined
      ? ""
      : codeOf(cause) || (isNoSpace(cause) ? "ENOSPC" : isReadOnly(cause) ? "EROFS" : "");
  }
}

/**
 * Throw `e` as a {@linkcode FerryFileError} when it is a fault of ferry's own
 * file `path` while `doing` something; else rethrow it as it is (a bug).
 */
export function throwAsFsFault(e: unknown, doing: string, path: string): never {
  const fault = describeFsFault(e, doing, path);
  if (fault === undefined) throw e;
  throw e instanceof FerryFileError ? e : new FerryFileError(fault, e);
}
