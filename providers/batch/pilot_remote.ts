/**
 * A pilot queue on a cluster that shares no filesystem with ferry (`bundle:
 * pilot`, `via: ssh://`, `filesystem: none`): the queue directory lives on the
 * cluster, under the executor's remote directory (`REMOTE_DIR/RUN/pilot/
 * EXECUTOR`, beside the attempts' copies), and the workers use it exactly as
 * on a shared filesystem (`pilot.sh`). ferry reaches it through its SSH
 * session with one command per tick (`sync`, running `pilot_sync.sh` there):
 * a tar stream in carries that tick's operations and the files of the tasks it
 * offers, a tar stream out the queue's state and the files of the tasks that
 * ended. Between syncs ferry works on that state and queues its operations;
 * the protocol is in docs/architecture.md ("Pilot blocks").
 * @module
 */

import { dirname, join } from "node:path";
import { shellQuote } from "../_shared/shell.ts";
import { CONTAINER_LIBRARY } from "./container.ts";
import { type Beat, type Claim, PILOT_DIRS, type PilotQueueStore } from "./pilot_queue.ts";
import { parseClaim, parseClaimText } from "./pilot_queue.ts";
import { PILOT_LIBRARY, pilotQueueDir } from "./pilot_script.ts";
import { lastLines } from "./runner.ts";
import type { SshRunner } from "./ssh_runner.ts";
import { readWrapperStatus, WRAPPER_LIBRARY, wrapperFiles } from "./wrapper.ts";
// A text import, like the pilot library, so that it works from a published package too.
import SYNC_SCRIPT from "./pilot_sync.sh" with { type: "text" };

/** Syncs in a row that may fail (the login node unreachable) before the queue counts as broken. */
export const SYNC_FAILURES = 10;

/** What an attempt leaves that goes over with it (as `remote_copy.ts` uploads it). */
const ATTEMPT_FILES = ["task.sh", "task-script.sh", "call.json", "work"];

/** A task offered in the next sync: its attempt's directory here and its copy's, relative to the base. */
interface Offer {
  readonly root: string;
  readonly rel: string;
}

