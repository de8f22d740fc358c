/**
 * Staging during a run: the plan's transfer nodes (one per URL and storage,
 * however many tasks read the file), node-side fetches for executors without
 * a shared filesystem, and stage-out of outputs as each task finishes. It
 * picks the provider for each file's rule, holds the concurrency limits
 * (global, per rule, and the providers' own per-host ones) and reports every
 * transfer's start, progress and end.
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import type { Executor, ParamValue } from "../dsl/model.ts";
import { Limit, withLimits } from "../providers/staging/limit.ts";
import { loadStagingProvider } from "../providers/staging/registry.ts";
import { redactSecrets } from "../providers/_shared/secrets.ts";
import {
  stageIn,
  type StageInResult,
  stageOut,
  type StageOutResult,
} from "../providers/staging/transfer.ts";
import type { StagingProvider } from "../providers/staging/types.ts";
import { partialPath, removeQuietly } from "../providers/staging/_transfer_files.ts";
import type { PlanFallback, PlanFile, PlanTransfer } from "./plan.ts";

/** Rule options that name files. */
const PATH_OPTIONS = ["identity_file", "known_hosts", "ca_file"] as const;

/** One transfer's life, as the progress display and the event log see it. */
export interface TransferEvent {
  /** `started`, `progress` (throttled), or `finished` (ok or not). */
  readonly kind: "started" | "progress" | "finished";
  /** The transfer id (a plan transfer's id, or `wrap:<task>:<url>` / `out:<task>:<url>`). */
  readonly id: string;
  /** `in` or `out`. */
  readonly direction: "in" | "out";
  /** The remote URL. */
  readonly url: string;
  /** The provider's action name. */
  readonly provider: string;
  /** Bytes present so far (finished: the file's size). */
  readonly bytes: number;
  /** Total bytes when known. */
  readonly total?: number;
  /** Finished: true when a cached copy was still current. */
  readonly reused?: boolean;
  /** Finished: attempts made. */
  readonly attempts?: number;
  /** Finished with an error: the message (secrets redacted). */
  readonly error?: string;
  /** Finished: duration in ms. */
  readonly ms?: number;
  /** Finished with an error: the next replica of the file, fetched instead. */
  readonly fallback?: string;
}

/** Options for {@linkcode Stager}. */
export interface StagerOptions {
  /** Executors by name (with `local`). */
  readonly executors: Readonly<Record<string, Executor>>;
  /** The folder a custom provider module path of this executor's rules is relative to. */
  readonly moduleBase: (executor: string) => string;
  /** At most this many transfers at once, over all providers. @default 8 */
  readonly maxTransfers?: number;
  /** Cancels every transfer. */
  readonly signal: AbortSignal;
  /** Told about every transfer. */
  readonly onEvent?: (e: TransferEvent) => void;
  /** First retry delay of a transfer. @default RETRY_BASE_MS of providers/staging/transfer.ts */
  readonly retryBaseMs?: number;
}

/** Runs staging work for one run. */
export class Stager {
  readonly #o: StagerOptions;
  readonly #global: Limit;
  readonly #ruleLimits = new Map<string, Limit>();
  readonly #providers = new Map<string, Promise<StagingProvider>>();
  readonly #ins = new Map<string, Promise<StageInResult>>();

  /** A stager for one run. */
  constructor(options: StagerOptions) {
    this.#o = options;
    this.#global = new Limit(options.maxTransfers ?? 8);
  }

  #rule(executor: string, rule: number | "default") {
    const ex = this.#o.executors[executor];
    const r = rule === "default" ? undefined : ex?.staging[rule];
    const options: Record<string, ParamValue> = { ...(r?.options ?? {}) };
    // File options are relative to the file holding the rule, like module paths.
    for (const k of PATH_OPTIONS) {
      const v = options[k];
      if (typeof v === "string" && !isAbsolute(v) && !v.startsWith("~")) {
        options[k] = resolve(this.#o.moduleBase(executor), v);
      }
    }
    return { options, key: `${executor}#${rule}` };
  }

  #limits(executor: string, rule: number | "default"): Limit[] {
    const { options, key } = this.#rule(executor, rule);
    const max = options.max_concurrent;
    if (typeof max !== "number" || max < 1) return [this.#global];
    let l = this.#ruleLimits.get(key);
    if (!l) this.#ruleLimits.set(key, l = new Limit(max));
    return [this.#global, l];
  }

  #provider(action: string, executor: string): Promise<StagingProvider> {
    const base = this.#o.moduleBase(executor);
    const key = `${action}\0${base}`;
    let p = this.#providers.get(key);
    if (!p) {
      p = loadStagingProvider(action, base);
      this.#providers.set(key, p);
    }
    return p;
  }

