/**
 * The one registry of batch providers, used by `ferry check`, `plan`, `run`
 * and `executor()`: `local`, the schedulers (`slurm`, `pbs`, `lsf`,
 * `htcondor`) driven through their dialects, `ssh` (tasks on another host),
 * and custom providers named by module path (`./my_provider.ts`, relative to
 * the file that declares the executor), whose default export is a
 * {@linkcode BatchProviderFactory}.
 * @module
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Executor } from "../../dsl/model.ts";
import { type BUILTIN_PROVIDERS, isModulePath } from "../../dsl/rules/staging_rules.ts";
import { SshSetupError } from "../_shared/ssh_auth.ts";
import type { Dialect } from "./dialect.ts";
import type { BatchProvider } from "./types.ts";

/** Scheduler dialects by provider name, loaded when an executor uses one. */
export const DIALECTS: Readonly<Record<string, () => Promise<Dialect>>> = {
  slurm: async () => (await import("./slurm.ts")).slurm,
  pbs: async () => (await import("./pbs.ts")).pbs,
  lsf: async () => (await import("./lsf.ts")).lsf,
  htcondor: async () => (await import("./htcondor.ts")).htcondor,
};

/** Whether `name` is a scheduler provider ferry drives through a dialect. */
export function isScheduler(name: string): boolean {
  return Object.hasOwn(DIALECTS, name);
}

/**
 * Executor options that say how to log in over SSH (the `ssh` provider, and
 * schedulers reached through `via: ssh://`), named as the same keys of
 * staging rules; `timeout` is seconds to connect and log in.
 */
export const SSH_OPTIONS: readonly string[] = [
  "identity_file",
  "passphrase_env",
  "known_hosts",
  "host_key",
  "timeout",
];

/**
 * Options of the `ssh` provider: the login ({@linkcode SSH_OPTIONS}) and
 * `remote_dir`, where attempts run on the host when it shares no filesystem
 * with ferry (`filesystem: none`).
 */
export const SSH_PROVIDER_OPTIONS: readonly string[] = [...SSH_OPTIONS, "remote_dir"];

/**
 * The dialect of an executor's scheduler provider. With `via:`, the executor's
 * options also hold the SSH login ({@linkcode SSH_OPTIONS}): the dialect
 * checks the rest.
 */
export async function dialectOf(ex: Executor): Promise<Dialect> {
  const load = DIALECTS[ex.provider];
  if (!load) throw new Error(`internal: "${ex.provider}" is not a scheduler provider`);
  const dialect = await load();
  if (ex.via === undefined) return dialect;
  return {
    ...dialect,
    checkOptions: (options) =>
      dialect.checkOptions(
        Object.fromEntries(
          Object.entries(options).filter(([k]) => !SSH_PROVIDER_OPTIONS.includes(k)),
        ),
      ).map((m) =>
        m.startsWith("Cannot use the ") && m.includes("expected one of")
          ? `${m}; with via: also ${SSH_PROVIDER_OPTIONS.join(", ")}`
          : m
      ),
  };
}

/** Whether `name` is the `ssh` provider (`ssh.ts`: tasks run on the executor's `host` over SSH). */
export function isSshProvider(name: string): boolean {
  return name === "ssh";
}

/** What opening an executor's provider may need besides the executor. */
export interface BatchProviderContext {
  /**
   * The folder of the file that declares the executor: module paths, `identity_file` and
   * `known_hosts` are relative to it.
   */
  readonly baseDir: string;
  /** Tasks at once, when the command line says (`--jobs`). @default the executor's max_workers */
  readonly maxWorkers?: number;
  /** Milliseconds between a scheduler's status calls. @default POLL_MS of scheduler.ts (1000) */
  readonly pollMs?: number;
}

/**
 * Makes the batch provider of an executor. A custom provider module's default
 * export is one; the module may also export `checkOptions(options)`, returning
 * a sentence per problem with the executor's `options`, for `ferry check`.
 */
export type BatchProviderFactory = (
  ex: Executor,
  context: BatchProviderContext,
) => BatchProvider | Promise<BatchProvider>;

/** A custom provider module, loaded. */
export interface BatchProviderModule {
  /** Its default export. */
  readonly factory: BatchProviderFactory;
  /** Its `checkOptions` export, if any. */
  readonly checkOptions?: (options: Readonly<Record<string, unknown>>) => string[];
}

