/**
 * ferry's side of a pilot queue directory (the protocol is in
 * docs/architecture.md, "Pilot blocks"; the workers' side is `pilot.sh`):
 * offer a task (its attempt's file, hard-linked into `new/`), withdraw one
 * not yet claimed (by claiming it first), ask a worker to stop one, and read
 * which tasks workers claimed and finished and when each worker last beat.
 * @module
 */

import { dirname, join } from "node:path";
import { CONTAINER_LIBRARY } from "./container.ts";
import { PILOT_LIBRARY, pilotLibrary } from "./pilot_script.ts";
import { builtSpawner } from "./spawner_build.ts";
import { WRAPPER_LIBRARY } from "./wrapper.ts";

/** A task a worker holds: its name in the queue, the block's key and the worker's slot. */
export interface Claim {
  /** The task's name in the queue (`t1`, `t2`, ...). */
  readonly task: string;
  /** The block's key (`b1`). */
  readonly block: string;
  /** The worker's slot in its block, from 1. */
  readonly slot: number;
  /** The name of its done mark in `done/` (`T.B.S`). */
  readonly file: string;
}

/** A worker's last heartbeat. */
export interface Beat {
  /** The node it runs on. */
  readonly host: string;
  /** When it last beat, ms since the epoch (the file's mtime). */
  readonly at: number;
}

/** The queue directory's parts. */
export const PILOT_DIRS = ["new", "claimed", "done", "cancel", "workers", "blocks", "tmp"];

/**
 * A pilot queue as the provider uses it: {@linkcode PilotQueue} on a filesystem ferry shares with
 * the nodes, `RemotePilotQueue` (`pilot_remote.ts`) through SSH. Reads answer from the queue (or,
 * remote, from its state at the last {@linkcode PilotQueueStore.sync}); writes go to the queue (or,
 * remote, with the next sync).
 */
export interface PilotQueueStore {
  /** The directory here: block records (`blocks/KEY.json`, read after a crash). */
  readonly dir: string;
  /** The queue directory as the workers see it. */
  readonly farDir: string;
  /** Offer task `task`, whose attempt's lines are the file `file` (its `task.sh`). */
  offer(task: string, file: string): void;
  /** Take back a task no worker claimed; false when a worker has it. */
  withdraw(task: string): boolean;
  /** Ask the worker that runs `task` to stop it. */
  cancel(task: string): void;
  /** Tell every worker to end once idle. */
  stop(): void;
  /** The tasks claimed. */
  claimed(): string[];
  /** Who claimed `task`; undefined while its worker has not written its name yet. */
  claimOf(task: string): Claim | undefined;
  /** Tasks whose worker ran them (their status file is here to read). */
  done(): Claim[];
  /** Whether `c`'s done mark is there. */
  isDone(c: Claim): boolean;
  /** Forget a task ferry has dealt with. */
  release(c: Claim, cancelled?: boolean): void;
  /** Take back a task whose claim names no worker. */
  drop(task: string): void;
  /** Remove the claim of a task ferry no longer knows, if its offer is gone. */
  forget(task: string): void;
  /** The heartbeat of worker `slot` of block `block`. */
  beat(block: string, slot: number): Beat | undefined;
  /** How many workers of block `block` beat. */
  workersOf(block: string): number;
  /** Write file `path` of the queue (under {@linkcode PilotQueueStore.farDir}). */
  writeFar(path: string, text: string): Promise<void>;
  /** Exchange queued writes for the queue's state (remote queues). */
  sync?(): Promise<void>;
  /** Remove the queue once its blocks are gone (remote queues). */
  end?(): Promise<void>;
}

/** A done mark's name (`T.B.S`) read back; undefined for anything else. */
export function parseClaim(file: string): Claim | undefined {
  const m = /^(t\d+)\.(b\d+)\.(\d+)$/.exec(file);
  return m ? { task: m[1]!, block: m[2]!, slot: Number(m[3]), file } : undefined;
}

/** What a worker wrote into `claimed/T` ("B.S"), read back; undefined for anything else. */
export function parseClaimText(task: string, text: string): Claim | undefined {
  return parseClaim(`${task}.${text.trimEnd()}`);
}

/** Whether `e` says the file is not there. */
function notFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

/** Remove `path` if it is there. */
function unlink(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!notFound(e)) throw e;
  }
}

/** One executor's queue directory. */
export class PilotQueue implements PilotQueueStore {
  /** The directory. */
  readonly dir: string;
  /** The same directory: the workers see it where ferry does. */
  readonly farDir: string;

