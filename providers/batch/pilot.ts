/**
 * A batch provider for `bundle: pilot`: ferry submits pilot blocks as
 * ordinary scheduler jobs (`pilot_script.ts`) and hands each attempt to the
 * blocks' workers through a queue directory under the run's directory
 * (`pilot_queue.ts`, `pilot.sh`), or, when the cluster shares no filesystem
 * with ferry, on the cluster, synced once a tick over SSH (`pilot_remote.ts`);
 * the protocol is in docs/architecture.md, "Pilot blocks". Each attempt still runs its own job wrapper, so it keeps
 * the wrapper's semantics; only `worker_init` moves into the block, once.
 *
 * - Every tick ({@linkcode QUEUE_TICK_MS} while workers claim and finish
 *   tasks, longer up to {@linkcode QUEUE_IDLE_TICK_MS} while they do not)
 *   ferry reads which tasks workers claimed and finished, offers more, and
 *   scales blocks (`pilot_blocks.ts`).
 * - Every poll interval one status call covers every block; a block that left
 *   the queue gives its running tasks back as retryable failures (`pilot
 *   lost`), as does a worker whose heartbeat stopped.
 * - `close()` tells the workers to stop, cancels every block and waits until
 *   the queue has let go of them.
 * @module
 */

import { dirname, join } from "node:path";
import type { Executor, PilotSettings } from "../../dsl/model.ts";
import { type Dialect, DirectiveError } from "./dialect.ts";
import { Block, blocksToSubmit } from "./pilot_blocks.ts";
import { type Claim, PilotQueue, type PilotQueueStore } from "./pilot_queue.ts";
import { blockScript, blockScriptPath, pilotQueueDir } from "./pilot_script.ts";
import { relocate } from "./remote_copy.ts";
import { PilotTask } from "./pilot_task.ts";
import { type CommandRunner, localRunner } from "./runner.ts";
import { Canceller } from "./scheduler_cancel.ts";
import { TERMINAL } from "./scheduler_poll.ts";
import { submitFailure } from "./scheduler_submit.ts";
import type { RootedJob } from "./scheduler_job.ts";
import { SerialLane } from "./serial_lane.ts";
import type { BatchProvider, JobResult, JobSpec, PilotBlock } from "./types.ts";
import { pilotTaskScript, readWrapperStatus, resultOfStatus, wrapperFiles } from "./wrapper.ts";
import type { WrapperOptions } from "./wrapper.ts";

/** Milliseconds between reads of the queue directory while it changes. */
export const QUEUE_TICK_MS = 20;
/** Milliseconds between reads of the queue directory at most, while nothing changes there. */
export const QUEUE_IDLE_TICK_MS = 50;
/** Milliseconds between syncs of a remote queue (`pilot_remote.ts`) while it changes. */
export const REMOTE_TICK_MS = 100;
/** Milliseconds between syncs of a remote queue at most, while nothing changes there. */
export const REMOTE_IDLE_TICK_MS = 500;
/** A worker whose heartbeat is older than this (ms) is taken for dead (it beats every 2 s). */
export const HEARTBEAT_DEAD_MS = 30_000;
/** Status polls in a row a block may be missing from the queue before it counts as gone. */
const MISSING_POLLS = 3;
/** Blocks in a row that end before any worker started, after which waiting tasks fail. */
export const STILLBORN_BLOCKS = 3;

/** Why tasks failed without running. */
interface Failure {
  readonly message: string;
  readonly retryable: boolean;
}

/** Make directories `dirs`, each once; one inside another comes with it (a new directory costs). */
function makeDirs(dirs: readonly string[]): void {
  const all = [...new Set(dirs)];
  for (const d of all) {
    if (!all.some((o) => o.startsWith(d + "/"))) Deno.mkdirSync(d, { recursive: true });
  }
}

/** Options for {@linkcode PilotProvider}. */
export interface PilotOptions extends WrapperOptions {
  /** Where scheduler commands run. @default this host */
  readonly runner?: CommandRunner;
  /** Milliseconds between status calls. @default 1000 */
  readonly pollMs?: number;
  /** A worker whose heartbeat is older (ms) is taken for dead. @default {@linkcode HEARTBEAT_DEAD_MS} */
  readonly heartbeatDeadMs?: number;
  /**
   * Opens the queue of run directory `runDir` on a cluster that shares no filesystem with ferry
   * (`pilot_remote.ts`). @default a queue directory in the run's directory
   */
  readonly remoteQueue?: (runDir: string) => Promise<PilotQueueStore & RemoteRoots>;
  /**
   * The spawner the workers start plain attempts with (copied into a queue ferry shares with the
   * nodes; null: none, the workers fork). @default ferry's compiled spawner, when it was built
   */
  readonly spawner?: string | null;
}

