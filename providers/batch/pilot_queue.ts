/**
 * ferry's side of a pilot queue directory (the protocol is in
 * docs/architecture.md, "Pilot blocks"; the workers' side is `pilot.sh`):
 * offer a task (written under a temporary name, renamed into `new/`),
 * withdraw one not yet claimed, ask a worker to stop one, and read which
 * tasks workers claimed and finished and when each worker last beat.
 * @module
 */

import { join } from "node:path";
import { PILOT_LIBRARY, pilotLibrary } from "./pilot_script.ts";

/** A task a worker holds: its name in the queue, the block's key and the worker's slot. */
export interface Claim {
  /** The task's name in the queue (`t1`, `t2`, ...). */
  readonly task: string;
  /** The block's key (`b1`). */
  readonly block: string;
  /** The worker's slot in its block, from 1. */
  readonly slot: number;
  /** The file's name in `claimed/` or `done/`. */
  readonly file: string;
}

/** A worker's last heartbeat. */
export interface Beat {
  /** The node it runs on. */
  readonly host: string;
  /** When it last beat, ms since the epoch (the file's mtime). */
  readonly at: number;
}

const DIRS = ["new", "claimed", "done", "cancel", "workers", "blocks", "tmp"];

/** A claim's file name (`T.B.S`) read back; undefined for anything else. */
export function parseClaim(file: string): Claim | undefined {
  const m = /^(t\d+)\.(b\d+)\.(\d+)$/.exec(file);
  return m ? { task: m[1]!, block: m[2]!, slot: Number(m[3]), file } : undefined;
}

/** One executor's queue directory. */
export class PilotQueue {
  /** The directory. */
  readonly dir: string;

  /** Make the directory and its parts, and write the pilot library into it. */
  constructor(dir: string) {
    this.dir = dir;
    for (const d of DIRS) Deno.mkdirSync(join(dir, d), { recursive: true });
    Deno.writeTextFileSync(pilotLibrary(dir), PILOT_LIBRARY);
  }

  /** Offer task `task`, whose job wrapper is `wrapper`: written aside, then renamed into `new/`. */
  offer(task: string, wrapper: string): void {
    const tmp = join(this.dir, "tmp", task);
    Deno.writeTextFileSync(tmp, wrapper + "\n");
    Deno.renameSync(tmp, join(this.dir, "new", task));
  }

  /** Take back a task no worker claimed yet: false when a worker had claimed it. */
  withdraw(task: string): boolean {
    try {
      Deno.removeSync(join(this.dir, "new", task));
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  }

  /** Ask the worker that runs `task` to stop it (its heartbeat sees the file). */
  cancel(task: string): void {
    Deno.writeTextFileSync(join(this.dir, "cancel", task), "");
  }

  /** Tell every worker to end once idle. */
  stop(): void {
    Deno.writeTextFileSync(join(this.dir, "stop"), "");
  }

  /** Claims in `claimed/` (running) or `done/` (finished). */
  list(where: "claimed" | "done"): Claim[] {
    const out: Claim[] = [];
    for (const e of Deno.readDirSync(join(this.dir, where))) {
      const c = parseClaim(e.name);
      if (c) out.push(c);
    }
    return out;
  }

  /** Forget a claim ferry has dealt with: its claim, its done mark, its cancel request. */
  release(c: Claim, cancelled = false): void {
    for (const where of ["done", "claimed"]) {
      try {
        Deno.removeSync(join(this.dir, where, c.file));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    if (!cancelled) return;
    try {
      Deno.removeSync(join(this.dir, "cancel", c.task));
    } catch { /* it finished before the request */ }
  }

  /** The heartbeat of worker `slot` of block `block`; undefined before its first. */
  beat(block: string, slot: number): Beat | undefined {
    const file = join(this.dir, "workers", `${block}.${slot}`);
    try {
      const at = Deno.statSync(file).mtime?.getTime() ?? Date.now();
      const host = Deno.readTextFileSync(file).split(" ")[0]!.trim();
      return { host, at };
    } catch {
      return undefined;
    }
  }

  /** Whether any worker of block `block` has beaten yet (it started). */
  workersOf(block: string): number {
    let n = 0;
    for (const e of Deno.readDirSync(join(this.dir, "workers"))) {
      if (e.name.startsWith(block + ".") && /^b\d+\.\d+$/.test(e.name)) n++;
    }
    return n;
  }
}
