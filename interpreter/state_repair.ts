/**
 * `ferry state check` and `ferry state repair` as data. Check says whether
 * `.ferry/state.db` is sound (SQLite's integrity check) and, table by table,
 * how many rows are still readable. Repair keeps those: it backs the damaged
 * file up beside it, copies every readable row into a fresh file (stepping
 * over damaged pages by rowid) and puts that in its place, holding the
 * workspace lock so no run starts meanwhile.
 * @module
 */

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { FerryFileError, isNoSpace, isReadOnly, throwAsFsFault } from "./fs_errors.ts";
import { acquireLock, describeHolder } from "./lock.ts";
import {
  createStateFile,
  type DatabaseSync,
  openStateFile,
  STATE_VERSION,
  StateDamagedError,
} from "./state.ts";

/** The tables of the state, and what losing rows of each means. */
export const STATE_TABLES: Readonly<Record<string, string>> = {
  runs: "ferry status lists fewer runs",
  attempts: "ferry status shows fewer attempts",
  successes: "those tasks run again",
  file_hashes: "those files are hashed again",
};

/** Columns holding JSON: a row whose JSON does not parse is not kept. */
const JSON_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  successes: ["parts", "outputs", "result"],
};

/** What is readable of one table. */
export interface TableSalvage {
  /** The table. */
  readonly table: string;
  /** Rows read (and, in a repair, kept). */
  readonly rows: number;
  /** Damaged parts stepped over (0: the whole table was read). */
  readonly damagedParts: number;
  /** At most this many rows were in them (rowids skipped); undefined when the table was unreadable from some point on. */
  readonly lostAtMost?: number;
}

/** What `ferry state check` found. */
export interface StateCheck {
  /** The state file, absolute. */
  readonly path: string;
  /** SQLite's integrity check found nothing and every table was read whole. */
  readonly sound: boolean;
  /** The integrity check's findings (empty when sound), or why the file could not be read at all. */
  readonly problems: readonly string[];
  /** What each table still gives. */
  readonly tables: readonly TableSalvage[];
}

/** What `ferry state repair` did. */
export interface StateRepair extends StateCheck {
  /** The copy of the damaged file kept (undefined when it was sound: nothing was done). */
  readonly backup?: string;
}

/** A result, or why there is none (a one-line message: no state, a run using it). */
export type StateResult<T> = { readonly ok: true; readonly value: T } | {
  readonly ok: false;
  readonly message: string;
};

/** Check the state of `workspace`: sound, or what is damaged and what is still readable. */
export function checkState(workspace: string): StateResult<StateCheck> {
  const path = stateFile(workspace);
  if (typeof path !== "string") return path;
  return { ok: true, value: inspect(path, undefined) };
}

/**
 * Repair the state of `workspace`: keep every readable row in a fresh file,
 * the damaged one backed up as `.ferry/state.db.damaged-<time>`. A sound state is left as it is.
 */
export function repairState(workspace: string, now: Date = new Date()): StateResult<StateRepair> {
  const path = stateFile(workspace);
  if (typeof path !== "string") return path;
  const held = acquireLock(resolve(workspace), "ferry state repair");
  if (!held.ok) {
    return {
      ok: false,
      message: held.holder
        ? `Cannot repair the state of "${workspace}": a ferry run is using it: ${
          describeHolder(held.holder)
        }`
        : `Cannot repair the state of "${workspace}": ${held.path} is being written by another ferry run`,
    };
  }
  try {
    const found = inspect(path, undefined);
    if (found.sound) return { ok: true, value: found };
    const backup = backupName(path, now);
    copyState(path, backup);
    const kept = rebuild(path);
    return { ok: true, value: { ...kept, problems: found.problems, backup } };
  } finally {
    held.lock.release();
  }
}

/** `state.db.damaged-20261202-183400` (`-2`, `-3`... when taken). */
function backupName(path: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  let name = `${path}.damaged-${stamp}`;
  for (let n = 2; existsSync(name); n++) name = `${path}.damaged-${stamp}-${n}`;
  return name;
}