/** A remote queue's copies of attempt directories. */
export interface RemoteRoots {
  /** The copy there of attempt directory `root`. */
  farRoot(root: string): string;
}

/** An executor with its pilot settings. */
export type PilotExecutor = Executor & { readonly pilot: PilotSettings };

/** Runs attempts on the workers of pilot blocks of one scheduler executor. */
export class PilotProvider implements BatchProvider {
  /** The dialect's name. */
  readonly name: string;
  /** The job wrapper does node-side staging itself. */
  readonly nodeSide = true;
  /** Every ready task is handed over at once: the workers take them as they free up. */
  readonly capacity = 1_000_000;
  readonly #dialect: Dialect;
  readonly #ex: PilotExecutor;
  readonly #runner: CommandRunner;
  readonly #pollMs: number;
  readonly #deadMs: number;
  readonly #wrapper: WrapperOptions;
  readonly #remote: PilotOptions["remoteQueue"];
  readonly #spawner: string | null | undefined;
  readonly #lane = new SerialLane();
  readonly #canceller: Canceller;
  readonly #blocks = new Map<string, Block>();
  /** Unsettled tasks by their name in the queue. */
  readonly #tasks = new Map<string, PilotTask>();
  /** Tasks not offered yet, in order. */
  #waiting: PilotTask[] = [];
  #offered = 0;
  #seq = 0;
  #blockSeq = 0;
  #queue: PilotQueueStore | undefined;
  #opening: Promise<PilotQueueStore> | undefined;
  #remoteRoots: RemoteRoots | undefined;
  /** The remote queue's sync under way. */
  #syncing: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #tickMs = QUEUE_TICK_MS;
  #statusAt = 0;
  #stillborn = 0;
  #closed = false;

  constructor(dialect: Dialect, ex: PilotExecutor, options: PilotOptions = {}) {
    const {
      runner = localRunner(),
      pollMs = 1000,
      heartbeatDeadMs,
      remoteQueue,
      spawner,
      ...wrapper
    } = options;
    this.#remote = remoteQueue;
    this.#spawner = spawner;
    this.#deadMs = heartbeatDeadMs ?? HEARTBEAT_DEAD_MS;
    this.name = dialect.name;
    this.#dialect = dialect;
    this.#ex = ex;
    this.#runner = runner;
    this.#pollMs = pollMs;
    this.#wrapper = wrapper;
    this.#canceller = new Canceller({ dialect, runner, lane: this.#lane });
  }

