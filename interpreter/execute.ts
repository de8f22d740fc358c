/**
 * `ferry run` end to end: check and compile the workflow (the same plan
 * `ferry plan` shows), pick a batch provider per executor, run the plan with
 * progress, and report. Returns the exit code; never throws for bad input.
 * @module
 */

import { imageResolver } from "./images.ts";
import { dirname, join, resolve } from "node:path";
import { compareDiagnostics } from "../dsl/diagnostic.ts";
import type { Executor, ParamValue, Workflow } from "../dsl/model.ts";
import { countSummary, formatDiagnostics } from "../dsl/report.ts";
import type { BatchProvider } from "../providers/batch/types.ts";
import { BatchProviderError, openBatchProviders } from "../providers/batch/registry.ts";
import { RETRY_BASE_MS } from "../providers/_shared/retry.ts";
import { type CheckResult, checkWithStats } from "./check.ts";
import type { Expansion } from "./expand.ts";
import { StatCache } from "./stat_cache.ts";
import { LOCAL_EXECUTOR, type Plan, renderAttempt } from "./plan.ts";
import { plainProgress, type ProgressIO, quietProgress, renderSummary } from "./progress.ts";
import { type RunEvents, type RunOptions, runPlan, type RunSummary } from "./run.ts";
import { statusCounts } from "./render_text.ts";
import { planForTargets } from "./plan_file.ts";
import { resolveModules } from "./resolve_modules.ts";
import { redactSecrets } from "../providers/_shared/secrets.ts";
import { hostname } from "node:os";
import { existsSync } from "node:fs";
import { didYouMean } from "../dsl/suggest.ts";
import { compileKnown, statefulPlan } from "./plan_state.ts";
import type { Cache } from "./cache.ts";
import { acquireLock, describeHolder } from "./lock.ts";
import { newRunId, StateStore } from "./state.ts";
import { FerryFileError } from "./fs_errors.ts";
import { openResultStore, storeLocation } from "./results/open.ts";
import type { ResultStore } from "./results/store.ts";

/** Options for {@linkcode runWorkflowFile}. */
export interface RunWorkflowOptions {
  /** A site file. @default undefined */
  readonly site?: string;
  /** The workspace directory. @default the workflow file's folder */
  readonly workspace?: string;
  /** Param overrides (`--param`): they win over the params files. @default {} */
  readonly params?: Readonly<Record<string, ParamValue>>;
  /** Params files (`--params`), YAML, TOML or JSON; a later one wins. @default [] */
  readonly paramFiles?: readonly string[];
  /** Run only what these targets need. @default all */
  readonly targets?: readonly string[];
  /** Tasks at once per executor. @default the executor's max_workers, else its cores */
  readonly jobs?: number;
  /** One task at a time, in plan order (for debugging). @default false */
  readonly sequential?: boolean;
  /** Keep running independent tasks after a failure. @default false */
  readonly keepGoing?: boolean;
  /** At most this many transfers at once. @default 8 */
  readonly maxTransfers?: number;
  /**
   * Milliseconds before a failed task or transfer is tried again; doubles each time, at most
   * 30 s. @default 1000 (`RETRY_BASE_MS`)
   */
  readonly retryBaseMs?: number;
  /** Milliseconds between a batch scheduler's status calls. @default 1000 (`POLL_MS`) */
  readonly pollMs?: number;
  /** Run every task, whatever the state says. @default false */
  readonly noCache?: boolean;
  /** Run these apps (or task ids) again, and what depends on them. @default [] */
  readonly rerun?: readonly string[];
  /** Progress style. @default "auto" (live on a terminal, lines otherwise) */
  readonly progress?: "auto" | "live" | "lines" | "quiet";
  /**
   * A result store's URL (`--store`; else the site file's `store`): tasks it holds are restored
   * instead of run, and each success is uploaded to it. @default undefined
   */
  readonly store?: string;
  /** Run nothing: only restore what the result store holds (`ferry store pull`). @default false */
  readonly storeOnly?: boolean;
  /** Aborting interrupts the run (Ctrl-C). */
  readonly signal: AbortSignal;
  /** Where output goes. */
  readonly io: ProgressIO & { readonly out: (s: string) => void; readonly terminal: boolean };
}

/** The exit code of a run, and its summary when it ran. */
export interface RunWorkflowResult {
  /** 0 success · 1 a task failed · 2 invalid input · 130 interrupted. */
  readonly code: number;
  /** What happened to each task, when the run started. */
  readonly summary?: RunSummary;
  /** The run's directory under `.ferry/runs/`. */
  readonly runDir?: string;
}

