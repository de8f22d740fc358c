/**
 * The process groups of a run's local tasks, recorded in the run's directory
 * while they run. The spawner ends a dead ferry's tasks; when it died too (an
 * OOM kill, `kill -9` of the whole process group), this record lets the run
 * that takes over the dead run's lock end the survivors before it starts the
 * same tasks again.
 *
 * The file (`process-groups`) is appended to, one line per event, so a kill
 * at any moment leaves it readable: a header naming the host and boot, then
 * `+ PGID START` when a task starts (START: its leader's start time in clock
 * ticks since boot, so that a reused pid is never taken for the task) and
 * `- PGID` when it has ended.
 * @module
 */

import { hostname } from "node:os";
import { join } from "node:path";

/** The record's name in a run directory. */
export const GROUPS_FILE = "process-groups";

const encoder = new TextEncoder();
let boot: string | undefined;

/** This boot's id (Linux), else "": processes of another boot are all gone. */
function bootId(): string {
  if (boot === undefined) {
    try {
      boot = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    } catch {
      boot = "";
    }
  }
  return boot;
}

/** Fields of `/proc/PID/stat` after the command name (state first), or undefined. */
function statFields(pid: number): string[] | undefined {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** When process `pid` started (clock ticks since boot), or undefined when it is gone or unknown. */
export function processStart(pid: number): number | undefined {
  const start = statFields(pid)?.[19]; // field 22 of proc(5)
  return start === undefined ? undefined : Number(start);
}

/**
 * The open record of one run directory. The spawner appends to it itself (the same lines, written
 * by spawner.py or spawner.pl); the local provider writes them only for tasks it starts without one.
 */
export class GroupRecord {
  /** The record's path. */
  readonly path: string;
  readonly #file: Deno.FsFile;

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
  }

  /** Open (creating, with its header) the record in `runDir`; undefined when it cannot be written. */
  static open(runDir: string): GroupRecord | undefined {
    const path = join(runDir, GROUPS_FILE);
    try {
      const file = Deno.openSync(path, { append: true, create: true });
      if (file.statSync().size === 0) {
        file.writeSync(encoder.encode(`ferry process groups 1 ${hostname()} ${bootId()}\n`));
      }
      return new GroupRecord(path, file);
    } catch {
      return undefined;
    }
  }

  /** Task `pgid` started (one write: an append of a short line is atomic). */
  started(pgid: number): void {
    this.#write(`+ ${pgid} ${processStart(pgid) ?? 0}\n`);
  }

  /** Task `pgid` ended, its group killed. */
  ended(pgid: number): void {
    this.#write(`- ${pgid}\n`);
  }

  /** Close the file. */
  close(): void {
    try {
      this.#file.close();
    } catch { /* closed already */ }
  }

  #write(line: string): void {
    try {
      this.#file.writeSync(encoder.encode(line));
    } catch { /* a full disk costs the record, not the task */ }
  }
}

/** Groups recorded as started and not ended in `runDir`, if the record is of this host and boot. */
export function recordedGroups(runDir: string): Map<number, number> {
  const open = new Map<number, number>();
  let text: string;
  try {
    text = Deno.readTextFileSync(join(runDir, GROUPS_FILE));
  } catch {
    return open;
  }
  // What follows the last newline is a line a kill cut short.
  const lines = text.split("\n").slice(0, -1);
  const header = (lines[0] ?? "").split(" ");
  if (header[4] !== hostname() || header[5] !== bootId()) return open;
  for (const line of lines.slice(1)) {
    const [sign, pgid, start] = line.split(" ");
    const id = Number(pgid);
    if (!Number.isInteger(id) || id <= 1) continue;
    if (sign === "+") open.set(id, Number(start) || 0);
    else if (sign === "-") open.delete(id);
  }
  return open;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Which of `groups` still have a live (not zombie) process; all of them without /proc. */
function liveGroups(groups: ReadonlySet<number>): Set<number> {
  const live = new Set<number>();
  if (groups.size === 0) return live;
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync("/proc")];
  } catch {
    return new Set(groups);
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e.name)) continue;
    const f = statFields(Number(e.name)); // state, ppid, pgrp, ...
    if (f !== undefined && f[0] !== "Z" && groups.has(Number(f[2]))) live.add(Number(f[2]));
  }
  return live;
}

/**
 * End the process groups a dead run recorded in `runDir` and that still have live processes:
 * SIGTERM, SIGKILL after `graceMs`, then wait (up to 2 s more) until they are gone. Synchronous,
 * for the moment a run takes over the dead run's lock. Returns the groups it signalled.
 */
export function endSurvivors(runDir: string, graceMs = 2000): number[] {
  const candidates = new Set<number>();
  for (const [pgid, start] of recordedGroups(runDir)) {
    // A leader alive with another start time is a reused pid: the task's group is gone (a pid is
    // not handed out again while a group of that id has members). A dead leader leaves the id
    // to its group, if any member lives on.
    const now = processStart(pgid);
    if (now === undefined || now === start) candidates.add(pgid);
  }
  let live = liveGroups(candidates);
  const signalled = [...live].sort((a, b) => a - b);
  for (const [sig, waitMs] of [["SIGTERM", graceMs], ["SIGKILL", 2000]] as const) {
    if (live.size === 0) break;
    for (const g of live) {
      try {
        Deno.kill(-g, sig);
      } catch { /* gone meanwhile */ }
    }
    const until = Date.now() + waitMs;
    while (live.size > 0 && Date.now() < until) {
      Atomics.wait(pause, 0, 0, 20);
      live = liveGroups(live);
    }
  }
  return signalled;
}