  /** Run one attempt on a pilot worker; resolves with how it ended, never rejects for the job. */
  execute(job: JobSpec, signal: AbortSignal): Promise<JobResult> {
    const root = job.root;
    if (root === undefined) throw new Error("internal: batch jobs need their attempt directory");
    if (this.#closed) throw new Error("internal: the pilot provider was closed");
    return new Promise<JobResult>((resolve) => {
      const task = new PilotTask(`t${++this.#seq}`, { ...job, root }, resolve);
      void this.#enqueue(task, signal);
    });
  }

  /**
   * Open the queue (with the first task), then wait for a turn to be offered. The attempt's files
   * are written when it is offered ({@linkcode PilotProvider.#write}), a few at a time: blocks are
   * submitted, and workers take the first tasks, while later ones are still waiting. (Written all
   * at once, 5,000 attempts' files kept the blocks from being submitted for seconds.)
   */
  async #enqueue(task: PilotTask, signal: AbortSignal): Promise<void> {
    try {
      await this.#open(task.spec);
    } catch (e) {
      return task.fail(`Cannot prepare the job of "${task.spec.taskId}"`, e);
    }
    if (this.#closed || signal.aborted) return task.finish({ outcome: "cancelled" });
    task.listen(signal, () => this.#cancel(task));
    this.#tasks.set(task.name, task);
    task.onSettled = () => this.#tasks.delete(task.name);
    this.#waiting.push(task);
    this.#schedule(0);
  }

  /** Write a task's files; false when they cannot be (the task then failed, with why). */
  #write(task: PilotTask): boolean {
    const job = task.spec;
    try {
      // The attempt's own lines: the worker holds the wrapper's library, its block ran worker_init.
      // Without a shared filesystem they name the attempt's copy there (`remote_copy.ts` layout),
      // and are written here, to go over when the task is offered.
      const far = this.#remoteRoots
        ? relocate(job, job.root, this.#remoteRoots.farRoot(job.root))
        : job;
      const files = pilotTaskScript(far, this.#wrapper);
      const here = (p: string) => job.root + p.slice(far.root.length);
      // The filesystem is shared: made here, the wrapper finds them and starts no mkdir.
      const dirs = far === job ? [job.dir, ...job.mkdirs] : [];
      makeDirs([...[...files.keys()].map((p) => dirname(here(p))), ...dirs]);
      for (const [path, text] of files) Deno.writeTextFileSync(here(path), text);
      return true;
    } catch (e) {
      task.fail(`Cannot prepare the job of "${job.taskId}"`, e);
      return false;
    }
  }

  /** Open the queue, once (again after a failure). */
  async #open(job: RootedJob): Promise<void> {
    if (this.#queue !== undefined) return;
    const runDir = job.runDir ?? dirname(dirname(dirname(job.root)));
    this.#opening ??= (async () => {
      if (this.#remote === undefined) {
        return new PilotQueue(pilotQueueDir(runDir, this.#ex.name), this.#spawner);
      }
      const q = await this.#remote(runDir);
      this.#remoteRoots = q;
      return q;
    })();
    try {
      this.#queue = await this.#opening;
    } catch (e) {
      this.#opening = undefined;
      throw e;
    }
  }

  /** The blocks in the queue now, for progress. */
  pilotBlocks(): readonly PilotBlock[] {
    return [...this.#blocks.values()].filter((b) => !b.gone).map((b) => b.view());
  }

  /**
   * Cancel jobs by the ids the scheduler gave them (blocks the crashed run of `runDir` left). A
   * remote queue's directory of that run goes too, once its blocks are gone.
   */
  async cancelJobs(ids: readonly string[], runDir?: string): Promise<string | undefined> {
    const failed = await this.#canceller.cancelIds(ids);
    if (failed !== undefined || runDir === undefined || this.#remote === undefined) return failed;
    await this.#waitGone(ids);
    await this.#remote(runDir).then((q) => q.end?.()).catch(() => undefined);
    return undefined;
  }

  /** Stop: workers told to end, unclaimed tasks cancelled, every block cancelled and gone. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      this.#queue?.stop();
    } catch { /* the run's directory is gone: the cancel below still stops the blocks */ }
    for (const t of this.#waiting.splice(0)) t.finish({ outcome: "cancelled" });
    await this.#syncing;
    await this.#lane.idle();
    const live = [...this.#blocks.values()].filter((b) => !b.gone && b.jobId !== undefined);
    if (live.length > 0) await this.#canceller.cancelIds(live.map((b) => b.jobId!));
    for (const b of live) b.ending = true;
    await this.#waitGone(live.map((b) => b.jobId!));
    // A remote queue: the last operations go over, the tasks that ended meanwhile come back.
    await this.#queue?.sync?.().catch(() => undefined);
    for (const t of [...this.#tasks.values()]) {
      this.#harvestOne(t);
      t.finish({ outcome: "cancelled" });
    }
    for (const b of live) this.#gone(b, "cancelled by ferry");
    // No block is left to use it: the queue directory there goes.
    await this.#queue?.end?.().catch(() => undefined);
    await this.#runner.close?.();
  }

  #schedule(ms: number = this.#tickMs): void {
    if (this.#closed || this.#timer !== undefined || this.#syncing !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#tick();
    }, ms);
  }

  /** A remote queue's state first, in one round trip; then {@linkcode PilotProvider.#step}. */
  #tick(): void {
    const q = this.#queue;
    if (this.#closed || q?.sync === undefined) return this.#step();
    // One sync at a time: no tick is scheduled until it is over.
    this.#syncing = q.sync().catch((e) => this.#broken(e)).then(() => {
      this.#syncing = undefined;
      this.#step();
    });
  }

  /** Read the queue, offer tasks, scale, and now and then ask the scheduler about the blocks. */
  #step(): void {
    if (this.#closed || this.#queue === undefined) return;
    try {
      // Quick while workers take and finish tasks, slower (up to QUEUE_IDLE_TICK_MS) while not.
      const moved = this.#harvest();
      const [quick, idle] = this.#remoteRoots
        ? [REMOTE_TICK_MS, REMOTE_IDLE_TICK_MS]
        : [QUEUE_TICK_MS, QUEUE_IDLE_TICK_MS];
      this.#tickMs = moved ? quick : Math.min(idle, this.#tickMs * 1.5);
      // Blocks first: their submission runs while the tasks offered next are written.
      this.#scale();
      this.#feed();
    } catch (e) {
      this.#broken(e);
    }
    const blocks = [...this.#blocks.values()].some((b) => !b.gone);
    if (blocks && Date.now() - this.#statusAt >= this.#pollMs) {
      this.#statusAt = Date.now();
      void this.#lane.run(() => this.#poll()).catch((e) => this.#broken(e));
    }
    if (this.#tasks.size > 0 || blocks) this.#schedule();
  }

  /** The queue directory cannot be read or written: every task ends with the reason. */
  #broken(e: unknown): void {
    for (const t of [...this.#tasks.values()]) t.fail("Cannot use the pilot queue", e);
    this.#waiting = [];
  }

  /**
   * Tasks workers claimed (now running) and finished (their wrapper's status file written): two
   * directory listings, and one read per new claim. Whether anything moved.
   */
  #harvest(): boolean {
    const q = this.#queue!;
    let moved = false;
    for (const name of q.claimed()) {
      const t = this.#tasks.get(name);
      if (t === undefined) q.forget(name);
      if (t === undefined || t.claim !== undefined) continue;
      const c = q.claimOf(name);
      if (c) this.#claimed(t, c);
      else t.unnamedSince ??= Date.now(); // being written, or its worker died as it claimed
      moved ||= c !== undefined;
    }
    for (const c of q.done()) {
      const t = this.#tasks.get(c.task);
      if (t) {
        if (t.claim === undefined) this.#claimed(t, c);
        this.#finished(t, c);
      }
      q.release(c, t?.cancelled);
      moved = true;
    }
    return moved;
  }

  #claimed(t: PilotTask, c: Claim): void {
    t.claim = c;
    this.#offered--;
    const b = this.#blocks.get(c.block);
    if (b) {
      b.busy++;
      b.started = true;
      b.workersSeen = true;
    }
    t.spec.onSubmitted?.(b?.jobId ?? c.block);
  }

  /** The task's result from its wrapper's status file. */
  #finished(
    t: PilotTask,
    c: Claim,
    st = readWrapperStatus(wrapperFiles(t.spec.root).status),
  ): void {
    const b = this.#blocks.get(c.block);
    if (b) {
      b.busy--;
      b.done++;
    }
    const block = b?.jobId ?? c.block;
    if (st === undefined) {
      return t.finish({
        outcome: "failed",
        message:
          `The pilot worker ${c.slot} of block ${block} ran the task but its job wrapper wrote no status file (see ${
            wrapperFiles(t.spec.root).log
          })`,
        jobId: block,
        pilot: { block, worker: `?/${c.slot}` },
      });
    }
    t.finish({
      ...resultOfStatus(st, t.cancelled),
      jobId: block,
      pilot: { block, worker: `${st.host}/${c.slot}`, node: st.host },
    });
  }

  /** A task whose worker is gone: a retryable failure, unless its wrapper already succeeded. */
  #lost(t: PilotTask, why: string): void {
    const c = t.claim!;
    const b = this.#blocks.get(c.block);
    const st = readWrapperStatus(wrapperFiles(t.spec.root).status);
    this.#queue!.release(c, t.cancelled);
    if (st?.exitCode === 0) return this.#finished(t, c, st);
    if (b) b.busy--;
    const block = b?.jobId ?? c.block;
    const node = st?.host ?? this.#queue!.beat(c.block, c.slot)?.host;
    t.finish({
      outcome: "failed",
      message: `pilot lost: ${why}`,
      retryable: true,
      lost: true,
      jobId: block,
      pilot: { block, worker: `${node ?? "?"}/${c.slot}`, ...(node ? { node } : {}) },
    });
  }

  /** Offer waiting tasks, keeping the queue's `new/` short (the workers list it each time). */
  #feed(): void {
    const workers = [...this.#blocks.values()].reduce((n, b) => n + b.capacity, 0);
    // A remote queue is offered to once a sync: more at a time.
    const limit = this.#remoteRoots ? Math.max(64, 16 * workers) : Math.max(32, 4 * workers);
    while (this.#waiting.length > 0 && this.#offered < limit) {
      const t = this.#waiting.shift()!;
      if (!this.#write(t)) continue;
      this.#queue!.offer(t.name, wrapperFiles(t.spec.root).script);
      t.offered = true;
      this.#offered++;
    }
  }

  #scale(): void {
    const blocks = [...this.#blocks.values()].filter((b) => !b.gone);
    const busy = blocks.reduce((n, b) => n + b.busy, 0);
    const n = blocksToSubmit({
      live: blocks.length,
      capacity: blocks.reduce((n, b) => n + b.capacity, 0),
      busy,
      waiting: this.#tasks.size - busy,
      first: this.#blockSeq === 0,
    }, this.#ex.pilot);
    for (let i = 0; i < n; i++) {
      const { nodesPerBlock, workersPerNode } = this.#ex.pilot;
      const b = new Block(`b${++this.#blockSeq}`, nodesPerBlock * workersPerNode);
      this.#blocks.set(b.key, b);
      void this.#lane.run(() => this.#submit(b)).catch((e) => this.#broken(e));
    }
  }

  /** Submit block `b`; when it cannot be, and no block can take them, the tasks fail with why. */
  async #submit(b: Block): Promise<void> {
    const place = { queue: this.#queue!.farDir, key: b.key };
    const path = blockScriptPath(place);
    let failure: Failure;
    let id: string | undefined;
    try {
      // A workspace path no directive can hold (a control character) cannot become a block.
      const script = blockScript(this.#dialect, this.#ex, place);
      await this.#queue!.writeFar(path, script.text);
      const inv = this.#dialect.submit(path, script.request);
      const ran = await this.#runner.run(inv);
      id = ran.code === 0 ? this.#dialect.parseSubmit(ran.stdout) : undefined;
      if (id !== undefined) return this.#record(b, id, path, script.request.output);
      failure = submitFailure(this.#dialect, this.#runner, inv.argv, ran);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      failure = {
        message: `Cannot submit to ${this.#dialect.label}: ${why}`,
        retryable: !(e instanceof DirectiveError),
      };
      // Queued, but ferry could not note it: cancelled rather than left running.
      if (id !== undefined) await this.#canceller.cancelIds([id]).catch(() => undefined);
    }
    b.gone = true;
    this.#blocks.delete(b.key);
    if ([...this.#blocks.values()].some((x) => x.capacity > 0)) return;
    this.#failUnclaimed({ ...failure, message: `pilot block: ${failure.message}` });
  }

  /** The tasks no worker holds fail with `failure` (no block can take them; a retry tries again). */
  #failUnclaimed(failure: Failure): void {
    const q = this.#queue!;
    for (const t of [...this.#tasks.values()]) {
      if (t.claim !== undefined || (t.offered && !q.withdraw(t.name))) continue;
      if (t.offered) this.#offered--;
      this.#waiting = this.#waiting.filter((w) => w !== t);
      t.finish({ outcome: "failed", ...failure });
    }
  }

  /** Note block `b`'s id (in `blocks/KEY.json`, which the next run reads after a crash). */
  #record(b: Block, id: string, script: string, output: string): void {
    b.jobId = id;
    b.output = output;
    const file = join(this.#queue!.dir, "blocks", `${b.key}.json`);
    // Written aside, then renamed: the next run never reads half of it.
    Deno.writeTextFileSync(
      file + ".tmp",
      JSON.stringify({
        scheduler: this.#dialect.name,
        executor: this.#ex.name,
        jobId: id,
        script,
        output,
        submittedAt: Date.now(),
      }) + "\n",
    );
    Deno.renameSync(file + ".tmp", file);
  }

  /** One status call for every block; blocks that left the queue give back their tasks. */
  async #poll(): Promise<void> {
    const blocks = [...this.#blocks.values()].filter((b) => !b.gone && b.jobId !== undefined);
    if (blocks.length === 0 || this.#closed) return;
    let entries;
    try {
      const ran = await this.#runner.run(this.#dialect.status(blocks.map((b) => b.jobId!)));
      entries = this.#dialect.parseStatus(ran.stdout);
      if (ran.code !== 0 && entries.length === 0) return; // try again next time
    } catch {
      return;
    }
    if (this.#closed) return;
    this.#harvest(); // what finished before the block went counts as finished
    for (const b of blocks) {
      const e = entries.find((x) => x.id === b.jobId);
      if (e === undefined && ++b.missing < MISSING_POLLS) continue;
      if (e !== undefined) b.missing = 0;
      if (e === undefined || TERMINAL.has(e.state)) {
        this.#gone(b, e === undefined ? "it left the queue" : e.raw);
      } else if (e.state === "running") b.started = true;
      if (!b.gone) this.#workersOf(b);
    }
    this.#checkBeats();
  }

  /** Whether block `b`'s workers started, and whether they all ended (it is ending then). */
  #workersOf(b: Block): void {
    const n = this.#queue!.workersOf(b.key);
    if (n > 0 || b.done > 0) b.workersSeen = true;
    if (b.workersSeen && n === 0 && b.busy === 0) b.ending = true;
  }

  /** Block `b` left the queue: its running tasks are lost. */
  #gone(b: Block, why: string): void {
    b.gone = true;
    try {
      Deno.writeTextFileSync(join(this.#queue!.dir, "blocks", `${b.key}.ended`), why + "\n");
    } catch { /* only for the next run's orphan search, which then cancels a gone job */ }
    for (const t of [...this.#tasks.values()]) {
      if (t.claim?.block === b.key) this.#lost(t, `block ${b.jobId} ended (${why})`);
    }
    if (b.ending || this.#closed) return;
    // Blocks that end before any worker started, again and again, would be submitted forever.
    this.#stillborn = b.workersSeen ? 0 : this.#stillborn + 1;
    if (this.#stillborn < STILLBORN_BLOCKS) return;
    this.#stillborn = 0;
    this.#failUnclaimed({
      message:
        `pilot block: ${STILLBORN_BLOCKS} blocks in a row ended before any worker started (the last, ${b.jobId}: ${why}); see ${b.output}`,
      retryable: false,
    });
  }

  /** Running tasks whose worker stopped beating are lost. */
  #checkBeats(): void {
    const now = Date.now();
    for (const t of [...this.#tasks.values()]) {
      const c = t.claim;
      if (c === undefined && now - (t.unnamedSince ?? now) >= this.#deadMs) this.#unnamed(t);
      if (c === undefined) continue;
      const beat = this.#queue!.beat(c.block, c.slot);
      if (beat === undefined || now - beat.at < this.#deadMs) continue;
      const b = this.#blocks.get(c.block);
      this.#lost(
        t,
        `worker ${beat.host}/${c.slot} of block ${b?.jobId ?? c.block} stopped answering`,
      );
    }
  }

  /**
   * A claim that never got its worker's name (the worker died between creating it and writing
   * into it): the task is taken back (its offer first, so that no worker runs it) and lost.
   */
  #unnamed(t: PilotTask): void {
    this.#queue!.drop(t.name);
    this.#offered--;
    t.finish({
      outcome: "failed",
      message: `pilot lost: a worker claimed the task and stopped before it wrote its name`,
      retryable: true,
      lost: true,
    });
  }

  /** A cancelled task: taken back if no worker has it, else its worker is asked to stop it. */
  #cancel(t: PilotTask): void {
    if (t.settled) return;
    t.cancelled = true;
    if (!t.offered) {
      this.#waiting = this.#waiting.filter((w) => w !== t);
      return t.finish({ outcome: "cancelled" });
    }
    try {
      if (t.claim === undefined && this.#queue!.withdraw(t.name)) {
        this.#offered--;
        return t.finish({ outcome: "cancelled" });
      }
      this.#queue!.cancel(t.name);
    } catch (e) {
      t.fail("Cannot cancel the task on its pilot worker", e);
    }
  }

  /** Read one task's end, if its worker finished it before its block was cancelled. */
  #harvestOne(t: PilotTask): void {
    const c = t.claim;
    if (c === undefined) return;
    if (this.#queue!.isDone(c)) this.#finished(t, c);
  }

  /** Wait (up to a minute) until the scheduler has let go of the blocks `ids`. */
  async #waitGone(ids: readonly string[]): Promise<void> {
    for (let i = 0; ids.length > 0 && i < 240; i++) {
      try {
        const ran = await this.#runner.run(this.#dialect.status(ids));
        const entries = this.#dialect.parseStatus(ran.stdout);
        if (ran.code !== 0 && entries.length === 0) break;
        if (entries.every((e) => TERMINAL.has(e.state))) break;
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