/** Whether `path` exists (a broken link counts as missing). */
function present(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Move the tree `from` into directory `to`, replacing files (and links) of the same name. */
function moveInto(from: string, to: string): void {
  Deno.mkdirSync(to, { recursive: true });
  for (const e of Deno.readDirSync(from)) {
    const src = join(from, e.name), dst = join(to, e.name);
    let dir = false;
    try {
      dir = Deno.lstatSync(dst).isDirectory;
    } catch { /* not there */ }
    if (e.isDirectory && dir) moveInto(src, dst);
    else {
      if (dir) Deno.removeSync(dst, { recursive: true });
      Deno.renameSync(src, dst);
    }
  }
}

/** Run `tar` here with `args`, `input` on its standard input; its standard output. */
async function tar(args: string[], input?: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command("tar", {
    args,
    stdin: input ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input) {
    const w = child.stdin.getWriter();
    await w.write(input);
    await w.close();
  }
  const out = await child.output();
  if (!out.success) throw new Error(`tar: ${new TextDecoder().decode(out.stderr).trim()}`);
  return out.stdout;
}

/** One executor's pilot queue on the far side of an SSH runner. */
export class RemotePilotQueue implements PilotQueueStore {
  /** Here: block records (`blocks/KEY.json`) and the syncs' staging directories. */
  readonly dir: string;
  /** There: the queue directory the workers use. */
  readonly farDir: string;
  readonly #runner: SshRunner;
  readonly #base: string;
  /** The queue directory relative to the base (`RUN/pilot/EXECUTOR`). */
  readonly #rel: string;
  /** The run's directory name (`RUN`). */
  readonly #run: string;
  #ops: string[] = [];
  #offers = new Map<string, Offer>();
  /** Tasks offered and not yet released: their attempt's directory here and copy's there. */
  readonly #roots = new Map<string, Offer>();
  #claimed = new Map<string, string>();
  #done: Claim[] = [];
  #beats = new Map<string, Beat>();
  #setUp = false;
  #failures = 0;

  /**
   * The queue of executor `executor` for run directory `runDir` (here), with the copies of
   * attempts under `base` there.
   */
  constructor(runner: SshRunner, runDir: string, executor: string, base: string) {
    this.#runner = runner;
    this.#base = base;
    this.#run = runDir.split("/").at(-1)!;
    this.dir = pilotQueueDir(runDir, executor);
    this.farDir = pilotQueueDir(`${base}/${this.#run}`, executor);
    this.#rel = this.farDir.slice(base.length + 1);
    Deno.mkdirSync(join(this.dir, "blocks"), { recursive: true });
  }

  /** The copy there of an attempt directory here (`.../runs/RUN/tasks/TASK/attempt-N`). */
  farRoot(root: string): string {
    return [this.#base, this.#run, ...root.split("/").slice(-2)].join("/");
  }

  /** Offer a task whose attempt's lines are `file` (its `task.sh` here), in the next sync. */
  offer(task: string, file: string): void {
    const root = dirname(file);
    const offer = { root, rel: this.farRoot(root).slice(this.#base.length + 1) };
    this.#offers.set(task, offer);
    this.#roots.set(task, offer);
    this.#ops.push(`offer ${task} ${offer.rel}`);
  }

  /**
   * Take back a task no worker was seen to claim. The sync takes it back there with the workers'
   * own exclusive create, or, when a worker claimed it meanwhile, asks that worker to stop it: ferry
   * never takes its result. False when a worker was seen to have it.
   */
  withdraw(task: string): boolean {
    if (this.#claimed.has(task)) return false;
    this.#offers.delete(task);
    this.#roots.delete(task);
    this.#ops.push(`withdraw ${task}`);
    return true;
  }

  /** Ask the worker that runs `task` to stop it. */
  cancel(task: string): void {
    this.#ops.push(`cancel ${task}`);
  }

  /** Tell every worker to end once idle. */
  stop(): void {
    this.#ops.push("stop");
  }

  /** The tasks claimed at the last sync. */
  claimed(): string[] {
    return [...this.#claimed.keys()];
  }

  /** Who claimed `task`, as of the last sync. */
  claimOf(task: string): Claim | undefined {
    const text = this.#claimed.get(task);
    return text ? parseClaimText(task, text) : undefined;
  }

  /** Tasks that ended, their files already back in their attempt's directory. */
  done(): Claim[] {
    return [...this.#done];
  }

  /** Whether `c`'s done mark was seen (its files are back). */
  isDone(c: Claim): boolean {
    return this.#done.some((d) => d.file === c.file);
  }

  /** Forget a task ferry dealt with; its copy there goes too when it succeeded. */
  release(c: Claim, cancelled = false): void {
    const root = this.#roots.get(c.task);
    const st = root ? readWrapperStatus(wrapperFiles(root.root).status) : undefined;
    const ok = st?.exitCode === 0 && !st.timedOut;
    this.#ops.push(`release ${c.task} ${c.file} ${cancelled ? 1 : 0} ${ok ? 1 : 0}`);
    this.#forgetHere(c.task);
  }

  /** Take back a task whose claim names no worker: its offer first, then the claim. */
  drop(task: string): void {
    this.#ops.push(`drop ${task}`);
    this.#forgetHere(task);
  }

  /** Remove the claim of a task ferry no longer knows, if its offer is gone. */
  forget(task: string): void {
    this.#ops.push(`forget ${task}`);
    this.#claimed.delete(task);
  }

  /** The heartbeat of worker `slot` of block `block`, as of the last sync. */
  beat(block: string, slot: number): Beat | undefined {
    return this.#beats.get(`${block}.${slot}`);
  }

  /** How many workers of block `block` were beating at the last sync. */
  workersOf(block: string): number {
    return [...this.#beats.keys()].filter((k) => k.startsWith(block + ".")).length;
  }

  /** Write a file of the queue (a block's script) there, and a copy here. */
  async writeFar(path: string, text: string): Promise<void> {
    Deno.writeTextFileSync(join(this.dir, path.slice(this.farDir.length + 1)), text);
    const r = await this.#runner.exec(
      `mkdir -p -- ${shellQuote(dirname(path))} && cat > ${shellQuote(path)}`,
      { stdin: text },
    );
    if (r.failure) throw new Error(r.failure.message);
    if (r.code !== 0) {
      throw new Error(`Cannot write ${path} on ${this.#runner.where}: ${lastLines(r.stderr)}`);
    }
  }

  /**
   * One round trip: this tick's operations and offers go over, the queue's state and the ended
   * tasks' files come back. A failed sync is sent again with the next (every operation is safe to
   * apply twice); after {@linkcode SYNC_FAILURES} in a row, or one that cannot work, it throws.
   */
  async sync(): Promise<void> {
    const ops = this.#ops, offers = this.#offers;
    this.#ops = [];
    this.#offers = new Map();
    let why: string | undefined;
    try {
      const request = await this.#pack(ops, offers);
      const r = await this.#runner.exec(
        `mkdir -p -- ${shellQuote(this.#base)} && cd -- ${shellQuote(this.#base)} && tar -xf - ` +
          `&& exec bash ${shellQuote(`${this.#rel}/sync.sh`)} ${shellQuote(this.#rel)}`,
        { stdinBytes: request, binary: true },
      );
      if (r.failure && !r.failure.retryable) this.#failures = SYNC_FAILURES;
      if (r.failure) why = r.failure.message;
      else if (r.code !== 0) {
        why = `the sync on ${this.#runner.where} failed (exit ${r.code}): ${lastLines(r.stderr)}`;
      } else {
        this.#setUp = true;
        this.#failures = 0;
        return await this.#unpack(r.stdoutBytes ?? new Uint8Array());
      }
    } catch (e) {
      why = e instanceof Error ? e.message : String(e);
    }
    // Sent again, before what came since (a withdraw after the offer it takes back).
    this.#ops = [...ops, ...this.#ops];
    this.#offers = new Map([...offers, ...this.#offers]);
    if (++this.#failures >= SYNC_FAILURES) {
      throw new Error(`${this.farDir} on ${this.#runner.where} cannot be reached: ${why}`);
    }
  }

  /**
   * Remove the queue directory there (the blocks are gone), after bringing back the blocks'
   * output into `blocks/` here; the run's directory there goes too once empty. Also for the queue
   * of a run that was killed (a queue never made there: nothing to remove).
   */
  async end(): Promise<void> {
    const q = shellQuote(this.#rel), run = shellQuote(this.#run);
    const r = await this.#runner.exec(
      `cd -- ${shellQuote(this.#base)} && tar -cf - -C ${q} blocks; rm -rf -- ${q}; ` +
        `rmdir -- ${shellQuote(`${this.#run}/pilot`)} ${run} 2>/dev/null; true`,
      { binary: true },
    );
    if (r.failure) throw new Error(r.failure.message);
    if (r.stdoutBytes && r.stdoutBytes.length > 0) {
      await tar(["-C", this.dir, "-xf", "-"], r.stdoutBytes).catch(() => undefined);
    }
  }

  #forgetHere(task: string): void {
    this.#claimed.delete(task);
    this.#done = this.#done.filter((d) => d.task !== task);
    this.#roots.delete(task);
  }

  /**
   * The request: a tar stream of the queue's files (the first time), the operations, each
   * offered task's lines, and its attempt's files at its copy's place (linked, then read through
   * the links: `tar -h`, as `remote_copy.ts` uploads).
   */
  async #pack(ops: readonly string[], offers: ReadonlyMap<string, Offer>): Promise<Uint8Array> {
    const out = join(this.dir, "outbox");
    const clear = () => {
      try {
        Deno.removeSync(out, { recursive: true });
      } catch { /* none there */ }
    };
    clear(); // a sync cut short left it
    return await this.#packIn(out, ops, offers).finally(clear);
  }

  async #packIn(
    out: string,
    ops: readonly string[],
    offers: ReadonlyMap<string, Offer>,
  ): Promise<Uint8Array> {
    const q = join(out, this.#rel);
    const members = [`${this.#rel}/tmp/ops`];
    Deno.mkdirSync(join(q, "tmp", "offer"), { recursive: true });
    if (!this.#setUp) {
      for (const d of [...PILOT_DIRS, "where"]) {
        Deno.mkdirSync(join(q, d), { recursive: true });
        members.push(`${this.#rel}/${d}`);
      }
      const libraries: [string, string][] = [
        ["pilot.sh", PILOT_LIBRARY],
        ["wrapper.sh", WRAPPER_LIBRARY],
        ["container.sh", CONTAINER_LIBRARY],
        ["sync.sh", SYNC_SCRIPT],
      ];
      for (const [name, text] of libraries) {
        Deno.writeTextFileSync(join(q, name), text);
        members.push(`${this.#rel}/${name}`);
      }
    }
    for (const [task, o] of offers) {
      Deno.copyFileSync(wrapperFiles(o.root).script, join(q, "tmp", "offer", task));
      members.push(`${this.#rel}/tmp/offer/${task}`);
      Deno.mkdirSync(join(o.root, "work"), { recursive: true });
      Deno.mkdirSync(dirname(join(out, o.rel)), { recursive: true });
      Deno.symlinkSync(o.root, join(out, o.rel));
      for (const e of ATTEMPT_FILES) {
        if (present(join(o.root, e))) members.push(`${o.rel}/${e}`);
      }
    }
    Deno.writeTextFileSync(join(q, "tmp", "ops"), ops.map((l) => l + "\n").join(""));
    return await tar(["-C", out, "-chf", "-", ...members]);
  }

  /** The reply: the state becomes the snapshot; each ended task's files go into its attempt. */
  async #unpack(reply: Uint8Array): Promise<void> {
    const inbox = join(this.dir, "inbox");
    try {
      Deno.removeSync(inbox, { recursive: true });
    } catch { /* none left */ }
    Deno.mkdirSync(inbox);
    try {
      await tar(["-C", inbox, "-xf", "-"], reply);
      this.#read(Deno.readTextFileSync(join(inbox, this.#rel, "tmp", "state")), inbox);
    } finally {
      Deno.removeSync(inbox, { recursive: true });
    }
  }

  #read(state: string, inbox: string): void {
    const claimed = new Map<string, string>(), done: Claim[] = [], beats = new Map<string, Beat>();
    const lines = state.split("\n").map((l) => l.split(" "));
    const now = Number(lines.find((w) => w[0] === "now")?.[1]);
    for (const w of lines) {
      if (w[0] === "claimed" && /^t\d+$/.test(w[1] ?? "")) claimed.set(w[1]!, w[2] ?? "");
      if (w[0] === "worker" && /^b\d+\.\d+$/.test(w[1] ?? "") && w[2]) {
        const age = Number.isFinite(now) ? Math.max(0, now - Number(w[3])) * 1000 : 0;
        beats.set(w[1]!, { host: w[2], at: Date.now() - (Number.isFinite(age) ? age : 0) });
      }
      const c = w[0] === "done" ? parseClaim(w[1] ?? "") : undefined;
      const o = c ? this.#roots.get(c.task) : undefined;
      if (c === undefined || o === undefined) {
        if (c) done.push(c); // a task ferry no longer knows: released below
        continue;
      }
      const back = join(inbox, o.rel);
      if (present(back)) moveInto(back, o.root);
      done.push(c);
    }
    this.#claimed = claimed;
    this.#done = done;
    this.#beats = beats;
  }
}
