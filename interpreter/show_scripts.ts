/**
 * `ferry plan --show-scripts`: the job scripts a run would submit to each
 * scheduler executor, and each task's job wrapper, exactly as `ferry run`
 * writes them (the run's directory shows as `.ferry/runs/RUN`).
 * @module
 */

import { join, relative } from "node:path";
import type { Executor } from "../dsl/model.ts";
import { dialectOf, isScheduler } from "../providers/batch/registry.ts";
import { arrayScript, singleScript } from "../providers/batch/scheduler.ts";
import { wrapperFiles, wrapperScript } from "../providers/batch/wrapper.ts";
import { jobSpec, makeAttempt, nodeTransfersOf } from "./attempt.ts";
import type { Plan, PlanTask } from "./plan.ts";

/** The scripts of every task a run would submit to a batch scheduler, as text. */
export async function renderJobScripts(
  plan: Plan,
  executors: Readonly<Record<string, Executor>>,
  workspace: string,
): Promise<string> {
  const runDir = join(workspace, ".ferry", "runs", "RUN");
  const rel = (p: string) => relative(workspace, p) || ".";
  const out: string[] = [];
  const byExecutor = new Map<string, PlanTask[]>();
  for (const t of plan.tasks) {
    const ex = executors[t.executor];
    if (!ex || !isScheduler(ex.provider) || t.status.action === "cached") continue;
    byExecutor.set(t.executor, [...(byExecutor.get(t.executor) ?? []), t]);
  }
  if (byExecutor.size === 0) {
    return "No job scripts: no task to run goes to a batch scheduler (slurm, pbs, lsf, htcondor).\n";
  }
  for (const [name, tasks] of byExecutor) {
    const ex = executors[name]!;
    const dialect = await dialectOf(ex);
    const jobs = tasks.filter((t) => !t.expandsAfter).map((t) => {
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
      }) as ReturnType<typeof jobSpec> & { root: string };
    });
    // Tasks of one app with the same resources go as one array when they are ready together.
    const groups = new Map<string, typeof jobs>();
    for (const j of jobs) {
      const key = ex.bundle === "array"
        ? `${j.bundle}\u0000${JSON.stringify(j.resources)}`
        : `${j.taskId}`;
      groups.set(key, [...(groups.get(key) ?? []), j]);
    }
    let seq = 0;
    for (const group of groups.values()) {
      if (group.length === 1) {
        const j = group[0]!;
        const { text } = singleScript(dialect, ex, j);
        out.push(
          `# ── job script of ${j.taskId} on executor "${name}" (${dialect.name}): ${
            rel(join(j.root, "job.sh"))
          }`,
          text,
        );
      } else {
        const dir = join(runDir, "jobs");
        const arrayName = `${group[0]!.bundle}-${++seq}`;
        const list = join(dir, `${arrayName}.tasks`);
        const { text } = arrayScript(dialect, ex, { name: arrayName, dir, list }, group);
        out.push(
          `# ── job array of ${group.length} tasks of app "${
            group[0]!.bundle
          }" on executor "${name}" (${dialect.name}), when they are ready together: ${
            rel(join(dir, `${arrayName}.sh`))
          }`,
          text,
          `# ${rel(list)}: element i runs line i+1`,
          group.map((j) => rel(wrapperFiles(j.root).script)).join("\n") + "\n",
        );
      }
      for (const j of group) {
        for (const [path, text] of wrapperScript(j)) {
          out.push(`# ── ${j.taskId}: ${rel(path)}`, text.endsWith("\n") ? text : text + "\n");
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
