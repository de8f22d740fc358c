/**
 * The state store: `.ferry/state.db`, SQLite through Deno's built-in
 * `node:sqlite`, in WAL mode. It keeps every run, every attempt (failed ones
 * too, with their log paths), one success per task (its cache key, the parts
 * of the key, and each output's URL, size and content hash), and a memo of
 * file hashes keyed by (device, inode, size, mtime) so unchanged files are
 * never read twice. Each finished task is committed at once, in one
 * transaction, so a crash or `kill -9` loses at most the tasks still running.
 *
 * Faults of the file itself end in a {@linkcode FerryFileError} naming it: a
 * damaged file (checked when opened) with the ways to recover, a full disk or
 * a read-only file system with the write that failed. A state that cannot be
 * written (read-only, or a full disk) is still opened for reading.
 * @module
 */

import { StatCache } from "./stat_cache.ts";
import { irregularKind } from "../dsl/file_kind.ts";
import { FerryFileError, isDamagedDatabase, throwAsFsFault } from "./fs_errors.ts";
import { shellQuote } from "../providers/_shared/shell.ts";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import process from "node:process";
import { join, resolve } from "node:path";
import { relativizeSuccesses } from "./state_migrate.ts";
import { fromRecordedUrl, toRecordedUrl, workspaceUrl } from "./urls.ts";
import type { PilotPlace, Usage } from "../providers/batch/types.ts";

