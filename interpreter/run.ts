/**
 * The runtime: executes the compiled plan (the one `ferry plan` prints).
 * A ready queue fed by finished dependencies, resource accounting per
 * executor, retries with backoff, keep-going, dynamic fan-outs expanded when
 * their producer finished, and cancellation that kills whole process groups.
 * @module
 */

import { sleep } from "../providers/_shared/sleep.ts";
import { backoffDelay } from "../providers/_shared/retry.ts";
import { join } from "node:path";
import type { BatchProvider, JobResult } from "../providers/batch/types.ts";
import {
  deliverOutputs,
  isStagedOut,
  jobSpec,
  makeAttempt,
  makeDirs,
  needsPlacing,
  nodeTransfersOf,
  placeInputs,
} from "./attempt.ts";
import type { AttemptRendering, Plan, PlanFile, PlanTask, PlanTransfer } from "./plan.ts";
import { type FileValue, localPath } from "./values.ts";
import type { Executor } from "../dsl/model.ts";
import { Stager, type TransferEvent } from "./stager.ts";
import type { Cache } from "./cache.ts";
import type { StateStore } from "./state.ts";
import { FileValue as FileValueClass } from "./values.ts";
import { redactSecrets } from "../providers/staging/secrets.ts";
import { formatBytes } from "./format.ts";
import type { NewEvent } from "./events.ts";
import { EventLogWriter } from "./events_writer.ts";

/** A task's state during a run. */
export type TaskState =
  | "waiting"
  | "ready"
  | "running"
  | "succeeded"
  | "cached"
  | "failed"
  | "blocked"
  | "cancelled";

/** What a reporter is told. */
export interface RunEvents {
  /** The run starts with this many tasks. */
  start(total: number): void;
  /** More tasks joined the run (a dynamic fan-out expanded). */
  grow(total: number): void;
  /** An attempt started. */
  started(task: PlanTask, attempt: number): void;
  /** An attempt ended. */
  finished(task: PlanTask, attempt: number, result: TaskOutcome): void;
  /** A failed attempt will be retried after `delayMs`. */
  retrying(task: PlanTask, attempt: number, delayMs: number, result: TaskOutcome): void;
  /** A transfer started, moved bytes, or ended. */
  transfer?(e: TransferEvent): void;
  /** A task was skipped: its recorded result is still valid. */
  cached?(task: PlanTask): void;
}

/** How one attempt ended, with where to read more. */
export interface TaskOutcome extends JobResult {
  /** Why it failed when it was not the command itself (missing output, staging). */
  readonly reason?: string;
  /** The attempt's standard error log (or the output it was redirected to). */
  readonly stderrPath: string;
  /** The attempt's standard output log. */
  readonly stdoutPath: string;
}

/** The result of a run. */
export interface RunSummary {
  /** Final state of every task, by id. */
  readonly states: ReadonlyMap<string, TaskState>;
  /** The last outcome of every task that ran. */
  readonly outcomes: ReadonlyMap<string, TaskOutcome>;
  /** The task objects, by id (including those added at run time). */
  readonly tasks: ReadonlyMap<string, PlanTask>;
  /** Whether the run was interrupted. */
  readonly interrupted: boolean;
  /** Wall time in ms. */
  readonly wallMs: number;
  /** Transfers: how many ended which way, and bytes moved. */
  readonly transfers?: TransferCounts;
}

/** Transfer counts of a run. */
export interface TransferCounts {
  /** Fetched (downloaded). */
  readonly fetched: number;
  /** Cached copies found current. */
  readonly reused: number;
  /** Uploaded. */
  readonly uploaded: number;
  /** Failed after their retries. */
  readonly failed: number;
  /** Bytes moved. */
  readonly bytes: number;
}

