/**
 * Jobs a crashed run left in a batch scheduler: attempts whose `job.json`
 * names a job but whose wrapper never wrote `exit.json`. When the next run
 * takes over the dead run's lock it cancels them before submitting the same
 * tasks again, so that nothing runs twice on the cluster and no stray job
 * keeps going. Pilot blocks (`bundle: pilot`) are found the same way: each
 * `pilot/EXECUTOR/blocks/KEY.json` names a block, and `KEY.ended` says the
 * run saw it leave the queue.
 * @module
 */

import { join } from "node:path";

/** A job of a crashed run that may still be queued or running. */
export interface OrphanJob {
  /** The executor it was submitted through. */
  readonly executor: string;
  /** The scheduler's id of the job (or array element). */
  readonly jobId: string;
}

/** Jobs of run `runId` (under `.ferry/runs/`) that never reported an end. */
export function orphanJobs(workspace: string, runId: string): OrphanJob[] {
  const tasks = join(workspace, ".ferry", "runs", runId, "tasks");
  const out: OrphanJob[] = orphanBlocks(join(workspace, ".ferry", "runs", runId, "pilot"));
  let taskDirs: Deno.DirEntry[];
  try {
    taskDirs = [...Deno.readDirSync(tasks)];
  } catch {
    return out;
  }
  for (const t of taskDirs) {
    if (!t.isDirectory) continue;
    for (const a of Deno.readDirSync(join(tasks, t.name))) {
      const dir = join(tasks, t.name, a.name);
      let job: { executor?: unknown; jobId?: unknown };
      try {
        job = JSON.parse(Deno.readTextFileSync(join(dir, "job.json")));
      } catch {
        continue; // never submitted, or not a batch job
      }
      try {
        Deno.statSync(join(dir, "exit.json"));
        continue; // it ended
      } catch { /* no end recorded */ }
      if (typeof job.executor === "string" && typeof job.jobId === "string") {
        out.push({ executor: job.executor, jobId: job.jobId });
      }
    }
  }
  return out;
}

/** Pilot blocks recorded under `pilotDir` (one directory per executor) not seen to end. */
function orphanBlocks(pilotDir: string): OrphanJob[] {
  const out: OrphanJob[] = [];
  let queues: Deno.DirEntry[];
  try {
    queues = [...Deno.readDirSync(pilotDir)];
  } catch {
    return out; // no pilot executor in that run
  }
  for (const q of queues) {
    const blocks = join(pilotDir, q.name, "blocks");
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(blocks)];
    } catch {
      continue;
    }
    const ended = new Set(entries.map((e) => e.name));
    for (const e of entries) {
      if (!e.name.endsWith(".json") || ended.has(e.name.replace(/\.json$/, ".ended"))) continue;
      try {
        const b = JSON.parse(Deno.readTextFileSync(join(blocks, e.name)));
        if (typeof b.executor === "string" && typeof b.jobId === "string") {
          out.push({ executor: b.executor, jobId: b.jobId });
        }
      } catch { /* half-written: its block was never recorded as submitted */ }
    }
  }
  return out;
}