/** The part of node:sqlite's prepared statement this module uses. */
interface StatementSync {
  /** Rows as arrays instead of objects (Deno 2.9's node:sqlite has it). */
  setReturnArrays(enabled: boolean): void;
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/** The part of node:sqlite's database this module (and state_repair.ts) uses. */
export interface DatabaseSync {
  exec(sql: string): void;
  prepare(sql: string): StatementSync;
  close(): void;
  /** Whether a transaction is open (a failed statement may have ended it already). */
  readonly isTransaction: boolean;
}

// node:sqlite is loaded as a built-in with local types: the older @types/node that npm:@types/ssh2
// brings into the type-check lacks both node:sqlite and getBuiltinModule. Unlike createRequire,
// getBuiltinModule also works when ferry itself is loaded from a URL.
const builtins = process as unknown as { getBuiltinModule(id: string): unknown };
const { DatabaseSync: Database } = builtins.getBuiltinModule("node:sqlite") as {
  DatabaseSync: new (path: string, options?: { readOnly?: boolean }) => DatabaseSync;
};

/** The schema version this code writes; older databases are migrated on open. */
export const STATE_VERSION = 4;

/**
 * Ordered migrations: index i brings a database from version i to i + 1, as SQL or as a
 * function given the database and the workspace it is in.
 */
const MIGRATIONS: readonly (string | ((db: DatabaseSync, workspace: string) => void))[] = [
  `
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    status TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    dir TEXT NOT NULL
  );
  CREATE TABLE attempts (
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    key TEXT,
    outcome TEXT NOT NULL,
    exit_code INTEGER,
    signal TEXT,
    reason TEXT,
    started_at INTEGER NOT NULL,
    ended_at INTEGER NOT NULL,
    host TEXT NOT NULL,
    stdout TEXT,
    stderr TEXT,
    PRIMARY KEY (run_id, task_id, attempt)
  );
  CREATE INDEX attempts_task ON attempts (task_id);
  CREATE TABLE successes (
    task_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    parts TEXT NOT NULL,
    run_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    outputs TEXT NOT NULL,
    result TEXT
  );
  CREATE TABLE file_hashes (
    path TEXT PRIMARY KEY,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    ctime INTEGER NOT NULL,
    sha256 TEXT NOT NULL
  );
  `,
  // 2: workspace files recorded relative to the workspace (keys computed again).
  relativizeSuccesses,
  // 3: what each attempt used (JSON: wall, CPU, peak RSS, how it was measured); older attempts
  // have none.
  "ALTER TABLE attempts ADD COLUMN usage TEXT;",
  // 4: where a pilot worker ran each attempt (JSON: block, worker, node); older attempts, and
  // attempts not run by pilots, have none.
  "ALTER TABLE attempts ADD COLUMN pilot TEXT;",
];

/** One output of a successful task, as recorded. */
export interface OutputRecord {
  /** The output slot. */
  readonly name: string;
  /** Normalised URL. */
  readonly url: string;
  /** Size in bytes (of every file, for a directory). */
  readonly size: number;
  /** Content hash: sha256 hex of the file; for a directory, of its listing with file hashes. */
  readonly sha256: string;
  /** For dynamic outputs: the files collected, as URLs. */
  readonly files?: readonly string[];
  /** A glob output: `sha256` and `size` cover the files collected (`files`), in order. */
  readonly glob?: boolean;
  /** A remote output (staged out): not checked on disk. */
  readonly remote?: boolean;
  /**
   * For dynamic outputs: files earlier successes of the task collected that this one did not,
   * still in the workspace when it was recorded (`ferry status`, `ferry clean --stale`).
   */
  readonly stale?: readonly string[];
}

/** The recorded success of a task. */
export interface SuccessRecord {
  /** The task id. */
  readonly taskId: string;
  /** Its cache key. */
  readonly key: string;
  /** The parts the key was made of (to say what changed). */
  readonly parts: Readonly<Record<string, unknown>>;
  /** The run and attempt that succeeded. */
  readonly runId: string;
  /** The attempt number. */
  readonly attempt: number;
  /** When it finished (ms since the epoch). */
  readonly finishedAt: number;
  /** Its outputs. */
  readonly outputs: readonly OutputRecord[];
  /** A function app's JSON return value. */
  readonly result?: unknown;
}

/** One attempt of a task, whatever its outcome. */
export interface AttemptRecord {
  /** The run. */
  readonly runId: string;
  /** The task. */
  readonly taskId: string;
  /** 1 for the first. */
  readonly attempt: number;
  /** The cache key it ran with. */
  readonly key?: string;
  /** succeeded, failed, timeout, cancelled, cached. */
  readonly outcome: string;
  /** Exit code. */
  readonly exitCode?: number;
  /** Signal name. */
  readonly signal?: string;
  /** Why it failed, when not the command itself. */
  readonly reason?: string;
  /** Start (ms since the epoch). */
  readonly startedAt: number;
  /** End. */
  readonly endedAt: number;
  /** Where it ran. */
  readonly host: string;
  /** Standard output log. */
  readonly stdout?: string;
  /** Standard error log. */
  readonly stderr?: string;
  /** What its processes used, when it was measured. */
  readonly usage?: Usage;
  /** The pilot block and worker that ran it (an executor with `bundle: pilot`). */
  readonly pilot?: PilotPlace;
}

/** A run as recorded. */
export interface RunRecord {
  /** Its id. */
  readonly id: string;
  /** The workflow file. */
  readonly workflow: string;
  /** Start. */
  readonly startedAt: number;
  /** End, when it ended. */
  readonly endedAt?: number;
  /** running, succeeded, failed, interrupted (a run still "running" whose process is gone crashed). */
  readonly status: string;
  /** The ferry process. */
  readonly pid: number;
  /** Its host. */
  readonly host: string;
  /** Its directory. */
  readonly dir: string;
}

interface Memo {
  dev: number;
  ino: number;
  size: number;
  mtime: number;
  ctime: number;
  sha256: string;
}

/** Where a store's file is, and why it cannot be written when it cannot. */
interface StoreFile {
  /** The workspace, absolute. */
  readonly workspace: string;
  /** `.ferry/state.db`, absolute. */
  readonly path: string;
  /** Set when the file could be opened for reading only: the error writing met. */
  readonly unwritable?: unknown;
}

/** An output record with its URLs (and its files' URLs) mapped by `map` against `base`. */
function mapUrls(
  o: OutputRecord,
  base: string,
  map: (url: string, base: string) => string,
): OutputRecord {
  const url = map(o.url, base);
  return { ...o, url, ...(o.files ? { files: o.files.map((f) => map(f, base)) } : {}) };
}

/** The state of one workspace. */
export class StateStore {
  readonly #db: DatabaseSync;
  readonly #file: StoreFile;
  #memo: Map<string, Memo> | undefined;
  readonly #memoDirty = new Map<string, Memo>();
  readonly #seen = new Map<string, { sha256: string; size: number } | undefined>();
  #successes: Map<string, SuccessRecord> | undefined;
  readonly #stmts = new Map<string, StatementSync>();
  readonly #stats: StatCache;

