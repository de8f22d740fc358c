/**
 * The run's transfers: the stager, with a count of what moved, and the
 * input transfers each task waits for. Transfer nodes run once per URL and
 * storage and are shared by every task reading them; remote files no task
 * writes are fetched from the start, while upstream tasks run.
 * @module
 */

import {
  keptTransferId,
  type Plan,
  type PlanFile,
  type PlanHop,
  type PlanTask,
  type PlanTransfer,
} from "../plan.ts";
import { Stager, type StagerOptions, type TransferEvent } from "../stager.ts";
import type { NewEvent } from "../events.ts";
import { metaPath, removeQuietly } from "../../providers/staging/_transfer_files.ts";
import { toFileUrl } from "../../providers/_shared/urls.ts";
import type { KeptFetch } from "../../providers/batch/types.ts";

/** Brings a kept output (its transfer) from its executor's host to the workspace; its size. */
export type FetchKept = (t: PlanTransfer, how: KeptFetch) => Promise<number>;

/** Transfer counts of a run. */
export interface TransferCounts {
  /** Fetched (downloaded). */
  readonly fetched: number;
  /** Cached copies found current. */
  readonly reused: number;
  /** Uploaded. */
  readonly uploaded: number;
  /** Failed after their retries (and every replica's, for a logical file). */
  readonly failed: number;
  /** A replica that failed after its retries, another replica of the file fetched next. */
  readonly fellBack: number;
  /** Bytes moved. */
  readonly bytes: number;
}

/** The stager of a run, what it moved, and which input transfers each task waits for. */
export class RunTransfers {
  /** The run's stager (fetches, uploads). */
  readonly stager: Stager;
  readonly #counts = { fetched: 0, reused: 0, uploaded: 0, failed: 0, fellBack: 0, bytes: 0 };
  readonly #transfers = new Map<string, PlanTransfer>();
  readonly #produced = new Set<string>();
  readonly #abort = new AbortController();
  /** Tasks still to succeed that read each intermediate copy (multi-hop staging), by its path. */
  readonly #viaReaders = new Map<string, number>();
  /** Outputs kept on an executor's host, brought to the workspace (`provider: kept`), by id. */
  readonly #fromKept = new Map<string, Promise<unknown>>();
  readonly #fetchKept: FetchKept | undefined;
  readonly #onEvent: (e: TransferEvent) => void;
  #waiting = 0;

  /**
   * Transfers of `plan`; each event goes to `report` and, as an event line, to `log`. Outputs
   * kept on an executor's host come here through `fetchKept`.
   */
  constructor(
    plan: Plan,
    options: Omit<StagerOptions, "signal" | "onEvent">,
    report: ((e: TransferEvent) => void) | undefined,
    log: (e: NewEvent) => void,
    fetchKept?: FetchKept,
  ) {
    this.#onEvent = (e) => {
      this.#count(e);
      report?.(e);
      if (e.kind === "started") log({ event: "transfer-started", ...e, kind: e.kind });
      else if (e.kind === "finished") log({ event: "transfer-finished", ...e, kind: e.kind });
    };
    this.stager = new Stager({ ...options, signal: this.#abort.signal, onEvent: this.#onEvent });
    this.#fetchKept = fetchKept;
    this.learn(plan);
  }

  #count(e: TransferEvent): void {
    if (e.kind !== "finished") return;
    const c = this.#counts;
    if (e.fallback !== undefined) c.fellBack++;
    else if (e.error !== undefined) c.failed++;
    else if (e.reused) c.reused++;
    else {
      if (e.direction === "in") c.fetched++;
      else c.uploaded++;
      c.bytes += e.bytes;
    }
  }

  /** What moved so far. */
  get counts(): TransferCounts {
    return { ...this.#counts };
  }

  /** Tasks waiting for their input transfers now. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Know the transfers of a (re-)plan and the files its tasks write. */
  learn(plan: Plan): void {
    for (const t of plan.transfers) this.#transfers.set(t.id, t);
    for (const t of plan.tasks) for (const f of t.outputs) this.#produced.add(f.url);
  }

  /** Start fetching the remote inputs no task writes and some task that will run reads. */
  prefetch(plan: Plan): void {
    const willRun = new Set(
      plan.tasks.filter((t) => t.status.action !== "cached").map((t) => t.id),
    );
    for (const t of plan.transfers) {
      if (t.direction !== "in" || this.#produced.has(t.url)) continue;
      if (t.consumers.some((c) => willRun.has(c))) this.#hop(t).catch(() => {});
    }
  }

  /** A transfer, after the one that brings its source when it is a later hop (once per run each). */
  async #hop(t: PlanTransfer): Promise<unknown> {
    if (t.provider === "kept") return await this.#kept(t);
    const before = t.after === undefined ? undefined : this.#transfers.get(t.after);
    if (before) await this.#hop(before);
    return await this.stager.transferIn(t);
  }

  /**
   * A kept output brought to the workspace, once per run: started by its maker's success
   * (`deliver`). A reader whose maker did not run in this run reads the workspace's copy.
   */
  #kept(t: PlanTransfer, start?: { sha256: string | undefined }): Promise<unknown> {
    let run = this.#fromKept.get(t.id);
    if (run === undefined && start) {
      run = this.#bringKept(t, start.sha256);
      run.catch(() => {});
      this.#fromKept.set(t.id, run);
    }
    return run ?? Promise.resolve();
  }