/** Check, compile and run a workflow file. */
export async function runWorkflowFile(
  file: string,
  options: RunWorkflowOptions,
): Promise<RunWorkflowResult> {
  const { io } = options;
  // One look at each file for the whole run: the check's, then the state's.
  const stats = new StatCache();
  const c = await compileForRun(file, options, stats);
  if (!c) return { code: 2 };
  const where = storeLocation(options.store, {
    ...(options.site !== undefined ? { file: options.site } : {}),
    ...(c.r.site ? { model: c.r.site } : {}),
  });
  if (!where.ok || (options.storeOnly && !where.location)) {
    io.write(
      `ferry: ${
        where.ok
          ? "Cannot pull: no store named (--store URL, or store: in the site file)"
          : where.message
      }\n`,
    );
    return { code: 2 };
  }
  const providers = await openProviders(c, options);
  if (!providers) return { code: 2 };
  if (!existsSync(c.r.workspace)) {
    // Only --workspace can name a folder that is not there: the run makes it, and says so.
    try {
      await Deno.mkdir(c.r.workspace, { recursive: true });
    } catch (e) {
      const why = e instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : (e as Error).message;
      io.write(`ferry: Cannot create the workspace "${c.r.workspace}": ${why}\n`);
      return { code: 2 };
    }
    io.write(`ferry: created the workspace ${c.r.workspace}\n`);
  }
  const id = newRunId();
  const lock = lockWorkspace(c.r.workspace, id, io);
  if (!lock) return { code: 2 };
  if (lock.crashedRun !== undefined) {
    await cancelOrphans(c.r.workspace, lock.crashedRun, providers, io);
  }
  let store: StateStore;
  try {
    store = StateStore.open(c.r.workspace, { stats });
  } catch (e) {
    lock.release();
    // A fault of the state file already names it (and the way to recover).
    io.write(
      e instanceof FerryFileError
        ? `ferry: ${e.message}\n`
        : `ferry: Cannot open the state in ${join(c.r.workspace, ".ferry", "state.db")}: ${
          (e as Error).message
        }\n`,
    );
    return { code: 2 };
  }
  const results = where.location &&
    openResultStore(where.location, store, {
      retryBaseMs: options.retryBaseMs ?? RETRY_BASE_MS,
    });
  try {
    return await runLocked(c, { id, store, providers, ...(results ? { results } : {}) }, options);
  } finally {
    await results?.backend.close();
    store.close();
    lock.release();
  }
}

/** A workflow checked without errors, with the plan of its targets. */
interface Compiled {
  readonly file: string;
  readonly r: CheckResult & { readonly expansion: Expansion };
  readonly workflow: Workflow;
  /** Its executors, with `local`. */
  readonly executors: Readonly<Record<string, Executor>>;
  readonly plan: Plan;
}

/** What a run holds while it runs. */
interface Held {
  readonly id: string;
  readonly store: StateStore;
  readonly providers: ReadonlyMap<string, BatchProvider>;
  /** The result store, when the run has one. */
  readonly results?: ResultStore;
}

/** Check the workflow and plan its targets; undefined (the problems printed) when it cannot run. */
async function compileForRun(
  file: string,
  options: RunWorkflowOptions,
  stats: StatCache,
): Promise<Compiled | undefined> {
  const { io, params = {}, targets = [] } = options;
  const r = await checkWithStats(file, {
    stats,
    // Each container image is identified once per run, by asking its runtime.
    images: imageResolver(),
    ...(options.site !== undefined ? { site: options.site } : {}),
    ...(options.workspace !== undefined ? { workspace: options.workspace } : {}),
    params,
    ...(options.paramFiles !== undefined ? { paramFiles: options.paramFiles } : {}),
  });
  const diagnostics = [...r.diagnostics].sort(compareDiagnostics);
  if (diagnostics.length > 0) {
    io.write(formatDiagnostics(diagnostics, "text", { sources: r.sources, color: io.color }));
  }
  const { expansion, workflow } = r;
  if (
    diagnostics.some((d) => d.severity === "error") || !r.plan || !expansion || !r.linked ||
    !workflow
  ) {
    io.write(`✗ ${file}: ${countSummary(diagnostics)}\n`);
    return undefined;
  }
  const executors: Record<string, Executor> = { local: LOCAL_EXECUTOR, ...(r.executors ?? {}) };
  const targeted = planForTargets(r, targets, options.params ?? {});
  if (!targeted.ok) {
    io.write(`ferry: ${targeted.message}\n`);
    return undefined;
  }
  const unknownRerun = (options.rerun ?? []).filter((a) =>
    !workflow.apps[a] && !targeted.expansion.tasks.some((t) => t.id === a)
  );
  if (unknownRerun.length > 0) {
    io.write(
      `ferry: Cannot rerun "${unknownRerun[0]}": no app or task of that name${
        didYouMean(unknownRerun[0]!, Object.keys(workflow.apps))
      }\n`,
    );
    return undefined;
  }
  return {
    file,
    r: { ...r, expansion: targeted.expansion },
    workflow,
    executors,
    plan: targeted.plan,
  };
}