  private constructor(db: DatabaseSync, file: StoreFile, stats: StatCache) {
    this.#db = db;
    this.#file = file;
    this.#stats = stats;
  }

  /**
   * Open (creating and migrating as needed) the state of the workspace `dir`.
   * `stats`: what the plan or run using it saw of files already (default: nothing).
   * Throws a {@linkcode FerryFileError} when the file is damaged (a
   * {@linkcode StateDamagedError}), was written by a newer ferry, or cannot be
   * created; one that cannot be written is opened for reading, and each write
   * then throws one.
   */
  static open(workspace: string, options: { readonly stats?: StatCache } = {}): StateStore {
    const dir = join(resolve(workspace), ".ferry");
    try {
      Deno.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throwAsFsFault(e, "creating ferry's folder for the state", dir);
    }
    const path = join(dir, "state.db");
    const opened = openStateFile(path);
    const file = { workspace: resolve(workspace), path, ...opened.unwritable };
    const store = new StateStore(opened.db, file, options.stats ?? new StatCache());
    try {
      store.#verify();
      store.#migrate();
    } catch (e) {
      closeQuietly(opened.db);
      throw e;
    }
    return store;
  }

  /** The workspace, absolute. */
  get workspace(): string {
    return this.#file.workspace;
  }

  /** The workspace as a URL (files in it are recorded relative to it). */
  get workspaceUrl(): string {
    return workspaceUrl(this.#file.workspace);
  }

  /** Whether this store can only be read (its file system is read-only or full). */
  get readOnly(): boolean {
    return "unwritable" in this.#file;
  }

  /** A damaged file (SQLite's quick check: every page and b-tree, not index contents) is refused. */
  #verify(): void {
    const rows = this.#read(() => this.#db.prepare("PRAGMA quick_check").all()) as {
      quick_check: string;
    }[];
    if (rows.length !== 1 || rows[0]!.quick_check !== "ok") {
      throw new StateDamagedError(this.#file, "database disk image is malformed");
    }
  }

