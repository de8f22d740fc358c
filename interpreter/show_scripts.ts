/**
 * `ferry plan --show-scripts`: the job scripts a run would submit to each
 * scheduler executor, and each task's job wrapper, exactly as `ferry run`
 * writes them (the run's directory shows as `.ferry/runs/RUN`); and the
 * container command line of each task the local provider runs in a container.
 * @module
 */

import { join, relative } from "node:path";
import type { Executor } from "../dsl/model.ts";
import { visible } from "../dsl/visible.ts";
import { dialectOf, isScheduler } from "../providers/batch/registry.ts";
import { DirectiveError } from "../providers/batch/dialect.ts";
import { FerryFileError } from "./fs_errors.ts";
import { arrayScript, singleScript } from "../providers/batch/scheduler.ts";
import {
  blockScript,
  blockScriptPath,
  pilotLibrary,
  pilotQueueDir,
} from "../providers/batch/pilot_script.ts";
import { PILOT_DEFAULTS } from "../dsl/to_model.ts";
import { pilotTaskScript, wrapperFiles, wrapperScript } from "../providers/batch/wrapper.ts";
import { sharesWorkers } from "../providers/batch/function_protocol.ts";
import { jobSpec, makeAttempt, nodeTransfersOf } from "./attempt.ts";
import { containerWords } from "../providers/batch/container.ts";
import { bashQuote } from "../providers/_shared/shell.ts";
import type { Plan, PlanTask } from "./plan.ts";

type Dialect = Awaited<ReturnType<typeof dialectOf>>;
type Job = ReturnType<typeof jobSpec> & { root: string };

/** What the scripts of one executor are written with. */
interface ScriptContext {
  readonly name: string;
  readonly ex: Executor;
  readonly dialect: Dialect;
  readonly runDir: string;
  /** A path as shown: relative to the workspace. */
  readonly rel: (p: string) => string;
}

/** The scripts of every task a run would submit to a batch scheduler, as text. */
export async function renderJobScripts(
  plan: Plan,
  executors: Readonly<Record<string, Executor>>,
  workspace: string,
): Promise<string> {
  try {
    return await renderScripts(plan, executors, workspace);
  } catch (e) {
    // The job files live in the workspace's .ferry/: a workspace path with a line break in it
    // cannot be written into a directive. Said as a fault of ferry's own files (exit 2).
    if (!(e instanceof DirectiveError)) throw e;
    throw new FerryFileError(`${e.message}: use a workspace whose path has no control character`);
  }
}

async function renderScripts(
  plan: Plan,
  executors: Readonly<Record<string, Executor>>,
  workspace: string,
): Promise<string> {
  const runDir = join(workspace, ".ferry", "runs", "RUN");
  const rel = (p: string) => relative(workspace, p) || ".";
  const byExecutor = schedulerTasks(plan, executors);
  const out: string[] = localContainers(plan, executors, runDir);
  if (byExecutor.size === 0) {
    out.push(
      "No job scripts: no task to run goes to a batch scheduler (slurm, pbs, lsf, htcondor).\n",
    );
    return out.join("\n");
  }
  for (const [name, tasks] of byExecutor) {
    const ex = executors[name]!;
    const c: ScriptContext = { name, ex, dialect: await dialectOf(ex), runDir, rel };
    const jobs = tasks.filter((t) => !t.expandsAfter).map((t) => firstAttemptJob(t, c));
    if (ex.bundle === "pilot") out.push(...pilotBlock(c));
    let seq = 0;
    for (const group of pilotGroups(jobs, ex) ?? jobGroups(jobs, ex)) {
      if (ex.bundle !== "pilot") {
        out.push(...(group.length === 1 ? singleJob(group[0]!, c) : jobArray(group, ++seq, c)));
      }
      for (const j of group) {
        // A function call a pilot worker hands to its Deno function worker: the file it runs.
        const pooled = ex.bundle === "pilot" && sharesWorkers(j);
        for (const [path, text] of pooled ? pilotTaskScript(j) : wrapperScript(j)) {
          out.push(
            `# ── ${visible(j.taskId)}: ${rel(path)}`,
            text.endsWith("\n") ? text : text + "\n",
          );
        }
      }
    }
    const later = tasks.filter((t) => t.expandsAfter).length;
    if (later > 0) {
      out.push(
        `# ${later} more task(s) on "${name}" are known only once the outputs they fan out over exist.\n`,
      );
    }
  }
  return out.join("\n");
}

/**
 * The engine's command line of each task to run in a container by the local provider (its
 * first attempt), and the command that stops it when it is cancelled.
 */