/** Copy what is readable of the state file at `path` into a fresh one, then put that in its place. */
function rebuild(path: string): StateCheck {
  const fresh = `${path}.repair-${Deno.pid}`;
  removeState(fresh);
  try {
    const into = createStateFile(fresh);
    let kept: StateCheck;
    try {
      kept = inspect(path, into);
    } finally {
      into.close();
    }
    // The damaged file's WAL goes first (a WAL left beside the new file would be read into it);
    // the rename then replaces the file at once.
    removeState(path, { keepFile: true });
    Deno.renameSync(fresh, path);
    return kept;
  } catch (e) {
    removeState(fresh);
    throwAsFsFault(e, "writing the repaired state", fresh);
  }
}

/** The state file of `workspace`, or why there is none. */
function stateFile(workspace: string): string | { ok: false; message: string } {
  const ws = resolve(workspace);
  if (!existsSync(ws)) {
    return { ok: false, message: `Cannot check the state of "${workspace}": no such directory` };
  }
  const path = join(ws, ".ferry", "state.db");
  if (!existsSync(path)) {
    return {
      ok: false,
      message:
        `Cannot check the state of "${workspace}": it has no .ferry/state.db (no workflow has run there)`,
    };
  }
  return path;
}

/**
 * Read the state file at `path`: its integrity check, and every readable
 * row of each table, copied into `into` when given (then in one transaction).
 */
function inspect(path: string, into: DatabaseSync | undefined): StateCheck {
  let db: DatabaseSync;
  try {
    db = openStateFile(path).db;
  } catch (e) {
    if (!(e instanceof StateDamagedError)) throw e;
    // Not even a database (its first page is gone): nothing can be read.
    const detail = /\(([^)]*)\)/.exec(e.message)?.[1] ?? e.message;
    const tables = Object.keys(STATE_TABLES).map((table) => ({ table, rows: 0, damagedParts: 1 }));
    return { path, sound: false, problems: [detail], tables };
  }
  try {
    const version = readVersion(db);
    if (version > STATE_VERSION) {
      throw new FerryFileError(
        `${path} was written by a newer ferry (version ${version}; this one reads up to ${STATE_VERSION}): use that ferry`,
      );
    }
    const problems = integrityProblems(db);
    into?.exec("BEGIN IMMEDIATE");
    const tables = Object.keys(STATE_TABLES).map((t) => salvageTable(db, t, into));
    into?.exec("COMMIT");
    const sound = problems.length === 0 && tables.every((t) => t.damagedParts === 0);
    return { path, sound, problems, tables };
  } finally {
    try {
      db.close();
    } catch {
      /* a damaged file may refuse its checkpoint: it is being replaced or left as it is */
    }
  }
}

