/**
 * The committer: what an attempt wrote becomes the run's. A successful
 * attempt's outputs are checked (every declared one exists) and moved into
 * the workspace, then the success is recorded in one transaction — from
 * then on a crash never runs the task again. Every attempt leaves its
 * `status.json`; a failed one is recorded in the state store for `status`.
 * A full disk while committing fails that task ("no space left on device"),
 * not the run.
 * @module
 */

import { dirname, join } from "node:path";
import { redactSecrets } from "../../providers/_shared/secrets.ts";
import { sweepWork, unplaceInputs } from "../attempt.ts";
import { type Collected, deliverOutputs } from "../deliver.ts";
import { CatalogWriteError, registerOutputs } from "../replica_register.ts";
import type { AttemptRan, Cache } from "../cache.ts";
import { describeFsFault, isNoSpace } from "../fs_errors.ts";
import { errorLog } from "../error_log.ts";
import { logEnd } from "../log_tail.ts";
import { writeBenchmark } from "../benchmark.ts";
import type { OwnFile } from "../../dsl/model.ts";
import type { PlanTask } from "../plan.ts";
import { IrregularFileError, type StateStore, type SuccessRecord } from "../state.ts";
import type { AttemptRun } from "./attempt_runner.ts";
import type { TaskOutcome } from "./types.ts";
import type { ResultStore } from "../results/store.ts";

/** What the committer needs of the run. */
export interface CommitContext {
  /** The workspace outputs are delivered into. */
  readonly workspace: string;
  /** The run id. */
  readonly runId: string;
  /** Records successes (with the store), when the run keeps state. */
  readonly cache?: Cache;
  /** The state store. */
  readonly store?: StateStore;
  /** Aborting (Ctrl-C) stops hashing a large output: the attempt is then cancelled. */
  readonly signal?: AbortSignal;
  /** The workflow and site files: no output may overwrite them. @default [] */
  readonly ownFiles?: readonly OwnFile[];
  /** A result store: each success is uploaded to it once recorded (`--store`). */
  readonly results?: ResultStore;
}

/** An attempt, committed. */
export interface Committed {
  /** How it ended, after delivery. */
  readonly outcome: TaskOutcome;
  /** The files each dynamic output collected (empty unless it succeeded). */
  readonly dynamic: Collected;
}

/** The status record of an attempt: how it ended, and the files it left undeclared. */
type StatusNote = { readonly discarded?: readonly string[] };

/** Commits attempts for one run. */
export class Committer {
  readonly #c: CommitContext;
  #fault: string | undefined;

  /** A committer for the run `context` describes. */
  constructor(context: CommitContext) {
    this.#c = context;
  }

  /** The first of ferry's own files that could not be written (status, state), if one could not. */
  get fault(): string | undefined {
    return this.#fault;
  }

  /** Deliver and record a finished attempt. */
  async commit(run: AttemptRun): Promise<Committed> {
    let outcome = run.outcome;
    let dynamic: Collected = new Map();
    if (outcome.outcome === "succeeded") {
      const done = await this.#deliver(run);
      if (typeof done === "string") outcome = { ...outcome, outcome: "failed", reason: done };
      else if ("cancelled" in done) {
        outcome = { ...outcome, outcome: "cancelled", reason: done.cancelled };
      } else {
        dynamic = done;
        this.#benchmark(run);
        this.#register(run, done);
      }
    }
    if (outcome.outcome === "failed" && await diskFull(run)) {
      // What it wrote so far fills the disk: it goes (logs stay), so the run can go on.
      outcome = { ...outcome, reason: noSpaceReason(run, outcome) };
      await dropPartialOutputs(run);
    }
    if (outcome.outcome === "failed" || outcome.outcome === "timeout") {
      const log = await errorLog({ ...outcome, work: run.paths.work, outputs: run.task.outputs });
      if (log !== undefined) outcome = { ...outcome, errorLog: log };
    }
    if (outcome.outcome !== "succeeded" || !this.#c.cache) {
      this.#recordAttempt(run.task, run.attempt, outcome);
    }
    const note = outcome.outcome === "succeeded" ? await this.#sweep(run) : {};
    this.#writeStatus(run, outcome, note);
    return { outcome, dynamic };
  }