  /**
   * Make the directory and its parts, and write the pilot and job wrapper libraries into it, with
   * ferry's compiled spawner when it has one (`spawner`: the workers start plain attempts with
   * it where it runs, pilot.sh `ferry_sp_start`; `spawner` null: none, as where ferry has none).
   */
  constructor(dir: string, spawner: string | null | undefined = builtSpawner()) {
    this.dir = dir;
    this.farDir = dir;
    for (const d of PILOT_DIRS) Deno.mkdirSync(join(dir, d), { recursive: true });
    const lib = dirname(pilotLibrary(dir));
    Deno.writeTextFileSync(join(lib, "wrapper.sh"), WRAPPER_LIBRARY);
    Deno.writeTextFileSync(join(lib, "container.sh"), CONTAINER_LIBRARY);
    Deno.writeTextFileSync(pilotLibrary(dir), PILOT_LIBRARY);
    if (spawner) {
      // Beside, then renamed: a spawner a worker of an earlier run still executes is not touched.
      const tmp = join(dir, "tmp", "spawner");
      Deno.copyFileSync(spawner, tmp);
      Deno.chmodSync(tmp, 0o755);
      Deno.renameSync(tmp, join(dir, "spawner"));
    }
  }

  /**
   * Offer task `task`, whose attempt's lines are the file `file` (whole already): a hard link in
   * `new/`, one system call and no copy; where the filesystem refuses one, a copy written aside,
   * then renamed (never seen half).
   */
  offer(task: string, file: string): void {
    const into = join(this.dir, "new", task);
    try {
      Deno.linkSync(file, into);
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) throw e;
      const tmp = join(this.dir, "tmp", task);
      Deno.copyFileSync(file, tmp);
      Deno.renameSync(tmp, into);
    }
  }

  /**
   * Take back a task no worker claimed yet: ferry claims it itself (the same exclusive create as
   * the workers', so exactly one of them has it), then removes the offer before its claim (a
   * worker that claims it afterwards finds no offer and leaves it). False when a worker has it.
   */
  withdraw(task: string): boolean {
    const claim = join(this.dir, "claimed", task);
    try {
      Deno.writeTextFileSync(claim, "ferry\n", { createNew: true });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) return false;
      throw e;
    }
    unlink(join(this.dir, "new", task));
    unlink(claim);
    return true;
  }

  /** Ask the worker that runs `task` to stop it (its heartbeat sees the file). */
  cancel(task: string): void {
    Deno.writeTextFileSync(join(this.dir, "cancel", task), "");
  }

  /** Tell every worker to end once idle. */
  stop(): void {
    Deno.writeTextFileSync(join(this.dir, "stop"), "");
  }

  /** Whether `c`'s done mark is in `done/`. */
  isDone(c: Claim): boolean {
    try {
      Deno.statSync(join(this.dir, "done", c.file));
      return true;
    } catch {
      return false;
    }
  }

  /** Write file `path` of the queue. */
  writeFar(path: string, text: string): Promise<void> {
    Deno.writeTextFileSync(path, text);
    return Promise.resolve();
  }

  /** The tasks in `claimed/` (taken: running, done, or a worker's claim of a task gone). */
  claimed(): string[] {
    const out: string[] = [];
    for (const e of Deno.readDirSync(join(this.dir, "claimed"))) out.push(e.name);
    return out;
  }

  /** Who claimed `task`: undefined while its worker has not written its name yet (or ferry has it). */
  claimOf(task: string): Claim | undefined {
    try {
      return parseClaimText(task, Deno.readTextFileSync(join(this.dir, "claimed", task)));
    } catch (e) {
      if (notFound(e)) return undefined;
      throw e;
    }
  }

  /** The done marks in `done/`: tasks whose worker ran them. */
  done(): Claim[] {
    const out: Claim[] = [];
    for (const e of Deno.readDirSync(join(this.dir, "done"))) {
      const c = parseClaim(e.name);
      if (c) out.push(c);
    }
    return out;
  }

  /**
   * Forget a task ferry has dealt with: its cancel request, its offer, then its done mark and
   * claim (a worker that claims it after that finds no offer and does not run it).
   */
  release(c: Claim, cancelled = false): void {
    // The cancel request before the done mark: a heartbeat stops a task that has a request and no
    // done mark (its worker's .run still names the task after it ended).
    if (cancelled) unlink(join(this.dir, "cancel", c.task));
    unlink(join(this.dir, "new", c.task));
    unlink(join(this.dir, "done", c.file));
    unlink(join(this.dir, "claimed", c.task));
  }

  /** Take back a task whose claim names no worker: its offer first, then the claim. */
  drop(task: string): void {
    unlink(join(this.dir, "new", task));
    unlink(join(this.dir, "claimed", task));
  }

  /**
   * Remove the claim of a task ferry no longer knows, if its offer is gone: a worker's claim that
   * came too late (that worker did not run it). A claim whose offer is still there is left alone.
   */
  forget(task: string): void {
    try {
      Deno.statSync(join(this.dir, "new", task));
    } catch (e) {
      if (!notFound(e)) throw e;
      unlink(join(this.dir, "claimed", task));
    }
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