/** Options for {@linkcode runPlan}. */
export interface RunOptions {
  /** The workspace directory. */
  readonly workspace: string;
  /** The run's directory (`.ferry/runs/<id>`). */
  readonly runDir: string;
  /** The run id. */
  readonly runId: string;
  /** Executors by name (with `local`). */
  readonly executors: Readonly<Record<string, Executor>>;
  /** Batch providers by executor name. */
  readonly providers: ReadonlyMap<string, BatchProvider>;
  /** At most this many tasks at once per executor. @default the executor's max_workers, else its cores */
  readonly jobs?: number;
  /** Keep running independent tasks after a failure. @default false */
  readonly keepGoing?: boolean;
  /** Cancel everything when aborted. */
  readonly signal: AbortSignal;
  /** Progress reporting. */
  readonly events: RunEvents;
  /** First retry delay; doubles each retry, at most 30 s. @default 1000 */
  readonly retryBaseMs?: number;
  /** Render a task again for a later attempt, when it uses `${{ task.attempt }}`. */
  readonly render?: (task: PlanTask, attempt: number) => AttemptRendering | undefined;
  /** Where a custom staging provider module of an executor's rules is resolved from. @default the workspace */
  readonly moduleBase?: (executor: string) => string;
  /** At most this many transfers at once. @default 8 */
  readonly maxTransfers?: number;
  /** Decides which tasks can be skipped, and records successes (with `store`). */
  readonly cache?: Cache;
  /** The state store: every attempt is recorded in it as it ends. */
  readonly store?: StateStore;
  /** Rebuild the plan once dynamic outputs are known (the same compile path as `ferry plan`). */
  readonly replan?: (known: ReadonlyMap<string, readonly FileValue[]>) => Promise<Plan | string>;
}

interface Node {
  task: PlanTask;
  state: TaskState;
  attempt: number;
  waiting: number;
  /** Its input transfers are done (or it has none). */
  staged?: boolean;
  /** Skipped: its recorded result is still valid. */
  cached?: boolean;
  /** Its cache decision was made (once, when its inputs were in place). */
  checked?: boolean;
  /** Its inputs gathering dynamic outputs were compiled again with their files known. */
  gathered?: boolean;
}

interface Capacity {
  slots: number;
  cores: number;
  memory: number;
}