/**
 * An executor whose provider cannot be opened: the run stops before it starts.
 * The message says why (`its provider module /x/p.ts does not load: ...`).
 */
export class BatchProviderError extends Error {
  /** The executor's name. */
  readonly executor: string;

  constructor(executor: string, message: string) {
    super(message);
    this.name = "BatchProviderError";
    this.executor = executor;
  }
}

const scheduler: BatchProviderFactory = async (ex, context) =>
  (await import("./open_scheduler.ts")).openScheduler(ex, context);

/** Built-in providers by name (the names `ferry check` knows, from dsl/rules/staging_rules.ts). */
export const BATCH_PROVIDERS: Readonly<
  Record<(typeof BUILTIN_PROVIDERS)[number], BatchProviderFactory>
> = Object.freeze({
  local: async () => (await import("./local.ts")).localProvider(),
  slurm: scheduler,
  pbs: scheduler,
  lsf: scheduler,
  htcondor: scheduler,
  ssh: async (ex, context) =>
    (await import("./ssh.ts")).sshExecutorProvider(
      ex,
      context.baseDir,
      context.maxWorkers !== undefined ? { maxWorkers: context.maxWorkers } : {},
    ),
});

/**
 * Load the custom provider module `path` (relative to `baseDir`). Throws
 * {@linkcode BatchProviderError} when it does not load or exports no factory.
 */
export async function loadProviderModule(
  ex: Executor,
  baseDir: string,
): Promise<BatchProviderModule> {
  const file = resolve(baseDir, ex.provider);
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).split("\n")[0]!.replace(/\.$/, "");
    throw new BatchProviderError(ex.name, `its provider module ${file} does not load: ${why}`);
  }
  if (typeof mod.default !== "function") {
    throw new BatchProviderError(
      ex.name,
      `the default export of its provider module ${file} must be a function (executor, context) returning { name, execute(job, signal) } (see providers/batch/types.ts)`,
    );
  }
  const check = mod.checkOptions;
  return {
    factory: mod.default as BatchProviderFactory,
    ...(typeof check === "function"
      ? { checkOptions: check as (options: Readonly<Record<string, unknown>>) => string[] }
      : {}),
  };
}

/**
 * Open the batch provider of `ex`: a built-in one by name, or the module its
 * path names. Throws {@linkcode BatchProviderError} for a setting that cannot
 * work (an SSH login, a module that does not load).
 */
export async function openBatchProvider(
  ex: Executor,
  context: BatchProviderContext,
): Promise<BatchProvider> {
  try {
    const builtin = Object.hasOwn(BATCH_PROVIDERS, ex.provider)
      ? BATCH_PROVIDERS[ex.provider as keyof typeof BATCH_PROVIDERS]
      : undefined;
    if (builtin) return await builtin(ex, context);
    if (!isModulePath(ex.provider)) {
      throw new BatchProviderError(
        ex.name,
        `its provider "${ex.provider}" is not available in this version of ferry`,
      );
    }
    const { factory } = await loadProviderModule(ex, context.baseDir);
    const p = await factory(ex, context);
    if (!p || typeof p !== "object" || typeof p.execute !== "function") {
      throw new BatchProviderError(
        ex.name,
        `its provider module ${
          resolve(context.baseDir, ex.provider)
        } made no batch provider: expected { name, execute(job, signal) }`,
      );
    }
    return p;
  } catch (e) {
    // SSH settings that cannot work are the user's to fix.
    if (e instanceof SshSetupError) {
      throw new BatchProviderError(ex.name, e.message);
    }
    throw e;
  }
}

/**
 * Open the providers of `executors` (by executor name); local executors share
 * one local provider. On a failure, what was opened is closed again.
 */
export async function openBatchProviders(
  executors: readonly Executor[],
  contextOf: (ex: Executor) => BatchProviderContext,
): Promise<Map<string, BatchProvider>> {
  const opened = new Map<string, BatchProvider>();
  let local: BatchProvider | undefined;
  try {
    for (const ex of executors) {
      const p = ex.provider === "local"
        ? (local ??= await openBatchProvider(ex, contextOf(ex)))
        : await openBatchProvider(ex, contextOf(ex));
      opened.set(ex.name, p);
    }
  } catch (e) {
    for (const p of new Set(opened.values())) await p.close?.();
    throw e;
  }
  return opened;
}