  #migrate(): void {
    const version = (this.#read(() => this.#db.prepare("PRAGMA user_version").get()) as {
      user_version: number;
    }).user_version;
    if (version > STATE_VERSION) {
      throw new StateError(
        `the state in ${this.#file.path} was written by a newer ferry (version ${version}; this one reads up to ${STATE_VERSION})`,
      );
    }
    for (let v = version; v < STATE_VERSION; v++) {
      this.#transaction("bringing the state's tables up to date", () => {
        applyMigration(this.#db, v, this.#file.workspace);
        this.#db.exec(`PRAGMA user_version = ${v + 1}`);
      });
    }
  }

  #stmt(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (!s) this.#stmts.set(sql, s = this.#db.prepare(sql));
    return s;
  }

  /** Read: a damaged file is said to be, with the way to recover. */
  #read<T>(read: () => T): T {
    try {
      return read();
    } catch (e) {
      if (isDamagedDatabase(e)) throw new StateDamagedError(this.#file, (e as Error).message);
      throw e;
    }
  }

  /** Write (`doing` says what, for the message): a full disk or a read-only file is said to be. */
  #write<T>(doing: string, write: () => T): T {
    if ("unwritable" in this.#file) throwAsFsFault(this.#file.unwritable, doing, this.#file.path);
    try {
      return this.#read(write);
    } catch (e) {
      throwAsFsFault(e, doing, this.#file.path);
    }
  }

  /** `write` in one transaction, rolled back when it fails. */
  #transaction(doing: string, write: () => void): void {
    this.#write(doing, () => {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        write();
        this.#db.exec("COMMIT");
      } catch (e) {
        // SQLite may have rolled back already (a full disk): a second ROLLBACK would hide why.
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
        throw e;
      }
    });
  }

  /**
   * Close the database. Pending memo entries are written first, unless the
   * disk refuses them (they only save hashing files again).
   */
  close(): void {
    try {
      this.flushMemo();
    } catch (e) {
      if (!(e instanceof FerryFileError)) {
        closeQuietly(this.#db);
        throw e;
      }
    }
    closeQuietly(this.#db);
  }

  /** Record the start of a run. */
  beginRun(r: Omit<RunRecord, "endedAt" | "status">): void {
    this.#write(`recording the start of run ${r.id}`, () =>
      this.#stmt(
        "INSERT INTO runs (id, workflow, started_at, status, pid, host, dir) VALUES (?, ?, ?, 'running', ?, ?, ?)",
      ).run(r.id, r.workflow, r.startedAt, r.pid, r.host, r.dir));
  }

  /** Record the end of a run. */
  endRun(id: string, status: string, endedAt: number = Date.now()): void {
    this.#write(
      `recording the end of run ${id}`,
      () =>
        this.#stmt("UPDATE runs SET status = ?, ended_at = ? WHERE id = ?").run(
          status,
          endedAt,
          id,
        ),
    );
  }

  /** Every run, newest first. */
  runs(): RunRecord[] {
    return (this.#read(() =>
      this.#stmt("SELECT * FROM runs ORDER BY started_at DESC, id DESC").all()
    ) as Record<string, unknown>[]).map((r) => ({
      id: r.id as string,
      workflow: r.workflow as string,
      startedAt: r.started_at as number,
      ...(r.ended_at !== null ? { endedAt: r.ended_at as number } : {}),
      status: r.status as string,
      pid: r.pid as number,
      host: r.host as string,
      dir: r.dir as string,
    }));
  }

  /** The attempts of a run (or of every run), in order. */
  attempts(runId?: string): AttemptRecord[] {
    const rows = this.#read(() =>
      runId === undefined
        ? this.#stmt("SELECT * FROM attempts ORDER BY started_at, task_id, attempt").all()
        : this.#stmt(
          "SELECT * FROM attempts WHERE run_id = ? ORDER BY started_at, task_id, attempt",
        ).all(runId)
    ) as Record<string, unknown>[];
    return rows.map((r) => {
      const opt = (k: string, name: string) => (r[k] !== null ? { [name]: r[k] } : {});
      return {
        runId: r.run_id as string,
        taskId: r.task_id as string,
        attempt: r.attempt as number,
        outcome: r.outcome as string,
        startedAt: r.started_at as number,
        endedAt: r.ended_at as number,
        host: r.host as string,
        ...opt("key", "key"),
        ...opt("exit_code", "exitCode"),
        ...opt("signal", "signal"),
        ...opt("reason", "reason"),
        ...opt("stdout", "stdout"),
        ...opt("stderr", "stderr"),
        ...(typeof r.usage === "string" ? { usage: JSON.parse(r.usage) } : {}),
        ...(typeof r.pilot === "string" ? { pilot: JSON.parse(r.pilot) } : {}),
      } as AttemptRecord;
    });
  }

  /** Every recorded success, by task id (read once, then kept current). */
  successes(): ReadonlyMap<string, SuccessRecord> {
    if (!this.#successes) {
      this.#successes = new Map();
      type Row = [string, string, string, string, number, number, string, string | null];
      const rows = this.#read(() => {
        const st = this.#db.prepare(
          "SELECT task_id, key, parts, run_id, attempt, finished_at, outputs, result FROM successes",
        );
        st.setReturnArrays(true);
        return st.all() as unknown as Row[];
      });
      const base = this.workspaceUrl;
      for (const r of rows) {
        const [taskId, key, parts, runId, attempt, finishedAt, outputs, result] = r;
        let partsValue: SuccessRecord["parts"] | undefined;
        this.#successes.set(taskId, {
          taskId,
          key,
          // The parts only explain a changed key: parsed when asked for.
          get parts() {
            return partsValue ??= JSON.parse(parts);
          },
          runId,
          attempt,
          finishedAt,
          outputs: (JSON.parse(outputs) as OutputRecord[]).map((o) =>
            mapUrls(o, base, fromRecordedUrl)
          ),
          ...(result !== null ? { result: JSON.parse(result) } : {}),
        });
      }
    }
    return this.#successes;
  }

  /** Record an attempt that did not succeed (kept for inspection; the success record is untouched). */
  recordAttempt(a: AttemptRecord): void {
    this.#write(`recording attempt ${a.attempt} of task ${a.taskId}`, () => this.#insertAttempt(a));
  }

  #insertAttempt(a: AttemptRecord): void {
    this.#stmt(
      `INSERT OR REPLACE INTO attempts (run_id, task_id, attempt, key, outcome, exit_code, signal, reason,
        started_at, ended_at, host, stdout, stderr, usage, pilot)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      a.runId,
      a.taskId,
      a.attempt,
      a.key ?? null,
      a.outcome,
      a.exitCode ?? null,
      a.signal ?? null,
      a.reason ?? null,
      a.startedAt,
      a.endedAt,
      a.host,
      a.stdout ?? null,
      a.stderr ?? null,
      a.usage ? JSON.stringify(a.usage) : null,
      a.pilot ? JSON.stringify(a.pilot) : null,
    );
  }

  /** Commit a success: the attempt, the success record and the file-hash memo, in one transaction. */
  recordSuccess(s: SuccessRecord, a: AttemptRecord): void {
    this.#transaction(`recording the success of task ${s.taskId}`, () => {
      this.#insertAttempt(a);
      this.#stmt(
        `INSERT OR REPLACE INTO successes (task_id, key, parts, run_id, attempt, finished_at, outputs, result)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        s.taskId,
        s.key,
        JSON.stringify(s.parts),
        s.runId,
        s.attempt,
        s.finishedAt,
        JSON.stringify(s.outputs.map((o) => mapUrls(o, this.workspaceUrl, toRecordedUrl))),
        s.result !== undefined ? JSON.stringify(s.result) : null,
      );
      this.#writeMemo();
    });
    this.#successes?.set(s.taskId, s);
  }

  /** Forget the successes of these tasks (they will run again). */
  forget(taskIds: Iterable<string>): void {
    const ids = [...taskIds];
    this.#transaction("forgetting the successes of tasks run again", () => {
      for (const id of ids) this.#stmt("DELETE FROM successes WHERE task_id = ?").run(id);
    });
    for (const id of ids) this.#successes?.delete(id);
  }

  #loadMemo(): Map<string, Memo> {
    if (!this.#memo) {
      this.#memo = new Map();
      type Row = [string, number, number, number, number, number, string];
      const rows = this.#read(() => {
        const st = this.#db.prepare(
          "SELECT path, dev, ino, size, mtime, ctime, sha256 FROM file_hashes",
        );
        // Rows as arrays: a third faster than objects for the tens of thousands read here.
        st.setReturnArrays(true);
        return st.all() as Row[];
      });
      for (const r of rows) {
        this.#memo.set(r[0], {
          dev: r[1],
          ino: r[2],
          size: r[3],
          mtime: r[4],
          ctime: r[5],
          sha256: r[6],
        });
      }
    }
    return this.#memo;
  }

  /**
   * The sha256 (hex) of a file, read only when its (device, inode, size,
   * mtime) changed since it was last hashed; undefined when it does not exist.
   * Directories hash their sorted listing with each file's hash. A FIFO, a
   * device or a socket is refused ({@linkcode IrregularFileError}): reading
   * one blocks or never ends. Synchronous: a large file is better hashed
   * first with {@linkcode hashPathAsync}, which can be interrupted.
   */
  hashPath(path: string, fresh = false): Hashed | undefined {
    // Within one store (one plan or run) a path is looked at once (planning and the run ask
    // about the same files many times), unless the caller knows it was just written (`fresh`).
    if (!fresh && this.#seen.has(path)) return this.#seen.get(path);
    const l = this.#look(path, fresh);
    const r = "read" in l
      ? this.#remember(path, l.read, hashFileSync(path))
      : "dir" in l
      ? this.#combineDir(listFiles(path), (f) => this.hashPath(join(path, f), fresh))
      : l.known;
    this.#seen.set(path, r);
    return r;
  }

  /**
   * {@linkcode hashPath} that reads a file larger than {@linkcode SYNC_HASH_LIMIT} asynchronously,
   * so that `signal` (Ctrl-C) stops it within a piece read; small files, the common case, are
   * hashed at once. Aborting rejects with the signal's reason and remembers nothing of the file.
   */
  async hashPathAsync(
    path: string,
    fresh = false,
    signal?: AbortSignal,
  ): Promise<Hashed | undefined> {
    if (!fresh && this.#seen.has(path)) return this.#seen.get(path);
    const l = this.#look(path, fresh);
    let r: Hashed | undefined;
    if ("read" in l) {
      const sha256 = l.read.size > SYNC_HASH_LIMIT
        ? await hashFile(path, signal)
        : hashFileSync(path);
      r = this.#remember(path, l.read, sha256);
    } else if ("dir" in l) {
      const files = listFiles(path);
      const hashes: (Hashed | undefined)[] = [];
      for (const f of files) hashes.push(await this.hashPathAsync(join(path, f), fresh, signal));
      r = this.#combineDir(files, (_, i) => hashes[i]);
    } else r = l.known;
    this.#seen.set(path, r);
    return r;
  }

  /** Forget what this store saw of `path` (it was deleted or rewritten). */
  forgetPath(path: string): void {
    this.#seen.delete(path);
    this.#stats.forget(path);
  }

  /** What is known of `path` without reading it: its hash, that it is a directory, or to read. */
  #look(path: string, fresh: boolean):
    | { known: Hashed | undefined }
    | { dir: true }
    | { read: Deno.FileInfo } {
    if (fresh) this.#stats.forget(path);
    const info = this.#stats.stat(path);
    if (info === null) return { known: undefined };
    if (info.isDirectory) return { dir: true };
    const kind = irregularKind(info);
    if (kind !== undefined) throw new IrregularFileError(path, kind);
    const memo = this.#loadMemo();
    const m = memo.get(path);
    if (
      m && m.size === info.size && m.mtime === (info.mtime?.getTime() ?? 0) &&
      m.ctime === (info.ctime?.getTime() ?? 0) && m.ino === (info.ino ?? 0) && m.dev === info.dev
    ) {
      return { known: { sha256: m.sha256, size: info.size } };
    }
    return { read: info };
  }

  /** Remember the hash of a file just read (as it was when stat'ed). */
  #remember(path: string, info: Deno.FileInfo, sha256: string): Hashed {
    const entry = {
      dev: info.dev,
      ino: info.ino ?? 0,
      size: info.size,
      mtime: info.mtime?.getTime() ?? 0,
      ctime: info.ctime?.getTime() ?? 0,
      sha256,
    };
    this.#loadMemo().set(path, entry);
    this.#memoDirty.set(path, entry);
    return { sha256, size: info.size };
  }

  /** A directory's hash: its files' relative paths (sorted) with their hashes. */
  #combineDir(
    files: readonly string[],
    hashOf: (file: string, i: number) => Hashed | undefined,
  ): Hashed {
    const h = createHash("sha256");
    let size = 0;
    files.forEach((r, i) => {
      const f = hashOf(r, i);
      if (!f) return;
      size += f.size;
      h.update(`${r}\0${f.sha256}\n`);
    });
    return { sha256: h.digest("hex"), size };
  }

  #writeMemo(): void {
    if (this.#memoDirty.size === 0) return;
    const ins = this.#stmt(
      "INSERT OR REPLACE INTO file_hashes (path, dev, ino, size, mtime, ctime, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    for (const [path, m] of this.#memoDirty) {
      ins.run(path, m.dev, m.ino, m.size, m.mtime, m.ctime, m.sha256);
    }
    this.#memoDirty.clear();
  }

  /** Write file hashes learned since the last commit. */
  flushMemo(): void {
    if (this.#memoDirty.size === 0) return;
    this.#transaction("recording file hashes", () => this.#writeMemo());
  }
}

