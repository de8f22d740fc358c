/**
 * `ferry store push`, `verify` and `gc` end to end (`pull` is a run that
 * only restores: `runWorkflowFile` with `storeOnly`): which store (`--store`,
 * else the site file's), which workspace, and what a plan needs of it.
 * Never throws for bad input: a message says why.
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ParamValue, Site } from "../dsl/model.ts";
import { loadFile } from "../dsl/load.ts";
import { validateSite } from "../dsl/validate.ts";
import { RETRY_BASE_MS } from "../providers/_shared/retry.ts";
import { checkWithStats } from "./check.ts";
import { imageResolver } from "./images.ts";
import { Cache } from "./cache.ts";
import { LOCAL_EXECUTOR } from "./plan.ts";
import { planForTargets } from "./plan_file.ts";
import { statefulPlan } from "./plan_state.ts";
import { StatCache } from "./stat_cache.ts";
import { StateStore } from "./state.ts";
import { openBackend } from "./results/backend.ts";
import type { StoreLocation } from "./results/location.ts";
import {
  type GcReport,
  gcStore,
  type PushReport,
  pushSuccesses,
  type VerifyReport,
  verifyStore,
} from "./results/maintain.ts";
import { openResultStore, storeLocation } from "./results/open.ts";
import { visible, visibleLines } from "../dsl/visible.ts";
import { formatBytes } from "./format.ts";

/** What the store commands take. */
export interface StoreCommandOptions {
  /** `--store URL`. */
  readonly store?: string;
  /** A site file naming the store. */
  readonly site?: string;
  /** A workflow file (gc: what its plan needs). */
  readonly workflow?: string;
  /** The workspace (push; gc with a workflow). */
  readonly workspace?: string;
  /** Param overrides for the workflow's plan. */
  readonly params?: Readonly<Record<string, ParamValue>>;
}

/** A value, or why there is none. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; message: string };

/** The store named by `--store`, else by the site file; a message when none is or it is bad. */
async function locate(o: StoreCommandOptions, action: string): Promise<Outcome<StoreLocation>> {
  let model: Site | undefined;
  if (o.site !== undefined && o.store === undefined) {
    const loaded = await loadFile(o.site);
    const v = loaded.document ? validateSite(loaded.document.value) : undefined;
    const bad = [...loaded.problems, ...(v?.problems ?? [])].find((p) => p.severity === "error");
    if (bad) {
      return {
        ok: false,
        message: `Cannot read site file "${o.site}": ${bad.message} (run ferry check)`,
      };
    }
    model = v?.model;
  }
  const where = storeLocation(o.store, {
    ...(o.site !== undefined ? { file: o.site } : {}),
    ...(model ? { model } : {}),
  });
  if (!where.ok) return where;
  if (!where.location) {
    return {
      ok: false,
      message: `Cannot ${action}: no store named (--store URL, or store: in the site file)`,
    };
  }
  return { ok: true, value: where.location };
}