  /** Register the outputs whose `register` names a replica catalog (a failure is ferry's fault). */
  #register(run: AttemptRun, collected: Collected): void {
    if (!run.task.outputs.some((f) => f.register)) return;
    this.#bookkeeping(
      "registering its outputs",
      run.task.outputs.find((f) => f.register)!.register!.catalog,
      () => {
        try {
          registerOutputs(run.task, this.#c.workspace, collected);
        } catch (e) {
          if (!(e instanceof CatalogWriteError)) throw e;
          this.#fault ??= e.message; // the user's catalog: left as it was
        }
      },
    );
  }

  /**
   * After a success: what a tool wrote beside an input is no output: it goes, and its names go in
   * the status and stderr.log. On scratch the task's directory goes too, and so does the scratch
   * directory of the task. Failed attempts keep theirs for inspection.
   */
  async #sweep(run: AttemptRun): Promise<StatusNote> {
    const { task, paths } = run;
    const scratch = task.scratch !== undefined && !paths.work.startsWith(paths.root + "/");
    if (!scratch && !task.inputs.some((f) => !f.path.startsWith("/"))) return {};
    const discarded = await sweepWork(paths.work, scratch);
    // On scratch, the task's directory (RUN/TASK/attempt-N): the run's goes at the run's end.
    if (scratch) await Deno.remove(dirname(paths.work)).catch(() => {});
    if (discarded.length === 0) return {};
    if (run.outcome.stderrPath === paths.stderrLog) {
      this.#bookkeeping(
        "noting the files it left",
        paths.stderrLog,
        () => Deno.writeTextFileSync(paths.stderrLog, discardedNote(discarded), { append: true }),
      );
    }
    return { discarded };
  }

  /** Move the outputs into place and record the success: the files collected, or why it failed. */
  #deliver(run: AttemptRun): Promise<Collected | string | { cancelled: string }> {
    const { task, outcome } = run;
    // No glob or dir output collects an input, and no output is moved through an input's link.
    if (task.inputs.length > 0) unplaceInputs(task, run.paths.work);
    return this.#deliverFrom(task, run.paths.work, {
      attempt: run.attempt,
      startedAt: outcome.startedAt,
      endedAt: outcome.endedAt,
      host: outcome.host,
      ...(outcome.usage ? { usage: outcome.usage } : {}),
      ...(outcome.pilot ? { pilot: outcome.pilot } : {}),
      ...(outcome.kept ? { kept: outcome.kept } : {}),
    }, {
      logs: { stdout: outcome.stdoutPath, stderr: outcome.stderrPath },
      result: task.run?.kind === "function" ? readResult(run.paths.result) : undefined,
      note: (notes) => this.#note(run, notes),
      ...(this.#c.results ? { before: (s: SuccessRecord) => this.#storeFirst(run, s) } : {}),
    });
  }

  /**
   * Commit a task's outputs restored from a result store into `dir` (where the
   * task would have left them) as if it had run: delivered, then recorded.
   */
  async commitRestored(
    task: PlanTask,
    dir: string,
    ran: { startedAt: number; endedAt: number; host: string },
    result: unknown,
  ): Promise<Collected | string> {
    const done = await this.#deliverFrom(task, dir, { attempt: 0, ...ran }, {
      logs: {},
      result,
      note: () => {},
    });
    return typeof done === "object" && "cancelled" in done ? done.cancelled : done;
  }

  async #deliverFrom(
    task: PlanTask,
    work: string,
    ran: AttemptRan,
    how: {
      logs: { stdout?: string; stderr?: string };
      result: unknown;
      note: (notes: readonly string[]) => void;
      /** What must happen before the success is recorded (the result store's upload). */
      before?: (success: SuccessRecord) => Promise<void>;
    },
  ): Promise<Collected | string | { cancelled: string }> {
    // Kept on its executor's host (a provider that keeps them says which it kept).
    const lost = ran.kept && task.outputs.find((f) => f.keep && !ran.kept![f.path]);
    if (lost) return `the task did not write its output "${lost.name}" (${lost.path})`;
    try {
      const { workspace, runId, ownFiles = [] } = this.#c;
      const delivered = await deliverOutputs(task, work, workspace, {
        ownFiles,
        trash: join(workspace, ".ferry", "trash", runId),
        // What ferry delivered last time, for a dir: output that replaces a directory.
        delivered: (url) =>
          this.#c.store?.successes().get(task.id)?.outputs.find((o) => o.url === url)?.files,
        ...(ran.kept ? { keptThere: ran.kept } : {}),
      });
      if (!delivered.ok) return delivered.message;
      if (delivered.notes.length > 0) how.note(delivered.notes);
      await this.#c.cache?.commit(
        task,
        { runId, ...ran },
        how.logs,
        delivered.dynamic,
        how.result,
        this.#c.signal,
        how.before,
      );
      return delivered.dynamic;
    } catch (e) {
      if (this.#c.signal?.aborted && e === this.#c.signal.reason) {
        return {
          cancelled: "interrupted while hashing its outputs, in place but not recorded",
        };
      }
      if (e instanceof IrregularFileError) return e.message;
      if (!isNoSpace(e)) throw e;
      return `no space left on device while delivering its outputs (${(e as Error).message})`;
    }
  }

  /**
   * Upload a success to the result store before it is recorded, so that a task a killed run
   * recorded is in the store too (an upload never fails the task).
   */
  #storeFirst(run: AttemptRun, success: SuccessRecord): Promise<void> {
    const { startedAt, endedAt } = run.outcome;
    return this.#c.results!.uploadFirst(success, {
      run: this.#c.runId,
      started_at: startedAt,
      ended_at: endedAt,
    });
  }

  /** The task's `benchmark:` file, when it has one; one that cannot be written is a note. */
  #benchmark(run: AttemptRun): void {
    const { task, outcome } = run;
    if (task.benchmark === undefined || outcome.usage === undefined) return;
    try {
      writeBenchmark(this.#c.workspace, task.benchmark, outcome.usage);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.#note(run, [`Cannot write benchmark "${task.benchmark}": ${why}`]);
    }
  }

  /** What delivery did that the user must know of, at the end of the attempt's stderr log. */
  #note(run: AttemptRun, notes: readonly string[]): void {
    const file = run.paths.stderrLog;
    this.#bookkeeping("noting what delivery kept", file, () => {
      Deno.writeTextFileSync(file, notes.map((n) => `ferry: ${n}\n`).join(""), { append: true });
    });
  }

  #recordAttempt(task: PlanTask, attempt: number, outcome: TaskOutcome): void {
    const reason = outcome.reason ?? outcome.message;
    this.#bookkeeping(
      "recording the attempt in the state",
      ".ferry/state.db",
      () =>
        this.#c.store?.recordAttempt({
          runId: this.#c.runId,
          taskId: task.id,
          attempt,
          outcome: outcome.outcome,
          ...(outcome.exitCode !== undefined ? { exitCode: outcome.exitCode } : {}),
          ...(outcome.signal !== undefined ? { signal: outcome.signal } : {}),
          ...(reason ? { reason: redactSecrets(reason) } : {}),
          startedAt: outcome.startedAt,
          endedAt: outcome.endedAt,
          host: outcome.host,
          stdout: outcome.stdoutPath,
          stderr: outcome.stderrPath,
          ...(outcome.usage ? { usage: outcome.usage } : {}),
          ...(outcome.pilot ? { pilot: outcome.pilot } : {}),
        }),
    );
  }

  #writeStatus(run: AttemptRun, outcome: TaskOutcome, note: StatusNote): void {
    const file = join(run.paths.root, "status.json");
    const record = { task: run.task.id, attempt: run.attempt, ...outcome, ...note };
    this.#bookkeeping("writing the attempt's status", file, () => {
      Deno.mkdirSync(run.paths.root, { recursive: true });
      Deno.writeTextFileSync(file, redactSecrets(JSON.stringify(record)) + "\n");
    });
  }

  /** Bookkeeping that a full or read-only disk may refuse: noted once, the run goes on. */
  #bookkeeping(doing: string, path: string, write: () => void): void {
    try {
      write();
    } catch (e) {
      const fault = describeFsFault(e, doing, path);
      if (fault === undefined) throw e;
      this.#fault ??= fault;
    }
  }
}