/** The state store cannot be used (a newer schema, a damaged file). */
export class StateError extends FerryFileError {
  /** Create a state error. */
  constructor(message: string, cause?: unknown) {
    super(message, cause);
    this.name = "StateError";
  }
}

/** The state file is damaged: the message names it and the ways to recover. */
export class StateDamagedError extends StateError {
  /** The damaged file. */
  readonly path: string;

  /** `file` is damaged; `detail` is SQLite's word for it. */
  constructor(file: { readonly workspace: string; readonly path: string }, detail: string) {
    super(damagedMessage(file.workspace, file.path, detail));
    this.name = "StateDamagedError";
    this.path = file.path;
  }
}

/** The one line that says the state is damaged and how to recover. */
export function damagedMessage(workspace: string, path: string, detail: string): string {
  const w = shellQuote(workspace);
  return `${path} is damaged (${detail}). To recover, keep what is still readable with "ferry state repair -w ${w}" ("ferry state check -w ${w}" shows what), or forget every run with "ferry clean --all -w ${w}"`;
}

/** Bring `db` from version `v` to `v + 1`. */
function applyMigration(db: DatabaseSync, v: number, workspace: string): void {
  const m = MIGRATIONS[v]!;
  if (typeof m === "string") db.exec(m);
  else m(db, workspace);
}