/** The batch provider of each executor the plan uses; undefined (said why) if one cannot open. */
async function openProviders(
  c: Compiled,
  options: RunWorkflowOptions,
): Promise<Map<string, BatchProvider> | undefined> {
  try {
    const used = [...new Set(c.plan.tasks.map((t) => t.executor))].map((n) => c.executors[n]!);
    return await openBatchProviders(used, (ex) => ({
      // Relative paths of an executor (a provider module, SSH keys) start from its file's folder.
      baseDir: declaringDir(c, options, ex.name),
      ...(options.sequential
        ? { maxWorkers: 1 }
        : options.jobs
        ? { maxWorkers: options.jobs }
        : {}),
      ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    }));
  } catch (e) {
    if (!(e instanceof BatchProviderError)) throw e;
    options.io.write(`ferry: Cannot run on executor "${e.executor}": ${e.message}\n`);
    return undefined;
  }
}

/** The folder of the file that declares an executor: the site file's, else the workflow's. */
function declaringDir(c: Compiled, options: RunWorkflowOptions, executor: string): string {
  return options.site !== undefined && c.r.site?.executors[executor]
    ? dirname(resolve(options.site))
    : dirname(resolve(c.file));
}

/** The workspace's lock for run `id`; undefined (said who holds it) when another run has it. */
function lockWorkspace(workspace: string, id: string, io: RunWorkflowOptions["io"]) {
  const held = acquireLock(workspace, id);
  if (!held.ok) {
    io.write(
      held.holder
        ? `ferry: Cannot run: another ferry run is using this workspace: ${
          describeHolder(held.holder)
        }. If it is gone (another host, or a reused pid), remove ${held.path}\n`
        : `ferry: Cannot run: ${held.path} is being written by another ferry run\n`,
    );
    return undefined;
  }
  if (held.lock.warning) io.write(`ferry: warning: ${held.lock.warning}\n`);
  return held.lock;
}

/** Jobs the dead run left queued or running: cancelled before their tasks go again. */
async function cancelOrphans(
  workspace: string,
  crashedRun: string,
  providers: ReadonlyMap<string, BatchProvider>,
  io: RunWorkflowOptions["io"],
): Promise<void> {
  const { orphanJobs } = await import("../providers/batch/orphans.ts");
  const byExecutor = new Map<string, string[]>();
  for (const o of orphanJobs(workspace, crashedRun)) {
    byExecutor.set(o.executor, [...(byExecutor.get(o.executor) ?? []), o.jobId]);
  }
  for (const [name, ids] of byExecutor) {
    const p = providers.get(name);
    if (!p?.cancelJobs) {
      io.write(
        `ferry: warning: run ${crashedRun} left ${ids.length} job(s) on executor "${name}", which this run does not use: ${
          ids.join(" ")
        }\n`,
      );
      continue;
    }
    const failed = await p.cancelJobs(ids, join(workspace, ".ferry", "runs", crashedRun));
    io.write(
      failed === undefined
        ? `ferry: warning: cancelled ${ids.length} job(s) that run ${crashedRun} left on executor "${name}": ${
          ids.join(" ")
        }\n`
        : `ferry: warning: cannot cancel the ${ids.length} job(s) that run ${crashedRun} left on executor "${name}" (${
          ids.join(" ")
        }): ${failed}\n`,
    );
  }
}