function localContainers(
  plan: Plan,
  executors: Readonly<Record<string, Executor>>,
  runDir: string,
): string[] {
  const out: string[] = [];
  for (const t of plan.tasks) {
    const ex = executors[t.executor];
    if (ex?.provider !== "local" || t.container === undefined) continue;
    if (t.status.action === "cached" || t.expandsAfter) continue;
    const paths = makeAttempt(runDir, t, 1, "RUN");
    const stdout = t.stdout !== undefined ? join(paths.work, t.stdout) : paths.stdoutLog;
    const stderr = t.stderr !== undefined ? join(paths.work, t.stderr) : paths.stderrLog;
    const job = jobSpec(t, ex, { paths, attempt: 1, runDir, stdout, stderr, placed: false });
    const words = containerWords(job);
    const n = Number(words[0]);
    const line = (ws: readonly string[]) => ws.map(bashQuote).join(" ");
    out.push(
      `# ── ${visible(t.id)} on executor "${visible(t.executor)}" runs in a container (${
        job.container!.runtime.engine
      }), output to ${line([stdout])}, errors to ${line([stderr])}:`,
      line(words.slice(1 + n)),
      ...(n > 0 ? [`# when cancelled: ${line(words.slice(1, 1 + n))}`] : []),
      "",
    );
  }
  return out;
}

/** The tasks to run on each batch-scheduler executor, in plan order. */
function schedulerTasks(
  plan: Plan,
  executors: Readonly<Record<string, Executor>>,
): Map<string, PlanTask[]> {
  const byExecutor = new Map<string, PlanTask[]>();
  for (const t of plan.tasks) {
    const ex = executors[t.executor];
    if (!ex || !isScheduler(ex.provider) || t.status.action === "cached") continue;
    const list = byExecutor.get(t.executor);
    if (list) list.push(t);
    else byExecutor.set(t.executor, [t]);
  }
  return byExecutor;
}

/** A task's first attempt, as the run would submit it. */
function firstAttemptJob(t: PlanTask, { ex, runDir }: ScriptContext): Job {
  const paths = makeAttempt(runDir, t, 1, "RUN", { scratchOnNode: true });
  return jobSpec(t, ex, {
    paths,
    attempt: 1,
    runDir,
    stdout: t.stdout !== undefined ? join(paths.work, t.stdout) : paths.stdoutLog,
    stderr: t.stderr !== undefined ? join(paths.work, t.stderr) : paths.stderrLog,
    placed: false,
    ...(t.scratch !== undefined ? { scratch: t.scratch } : {}),
    // Schedulers move files on the node without a shared filesystem, as the run does.
    ...(ex.filesystem === "none" ? { nodeTransfers: nodeTransfersOf(t, ex) } : {}),
  }) as Job;
}

/** Tasks of one app with the same resources go as one array when they are ready together. */
function jobGroups(jobs: readonly Job[], ex: Executor): Iterable<Job[]> {
  const groups = new Map<string, Job[]>();
  for (const j of jobs) {
    const key = ex.bundle === "array"
      ? `${j.bundle}\u0000${JSON.stringify(j.resources)}`
      : `${j.taskId}`;
    const group = groups.get(key);
    if (group) group.push(j);
    else groups.set(key, [j]);
  }
  return groups.values();
}

/**
 * With `bundle: pilot`: each task's wrapper on its own (a worker runs it), without worker_init,
 * which the block runs once; undefined for other executors.
 */
function pilotGroups(jobs: readonly Job[], ex: Executor): Job[][] | undefined {
  if (ex.bundle !== "pilot") return undefined;
  return jobs.map((j) => [{ ...j, workerInit: "" }]);
}

/** The script of a pilot block (the first; later ones differ only in their key), under its heading. */
function pilotBlock({ name, ex, dialect, runDir, rel }: ScriptContext): string[] {
  const queue = pilotQueueDir(runDir, name);
  const place = { queue, key: "b1" };
  const { text } = blockScript(dialect, { ...ex, pilot: ex.pilot ?? PILOT_DEFAULTS }, place);
  return [
    `# ── pilot block script of executor "${name}" (${dialect.name}), for each block it submits (b1, b2, ...): ${
      rel(blockScriptPath(place))
    }`,
    text,
    `# ${
      rel(pilotLibrary(queue))
    }: the workers (providers/batch/pilot.sh); each runs the wrappers below as it takes their tasks`,
    "",
  ];
}

/** The job script of one task, under its heading. */
function singleJob(j: Job, { name, ex, dialect, rel }: ScriptContext): string[] {
  const { text } = singleScript(dialect, ex, j);
  return [
    `# ── job script of ${visible(j.taskId)} on executor "${name}" (${dialect.name}): ${
      rel(join(j.root, "job.sh"))
    }`,
    text,
  ];
}

/** The array script of a group of tasks and its list of wrappers, under their headings. */
function jobArray(group: readonly Job[], seq: number, c: ScriptContext): string[] {
  const { name, ex, dialect, runDir, rel } = c;
  const dir = join(runDir, "jobs");
  const arrayName = `${group[0]!.bundle}-${seq}`;
  const list = join(dir, `${arrayName}.tasks`);
  const { text } = arrayScript(dialect, ex, { name: arrayName, dir, list }, group);
  return [
    `# ── job array of ${group.length} tasks of app "${
      group[0]!.bundle
    }" on executor "${name}" (${dialect.name}), when they are ready together: ${
      rel(join(dir, `${arrayName}.sh`))
    }`,
    text,
    `# ${rel(list)}: element i runs line i+1`,
    group.map((j) => rel(wrapperFiles(j.root).script)).join("\n") + "\n",
  ];
}