  async #track<T extends { bytes: number }>(
    id: string,
    direction: "in" | "out",
    url: string,
    action: string,
    f: (progress: (bytes: number, total?: number) => void) => Promise<T & { attempts: number }>,
    fallback?: string,
  ): Promise<T> {
    const emit = this.#o.onEvent ?? (() => {});
    const t0 = Date.now();
    const about = { id, direction, url: redactSecrets(url), provider: action };
    let lastEmit = 0;
    emit({ kind: "started", ...about, bytes: 0 });
    const progress = (bytes: number, total?: number) => {
      const now = Date.now();
      if (now - lastEmit < 250) return;
      lastEmit = now;
      emit({ kind: "progress", ...about, bytes, ...(total !== undefined ? { total } : {}) });
    };
    try {
      const r = await f(progress);
      emit({
        kind: "finished",
        ...about,
        bytes: r.bytes,
        attempts: r.attempts,
        ms: Date.now() - t0,
        ...("reused" in r ? { reused: Boolean((r as { reused?: boolean }).reused) } : {}),
      });
      return r;
    } catch (e) {
      const error = redactSecrets((e as Error).message ?? String(e));
      const next = fallback !== undefined && !this.#o.signal.aborted
        ? { fallback: redactSecrets(fallback) }
        : {};
      emit({ kind: "finished", ...about, bytes: 0, error, ms: Date.now() - t0, ...next });
      throw new Error(error);
    }
  }

  /** Run (once per run) a plan transfer that brings a file in; every consumer awaits the same promise. */
  transferIn(t: PlanTransfer): Promise<StageInResult> {
    let p = this.#ins.get(t.id);
    if (!p) {
      p = this.#replicas(t);
      p.catch(() => {}); // consumers see the error; nobody else needs to
      this.#ins.set(t.id, p);
    }
    return p;
  }

  /**
   * A transfer's URL, then (a logical file) each of its other replicas in turn while the one
   * before failed after its retries; a failed replica's partial copy is discarded first, as the
   * next one is another source. The last failure is the transfer's.
   */
  #replicas(t: PlanTransfer): Promise<StageInResult> {
    const sources = [{ url: t.url, provider: t.provider, rule: t.rule }, ...(t.fallbacks ?? [])];
    const extra = { cache: true, ...(t.checksum !== undefined ? { checksum: t.checksum } : {}) };
    return this.#inTurn(
      t.id,
      sources,
      (s, id, next) => this.#fetch(id, s.url, s.provider, t.executor, s.rule, t.path, extra, next),
      t.path,
    );
  }

  /** Fetch from each source in turn while the one before failed; `dest`'s partial copy goes between. */
  async #inTurn(
    id: string,
    sources: readonly PlanFallback[],
    fetch: (s: PlanFallback, id: string, next: string | undefined) => Promise<StageInResult>,
    dest: string,
  ): Promise<StageInResult> {
    for (let i = 0;; i++) {
      const next = sources[i + 1]?.url;
      try {
        return await fetch(sources[i]!, id, next);
      } catch (e) {
        if (next === undefined || this.#o.signal.aborted) throw e;
        removeQuietly(partialPath(dest));
      }
    }
  }

  /** Fetch a task's input into its directory on the node (executors without a shared filesystem). */
  fetchInto(task: string, f: PlanFile, executor: string, dest: string): Promise<StageInResult> {
    const extra = { cache: false, ...(f.checksum !== undefined ? { checksum: f.checksum } : {}) };
    const first = { url: f.url, provider: f.provider, rule: f.rule };
    return this.#inTurn(
      `wrap:${task}:${f.url}`,
      [first, ...(f.fallbacks ?? [])],
      (s, id, next) => this.#fetch(id, s.url, s.provider, executor, s.rule, dest, extra, next),
      dest,
    );
  }

  #fetch(
    id: string,
    url: string,
    action: string,
    executor: string,
    rule: number | "default",
    dest: string,
    extra: { cache: boolean; checksum?: string },
    fallback?: string,
  ): Promise<StageInResult> {
    const { options } = this.#rule(executor, rule);
    return this.#track(id, "in", url, action, async (progress) => {
      const provider = await this.#provider(action, executor);
      return await withLimits(
        this.#limits(executor, rule),
        () =>
          stageIn(provider, {
            url,
            dest,
            options,
            signal: this.#o.signal,
            progress,
            ...extra,
            ...(this.#o.retryBaseMs !== undefined ? { retryBaseMs: this.#o.retryBaseMs } : {}),
          }),
        this.#o.signal,
      );
    }, fallback);
  }

  /**
   * A replica the job wrapper failed to fetch on the node, the next one fetched instead: the
   * `finished` event with its error and `fallback` that a fetch of ferry's own emits (`id` is
   * the input's, as {@linkcode fetchInto} names it).
   */
  fellBackOnNode(
    id: string,
    b: { url: string; provider: string; error: string; fallback: string },
  ): void {
    this.#o.onEvent?.({
      kind: "finished",
      id,
      direction: "in",
      url: redactSecrets(b.url),
      provider: b.provider,
      bytes: 0,
      error: redactSecrets(b.error),
      fallback: redactSecrets(b.fallback),
    });
  }

  /** Upload a task's output (written at `source`) to its URL. */
  put(task: string, f: PlanFile, executor: string, source: string): Promise<StageOutResult> {
    const { options } = this.#rule(executor, f.rule);
    return this.#track(`out:${task}:${f.url}`, "out", f.url, f.provider, async (progress) => {
      const provider = await this.#provider(f.provider, executor);
      return await withLimits(
        this.#limits(executor, f.rule),
        () =>
          stageOut(provider, {
            url: f.url,
            source,
            options,
            signal: this.#o.signal,
            progress,
            ...(this.#o.retryBaseMs !== undefined ? { retryBaseMs: this.#o.retryBaseMs } : {}),
          }),
        this.#o.signal,
      );
    });
  }

  /** Close every provider's connections. */
  async close(): Promise<void> {
    for (const p of this.#providers.values()) {
      try {
        await (await p).close?.();
      } catch { /* closing: nothing to report */ }
    }
  }
}
