/**
 * Batch providers by name: `local`, and the schedulers (`slurm`, `pbs`, `lsf`,
 * `htcondor`) driven through their dialects.
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

/** The dialect of an executor's scheduler provider. */
export function dialectOf(ex: Executor): Promise<Dialect> {
  const load = DIALECTS[ex.provider];
  if (!load) throw new Error(`internal: "${ex.provider}" is not a scheduler provider`);
  return load();
}