/** The schema version, or 0 when even that is unreadable. */
function readVersion(db: DatabaseSync): number {
  try {
    return (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
  } catch {
    return 0;
  }
}

/** SQLite's integrity check (its quick check when the full one stops on the damage), one finding a line. */
function integrityProblems(db: DatabaseSync): string[] {
  for (const pragma of ["integrity_check", "quick_check"]) {
    try {
      const rows = db.prepare(`PRAGMA ${pragma}`).all() as Record<string, string>[];
      const lines = rows.flatMap((r) => String(Object.values(r)[0]).split("\n"))
        .filter((l) => l !== "ok" && !/^\*\*\* in database/.test(l));
      return lines;
    } catch (e) {
      if (pragma === "quick_check") return [`${(e as Error).message} (the check stopped there)`];
    }
  }
  return [];
}

/**
 * Read every row of `table` that can be read, in rowid order, inserting each
 * into `into` when given. A damaged page stops the scan; the next readable
 * rowid is then found by seeking further and further on (a seek past a
 * damaged leaf lands on the next one), then narrowed down.
 */
function salvageTable(
  db: DatabaseSync,
  table: string,
  into: DatabaseSync | undefined,
): TableSalvage {
  const columns = columnsOf(db, table, into);
  if (columns === undefined) return { table, rows: 0, damagedParts: 1 };
  const list = columns.join(", ");
  const read = rowReader(db, `SELECT rowid, ${list} FROM ${table} WHERE rowid > ? ORDER BY rowid`);
  const insert = into?.prepare(
    `INSERT OR IGNORE INTO ${table} (${list}) VALUES (${columns.map(() => "?").join(", ")})`,
  );
  const jsonAt = (JSON_COLUMNS[table] ?? []).map((c) => columns.indexOf(c) + 1)
    .filter((i) => i > 0);
  let rows = 0, damagedParts = 0, lost = 0;
  // Our rowids start at 1.
  let after = 0;
  for (;;) {
    const stopped = read(after, (row) => {
      after = row[0] as number;
      if (keep(row, jsonAt, insert)) rows++;
      else lost++;
    });
    if (!stopped) return { table, rows, damagedParts, lostAtMost: lost };
    damagedParts++;
    const next = nextReadable(db, table, after);
    if (next === undefined) return { table, rows, damagedParts };
    lost += next - after;
    after = next;
  }
}

/**
 * Hands each row of `sql` (rows after a rowid) to `each`, in batches, until
 * the end (false) or a damaged page (true). The rows of a batch that meets
 * the damage are read again one at a time, up to it. (node:sqlite's
 * `iterate()` ends quietly on a damaged page: it cannot be used here.)
 */
function rowReader(
  db: DatabaseSync,
  sql: string,
): (after: number, each: (row: unknown[]) => void) => boolean {
  const batch = db.prepare(`${sql} LIMIT 512`);
  const one = db.prepare(`${sql} LIMIT 1`);
  batch.setReturnArrays(true);
  one.setReturnArrays(true);
  return (after, each) => {
    for (;;) {
      let rows: unknown[][];
      try {
        rows = batch.all(after) as unknown[][];
      } catch {
        for (;;) {
          let row: unknown[] | undefined;
          try {
            row = one.get(after) as unknown[] | undefined;
          } catch {
            return true;
          }
          if (row === undefined) return false;
          each(row);
          after = row[0] as number;
        }
      }
      if (rows.length === 0) return false;
      for (const row of rows) each(row);
      after = rows.at(-1)![0] as number;
    }
  };
}

/** Insert `row` (rowid first) into the fresh file; false when it is not worth keeping (broken JSON, a constraint). */
function keep(
  row: unknown[],
  jsonAt: readonly number[],
  insert: ReturnType<DatabaseSync["prepare"]> | undefined,
): boolean {
  try {
    for (const i of jsonAt) if (row[i] !== null) JSON.parse(row[i] as string);
    insert?.run(...row.slice(1));
    return true;
  } catch (e) {
    // A full disk is no reason to drop a row quietly: the repair stops, saying so.
    if (isNoSpace(e) || isReadOnly(e)) throw e;
    return false;
  }
}

/** The columns to copy: those of the fresh table that the damaged one has too; undefined when unreadable. */
function columnsOf(
  db: DatabaseSync,
  table: string,
  into: DatabaseSync | undefined,
): string[] | undefined {
  const names = (d: DatabaseSync) =>
    (d.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
  try {
    const have = names(db);
    if (have.length === 0) return undefined;
    return into ? names(into).filter((c) => have.includes(c)) : have;
  } catch {
    return undefined;
  }
}

/**
 * The largest rowid at or before which the damage ends: a seek for rows
 * after it succeeds. Undefined when no seek past `after` succeeds (the
 * table is unreadable from there on).
 */
function nextReadable(db: DatabaseSync, table: string, after: number): number | undefined {
  const seek = db.prepare(`SELECT rowid FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT 1`);
  const works = (from: number) => {
    try {
      seek.get(from);
      return true;
    } catch {
      return false;
    }
  };
  let fail = after, step = 1;
  while (!works(after + step)) {
    fail = after + step;
    if (step > 2 ** 46) return undefined;
    step *= 2;
  }
  let ok = after + step;
  while (ok - fail > 1) {
    const mid = Math.floor((ok + fail) / 2);
    if (works(mid)) ok = mid;
    else fail = mid;
  }
  return ok;
}

/** Copy the state file (and its WAL) to `to` (and `to-wal`), so SQLite opens them as one. */
function copyState(path: string, to: string): void {
  try {
    Deno.copyFileSync(path, to);
    if (existsSync(`${path}-wal`)) Deno.copyFileSync(`${path}-wal`, `${to}-wal`);
  } catch (e) {
    throwAsFsFault(e, "backing up the damaged state", to);
  }
}

/** Remove a state file (unless `keepFile`) with its WAL, shared-memory and journal files. */
function removeState(path: string, { keepFile = false } = {}): void {
  const files = [`${path}-wal`, `${path}-shm`, `${path}-journal`];
  for (const p of keepFile ? files : [path, ...files]) {
    try {
      Deno.removeSync(p);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}
