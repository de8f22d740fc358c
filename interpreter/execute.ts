/**
 * `ferry run` end to end: check and compile the workflow (the same plan
 * `ferry plan` shows), pick a batch provider per executor, run the plan with
 * progress, and report. Returns the exit code; never throws for bad input.
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { compareDiagnostics } from "../dsl/diagnostic.ts";
import type { Executor, ParamValue } from "../dsl/model.ts";
import { countSummary, formatDiagnostics } from "../dsl/report.ts";
import type { BatchProvider } from "../providers/batch/types.ts";
import { BatchProviderError, openBatchProviders } from "../providers/batch/registry.ts";
import { RETRY_BASE_MS } from "../providers/staging/transfer.ts";
import { checkWithStats } from "./check.ts";
import { StatCache } from "./stat_cache.ts";
import { LOCAL_EXECUTOR, type Plan, renderAttempt } from "./plan.ts";
import { plainProgress, type ProgressIO, quietProgress, renderSummary } from "./progress.ts";
import { runPlan, type RunSummary } from "./run.ts";
import { statusCounts } from "./render_text.ts";
import { planForTargets } from "./plan_file.ts";
import { toFileUrl } from "../providers/_shared/urls.ts";
import { redactSecrets } from "../providers/_shared/secrets.ts";
import { hostname } from "node:os";
import { didYouMean } from "../dsl/suggest.ts";
import { compileKnown, statefulPlan } from "./plan_state.ts";
import { acquireLock, describeHolder } from "./lock.ts";
import { newRunId, StateStore } from "./state.ts";

/** Options for {@linkcode runWorkflowFile}. */
export interface RunWorkflowOptions {
  /** A site file. @default undefined */
  readonly site?: string;
  /** The workspace directory. @default the workflow file's folder */
  readonly workspace?: string;
  /** Param overrides. @default {} */
  readonly params?: Readonly<Record<string, ParamValue>>;
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
  const { io, signal, params = {}, targets = [] } = options;
  // One look at each file for the whole run: the check's, then the state's.
  const stats = new StatCache();
  const r = await checkWithStats(file, {
    stats,
    ...(options.site !== undefined ? { site: options.site } : {}),
    ...(options.workspace !== undefined ? { workspace: options.workspace } : {}),
    params,
  });
  const diagnostics = [...r.diagnostics].sort(compareDiagnostics);
  if (diagnostics.length > 0) {
    io.write(formatDiagnostics(diagnostics, "text", { sources: r.sources, color: io.color }));
  }
  if (
    diagnostics.some((d) => d.severity === "error") || !r.plan || !r.expansion || !r.linked ||
    !r.workflow
  ) {
    io.write(`✗ ${file}: ${countSummary(diagnostics)}\n`);
    return { code: 2 };
  }
  const workflow = r.workflow;
  const executors: Record<string, Executor> = { local: LOCAL_EXECUTOR, ...(r.executors ?? {}) };
  const targeted = planForTargets(r, targets);
  if (!targeted.ok) {
    io.write(`ferry: ${targeted.message}\n`);
    return { code: 2 };
  }
  let plan: Plan = targeted.plan;
  const unknownRerun = (options.rerun ?? []).filter((a) =>
    !workflow.apps[a] && !r.expansion!.tasks.some((t) => t.id === a)
  );
  if (unknownRerun.length > 0) {
    io.write(
      `ferry: Cannot rerun "${unknownRerun[0]}": no app or task of that name${
        didYouMean(unknownRerun[0]!, Object.keys(workflow.apps))
      }\n`,
    );
    return { code: 2 };
  }
  let providers: Map<string, BatchProvider>;
  try {
    const used = [...new Set(plan.tasks.map((t) => t.executor))].map((name) => executors[name]!);
    providers = await openBatchProviders(used, (ex) => ({
      // Relative paths of an executor (a provider module, SSH keys) start from its file's folder.
      baseDir: options.site !== undefined && r.site?.executors[ex.name]
        ? dirname(resolve(options.site))
        : dirname(resolve(file)),
      ...(options.sequential
        ? { maxWorkers: 1 }
        : options.jobs
        ? { maxWorkers: options.jobs }
        : {}),
      ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    }));
  } catch (e) {
    if (!(e instanceof BatchProviderError)) throw e;
    io.write(`ferry: Cannot run on executor "${e.executor}": ${e.message}\n`);
    return { code: 2 };
  }
  const id = newRunId();
  const held = acquireLock(r.workspace, id);
  if (!held.ok) {
    io.write(
      held.holder
        ? `ferry: Cannot run: another ferry run is using this workspace: ${
          describeHolder(held.holder)
        }. If it is gone (another host, or a reused pid), remove ${held.path}\n`
        : `ferry: Cannot run: ${held.path} is being written by another ferry run\n`,
    );
    return { code: 2 };
  }
  if (held.lock.warning) io.write(`ferry: warning: ${held.lock.warning}\n`);
  if (held.lock.crashedRun !== undefined) {
    // Jobs the dead run left queued or running: cancelled before their tasks go again.
    const { orphanJobs } = await import("../providers/batch/orphans.ts");
    const byExecutor = new Map<string, string[]>();
    for (const o of orphanJobs(r.workspace, held.lock.crashedRun)) {
      byExecutor.set(o.executor, [...(byExecutor.get(o.executor) ?? []), o.jobId]);
    }
    for (const [name, ids] of byExecutor) {
      const p = providers.get(name);
      if (!p?.cancelJobs) {
        io.write(
          `ferry: warning: run ${held.lock.crashedRun} left ${ids.length} job(s) on executor "${name}", which this run does not use: ${
            ids.join(" ")
          }\n`,
        );
        continue;
      }
      const failed = await p.cancelJobs(ids);
      io.write(
        failed === undefined
          ? `ferry: warning: cancelled ${ids.length} job(s) that run ${held.lock.crashedRun} left on executor "${name}": ${
            ids.join(" ")
          }\n`
          : `ferry: warning: cannot cancel the ${ids.length} job(s) that run ${held.lock.crashedRun} left on executor "${name}" (${
            ids.join(" ")
          }): ${failed}\n`,
      );
    }
  }
  let store: StateStore;
  try {
    store = StateStore.open(r.workspace, { stats });
  } catch (e) {
    held.lock.release();
    io.write(
      `ferry: Cannot open the state in ${join(r.workspace, ".ferry", "state.db")}: ${
        (e as Error).message
      }\n`,
    );
    return { code: 2 };
  }
  try {
    return await runLocked(id, store);
  } finally {
    store.close();
    held.lock.release();
  }

