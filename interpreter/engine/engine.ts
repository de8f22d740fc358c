/**
 * The run engine: the loop of the design. Take the ready tasks (waiting for
 * their input transfers, skipped when their recorded result still holds),
 * start those that fit on their executor, run each attempt, commit what it
 * wrote, release its dependants; retry a failed attempt after a backoff
 * (its cores free meanwhile); compile again when dynamic outputs are known.
 * An exception inside the engine stops it cleanly: running jobs cancelled,
 * transfers stopped, the event log closed, the run recorded as failed, and a
 * {@linkcode RunCrashed} naming a log that holds the stack.
 * @module
 */

import { join } from "node:path";
import { backoffDelay, RETRY_BASE_MS } from "../../providers/_shared/retry.ts";
import { sleep } from "../../providers/_shared/sleep.ts";
import { type BatchProvider, type KeptFetch, LOST_RETRIES } from "../../providers/batch/types.ts";
import { redactSecrets } from "../../providers/_shared/secrets.ts";
import type { GraphApp, NewEvent } from "../events.ts";
import { EventLogWriter } from "../events_writer.ts";
import { describeFsFault } from "../fs_errors.ts";
import type { Plan, PlanTask, PlanTransfer } from "../plan.ts";
import { IrregularFileError } from "../state.ts";
import { localPath } from "../values.ts";
import { keptKey, removeScratchRunDirs } from "../attempt.ts";
import { AttemptRunner } from "./attempt_runner.ts";
import { Committer } from "./committer.ts";
import { RunCrashed, writeCrashLog } from "./crash.ts";
import { TaskGraph } from "./graph.ts";
import { ReadyQueues, ResourcePool } from "./pool.ts";
import { PilotWatch } from "./pilot_watch.ts";
import { Replanner } from "./replanner.ts";
import { TempKeeper } from "./temp_keeper.ts";
import { KeptCopies } from "./kept.ts";
import { restoreFromStore } from "./restore.ts";
import type { ResultStore } from "../results/store.ts";
import { RunTransfers } from "./transfers.ts";
import { failedOutcome, type Node, type TaskOutcome, type TaskState } from "./types.ts";
import type { RunOptions, RunSummary } from "./options.ts";

/** Result-store lookups and restores at once (the others wait their turn). */
const RESTORES_AT_ONCE = 16;

/** One run of a plan. */
export class Engine {
  readonly #o: RunOptions;
  readonly #plan: Plan;
  readonly #graph: TaskGraph;
  readonly #pool: ResourcePool;
  readonly #queues = new ReadyQueues();
  readonly #temps: TempKeeper;
  readonly #kept: KeptCopies;
  readonly #transfers: RunTransfers;
  readonly #runner: AttemptRunner;
  readonly #committer: Committer;
  readonly #replanner: Replanner;
  readonly #eventLog: EventLogWriter;
  readonly #pilots: PilotWatch;
  readonly #outcomes = new Map<string, TaskOutcome>();
  /** Tasks that really ran in this run (not skipped as cached). */
  readonly #executed = new Set<string>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #expansions: Node[] = [];
  /** Cancels the jobs and backoffs of this run: the user's signal, or an internal error. */
  readonly #jobs = new AbortController();
  readonly #jobSignal: AbortSignal;
  #backingOff = 0;
  /** Tasks being looked up in (or restored from) the result store. */
  #restoring = 0;
  /** Tasks waiting for their turn to be looked up in the result store. */
  readonly #toRestore: Node[] = [];
  #restores = 0;
  #stopping = false;
  #crash: { error: unknown } | undefined;
  #wake: () => void = () => {};

