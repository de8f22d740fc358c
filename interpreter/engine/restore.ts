/**
 * A task restored from a result store instead of run: its key looked up, the
 * entry checked against the task's outputs, every blob fetched and verified
 * into a directory of the run, then committed as if the task had run there.
 * Anything short of that (no entry, an unusable one, a blob whose content is
 * not its hash, a failed fetch) leaves the task to run; all but a plain miss
 * are warnings. A blob found corrupt is removed from a directory store, so
 * the task's next upload puts it back.
 * @module
 */

import { BlobMismatch } from "../results/backend.ts";
import { fitsTask, type ResultStore } from "../results/store.ts";
import type { Collected } from "../deliver.ts";
import type { PlanTask } from "../plan.ts";
import type { Committer } from "./committer.ts";

/** What a restore needs of the run. */
export interface RestoreContext {
  readonly results: ResultStore;
  readonly committer: Committer;
  /** A directory of the run to fetch the files into (removed afterwards). */
  readonly dir: string;
  /** The workspace's URL. */
  readonly workspaceUrl: string;
  readonly signal: AbortSignal;
  /** Say why the store could not be used for the task. */
  readonly warn: (message: string) => void;
}

/** The files of the task's dynamic outputs once restored, or undefined when it must run. */
export async function restoreFromStore(
  task: PlanTask,
  key: string,
  c: RestoreContext,
): Promise<Collected | undefined> {
  const cannot = (why: string) => {
    if (!c.signal.aborted) {
      c.warn(`Cannot restore ${task.id} from the store "${c.results.url}": ${why}`);
    }
    return undefined;
  };
  let found;
  try {
    found = await c.results.lookup(key, c.signal);
  } catch (e) {
    return cannot((e as Error).message);
  }
  if (!found.hit) return found.why !== undefined ? cannot(found.why) : undefined;
  const fits = fitsTask(task, found.manifest, c.workspaceUrl);
  if (fits !== true) return cannot(fits);
  try {
    try {
      await c.results.restore(found.manifest, c.dir, c.signal);
    } catch (e) {
      c.results.forget(key);
      if (e instanceof BlobMismatch) await c.results.backend.remove(e.rel).catch(() => {});
      return cannot(
        e instanceof BlobMismatch
          ? `${e.message}: the task runs`
          : e instanceof Error
          ? e.message
          : String(e),
      );
    }
    const { ran, result } = found.manifest;
    const done = await c.committer.commitRestored(
      task,
      c.dir,
      { startedAt: ran.started_at, endedAt: ran.ended_at, host: String(ran.host) },
      result,
    );
    return typeof done === "string" ? cannot(done) : done;
  } finally {
    await Deno.remove(c.dir, { recursive: true }).catch(() => {});
  }
}