/** The line ferry adds to a task's stderr.log about the files it left undeclared. */
export function discardedNote(files: readonly string[]): string {
  const shown = files.slice(0, 20).map((f) => JSON.stringify(f)).join(", ");
  const more = files.length > 20 ? ` and ${files.length - 20} more` : "";
  return `ferry: discarded ${files.length} file${
    files.length === 1 ? "" : "s"
  } the task left in its directory that ${
    files.length === 1 ? "is no declared output" : "are no declared outputs"
  }: ${shown}${more}\n`;
}

/** A function task's return value (its `result.json`), or undefined when there is none. */
function readResult(path: string): unknown {
  try {
    return JSON.parse(Deno.readTextFileSync(path));
  } catch {
    return undefined;
  }
}

const NO_SPACE = /No space left on device|Disk quota exceeded/i;

/**
 * Whether a failed attempt ran out of disk: its file system refuses a
 * one-byte write now, or its standard error says so.
 */
async function diskFull(run: AttemptRun): Promise<boolean> {
  const probe = join(run.paths.root, ".ferry-space-probe");
  try {
    Deno.mkdirSync(run.paths.root, { recursive: true });
    Deno.writeFileSync(probe, new Uint8Array(1));
    Deno.removeSync(probe);
  } catch (e) {
    if (isNoSpace(e)) {
      try {
        Deno.removeSync(probe);
      } catch { /* never made */ }
      return true;
    }
  }
  return NO_SPACE.test(await logEnd(run.outcome.stderrPath, 4096).catch(() => ""));
}

/** The reason of an attempt that ran out of disk, keeping what the attempt itself said. */
function noSpaceReason(run: AttemptRun, outcome: TaskOutcome): string {
  const was = outcome.reason ?? outcome.message;
  return `no space left on device (in ${run.paths.work})${was ? `: ${was}` : ""}`;
}

/** Delete the declared outputs a failed attempt left in its directory (its logs stay). */
async function dropPartialOutputs(run: AttemptRun): Promise<void> {
  for (const f of run.task.outputs) {
    if (f.path.startsWith("/")) continue;
    await Deno.remove(join(run.paths.work, f.path), { recursive: true }).catch(() => {});
  }
}