/** Close `db`, whatever it says (it is being given up on). */
function closeQuietly(db: DatabaseSync): void {
  try {
    db.close();
  } catch { /* a close that fails (a full disk at the checkpoint) leaves the WAL for next time */ }
}

/**
 * A new, empty state file at `path` with the current schema, in one
 * transaction (what a repair copies the readable rows into).
 */
export function createStateFile(path: string): DatabaseSync {
  const db = new Database(path);
  try {
    db.exec("BEGIN IMMEDIATE");
    for (let v = 0; v < STATE_VERSION; v++) applyMigration(db, v, resolve(path, "../.."));
    db.exec(`PRAGMA user_version = ${STATE_VERSION}`);
    db.exec("COMMIT");
    return db;
  } catch (e) {
    closeQuietly(db);
    throw e;
  }
}

/**
 * Open the state file for reading and writing, in WAL mode; when its folder
 * refuses writes (read-only, full), for reading only, with the error writing met.
 */
export function openStateFile(
  path: string,
): { db: DatabaseSync; unwritable?: { unwritable: unknown } } {
  let db: DatabaseSync | undefined;
  try {
    db = new Database(path);
    // WAL: readers (ferry status) never block the run; NORMAL: a commit survives a crash of the
    // process (kill -9), only a power cut may lose the last ones.
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
    return { db };
  } catch (e) {
    if (db) closeQuietly(db);
    if (isDamagedDatabase(e)) {
      throw new StateDamagedError(
        { workspace: resolve(path, "../.."), path },
        (e as Error).message,
      );
    }
    const refused = writeRefusal(path);
    const reader = refused === undefined ? undefined : openForReading(path);
    if (reader) return { db: reader, unwritable: { unwritable: refused } };
    if (refused !== undefined) throwAsFsFault(refused, "opening the state", path);
    throw new FerryFileError(`cannot open ${path}: ${(e as Error).message}`, e);
  }
}