/** Run a plan to its end (or until cancelled). */
export async function runPlan(plan: Plan, options: RunOptions): Promise<RunSummary> {
  const {
    workspace,
    runDir,
    runId,
    providers,
    keepGoing = false,
    signal,
    events,
    retryBaseMs = 1000,
  } = options;
  const t0 = Date.now();
  const nodes = new Map<string, Node>();
  const users = new Map<string, string[]>();
  const outcomes = new Map<string, TaskOutcome>();
  const known = new Map<string, FileValue[]>();
  const ready: string[] = [];
  const capacity = new Map<string, Capacity>();
  const running = new Map<string, Promise<void>>();
  let stopping = false;
  // The run's event log: one JSON line per task state change, written as it happens.
  const eventLog = EventLogWriter.open(join(runDir, "events.jsonl"));
  const log = (e: NewEvent) => eventLog.write(e);

  const add = (task: PlanTask) => {
    const node: Node = { task, state: "waiting", attempt: 0, waiting: 0 };
    nodes.set(task.id, node);
  };
  const wire = () => {
    users.clear();
    for (const n of nodes.values()) {
      if (n.state !== "waiting" && n.state !== "ready") continue;
      n.waiting = 0;
      for (const d of n.task.deps) {
        const dep = nodes.get(d);
        if (!dep || dep.state !== "succeeded") n.waiting++;
        (users.get(d) ?? users.set(d, []).get(d)!).push(n.task.id);
      }
      if (n.waiting === 0 && n.state === "waiting") {
        n.state = "ready";
        ready.push(n.task.id);
      }
    }
  };
  for (const t of plan.tasks) add(t);
  wire();
  events.start(nodes.size);
  // The task list, so `ferry status` can name what never started (blocked, not run); the
  // workflow's name, for `ferry report`'s title.
  log({ event: "planned", workflow: plan.workflow, tasks: plan.tasks.map((t) => t.id) });
  // The app graph (fan-outs collapsed), for `ferry report`: each app, its executor, what it waits for.
  log({ event: "graph", apps: appGraph(plan.tasks) });

  // Staging: transfer nodes run once per URL and storage; consumers wait for them.
  const counts = { fetched: 0, reused: 0, uploaded: 0, failed: 0, bytes: 0 };
  // Transfers stop with the run: cancelled, or over with transfers nobody waits for any more.
  const stageAbort = new AbortController();
  const abortStaging = () => stageAbort.abort(signal.reason);
  signal.addEventListener("abort", abortStaging, { once: true });
  const stager = new Stager({
    executors: options.executors,
    moduleBase: options.moduleBase ?? (() => workspace),
    signal: stageAbort.signal,
    ...(options.maxTransfers !== undefined ? { maxTransfers: options.maxTransfers } : {}),
    retryBaseMs,
    onEvent: (e) => {
      if (e.kind === "finished") {
        if (e.error !== undefined) counts.failed++;
        else if (e.reused) counts.reused++;
        else {
          if (e.direction === "in") counts.fetched++;
          else counts.uploaded++;
          counts.bytes += e.bytes;
        }
      }
      events.transfer?.(e);
      if (e.kind === "started") log({ event: "transfer-started", ...e, kind: e.kind });
      else if (e.kind === "finished") log({ event: "transfer-finished", ...e, kind: e.kind });
    },
  });
  const transfers = new Map<string, PlanTransfer>();
  const produced = new Set<string>();
  const learn = (p: Plan) => {
    for (const t of p.transfers) transfers.set(t.id, t);
    for (const t of p.tasks) for (const f of t.outputs) produced.add(f.url);
  };
  learn(plan);
  let staging = 0;
  const inTransfers = (t: PlanTask) =>
    t.inputs.filter((f) => f.transfer !== undefined && f.staging === "transfer")
      .map((f) => transfers.get(f.transfer!)!).filter((x) => x?.direction === "in");
  // Remote files no task writes can be fetched from the start, while upstream tasks run.
  const willRun = new Set(plan.tasks.filter((t) => t.status.action !== "cached").map((t) => t.id));
  for (const t of plan.transfers) {
    if (t.direction === "in" && !produced.has(t.url) && t.consumers.some((c) => willRun.has(c))) {
      stager.transferIn(t).catch(() => {});
    }
  }
  // Temporary outputs: deleted once every task reading them has succeeded.
  const tempReaders = new Map<string, number>();
  const countTempReaders = () => {
    tempReaders.clear();
    const temps = new Set<string>();
    for (const n of nodes.values()) for (const f of n.task.outputs) if (f.temp) temps.add(f.url);
    for (const n of nodes.values()) {
      if (n.state === "succeeded") continue;
      for (const f of n.task.inputs) {
        if (temps.has(f.url)) tempReaders.set(f.url, (tempReaders.get(f.url) ?? 0) + 1);
      }
    }
    for (const u of temps) if (!tempReaders.has(u)) tempReaders.set(u, 0);
  };
  countTempReaders();
  const dropTemp = (url: string) => {
    const p = localPath(url);
    if (p === undefined) return;
    try {
      Deno.removeSync(p, { recursive: true });
      options.store?.forgetPath(p);
      log({ event: "temp-deleted", url });
    } catch { /* already gone */ }
  };

  const fulls = new Map<string, { cores: number; memory: number }>();
  const fullOf = (ex: Executor) => {
    let f = fulls.get(ex.name);
    if (!f) {
      f = {
        cores: ex.cores ?? navigator.hardwareConcurrency,
        memory: ex.memory ?? Deno.systemMemoryInfo().total,
      };
      fulls.set(ex.name, f);
    }
    return f;
  };
  const capOf = (ex: Executor): Capacity => {
    let c = capacity.get(ex.name);
    if (!c) {
      const full = fullOf(ex);
      // A scheduler accounts cores and memory itself; ferry only bounds the jobs it keeps queued
      // (with `bundle: array`, max_jobs throttles each array instead: all of a fan-out goes at once).
      const provider = providers.get(ex.name);
      c = provider?.nodeSide
        ? {
          slots: options.jobs ?? provider.capacity ??
            (ex.bundle === "array" ? undefined : ex.maxJobs) ?? 10_000,
          cores: Infinity,
          memory: Infinity,
        }
        : {
          slots: options.jobs ?? ex.maxWorkers ?? full.cores,
          cores: full.cores,
          memory: full.memory,
        };
      capacity.set(ex.name, c);
    }
    return c;
  };
  const needs = (t: PlanTask) => ({
    cores: (t.resources.cores ?? 1) * (t.resources.ranks ?? 1),
    memory: t.resources.memory ?? 0,
  });

  let wake: () => void = () => {};
  const changed = () => wake();

  const block = (id: string) => {
    for (const u of users.get(id) ?? []) {
      const n = nodes.get(u)!;
      if (n.state === "waiting" || n.state === "ready") {
        n.state = "blocked";
        log({ event: "blocked", task: u, by: id });
        block(u);
      }
    }
  };

  /** Tasks that really ran in this run (not skipped as cached). */
  const executed = new Set<string>();
  /** What the function tasks among `deps` returned (this run's or recorded), by task id. */
  const resultsOf = (deps: readonly string[]): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const successes = options.store?.successes();
    for (const d of deps) {
      const r = successes?.get(d)?.result;
      if (r !== undefined) out[d] = r;
    }
    return out;
  };
  const succeed = (node: Node) => {
    node.state = "succeeded";
    for (const f of node.task.outputs) {
      if (f.temp && tempReaders.get(f.url) === 0) dropTemp(f.url);
    }
    for (const f of node.task.inputs) {
      const left = tempReaders.get(f.url);
      if (left === undefined) continue;
      tempReaders.set(f.url, left - 1);
      if (left - 1 === 0) dropTemp(f.url);
    }
    for (const u of users.get(node.task.id) ?? []) {
      const n = nodes.get(u)!;
      if (n.state === "waiting" && --n.waiting === 0) {
        n.state = "ready";
        ready.push(u);
      }
    }
  };

  const expand = async (node: Node) => {
    // A placeholder's producer finished: compile again with its files known. The same for a
    // task gathering a dynamic output (`inputs: { x: "${{ apps.A.outputs.O }}" }`), whose
    // inputs become the files A collected.
    // Only the files of apps whose every task is done: a list still growing would expand a
    // fan-out or fill a gathering task's inputs (and its dependencies) with part of it.
    const pending = new Set<string>();
    for (const n of nodes.values()) if (n.state !== "succeeded") pending.add(n.task.app);
    const complete = new Map([...known].filter(([k]) => !pending.has(k.slice(0, k.indexOf(".")))));
    const next = options.replan
      ? await options.replan(complete)
      : "this run cannot expand dynamic fan-outs";
    if (typeof next === "string") {
      node.state = "failed";
      const outcome: TaskOutcome = {
        outcome: "failed",
        reason: `Cannot expand ${node.task.id}: ${next}`,
        startedAt: Date.now(),
        endedAt: Date.now(),
        host: "",
        stderrPath: "",
        stdoutPath: "",
      };
      outcomes.set(node.task.id, outcome);
      log({ event: "finished", task: node.task.id, attempt: 0, ...outcome });
      return;
    }
    if (node.task.expandsAfter) node.state = "succeeded"; // done: its tasks replace it
    else node.gathered = true;
    learn(next);
    const added: string[] = [];
    for (const t of next.tasks) {
      const n = nodes.get(t.id);
      if (!n) {
        add(t);
        added.push(t.id);
      } else if (n.state === "waiting" || n.state === "ready") n.task = t; // inputs may have become concrete
    }
    for (const n of nodes.values()) if (n.state === "ready") n.state = "waiting";
    ready.length = 0;
    wire();
    countTempReaders();
    // (A gathering task is not replaced: it is not named, so `ferry status` keeps it.)
    log({ event: "expanded", ...(node.gathered ? {} : { task: node.task.id }), tasks: added });
    events.grow([...nodes.values()].filter((n) => !n.task.expandsAfter).length);
  };

  const attemptTask = async (node: Node, ex: Executor, provider: BatchProvider) => {
    node.attempt++;
    const again = node.attempt > 1 ? options.render?.(node.task, node.attempt) : undefined;
    const task: PlanTask = again ? { ...node.task, ...again } : node.task;
    // A provider whose wrapper copies to node-local scratch itself keeps the task directory in
    // the attempt directory; the scratch root (e.g. ${SLURM_TMPDIR}) is expanded on the node.
    const nodeScratch = provider.nodeSide ? task.scratch : undefined;
    const paths = makeAttempt(runDir, task, node.attempt, runId, {
      scratchOnNode: provider.nodeSide === true,
    });
    const stdout = task.stdout !== undefined ? join(paths.work, task.stdout) : paths.stdoutLog;
    const stderr = task.stderr !== undefined ? join(paths.work, task.stderr) : paths.stderrLog;
    events.started(task, node.attempt);
    // The log paths now, so `ferry status` can point at a running (or crashed) attempt's logs.
    log({
      event: "started",
      task: task.id,
      attempt: node.attempt,
      stdoutPath: stdout,
      stderrPath: stderr,
    });
    const base = { stdoutPath: stdout, stderrPath: stderr };
    let outcome: TaskOutcome;
    // Inputs placed in the task directory need it now; otherwise the provider makes it.
    const placing = needsPlacing(task);
    if (placing) makeDirs(paths.dirs);
    // On a node-side provider without a shared filesystem the job wrapper moves remote files.
    const onNode = provider.nodeSide === true && ex.filesystem === "none";
    const problem = checkSkipped(task, ex) ??
      (placing
        ? await placeInputs(
          task,
          paths.work,
          (f, dest) => stager.fetchInto(task.id, f, task.executor, dest),
          onNode,
        )
        : undefined);
    if (problem) {
      outcome = {
        outcome: "failed",
        reason: problem,
        startedAt: Date.now(),
        endedAt: Date.now(),
        host: "",
        ...base,
      };
    } else {
      const spec = jobSpec(task, ex, {
        paths,
        attempt: node.attempt,
        runDir,
        stdout,
        stderr,
        placed: placing,
        ...(nodeScratch !== undefined ? { scratch: nodeScratch } : {}),
        ...(onNode ? { nodeTransfers: nodeTransfersOf(task, ex) } : {}),
        ...(task.run?.kind === "function" ? { results: resultsOf(task.deps) } : {}),
      });
      // Commands and scripts find what the function tasks they depend on returned in a JSON
      // file named by FERRY_RESULTS (functions get it as `args.results`).
      const upstream = task.run?.kind === "function" ? {} : resultsOf(task.deps);
      let resultsEnv: Record<string, string> = {};
      if (Object.keys(upstream).length > 0) {
        const file = join(paths.root, "results-in.json");
        Deno.mkdirSync(paths.root, { recursive: true });
        Deno.writeTextFileSync(file, JSON.stringify(upstream) + "\n");
        resultsEnv = { FERRY_RESULTS: file };
      }
      const attempt = node.attempt;
      const result = await provider.execute({
        ...spec,
        env: { ...spec.env, ...resultsEnv },
        onSubmitted: (jobId) => log({ event: "submitted", task: task.id, attempt, jobId }),
      }, signal);
      outcome = { ...result, ...base };
      const out = result.outcome === "succeeded" && !onNode
        ? await stageOutputs(stager, task, paths.work)
        : undefined;
      if (out) outcome = { ...outcome, outcome: "failed", reason: out };
      else if (result.outcome === "succeeded") {
        const delivered = await deliverOutputs(task, paths.work, workspace);
        if (!delivered.ok) outcome = { ...outcome, outcome: "failed", reason: delivered.message };
        else {
          // Committed at once: from here on a crash never runs this task again.
          options.cache?.commit(
            task,
            {
              runId,
              attempt: node.attempt,
              startedAt: outcome.startedAt,
              endedAt: outcome.endedAt,
              host: outcome.host,
            },
            { stdout, stderr },
            delivered.dynamic,
            task.run?.kind === "function" ? readResult(paths.result) : undefined,
          );
          for (const [name, files] of delivered.dynamic) {
            known.set(`${task.app}.${name}`, [
              ...(known.get(`${task.app}.${name}`) ?? []),
              ...files,
            ]);
          }
        }
      }
    }
    const record = { task: task.id, attempt: node.attempt, ...outcome };
    if (outcome.outcome !== "succeeded" || !options.cache) {
      options.store?.recordAttempt({
        runId,
        taskId: task.id,
        attempt: node.attempt,
        outcome: outcome.outcome,
        ...(outcome.exitCode !== undefined ? { exitCode: outcome.exitCode } : {}),
        ...(outcome.signal !== undefined ? { signal: outcome.signal } : {}),
        ...(outcome.reason ?? outcome.message
          ? { reason: redactSecrets(outcome.reason ?? outcome.message ?? "") }
          : {}),
        startedAt: outcome.startedAt,
        endedAt: outcome.endedAt,
        host: outcome.host,
        stdout,
        stderr,
      });
    }
    Deno.mkdirSync(paths.root, { recursive: true });
    Deno.writeTextFileSync(
      join(paths.root, "status.json"),
      redactSecrets(JSON.stringify(record)) + "\n",
    );
    if (outcome.outcome === "succeeded" && task.scratch !== undefined) {
      // Node-local scratch is small and shared: the task's copy goes once its outputs are back.
      await Deno.remove(paths.work, { recursive: true }).catch(() => {});
    }
    log({ event: "finished", ...record });
    outcomes.set(task.id, outcome);
    if (outcome.outcome === "succeeded") {
      executed.add(task.id);
      events.finished(task, node.attempt, outcome);
      succeed(node);
      return;
    }
    if (
      outcome.outcome !== "cancelled" && !signal.aborted && node.attempt <= task.retries &&
      !stopping && outcome.retryable !== false
    ) {
      const delay = backoffDelay(node.attempt, { baseMs: retryBaseMs });
      events.retrying(task, node.attempt, delay, outcome);
      log({ event: "retrying", task: task.id, attempt: node.attempt, delayMs: delay });
      await sleep(delay, signal);
      if (!signal.aborted) return attemptTask(node, ex, provider);
    }
    node.state = signal.aborted ? "cancelled" : "failed";
    events.finished(task, node.attempt, outcome);
    if (node.state === "failed") {
      if (keepGoing) block(task.id);
      else stopping = true;
    }
  };

  const start = (node: Node) => {
    const task = node.task;
    const ex = options.executors[task.executor]!;
    const provider = providers.get(task.executor)!;
    const cap = capOf(ex);
    const need = needs(task);
    cap.slots--;
    cap.cores -= need.cores;
    cap.memory -= need.memory;
    node.state = "running";
    const p = attemptTask(node, ex, provider).catch((e) => {
      node.state = "failed";
      stopping = true;
      outcomes.set(task.id, {
        outcome: "failed",
        reason: `internal error: ${(e as Error).stack ?? e}`,
        startedAt: Date.now(),
        endedAt: Date.now(),
        host: "",
        stderrPath: "",
        stdoutPath: "",
      });
    }).finally(() => {
      cap.slots++;
      cap.cores += need.cores;
      cap.memory += need.memory;
      running.delete(task.id);
      changed();
    });
    running.set(task.id, p);
  };

  const tooBig = (node: Node): string | undefined => {
    const ex = options.executors[node.task.executor]!;
    const full = fullOf(ex);
    const need = needs(node.task);
    if (need.cores > full.cores) {
      return `it needs ${need.cores} cores and executor "${ex.name}" has ${full.cores}`;
    }
    if (need.memory > full.memory) {
      return `it needs ${formatBytes(need.memory)} of memory and executor "${ex.name}" has ${
        formatBytes(full.memory)
      }`;
    }
    return undefined;
  };

  /** A task that fails before it could start (too big, an input transfer failed). */
  const failEarly = (node: Node, reason: string) => {
    node.state = "failed";
    const now = Date.now();
    const outcome: TaskOutcome = {
      outcome: "failed",
      reason: redactSecrets(reason),
      startedAt: now,
      endedAt: now,
      host: "",
      stderrPath: "",
      stdoutPath: "",
    };
    outcomes.set(node.task.id, outcome);
    log({ event: "finished", task: node.task.id, attempt: 0, ...outcome });
    events.finished(node.task, 0, outcome);
    if (keepGoing) block(node.task.id);
    else stopping = true;
  };

  // Ready tasks wait in one queue per executor, in plan order; a queue is an
  // array read from `head`, so taking the next task costs nothing.
  const queues = new Map<string, { items: Node[]; head: number }>();
  const expansions: Node[] = [];
  const drainReady = () => {
    for (const id of ready) {
      const node = nodes.get(id)!;
      if (node.state !== "ready") continue;
      if (node.task.expandsAfter || (!node.gathered && node.task.inputs.some((f) => f.dynamic))) {
        expansions.push(node);
        continue;
      }
      if (!node.staged) {
        const needed = inTransfers(node.task);
        if (needed.length > 0) {
          // Wait for its input transfers (shared with other readers), then come back.
          staging++;
          Promise.allSettled(needed.map((t) => stager.transferIn(t))).then((rs) => {
            staging--;
            const bad = rs.find((r) => r.status === "rejected") as
              | PromiseRejectedResult
              | undefined;
            if (node.state !== "ready") return changed();
            if (bad) {
              failEarly(node, (bad.reason as Error).message ?? String(bad.reason));
            } else {
              node.staged = true;
              ready.push(node.task.id);
            }
            changed();
          });
          continue;
        }
        node.staged = true;
      }
      // Inputs are in place (remote ones revalidated): is the recorded result still valid?
      if (options.cache && !node.checked) {
        node.checked = true;
        // Planned as cached, nothing it reads ran or was fetched in this run: the plan's
        // decision stands (no second look at thousands of files).
        const planned = node.task.status.action === "cached" &&
            !node.task.deps.some((d) => executed.has(d)) && inTransfers(node.task).length === 0
          ? options.store?.successes().get(node.task.id)
          : undefined;
        const d = planned ? { cached: true, record: planned } : options.cache.decide(node.task);
        if (d.cached && d.record) {
          node.cached = true;
          for (const o of d.record.outputs) {
            if (!o.files) continue;
            const k = `${node.task.app}.${o.name}`;
            known.set(k, [...(known.get(k) ?? []), ...o.files.map((u) => new FileValueClass(u))]);
          }
          log({ event: "cached", task: node.task.id });
          events.cached?.(node.task);
          succeed(node);
          continue;
        }
      }
      const big = tooBig(node);
      if (big) {
        failEarly(node, `Cannot run ${node.task.id}: ${big}`);
        continue;
      }
      const q = queues.get(node.task.executor) ??
        queues.set(node.task.executor, { items: [], head: 0 }).get(node.task.executor)!;
      q.items.push(node);
    }
    ready.length = 0;
  };
  const startFitting = () => {
    for (const [name, q] of queues) {
      const cap = capOf(options.executors[name]!);
      // Look a little past a head that does not fit (a big task waiting for cores), not further.
      for (let k = q.head; cap.slots > 0 && k < q.items.length && k < q.head + 64;) {
        const node = q.items[k]!;
        if (node.state !== "ready") {
          if (k === q.head) q.head++;
          k++;
          continue;
        }
        const need = needs(node.task);
        if (cap.cores >= need.cores && cap.memory >= need.memory) {
          if (k === q.head) q.head++;
          else q.items.splice(k, 1);
          start(node);
          if (k !== q.head - 1) continue;
          k = q.head;
        } else k++;
      }
      if (q.head > 1024 && q.head * 2 > q.items.length) {
        q.items = q.items.slice(q.head);
        q.head = 0;
      }
    }
  };

  const onAbort = () => changed();
  signal.addEventListener("abort", onAbort);
  for (;;) {
    if (!signal.aborted && !stopping) {
      drainReady();
      while (expansions.length > 0) {
        const node = expansions.shift()!;
        if (node.state !== "ready") continue;
        await expand(node);
        for (const q of queues.values()) {
          for (let k = q.head; k < q.items.length; k++) q.items[k]!.state = "waiting";
        }
        queues.clear();
        for (const n of nodes.values()) {
          if (n.state === "waiting" && n.waiting === 0) {
            n.state = "ready";
            ready.push(n.task.id);
          }
        }
        drainReady();
      }
      startFitting();
    }
    if (running.size === 0 && (staging === 0 || stopping || signal.aborted)) break;
    await new Promise<void>((resolve) => (wake = resolve));
  }
  signal.removeEventListener("abort", onAbort);
  signal.removeEventListener("abort", abortStaging);
  stageAbort.abort(new Error("the run is over"));
  await stager.close();
  log({ event: "run-ended", interrupted: signal.aborted });
  eventLog.close();
  const states = new Map<string, TaskState>();
  const tasks = new Map<string, PlanTask>();
  for (const [id, n] of nodes) {
    if (n.task.expandsAfter && n.state === "succeeded") continue;
    states.set(id, n.state === "ready" ? "waiting" : n.cached ? "cached" : n.state);
    tasks.set(id, n.task);
  }
  return {
    states,
    outcomes,
    tasks,
    interrupted: signal.aborted,
    wallMs: Date.now() - t0,
    transfers: counts,
  };
}

