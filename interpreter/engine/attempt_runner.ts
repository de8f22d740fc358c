/**
 * The attempt runner: one attempt of one task, from its directories to the
 * job's end. Prepare (render the attempt, make its directories, place its
 * inputs), submit (hand the job to the executor's batch provider), collect
 * (upload the outputs that leave through a staging provider). Committing
 * what it wrote is the committer's part.
 * @module
 */

import { dirname, join } from "node:path";
import type { Executor } from "../../dsl/model.ts";
import type { BatchProvider, JobResult, KeptFile } from "../../providers/batch/types.ts";
import { mountProblem } from "../../providers/batch/container.ts";
import {
  type AttemptLayout,
  type AttemptPaths,
  isStagedOut,
  jobSpec,
  keptOutputs,
  makeAttempt,
  makeDirs,
  needsPlacing,
  nodeTransfersOf,
  placeInputs,
} from "../attempt.ts";
import type { AttemptRendering, PlanFile, PlanTask } from "../plan.ts";
import type { Stager } from "../stager.ts";
import { placeOutput } from "../deliver.ts";
import type { NewEvent } from "../events.ts";
import type { TaskOutcome } from "./types.ts";
import { type FerryTask, ferryTask } from "../script_task.ts";

/** What the runner needs of the run. */
export interface AttemptContext {
  /** The run's directory. */
  readonly runDir: string;
  /** The run id. */
  readonly runId: string;
  /** The run's stager (inputs placed in the task directory, outputs uploaded). */
  readonly stager: Stager;
  /** The event log. */
  readonly log: (e: NewEvent) => void;
  /** Told when an attempt starts, with the task as rendered for it. */
  readonly started: (task: PlanTask, attempt: number) => void;
  /** Render a task again for a later attempt, when it uses `${{ task.attempt }}`. */
  readonly render?: (task: PlanTask, attempt: number) => AttemptRendering | undefined;
  /** What the function tasks among `deps` returned, by task id. */
  readonly resultsOf: (deps: readonly string[]) => Record<string, unknown>;
  /** The first retry delay of transfers made by the job wrapper on the node. */
  readonly retryBaseMs: number;
  /** The inputs of a task kept on its executor's host now (a provider that `keeps`). */
  readonly keptInputs?: (task: PlanTask) => KeptFile[];
}

/** One attempt that ran (or could not start), for the committer. */
export interface AttemptRun {
  /** The task as this attempt ran it (rendered again for a later attempt). */
  readonly task: PlanTask;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The attempt's directories. */
  readonly paths: AttemptPaths;
  /** How it ended so far (the committer may still fail it). */
  readonly outcome: TaskOutcome;
}

/** Runs attempts for one run. */
export class AttemptRunner {
  readonly #c: AttemptContext;

  /** A runner for the run `context` describes. */
  constructor(context: AttemptContext) {
    this.#c = context;
  }

