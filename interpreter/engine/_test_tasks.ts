/**
 * Test helpers for the engine's parts: plan tasks made by hand, and a batch
 * provider whose jobs end as a script says (it records what it was given).
 * @module
 */

import type { Executor } from "../../dsl/model.ts";
import type { BatchProvider, JobResult, JobSpec } from "../../providers/batch/types.ts";
import type { Plan, PlanFile, PlanTask } from "../plan.ts";
import type { RunEvents } from "./types.ts";

/** A plan task with what the engine reads; `over` replaces any field. */
export function planTask(id: string, over: Partial<PlanTask> = {}): PlanTask {
  return {
    id,
    app: id.replace(/\[.*$/, ""),
    label: id,
    executor: "local",
    bindings: {},
    deps: [],
    inputs: [],
    outputs: [],
    run: { kind: "command", argv: ["true"] },
    env: {},
    resources: {},
    retries: 0,
    status: { action: "run", reason: "new" },
    ...over,
  } as PlanTask;
}

/** A workspace output `name` at `rel` (relative to the workspace and the task directory). */
export function output(workspace: string, name: string, rel: string): PlanFile {
  return {
    name,
    url: `file://${workspace}/${rel}`,
    path: rel,
    staging: "none",
    provider: "copy",
    rule: "default",
  } as unknown as PlanFile;
}

/** A plan of `tasks`. */
export function planOf(tasks: PlanTask[]): Plan {
  return { workflow: "test", tasks, transfers: [] } as unknown as Plan;
}

/** The local executor with `cores` cores. */
export function localExecutor(cores: number): Executor {
  return { name: "local", cores, memory: 1024 ** 3, staging: [], env: {} } as unknown as Executor;
}

/** How a scripted job ends: a result, after `ms`, or a thrown error (a provider's bug). */
export type Step = { outcome: JobResult["outcome"]; ms?: number; exitCode?: number } | {
  throws: string;
  ms?: number;
};

/** A provider whose jobs follow `script` (by task id, one step per attempt; default: succeed). */
export class ScriptedProvider implements BatchProvider {
  readonly name = "scripted";
  /** `task#attempt` at each start, and `task#attempt aborted` when cancelled. */
  readonly log: string[] = [];
  readonly #script: Record<string, Step[]>;
  readonly #onStart: ((job: JobSpec) => void) | undefined;

  /** `onStart` sees every job as it starts (to write its outputs). */
  constructor(script: Record<string, Step[]> = {}, onStart?: (job: JobSpec) => void) {
    this.#script = script;
    this.#onStart = onStart;
  }

  /** Run a job as scripted. */
  async execute(job: JobSpec, signal: AbortSignal): Promise<JobResult> {
    const tag = `${job.taskId}#${job.attempt}`;
    this.log.push(tag);
    this.#onStart?.(job);
    const step = this.#script[job.taskId]?.[job.attempt - 1] ?? { outcome: "succeeded" };
    const startedAt = Date.now();
    const aborted = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), step.ms ?? 0);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve(true);
      }, { once: true });
    });
    if (aborted) {
      this.log.push(`${tag} aborted`);
      return { outcome: "cancelled", startedAt, endedAt: Date.now(), host: "test" };
    }
    if ("throws" in step) throw new Error(step.throws);
    return {
      outcome: step.outcome,
      ...(step.exitCode !== undefined ? { exitCode: step.exitCode } : {}),
      startedAt,
      endedAt: Date.now(),
      host: "test",
    };
  }
}

/** A reporter that remembers what it was told, one line each. */
export function recordingEvents(): RunEvents & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    start: (n) => lines.push(`start ${n}`),
    grow: (n) => lines.push(`grow ${n}`),
    started: (t, a) => lines.push(`started ${t.id}#${a}`),
    finished: (t, a, r) => lines.push(`finished ${t.id}#${a} ${r.outcome}`),
    retrying: (t, a) => lines.push(`retrying ${t.id}#${a}`),
    cached: (t) => lines.push(`cached ${t.id}`),
  };
}