/** Why the folder of `path` refuses a write (read-only, full), found by writing a byte; or undefined. */
function writeRefusal(path: string): unknown {
  const probe = `${path}.probe-${Deno.pid}`;
  try {
    Deno.writeFileSync(probe, new Uint8Array(1));
  } catch (e) {
    return e;
  } finally {
    try {
      Deno.removeSync(probe);
    } catch { /* never created */ }
  }
  return undefined;
}

/**
 * The state file opened for reading only, when it exists: as a reader of its
 * WAL when that can be shared, else (no WAL with transactions in it: no run
 * is writing) as an immutable file, which needs no lock or shared memory file.
 */
function openForReading(path: string): DatabaseSync | undefined {
  if (!existsSync(path)) return undefined;
  const tryOpen = (name: string) => {
    try {
      const db = new Database(name, { readOnly: true });
      db.prepare("PRAGMA user_version").get();
      return db;
    } catch {
      return undefined;
    }
  };
  const shared = tryOpen(path);
  if (shared) return shared;
  let wal = 0;
  try {
    wal = Deno.statSync(`${path}-wal`).size;
  } catch { /* no WAL */ }
  if (wal > 0) return undefined;
  return tryOpen(
    `file:${path.replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}?immutable=1`,
  );
}

/** The buffer every synchronous hash reads through (they run one at a time). */
let hashBuffer: Uint8Array | undefined;