  /** An engine for one run of `plan`. */
  constructor(plan: Plan, options: RunOptions) {
    this.#o = options;
    this.#plan = plan;
    this.#jobSignal = AbortSignal.any([options.signal, this.#jobs.signal]);
    // The run's event log: one JSON line per task state change, written as it happens.
    this.#eventLog = EventLogWriter.open(join(options.runDir, "events.jsonl"));
    const log = this.#log;
    this.#graph = new TaskGraph(plan.tasks);
    this.#pool = new ResourcePool(options.executors, options.providers, options.jobs);
    this.#temps = new TempKeeper((url) => this.#dropTemp(url));
    this.#kept = new KeptCopies(async (executor, keys) => {
      await options.providers.get(executor)?.dropKept?.(options.runId, keys);
    });
    this.#transfers = new RunTransfers(
      plan,
      {
        executors: options.executors,
        moduleBase: options.moduleBase ?? (() => options.workspace),
        ...(options.maxTransfers !== undefined ? { maxTransfers: options.maxTransfers } : {}),
        retryBaseMs: this.#retryBaseMs,
      },
      options.events.transfer?.bind(options.events),
      log,
      (t, how) => this.#fetchKept(t, how),
    );
    this.#runner = new AttemptRunner({
      runDir: options.runDir,
      runId: options.runId,
      stager: this.#transfers.stager,
      log,
      started: (task, attempt) => options.events.started(task, attempt),
      ...(options.render ? { render: options.render } : {}),
      resultsOf: (deps) => this.#resultsOf(deps),
      retryBaseMs: this.#retryBaseMs,
      keptInputs: (task) => this.#kept.inputsOf(task),
    });
    this.#committer = new Committer({
      workspace: options.workspace,
      runId: options.runId,
      ...(options.cache ? { cache: options.cache } : {}),
      ...(options.store ? { store: options.store } : {}),
      signal: options.signal,
      ...(options.ownFiles ? { ownFiles: options.ownFiles } : {}),
      ...(options.results ? { results: options.results } : {}),
    });
    this.#replanner = new Replanner(options.replan);
    // Pilot blocks: each change of state a line of the log; the reporter sees every change.
    this.#pilots = new PilotWatch(options.providers, (executor, blocks, changes) => {
      for (const c of changes) {
        const { id, state, workers, busy, done } = c;
        log({ event: "pilot-block", executor, block: id, state, workers, busy, done });
      }
      options.events.blocks?.(executor, blocks, changes);
    }, (e) => this.#crashed(e));
    if (options.results) {
      options.results.onFailed = (task, message) =>
        log({ event: "store-warning", task, message: redactSecrets(message) });
    }
  }

  get #retryBaseMs(): number {
    return this.#o.retryBaseMs ?? RETRY_BASE_MS;
  }

  readonly #log = (e: NewEvent): void => this.#eventLog.write(e);

  #changed(): void {
    this.#wake();
  }

  /** Run to the end (or until cancelled); throws {@linkcode RunCrashed} on an internal error. */
  async run(): Promise<RunSummary> {
    const t0 = Date.now();
    const { signal } = this.#o;
    const onAbort = () => {
      this.#transfers.cancel(signal.reason);
      this.#changed();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      this.#begin();
      this.#pilots.start();
      await this.#loop();
    } catch (e) {
      this.#crashed(e);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    if (this.#crash) await Promise.allSettled([...this.#running.values()]);
    await this.#o.results?.drain(signal);
    this.#pilots.stop();
    this.#undelivered(await this.#transfers.settleKept());
    await this.#kept.close();
    await this.#transfers.close(new Error("the run is over"));
    await removeScratchRunDirs([...this.#graph.nodes.values()].map((n) => n.task), this.#o.runId);
    this.#log({
      event: "run-ended",
      interrupted: signal.aborted,
      ...(this.#crash ? { error: errorLine(this.#crash.error) } : {}),
    });
    this.#eventLog.close();
    if (this.#crash) throw this.#crashReport(this.#crash.error);
    return this.#summary(t0);
  }

  #begin(): void {
    const plan = this.#plan;
    this.#o.events.start(this.#graph.nodes.size);
    // The task list, so `ferry status` can name what never started (blocked, not run); the
    // workflow's name, for `ferry report`'s title.
    this.#log({ event: "planned", workflow: plan.workflow, tasks: plan.tasks.map((t) => t.id) });
    // The app graph (fan-outs collapsed), for `ferry report`: each app, its executor, what it waits for.
    this.#log({ event: "graph", apps: appGraph(plan.tasks) });
    this.#temps.recount(this.#graph.nodes.values());
    this.#kept.recount(this.#graph.nodes.values());
    this.#transfers.recount(this.#graph.nodes.values());
    this.#transfers.prefetch(plan);
  }

  async #loop(): Promise<void> {
    const { signal } = this.#o;
    for (;;) {
      if (this.#crash) return;
      if (!signal.aborted) await this.#schedule();
      // A full upload queue holds back the tasks still to start, unless the run is stopping.
      const held = this.#o.results?.full === true && !this.#stopping && !signal.aborted;
      const busy = this.#running.size > 0 || this.#backingOff > 0 || this.#restoring > 0 || held;
      const staging = this.#transfers.waiting > 0 && !this.#stopping && !signal.aborted;
      if (!busy && !staging) return this.#checkAllEnded();
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /**
   * Nothing runs or waits for a transfer any more: unless the run stops (a
   * failure, Ctrl-C), every task must have ended. One still waiting is a bug
   * of the engine, not a run that is "done".
   */
  #checkAllEnded(): void {
    if (this.#stopping || this.#o.signal.aborted) return;
    const stuck = [...this.#graph.nodes.values()].filter((n) =>
      n.state === "waiting" || n.state === "ready"
    );
    if (stuck.length === 0) return;
    throw new Error(
      `the run ended with ${stuck.length} task(s) that never started, though nothing failed (first: ${
        stuck[0]!.task.id
      }, ${stuck[0]!.state})`,
    );
  }

  /** Take what became ready, re-plan where dynamic outputs are now known, start what fits. */
  async #schedule(): Promise<void> {
    if (!this.#stopping) {
      this.#drainReady();
      while (this.#expansions.length > 0) {
        const node = this.#expansions.shift()!;
        if (node.state === "ready") await this.#expand(node);
        this.#drainReady();
      }
    }
    this.#startQueued();
  }

  /** Start the queued tasks that fit. A stopping run starts nothing new but a task's retry. */
  #startQueued(): void {
    const results = this.#o.results;
    if (results?.full && !this.#stopping) {
      // The store is behind (as many uploads pending as run at once): no task starts until one
      // ends, so finished tasks do not pile up waiting to be uploaded and recorded.
      results.settled().then(() => this.#changed());
      return;
    }
    const only = this.#stopping ? isRetry : undefined;
    this.#queues.startFitting(this.#pool, (n) => this.#start(n), only);
  }

  #drainReady(): void {
    this.#graph.drainReady((node) => this.#takeReady(node));
  }

  /** A task whose dependencies all succeeded: on to its transfers, its cache check, its queue. */
  #takeReady(node: Node): void {
    if (node.restoring) return; // the store's answer brings it back
    if (Replanner.waits(node)) {
      this.#expansions.push(node);
      return;
    }
    if (!node.staged && !this.#stageInputs(node)) return;
    if (this.#skipCached(node)) return;
    if (this.#fromStore(node)) return;
    if (this.#o.storeOnly) return this.#notInStore(node);
    const big = this.#pool.tooBig(node.task);
    if (big) return this.#failEarly(node, `Cannot run ${node.task.id}: ${big}`);
    this.#queues.push(node);
  }

  /** Whether the task's inputs are in place; if not, wait for its transfers and come back. */
  #stageInputs(node: Node): boolean {
    const needed = this.#transfers.inputsOf(node.task);
    if (needed.length === 0) return node.staged = true;
    this.#transfers.wait(needed).then((bad) => {
      if (node.state !== "ready") return;
      if (bad !== undefined) this.#failEarly(node, bad);
      else {
        node.staged = true;
        this.#graph.markReady(node);
      }
    }).catch((e) => this.#crashed(e)).finally(() => this.#changed());
    return false;
  }

  /** Inputs are in place (remote ones revalidated): is the recorded result still valid? */
  #skipCached(node: Node): boolean {
    const { cache, store } = this.#o;
    if (!cache || node.checked) return false;
    node.checked = true;
    const task = node.task;
    // Planned as cached, nothing it reads ran or was fetched in this run: the plan's decision
    // stands (no second look at thousands of files).
    const planned = task.status.action === "cached" &&
        !task.deps.some((d) => this.#executed.has(d)) &&
        this.#transfers.inputsOf(task).length === 0
      ? store?.successes().get(task.id)
      : undefined;
    let d;
    try {
      d = planned ? { cached: true, record: planned } : cache.decide(task);
    } catch (e) {
      // An input became a FIFO, a device or a socket since the check: hashing it would hang.
      if (!(e instanceof IrregularFileError)) throw e;
      this.#failEarly(node, `Cannot run ${task.id}: ${e.message}`);
      return true;
    }
    if (!d.cached || !d.record) {
      if (d.key !== undefined && !cache.isForced(task)) node.storeKey = d.key;
      return false;
    }
    node.cached = true;
    this.#replanner.recorded(task.app, d.record);
    this.#log({ event: "cached", task: task.id });
    this.#o.events.cached?.(task);
    this.#succeed(node);
    return true;
  }

  /**
   * A task that must run and has a key: ask the result store first (in the background; the
   * task comes back to the ready list on a miss). False when there is nothing to ask.
   */
  #fromStore(node: Node): boolean {
    const results = this.#o.results, key = node.storeKey;
    if (!results || key === undefined || node.storeChecked) return false;
    node.storeChecked = node.restoring = true;
    // At most RESTORES_AT_ONCE: ten thousand lookups at once would hold ten thousand entries.
    if (this.#restoring >= RESTORES_AT_ONCE) this.#toRestore.push(node);
    else this.#restore(node, results, key);
    return true;
  }

  #restore(node: Node, results: ResultStore, key: string): void {
    this.#restoring++;
    restoreFromStore(node.task, key, {
      results,
      committer: this.#committer,
      dir: join(this.#o.runDir, "_store", String(++this.#restores)),
      workspaceUrl: this.#o.store!.workspaceUrl,
      signal: this.#jobSignal,
      warn: (message) =>
        this.#log({ event: "store-warning", task: node.task.id, message: redactSecrets(message) }),
    }).then((dynamic) => {
      node.restoring = false;
      if (node.state !== "ready") return;
      if (dynamic === undefined) return this.#graph.markReady(node);
      for (const [name, files] of dynamic) this.#replanner.collected(node.task.app, name, files);
      node.cached = true;
      this.#log({ event: "cached", task: node.task.id, store: results.url });
      this.#o.events.cached?.(node.task, results.url);
      this.#succeed(node);
    }).catch((e) => this.#crashed(e)).finally(() => {
      this.#restoring--;
      const next = this.#toRestore.shift();
      if (next) this.#restore(next, results, next.storeKey!);
      this.#changed();
    });
  }

  /** `ferry store pull`: a task the store does not hold is not run, nor what depends on it. */
  #notInStore(node: Node): void {
    node.state = "blocked";
    this.#log({ event: "blocked", task: node.task.id, by: "" });
    this.#graph.block(node.task.id, (task, by) => this.#log({ event: "blocked", task, by }));
  }

  /** Start an attempt of a task that fits: it holds its resources until the attempt ends. */
  #start(node: Node): void {
    const task = node.task;
    const provider = this.#o.providers.get(task.executor)!;
    this.#pool.take(task);
    node.state = "running";
    node.attempt++;
    const held = { cores: true };
    const p = this.#attempt(node, provider, held)
      .catch((e) => this.#crashed(e))
      .finally(() => {
        if (held.cores) this.#pool.give(task);
        this.#running.delete(task.id);
        this.#changed();
      });
    this.#running.set(task.id, p);
  }

  /**
   * Run one attempt, commit it, and decide what comes next: done, a retry, or a failure. A
   * successful attempt's resources go back as soon as its process ended, and what waits in the
   * queues starts then, before its outputs are committed: a core never waits for ferry's
   * bookkeeping.
   */
  async #attempt(node: Node, provider: BatchProvider, held: { cores: boolean }): Promise<void> {
    const ex = this.#o.executors[node.task.executor]!;
    const run = await this.#runner.run(node.task, node.attempt, ex, provider, this.#jobSignal);
    if (run.outcome.outcome === "succeeded" && !this.#pool.oneAtATime(node.task.executor)) {
      // (A failed attempt is decided first: it may stop the run, or retry at the queue's front.
      // One at a time means one at a time: the next task starts once this one is done.)
      held.cores = false;
      this.#pool.give(node.task);
      if (!this.#crash && !this.#o.signal.aborted) this.#startQueued();
    }
    const { outcome, dynamic } = await this.#committer.commit(run);
    for (const [name, files] of dynamic) this.#replanner.collected(run.task.app, name, files);
    // (What a host kept is in the state, not in the event.)
    const { kept: _kept, ...ended } = outcome;
    this.#log({ event: "finished", task: run.task.id, attempt: run.attempt, ...ended });
    this.#outcomes.set(run.task.id, outcome);
    if (outcome.outcome === "succeeded") {
      if (provider.keeps) {
        this.#kept.made(run.task, this.#transfers.deliver(run.task, outcome.kept));
      }
      this.#executed.add(run.task.id);
      this.#o.events.finished(run.task, run.attempt, outcome);
      this.#succeed(node);
    } else if (this.#retries(run.task, run.attempt, outcome)) {
      this.#backOff(node, run.task, outcome);
    } else this.#end(node, run.task, outcome);
  }

  #retries(task: PlanTask, attempt: number, outcome: TaskOutcome): boolean {
    // An attempt lost with its worker runs again, past the task's retries.
    const retries = task.retries + (outcome.lost ? LOST_RETRIES : 0);
    return outcome.outcome !== "cancelled" && !this.#jobSignal.aborted && attempt <= retries &&
      !this.#stopping && outcome.retryable !== false;
  }

  /** Wait before the next attempt, holding no cores meanwhile; then back to the queue's front. */
  #backOff(node: Node, task: PlanTask, outcome: TaskOutcome): void {
    const delay = backoffDelay(node.attempt, { baseMs: this.#retryBaseMs });
    this.#o.events.retrying(task, node.attempt, delay, outcome);
    this.#log({ event: "retrying", task: task.id, attempt: node.attempt, delayMs: delay });
    this.#backingOff++;
    sleep(delay, this.#jobSignal).then(() => {
      this.#backingOff--;
      if (this.#jobSignal.aborted) return this.#end(node, task, outcome);
      node.state = "ready";
      this.#queues.push(node, true);
    }).catch((e) => this.#crashed(e)).finally(() => this.#changed());
  }

  /** The last attempt failed (or was cancelled): the task ends so. */
  #end(node: Node, task: PlanTask, outcome: TaskOutcome): void {
    node.state = this.#o.signal.aborted ? "cancelled" : "failed";
    this.#o.events.finished(task, node.attempt, outcome);
    if (node.state === "failed") this.#failed(task.id);
  }

  #succeed(node: Node): void {
    this.#graph.succeed(node);
    this.#temps.succeeded(node.task);
    this.#kept.succeeded(node.task);
    this.#transfers.succeeded(node.task, (e) => this.#log(e));
  }

  /** A task failed: with keep-going its dependants are blocked, otherwise the run stops. */
  #failed(id: string): void {
    if (!this.#o.keepGoing) {
      this.#stopping = true;
      return;
    }
    this.#graph.block(id, (task, by) => this.#log({ event: "blocked", task, by }));
  }

  /** A task that fails before it could start (too big, an input transfer failed, a re-plan). */
  #failEarly(node: Node, reason: string): void {
    node.state = "failed";
    const outcome = failedOutcome(redactSecrets(reason));
    this.#outcomes.set(node.task.id, outcome);
    this.#log({ event: "finished", task: node.task.id, attempt: 0, ...outcome });
    this.#o.events.finished(node.task, 0, outcome);
    this.#failed(node.task.id);
  }

  /** Compile again now that a producer's dynamic outputs are known, and wire the new tasks in. */
  async #expand(node: Node): Promise<void> {
    const r = await this.#replanner.expand(this.#graph);
    if (!r.ok) return this.#failEarly(node, `Cannot expand ${node.task.id}: ${r.reason}`);
    // A placeholder is done: its tasks replace it. A gathering task now has its inputs.
    if (node.task.expandsAfter) node.state = "succeeded";
    else node.gathered = true;
    this.#transfers.learn(r.plan);
    this.#queues.clear();
    this.#graph.wire();
    this.#transfers.recount(this.#graph.nodes.values());
    this.#temps.recount(this.#graph.nodes.values());
    this.#kept.recount(this.#graph.nodes.values());
    // (A gathering task is not replaced: it is not named, so `ferry status` keeps it.)
    this.#log({
      event: "expanded",
      ...(node.gathered ? {} : { task: node.task.id }),
      tasks: [...r.added],
    });
    this.#o.events.grow(this.#graph.visibleSize);
  }

  /** Bring an output kept on its executor's host to the workspace (its transfer); its size. */
  async #fetchKept(t: PlanTransfer, how: KeptFetch): Promise<number> {
    const provider = this.#o.providers.get(t.executor);
    if (!provider?.fetchKept) {
      throw new Error(`Cannot fetch "${t.url}": ${t.executor} keeps no files`);
    }
    return await provider.fetchKept(this.#o.runId, keptKey(t.url), t.path, how);
  }

  /**
   * Outputs kept on an executor that never reached the workspace (their transfer failed): their
   * makers failed after all (their record stays: a later run finds the output missing and runs
   * them again).
   */
  #undelivered(failed: ReadonlyMap<string, string>): void {
    if (failed.size === 0) return;
    for (const node of this.#graph.nodes.values()) {
      if (node.state !== "succeeded") continue;
      for (const f of node.task.outputs) {
        const why = f.keep && f.transfer !== undefined ? failed.get(f.transfer) : undefined;
        if (why === undefined) continue;
        node.state = "failed";
        const outcome = failedOutcome(`its output "${f.name}" did not reach the workspace: ${why}`);
        this.#outcomes.set(node.task.id, outcome);
        this.#o.events.finished(node.task, node.attempt, outcome);
        break;
      }
    }
  }

  #dropTemp(url: string): void {
    const p = localPath(url);
    if (p === undefined) return;
    try {
      Deno.removeSync(p, { recursive: true });
      this.#o.store?.forgetPath(p);
      this.#log({ event: "temp-deleted", url });
    } catch { /* already gone */ }
  }

  /** What the function tasks among `deps` returned (this run's or recorded), by task id. */
  #resultsOf(deps: readonly string[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const successes = this.#o.store?.successes();
    for (const d of deps) {
      const r = successes?.get(d)?.result;
      if (r !== undefined) out[d] = r;
    }
    return out;
  }

  /** An exception inside the engine: stop starting, cancel every job and transfer. */
  #crashed(e: unknown): void {
    if (!this.#crash) {
      this.#crash = { error: e };
      this.#stopping = true;
      this.#jobs.abort(new Error("ferry stopped after an internal error"));
      this.#transfers.cancel(new Error("ferry stopped after an internal error"));
    }
    this.#changed();
  }

  #crashReport(e: unknown): RunCrashed {
    const logPath = writeCrashLog(this.#o.runDir, e, {
      run: this.#o.runId,
      workspace: this.#o.workspace,
    });
    try {
      this.#o.store?.endRun(this.#o.runId, "failed");
    } catch { /* the state may be what failed; the crash log says why */ }
    return new RunCrashed(errorLine(e), logPath, { cause: e });
  }

  #summary(t0: number): RunSummary {
    const states = new Map<string, TaskState>();
    const tasks = new Map<string, PlanTask>();
    for (const [id, n] of this.#graph.nodes) {
      if (n.task.expandsAfter && n.state === "succeeded") continue;
      states.set(id, n.state === "ready" ? "waiting" : n.cached ? "cached" : n.state);
      tasks.set(id, n.task);
    }
    const logError = this.#eventLog.error;
    const fault = this.#committer.fault ??
      (logError
        ? describeFsFault(
          logError,
          "writing the run's event log",
          join(this.#o.runDir, "events.jsonl"),
        ) ??
          `the run's event log could not be written: ${logError.message}`
        : undefined);
    return {
      states,
      outcomes: this.#outcomes,
      tasks,
      interrupted: this.#o.signal.aborted,
      wallMs: Date.now() - t0,
      transfers: this.#transfers.counts,
      ...(this.#o.results?.failures ? { storeFailures: this.#o.results.failures } : {}),
      ...(this.#o.storeOnly ? { storeOnly: true } : {}),
      ...(fault !== undefined ? { fault } : {}),
    };
  }
}

/** A retry waiting in a queue (it may start while the run stops). */
function isRetry(node: Node): boolean {
  return node.attempt > 0;
}

/** The first line of an error's message. */
function errorLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split("\n")[0]!.slice(0, 500);
}

/**
 * Apps with their executor, the apps they wait for (data or `after`) and what one task requested
 * (cores, memory), in plan order.
 */
export function appGraph(tasks: readonly PlanTask[]): GraphApp[] {
  const appOf = new Map(tasks.map((t) => [t.id, t.app]));
  type Entry = { name: string; executor: string; deps: Set<string>; tasks: number } & Requests;
  const apps = new Map<string, Entry>();
  for (const t of tasks) {
    let a = apps.get(t.app);
    if (!a) apps.set(t.app, a = { name: t.app, executor: t.executor, deps: new Set(), tasks: 0 });
    a.tasks++;
    // What it requested, for the report's flags of tasks that used far less.
    const { cores, memory } = t.resources;
    if (typeof cores === "number") a.cores = Math.max(a.cores ?? 0, cores);
    if (typeof memory === "number") a.memory = Math.max(a.memory ?? 0, memory);
    for (const d of t.deps) {
      const da = appOf.get(d);
      if (da !== undefined && da !== t.app) a.deps.add(da);
    }
  }
  return [...apps.values()].map((a) => ({ ...a, deps: [...a.deps].sort() }));
}

type Requests = { cores?: number; memory?: number };
