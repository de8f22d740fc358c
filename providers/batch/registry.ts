/**
 * Batch providers by name: `local`, the schedulers (`slurm`, `pbs`, `lsf`,
 * `htcondor`) driven through their dialects, and `ssh` (tasks on another host).
 * @module
 */

import type { Executor } from "../../dsl/model.ts";
import type { Dialect } from "./dialect.ts";

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