/**
 * Files larger than this are read asynchronously by {@linkcode StateStore.hashPathAsync}, in
 * pieces between which Ctrl-C is heard (hashing 8 MiB takes some 20 ms).
 */
export const SYNC_HASH_LIMIT = 8 << 20;

/** A file's content hash (sha256 hex) and size in bytes. */
export interface Hashed {
  /** sha256 hex. */
  readonly sha256: string;
  /** Bytes. */
  readonly size: number;
}

/** A path to hash is a FIFO, a device or a socket: reading it would block or never end. */
export class IrregularFileError extends Error {
  /** The path. */
  readonly path: string;

  /** `path` is `kind` ("a FIFO (named pipe)"). */
  constructor(path: string, kind: string) {
    super(`Cannot read "${path}": it is ${kind}, not a regular file or directory`);
    this.name = "IrregularFileError";
    this.path = path;
  }
}

/** The relative paths of every file (not directory) under `dir`, sorted, walked depth first. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const entries = [...Deno.readDirSync(join(dir, rel))].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0
    );
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) walk(r);
      else out.push(r);
    }
  };
  walk("");
  return out;
}

/**
 * sha256 hex of a file, read in 1 MiB pieces through one shared buffer
 * (a fresh 1 MiB buffer per file cost more than hashing thousands of small
 * outputs: zeroing it, and collecting it).
 */
export function hashFileSync(path: string): string {
  const h = createHash("sha256");
  using f = Deno.openSync(path);
  const buf = hashBuffer ??= new Uint8Array(1 << 20);
  for (;;) {
    const n = f.readSync(buf);
    if (n === null) break;
    h.update(buf.subarray(0, n));
  }
  return h.digest("hex");
}

/**
 * sha256 hex of a file, read asynchronously in 4 MiB pieces; `signal` stops it between two
 * pieces (rejecting with its reason).
 */
export async function hashFile(path: string, signal?: AbortSignal): Promise<string> {
  signal?.throwIfAborted();
  const h = createHash("sha256");
  using f = await Deno.open(path);
  const buf = new Uint8Array(4 << 20);
  for (;;) {
    const n = await f.read(buf);
    signal?.throwIfAborted();
    if (n === null) break;
    h.update(buf.subarray(0, n));
  }
  return h.digest("hex");
}

/**
 * A new run's id: its UTC start to the second, then the milliseconds and three random hex
 * digits (`20261121-141602-417a3c`), so that ids sort in the order runs started.
 *
 * @example
 * ```ts
 * import { newRunId } from "./state.ts";
 * import assert from "node:assert/strict";
 * const a = newRunId(new Date("2026-11-21T14:16:02.041Z"));
 * const b = newRunId(new Date("2026-11-21T14:16:02.417Z"));
 * assert.match(a, /^20261121-141602-041[0-9a-f]{3}$/);
 * assert.ok(a < b);
 * ```
 */
export function newRunId(now: Date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const random = crypto.randomUUID().replaceAll("-", "").slice(0, 3);
  return `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${
    p(now.getUTCHours())
  }${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}-${p(now.getUTCMilliseconds(), 3)}${random}`;
}