/** Record the run, run its plan with the state's decisions and progress, and report. */
async function runLocked(
  c: Compiled,
  held: Held,
  options: RunWorkflowOptions,
): Promise<RunWorkflowResult> {
  const { io } = options;
  const { id, store, providers } = held;
  const runDir = join(c.r.workspace, ".ferry", "runs", id);
  await Deno.mkdir(runDir, { recursive: true });
  store.beginRun({
    id,
    workflow: resolve(c.file),
    startedAt: Date.now(),
    pid: Deno.pid,
    host: hostname(),
    dir: runDir,
  });
  const planned = await planOrInterrupt(c, store, options, held.results);
  if (!planned) {
    store.endRun(id, "interrupted");
    io.write("ferry: interrupted while hashing the inputs; nothing ran\n");
    return { code: 130, runDir };
  }
  const { plan, cache } = planned;
  io.write(`plan: ${statusCounts(plan.summary)}\n`);
  const events = await progressOf(options);
  const baseDir = dirname(resolve(c.file));
  let summary: RunSummary;
  try {
    summary = await runPlan(resolveModules(plan, baseDir), {
      workspace: c.r.workspace,
      runDir,
      runId: id,
      executors: c.executors,
      providers,
      ...(options.sequential
        ? { jobs: 1 }
        : options.jobs !== undefined
        ? { jobs: options.jobs }
        : {}),
      keepGoing: options.keepGoing === true,
      ...(options.maxTransfers !== undefined ? { maxTransfers: options.maxTransfers } : {}),
      // Custom staging modules are relative to the file that declares the executor.
      moduleBase: (name) => declaringDir(c, options, name),
      signal: options.signal,
      events,
      retryBaseMs: options.retryBaseMs ?? RETRY_BASE_MS,
      cache,
      store,
      ownFiles: c.r.ownFiles,
      ...(held.results ? { results: held.results } : {}),
      ...(options.storeOnly ? { storeOnly: true } : {}),
      ...replanning(c, options, baseDir),
    });
  } finally {
    // Also when the engine stopped on an internal error: the display ends, connections close.
    if ("close" in events) (events as { close(): void }).close();
    for (const p of new Set(providers.values())) await p.close?.();
  }
  io.write(redactSecrets(await renderSummary(summary, io.color)));
  io.write(`logs: ${runDir}\n`);
  const failed = [...summary.states.values()].some((s) => s === "failed");
  const warnings = summary.fault !== undefined ? [summary.fault] : [];
  if (summary.storeFailures) {
    warnings.push(
      `${summary.storeFailures} task(s) could not be uploaded to the store ${
        held.results!.url
      } (see the store-warning events); ferry store push sends them later`,
    );
  }
  try {
    store.endRun(id, summary.interrupted ? "interrupted" : failed ? "failed" : "succeeded");
  } catch (e) {
    if (!(e instanceof FerryFileError)) throw e;
    warnings.push(e.message); // the run is over either way; `ferry status` will call it crashed
  }
  for (const w of warnings) io.write(`ferry: warning: ${redactSecrets(w)}\n`);
  return { code: summary.interrupted ? 130 : failed ? 1 : 0, summary, runDir };
}

/**
 * The plan with the state's decisions; undefined when Ctrl-C stopped it (hashing a large file).
 * A FIFO, device or socket among the files it hashes (made since the check) ends in a message.
 */
async function planOrInterrupt(
  c: Compiled,
  store: StateStore,
  options: RunWorkflowOptions,
  results?: ResultStore,
): Promise<{ plan: Plan; cache: Cache } | undefined> {
  try {
    return await statefulPlan(c.r, {
      file: c.file,
      plan: c.plan,
      executors: c.executors,
      params: c.r.params ?? {},
      targets: options.targets ?? [],
      store,
      ...(options.noCache ? { noCache: true } : {}),
      ...(options.rerun ? { rerun: options.rerun } : {}),
      ...(results ? { results } : {}),
      signal: options.signal,
    });
  } catch (e) {
    if (options.signal.aborted && e === options.signal.reason) return undefined;
    throw e;
  }
}

/** The progress display asked for: live on a terminal, lines otherwise, or none. */
async function progressOf(options: RunWorkflowOptions): Promise<RunEvents> {
  const { io } = options;
  const style = options.progress ?? "auto";
  const live = style === "live" || (style === "auto" && io.terminal && terminalWidth() > 0);
  return style === "quiet"
    ? quietProgress()
    : live
    ? (await import("./progress_live.ts")).liveProgress(io)
    : plainProgress(io);
}

/**
 * How the run renders a later attempt and compiles the plan again once dynamic
 * outputs are known; both use the latest expansion.
 */
function replanning(
  c: Compiled,
  options: RunWorkflowOptions,
  baseDir: string,
): Pick<RunOptions, "render" | "replan"> {
  let expansion = c.r.expansion;
  const { executors } = c;
  const params = c.r.params ?? {};
  return {
    render: (task, attempt) => renderAttempt(c.workflow, expansion, task, attempt),
    replan: (known) => {
      // Within the targets: a placeholder id among them (`measure[part=*]`) matches its tasks.
      const k = compileKnown(c.r, { executors, params, targets: options.targets ?? [] }, known);
      if (typeof k === "string") return Promise.resolve(k);
      expansion = k.expansion;
      return Promise.resolve(resolveModules(k.plan, baseDir));
    },
  };
}

/** Columns of the terminal on standard error, 0 when unknown (a pseudo-terminal without a size). */
function terminalWidth(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 0;
  }
}