  /** Run attempt `attempt` of `task` on `ex` through `provider`; cancelled with `signal`. */
  async run(
    original: PlanTask,
    attempt: number,
    ex: Executor,
    provider: BatchProvider,
    signal: AbortSignal,
  ): Promise<AttemptRun> {
    const again = attempt > 1 ? this.#c.render?.(original, attempt) : undefined;
    const task: PlanTask = again ? { ...original, ...again } : original;
    const paths = makeAttempt(this.#c.runDir, task, attempt, this.#c.runId, {
      scratchOnNode: provider.nodeSide === true,
    });
    const logs = {
      stdoutPath: task.stdout !== undefined ? join(paths.work, task.stdout) : paths.stdoutLog,
      stderrPath: task.stderr !== undefined ? join(paths.work, task.stderr) : paths.stderrLog,
    };
    this.#c.started(task, attempt);
    // The log paths now, so `ferry status` can point at a running (or crashed) attempt's logs.
    this.#c.log({ event: "started", task: task.id, attempt, ...logs });
    // On a node-side provider without a shared filesystem the job wrapper moves remote files.
    const onNode = provider.nodeSide === true && ex.filesystem === "none";
    // Plain links to workspace files the local provider makes where it makes the directories.
    const placed = needsPlacing(task, provider.makesLinks === true);
    const keptIn = provider.keeps ? this.#c.keptInputs?.(task) ?? [] : [];
    const problem = await this.#prepare(task, ex, paths, placed, onNode, keptIn);
    const at = Date.now();
    if (problem !== undefined) {
      const outcome = { outcome: "failed", reason: problem, startedAt: at, endedAt: at, host: "" };
      return { task, attempt, paths, outcome: { ...outcome, ...logs } as TaskOutcome };
    }
    const result = await this.#submit(task, attempt, ex, provider, signal, {
      paths,
      placed,
      onNode,
      ...logs,
      ...(provider.keeps ? { kept: { inputs: keptIn, outputs: keptOutputs(task) } } : {}),
    });
    // Replicas the job wrapper fell back from on the node: told as the stager's own are.
    for (const b of result.fallbacks ?? []) {
      const f = task.inputs.find((x) => x.path === b.path);
      this.#c.stager.fellBackOnNode(`wrap:${task.id}:${f?.url ?? b.url}`, b);
    }
    let outcome: TaskOutcome = { ...result, ...logs };
    if (result.outcome === "succeeded" && !onNode) {
      const failed = await this.#collect(task, paths.work);
      if (failed !== undefined) outcome = { ...outcome, outcome: "failed", reason: failed };
    }
    return { task, attempt, paths, outcome };
  }

  /** Make the directories inputs are placed in and place them; why not, if it failed. */
  #prepare(
    task: PlanTask,
    ex: Executor,
    paths: AttemptLayout,
    placed: boolean,
    onNode: boolean,
    kept: readonly KeptFile[],
  ): Promise<string | undefined> {
    // Inputs placed in the task directory need it now; otherwise the provider makes it. (A
    // failed attempt keeps its directory for inspection, also when it could not start.)
    if (placed) makeDirs(paths.dirs);
    const skipped = checkSkipped(task, ex);
    if (skipped !== undefined || !placed) return Promise.resolve(skipped);
    return placeInputs(
      task,
      paths.work,
      (f, dest) => this.#c.stager.fetchInto(task.id, f, task.executor, dest),
      onNode,
      new Set(kept.map((k) => k.path)),
    );
  }

  /** Hand the job to the provider and wait for its end. */
  #submit(
    task: PlanTask,
    attempt: number,
    ex: Executor,
    provider: BatchProvider,
    signal: AbortSignal,
    at: {
      paths: AttemptLayout;
      placed: boolean;
      onNode: boolean;
      stdoutPath: string;
      stderrPath: string;
      kept?: { inputs: readonly KeptFile[]; outputs: readonly KeptFile[] };
    },
  ): Promise<JobResult> {
    const fn = task.run?.kind === "function";
    const spec = jobSpec(task, ex, {
      paths: at.paths,
      attempt,
      runDir: this.#c.runDir,
      stdout: at.stdoutPath,
      stderr: at.stderrPath,
      placed: at.placed,
      makesLinks: provider.makesLinks === true,
      retryBaseMs: this.#c.retryBaseMs,
      ...(provider.nodeSide && task.scratch !== undefined ? { scratch: task.scratch } : {}),
      ...(at.onNode ? { nodeTransfers: nodeTransfersOf(task, ex) } : {}),
      ...(at.kept ? { kept: at.kept } : {}),
      ...(fn ? { results: this.#c.resultsOf(task.deps) } : {}),
    });
    const env = fn ? spec.env : { ...spec.env, ...this.#resultsEnv(task, at.paths.root) };
    const job = { ...spec, env };
    const unmountable = mountProblem(job);
    if (unmountable !== undefined) {
      const now = Date.now();
      return Promise.resolve({
        outcome: "failed" as const,
        message: unmountable,
        retryable: false,
        startedAt: now,
        endedAt: now,
        host: "",
      });
    }
    if (task.run?.kind === "script") {
      writeTaskFile(spec.env.FERRY_TASK!, ferryTask(task, spec));
    }
    return provider.execute({
      ...job,
      onSubmitted: (jobId) => this.#c.log({ event: "submitted", task: task.id, attempt, jobId }),
    }, signal);
  }

  /**
   * Commands and scripts find what the function tasks they depend on returned
   * in a JSON file named by FERRY_RESULTS (functions get it as `args.results`).
   */
  #resultsEnv(task: PlanTask, root: string): Record<string, string> {
    const upstream = this.#c.resultsOf(task.deps);
    if (Object.keys(upstream).length === 0) return {};
    const file = join(root, "results-in.json");
    Deno.mkdirSync(root, { recursive: true });
    Deno.writeTextFileSync(file, JSON.stringify(upstream) + "\n");
    return { FERRY_RESULTS: file };
  }

  /** Upload the outputs that leave through a provider; a message when one failed. */
  async #collect(task: PlanTask, work: string): Promise<string | undefined> {
    const outs: PlanFile[] = task.outputs.filter((f) => isStagedOut(f) && !f.temp);
    const at = (f: PlanFile) => f.path.startsWith("/") ? f.path : join(work, f.path);
    for (const f of outs) {
      try {
        Deno.statSync(at(f));
      } catch {
        return `the task did not write its output "${f.name}" (${f.path})`;
      }
    }
    const results = await Promise.allSettled(
      outs.map((f) =>
        f.local !== undefined
          ? placeOutput(f, at(f)) // an endpoint: the executor's own storage, never uploaded to
          : this.#c.stager.put(task.id, f, task.executor, at(f))
      ),
    );
    const bad = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    return bad ? (bad.reason as Error).message : undefined;
  }
}

/** A script task's FERRY_TASK file, in the attempt's directory (made here if need be). */
function writeTaskFile(path: string, task: FerryTask): void {
  Deno.mkdirSync(dirname(path), { recursive: true });
  Deno.writeTextFileSync(path, JSON.stringify(task, null, 2) + "\n");
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