  async function runLocked(id: string, store: StateStore): Promise<RunWorkflowResult> {
    const runDir = join(r.workspace, ".ferry", "runs", id);
    await Deno.mkdir(runDir, { recursive: true });
    store.beginRun({
      id,
      workflow: resolve(file),
      startedAt: Date.now(),
      pid: Deno.pid,
      host: hostname(),
      dir: runDir,
    });
    const { plan: withState, cache } = statefulPlan(r, {
      file,
      plan,
      executors,
      params,
      targets,
      store,
      ...(options.noCache ? { noCache: true } : {}),
      ...(options.rerun ? { rerun: options.rerun } : {}),
    });
    plan = withState;
    io.write(`plan: ${statusCounts(plan.summary)}\n`);
    const style = options.progress ?? "auto";
    const live = style === "live" || (style === "auto" && io.terminal && terminalWidth() > 0);
    const events = style === "quiet"
      ? quietProgress()
      : live
      ? (await import("./progress_live.ts")).liveProgress(io)
      : plainProgress(io);
    const baseDir = dirname(resolve(file));
    let expansion = r.expansion!;
    const summary = await runPlan(resolveModules(plan, baseDir), {
      workspace: r.workspace,
      runDir,
      runId: id,
      executors,
      providers,
      ...(options.sequential
        ? { jobs: 1 }
        : options.jobs !== undefined
        ? { jobs: options.jobs }
        : {}),
      keepGoing: options.keepGoing === true,
      ...(options.maxTransfers !== undefined ? { maxTransfers: options.maxTransfers } : {}),
      // Custom staging modules are relative to the file that declares the executor.
      moduleBase: (name) =>
        options.site !== undefined && r.site?.executors[name]
          ? dirname(resolve(options.site))
          : baseDir,
      signal,
      events,
      retryBaseMs: options.retryBaseMs ?? RETRY_BASE_MS,
      cache,
      store,
      render: (task, attempt) => renderAttempt(workflow, expansion, task, attempt),
      replan: (known) => {
        // Within the targets: a placeholder id among them (`measure[part=*]`) matches its tasks.
        const c = compileKnown(r, { executors, params, targets: options.targets ?? [] }, known);
        if (typeof c === "string") return Promise.resolve(c);
        expansion = c.expansion;
        return Promise.resolve(resolveModules(c.plan, baseDir));
      },
    });
    if ("close" in events) (events as { close(): void }).close();
    for (const p of new Set(providers.values())) await p.close?.();
    io.write(redactSecrets(await renderSummary(summary, io.color)));
    io.write(`logs: ${runDir}\n`);
    const failed = [...summary.states.values()].some((s) => s === "failed");
    store.endRun(id, summary.interrupted ? "interrupted" : failed ? "failed" : "succeeded");
    return { code: summary.interrupted ? 130 : failed ? 1 : 0, summary, runDir };
  }
}

/** Function modules are written relative to the workflow file; the runner needs them absolute. */
function resolveModules(plan: Plan, baseDir: string): Plan {
  if (!plan.tasks.some((t) => t.run?.kind === "function")) return plan;
  return {
    ...plan,
    tasks: plan.tasks.map((t) =>
      t.run?.kind === "function"
        ? { ...t, run: { ...t.run, module: toFileUrl(resolve(baseDir, t.run.module)) } }
        : t
    ),
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