/** Inputs whose rule says `check: true` must exist on the node before the task starts. */
function checkSkipped(task: PlanTask, ex: Executor): string | undefined {
  for (const f of task.inputs) {
    if (f.provider !== "skip" || f.rule === "default") continue;
    if (ex.staging[f.rule]?.options.check !== true) continue;
    try {
      Deno.statSync(f.path);
    } catch {
      return `Cannot find input "${f.name}" at ${f.path} on this node (staging rule ${f.rule} of executor "${ex.name}", action skip with check: true)`;
    }
  }
  return undefined;
}

/** Upload the outputs that leave through a provider; a message when one failed. */
async function stageOutputs(
  stager: Stager,
  task: PlanTask,
  work: string,
): Promise<string | undefined> {
  const outs: PlanFile[] = task.outputs.filter((f) => isStagedOut(f) && !f.temp);
  for (const f of outs) {
    const source = f.path.startsWith("/") ? f.path : join(work, f.path);
    try {
      Deno.statSync(source);
    } catch {
      return `the task did not write its output "${f.name}" (${f.path})`;
    }
  }
  const results = await Promise.allSettled(
    outs.map((f) =>
      stager.put(task.id, f, task.executor, f.path.startsWith("/") ? f.path : join(work, f.path))
    ),
  );
  const bad = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
  return bad ? (bad.reason as Error).message : undefined;
}

/** A function task's return value (its `result.json`), or undefined when there is none. */
function readResult(path: string): unknown {
  try {
    return JSON.parse(Deno.readTextFileSync(path));
  } catch {
    return undefined;
  }
}

/** Apps with their executor and the apps they wait for (data or `after`), in plan order. */
export function appGraph(
  tasks: readonly PlanTask[],
): { name: string; executor: string; deps: string[]; tasks: number }[] {
  const appOf = new Map(tasks.map((t) => [t.id, t.app]));
  const apps = new Map<
    string,
    { name: string; executor: string; deps: Set<string>; tasks: number }
  >();
  for (const t of tasks) {
    let a = apps.get(t.app);
    if (!a) apps.set(t.app, a = { name: t.app, executor: t.executor, deps: new Set(), tasks: 0 });
    a.tasks++;
    for (const d of t.deps) {
      const da = appOf.get(d);
      if (da !== undefined && da !== t.app) a.deps.add(da);
    }
  }
  return [...apps.values()].map((a) => ({ ...a, deps: [...a.deps].sort() }));
}