  async #bringKept(t: PlanTransfer, sha256: string | undefined): Promise<void> {
    const e = { id: t.id, direction: "in" as const, url: t.url, provider: t.provider };
    this.#onEvent({ kind: "started", ...e, bytes: 0 });
    const t0 = Date.now();
    try {
      if (!this.#fetchKept) throw new Error(`Cannot fetch "${t.url}" from ${t.executor} here`);
      const signal = this.#abort.signal;
      const bytes = await this.#fetchKept(t, { ...(sha256 ? { sha256 } : {}), signal });
      this.#onEvent({ kind: "finished", ...e, bytes, attempts: 1, ms: Date.now() - t0 });
    } catch (err) {
      const error = (err as Error).message;
      this.#onEvent({ kind: "finished", ...e, bytes: 0, attempts: 1, ms: Date.now() - t0, error });
      throw err;
    }
  }

  /**
   * A task whose outputs its executor keeps succeeded: those that come to the workspace start
   * coming now (nobody on that executor waits for them), checked against the hashes taken there
   * (`hashed`, by path). Each such output's URL, with its end.
   */
  deliver(
    task: PlanTask,
    hashed: Readonly<Record<string, { readonly sha256: string }>> = {},
  ): Map<string, Promise<unknown>> {
    const out = new Map<string, Promise<unknown>>();
    for (const f of task.outputs) {
      const t = f.keep?.deliver
        ? this.#transfers.get(keptTransferId(f.keep.executor, f.url))
        : undefined;
      if (t) out.set(f.url, this.#kept(t, { sha256: hashed[f.path]?.sha256 }));
    }
    return out;
  }

  /** Wait for every kept output on its way to the workspace; the failures' ids and messages. */
  async settleKept(): Promise<Map<string, string>> {
    const ids = [...this.#fromKept.keys()];
    const rs = await Promise.allSettled(this.#fromKept.values());
    const failed = new Map<string, string>();
    rs.forEach((r, i) => {
      if (r.status === "rejected") failed.set(ids[i]!, (r.reason as Error)?.message ?? "");
    });
    return failed;
  }

  /** The input transfers a task waits for. */
  inputsOf(task: PlanTask): PlanTransfer[] {
    const out: PlanTransfer[] = [];
    for (const f of task.inputs) {
      // Through intermediate storage and then used there or copied on the node: the first hop.
      // Made on an executor that keeps it: its transfer to the workspace.
      const id = f.staging === "transfer" ? f.transfer : f.via?.transfer ?? (f.kept && f.transfer);
      const t = id === undefined ? undefined : this.#transfers.get(id);
      if (t?.direction === "in") out.push(t);
    }
    return out;
  }

  /** Wait for `needed` (shared with other readers): the first failure's message, if one failed. */
  async wait(needed: readonly PlanTransfer[]): Promise<string | undefined> {
    this.#waiting++;
    try {
      const rs = await Promise.allSettled(needed.map((t) => this.#hop(t)));
      const bad = rs.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
      return bad ? ((bad.reason as Error)?.message ?? String(bad.reason)) : undefined;
    } finally {
      this.#waiting--;
    }
  }

  /** Count, over every task still to succeed, the readers of each intermediate copy. */
  recount(tasks: Iterable<{ readonly task: PlanTask; readonly state: string }>): void {
    this.#viaReaders.clear();
    for (const { task, state } of tasks) {
      if (state === "succeeded") continue;
      for (const f of task.inputs) {
        for (const { path } of hopsOf(f)) {
          this.#viaReaders.set(path, (this.#viaReaders.get(path) ?? 0) + 1);
        }
      }
    }
  }

  /**
   * A task succeeded: an intermediate copy of multi-hop staging that no other task still needs
   * is deleted, with its cache record, like a temporary output.
   */
  succeeded(task: PlanTask, log: (e: NewEvent) => void): void {
    for (const f of task.inputs) {
      for (const { path } of hopsOf(f)) {
        const left = (this.#viaReaders.get(path) ?? 1) - 1;
        this.#viaReaders.set(path, left);
        if (left > 0) continue;
        removeQuietly(metaPath(path));
        try {
          Deno.removeSync(path);
          log({ event: "temp-deleted", url: toFileUrl(path) });
        } catch { /* already gone */ }
      }
    }
  }

  /** Stop every transfer now (the run is cancelled). */
  cancel(reason: unknown): void {
    this.#abort.abort(reason);
  }

  /** Stop every transfer (the run is over) and wait for the stager to close. */
  async close(reason: unknown): Promise<void> {
    this.#abort.abort(reason);
    await this.stager.close();
  }
}

/** The intermediate copies of an input staged through other storage, in the order it goes. */
function hopsOf(f: PlanFile): readonly PlanHop[] {
  return f.hops ?? (f.via ? [f.via] : []);
}