/** `ferry store verify`: every blob and manifest checked. */
export async function storeVerify(o: StoreCommandOptions): Promise<Outcome<VerifyReport>> {
  const where = await locate(o, "verify the store");
  if (!where.ok) return where;
  const scratch = await Deno.makeTempDir({ prefix: "ferry-verify-" });
  const backend = openBackend(where.value, scratch, RETRY_BASE_MS);
  try {
    return { ok: true, value: await verifyStore(backend, join(scratch, "blobs")) };
  } catch (e) {
    return { ok: false, message: `Cannot verify store "${where.value.url}": ${messageOf(e)}` };
  } finally {
    await backend.close();
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

/** `ferry store push`: every success the workspace recorded that the store lacks, uploaded. */
export async function storePush(
  o: StoreCommandOptions & { readonly workspace: string },
): Promise<Outcome<PushReport>> {
  const where = await locate(o, "push");
  if (!where.ok) return where;
  if (where.value.readOnly) {
    return {
      ok: false,
      message: `Cannot push to "${where.value.url}": an https: store is read-only`,
    };
  }
  if (!existsSync(join(o.workspace, ".ferry", "state.db"))) {
    return {
      ok: false,
      message: `Cannot push "${o.workspace}": it has no state (.ferry/state.db)`,
    };
  }
  const state = StateStore.open(o.workspace);
  const results = openResultStore(where.value, state, { retryBaseMs: RETRY_BASE_MS });
  try {
    const runs = new Map(state.runs().map((r) => [r.id, r]));
    const value = await pushSuccesses(results, state.successes().values(), (r) => ({
      run: r.runId,
      started_at: runs.get(r.runId)?.startedAt ?? r.finishedAt,
      ended_at: r.finishedAt,
    }));
    return { ok: true, value };
  } finally {
    await results.backend.close();
    state.close();
  }
}

/**
 * `ferry store gc`: drop the entries the workflow's plan does not need (with
 * a workflow) or stored before `before`, then the blobs no entry names.
 */
export async function storeGc(
  o: StoreCommandOptions & { readonly before?: number; readonly dryRun: boolean },
): Promise<Outcome<GcReport>> {
  const where = await locate(o, "collect the store's garbage");
  if (!where.ok) return where;
  if (where.value.readOnly) {
    return {
      ok: false,
      message: `Cannot collect "${where.value.url}": an https: store is read-only`,
    };
  }
  let keep: Set<string> | undefined;
  if (o.workflow !== undefined) {
    const k = await neededKeys(o.workflow, o, where.value);
    if (!k.ok) return k;
    keep = k.value;
  }
  const scratch = await Deno.makeTempDir({ prefix: "ferry-gc-" });
  const backend = openBackend(where.value, scratch, RETRY_BASE_MS);
  try {
    const value = await gcStore(backend, {
      ...(keep ? { keep } : {}),
      ...(o.before !== undefined ? { before: o.before } : {}),
      dryRun: o.dryRun,
    });
    return { ok: true, value };
  } catch (e) {
    return { ok: false, message: `Cannot collect "${where.value.url}": ${messageOf(e)}` };
  } finally {
    await backend.close();
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

/** The keys of every task of the workflow's plan that has one (in its workspace, with the store). */
async function neededKeys(
  file: string,
  o: StoreCommandOptions,
  location: StoreLocation,
): Promise<Outcome<Set<string>>> {
  const stats = new StatCache();
  const r = await checkWithStats(file, {
    stats,
    images: imageResolver(),
    ...(o.site !== undefined ? { site: o.site } : {}),
    ...(o.workspace !== undefined ? { workspace: o.workspace } : {}),
    params: o.params ?? {},
  });
  const error = r.diagnostics.find((d) => d.severity === "error");
  if (error || !r.plan || !r.expansion || !r.linked) {
    return {
      ok: false,
      message: `Cannot plan "${file}": ${error?.message ?? "it has errors"} (run ferry check)`,
    };
  }
  const targeted = planForTargets(r, [], o.params ?? {});
  if (!targeted.ok) return { ok: false, message: targeted.message };
  const state = StateStore.open(r.workspace, { stats });
  const results = openResultStore(location, state, { retryBaseMs: RETRY_BASE_MS });
  try {
    const executors = { local: LOCAL_EXECUTOR, ...(r.executors ?? {}) };
    const { plan, cache } = await statefulPlan(r, {
      file,
      plan: targeted.plan,
      executors,
      params: r.params ?? {},
      targets: [],
      store: state,
      results,
    });
    const keys = new Set<string>();
    for (const t of plan.tasks) {
      if (t.expandsAfter) continue;
      const { parts, missing } = cache.parts(t);
      if (missing === undefined) keys.add(Cache.key(parts));
      const recorded = state.successes().get(t.id)?.key;
      if (recorded !== undefined) keys.add(recorded);
    }
    return { ok: true, value: keys };
  } finally {
    await results.backend.close();
    state.close();
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** `checked 12 blobs and 5 entries: all intact`, or each damaged file and why. */
export function renderVerify(r: VerifyReport): string {
  const head = `checked ${plural(r.blobs, "blob")} and ${plural(r.entries, "entry", "entries")}`;
  if (r.bad.length === 0) return `${head}: all intact\n`;
  return `${head}: ${plural(r.bad.length, "damaged file")}\n` +
    r.bad.map((b) => `  ${visible(b.path)}: ${visibleLines(b.why)}\n`).join("");
}

/** `pushed 3 entries, 5 already in the store`, what cannot be stored, and what failed. */
export function renderPush(r: PushReport): string {
  const lines = [
    `pushed ${plural(r.pushed, "entry", "entries")}, ${r.present} already in the store\n`,
  ];
  if (r.unstorable.length > 0) {
    lines.push(
      `not stored (outputs outside the workspace, staged out or gone): ${
        r.unstorable.map(visible).join(", ")
      }\n`,
    );
  }
  for (const f of r.failed) lines.push(`failed: ${visible(f.task)}: ${visibleLines(f.why)}\n`);
  return lines.join("");
}

/** What gc dropped (or would drop), and what it kept. */
export function renderGc(r: GcReport, dryRun: boolean): string {
  const verb = dryRun ? "would drop" : "dropped";
  const lines = r.entries.map((e) => `  ${visible(e)}\n`);
  return `${verb} ${plural(r.entries.length, "entry", "entries")} and ${
    plural(r.blobs.length, "blob")
  } (${formatBytes(r.bytes)}); kept ${plural(r.kept, "entry", "entries")}\n${lines.join("")}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
