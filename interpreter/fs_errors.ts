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

/** The `code` of a Node-style error (`ENOSPC`), or of a SQLite error (`SQLITE_FULL`). */
function codeOf(e: unknown): string {
  const c = (e as { code?: unknown; errcode?: unknown } | null)?.code;
  return typeof c === "string" ? c : "";
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

/**
 * One line for a fault of ferry's own file `path` while `doing` something
 * ("writing the run's event log"), or undefined when `e` is none of the
 * faults above (then it is a bug, not the machine).
 */
export function describeFsFault(e: unknown, doing: string, path: string): string | undefined {
  if (isNoSpace(e)) return `no space left on device while ${doing} (${path})`;
  if (isReadOnly(e)) {
    return `cannot write ${path} while ${doing}: ${
      /Read-only|os error 30|EROFS/i.test(messageOf(e))
        ? "read-only file system"
        : "permission denied"
    }`;
  }
  if (isDamagedDatabase(e)) return `${path} is damaged (${messageOf(e)}) while ${doing}`;
  return undefined;
}
