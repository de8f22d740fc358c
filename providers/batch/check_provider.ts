/**
 * What `ferry check` asks of each executor's batch provider, through the
 * registry: the ssh provider's `host` and options, a scheduler's options (its
 * dialect's words) and `filesystem`/`via` combination, and for a custom
 * provider module that it loads, exports a factory, and accepts its options.
 * @module
 */

import { error, type Problem } from "../../dsl/diagnostic.ts";
import type { Executor } from "../../dsl/model.ts";
import { isModulePath } from "../../dsl/rules/staging_rules.ts";
import {
  BatchProviderError,
  dialectOf,
  isScheduler,
  isSshProvider,
  loadProviderModule,
  SSH_PROVIDER_OPTIONS,
} from "./registry.ts";

/**
 * Problems with the provider of every executor in `executors` (one document's
 * `executors` block); `baseDir` is that document's folder, where module paths start.
 */
export async function batchProviderProblems(
  executors: Readonly<Record<string, Executor>>,
  baseDir: string,
): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const ex of Object.values(executors)) {
    problems.push(...pilotProblems(ex));
    if (isSshProvider(ex.provider)) problems.push(...sshProblems(ex));
    else if (isScheduler(ex.provider)) problems.push(...await schedulerProblems(ex));
    else if (isModulePath(ex.provider)) problems.push(...await moduleProblems(ex, baseDir));
  }
  return problems;
}

function sshProblems(ex: Executor): Problem[] {
  const problems: Problem[] = [];
  if (ex.host === undefined) {
    problems.push({
      ...error(
        "missing-key",
        ["executors", ex.name],
        `Cannot find required key "host" in executor "${ex.name}": the ssh provider runs tasks on host: user@host[:port]`,
      ),
      at: "key" as const,
    });
  }
  for (const k of Object.keys(ex.options)) {
    if (SSH_PROVIDER_OPTIONS.includes(k)) continue;
    problems.push({
      ...error(
        "unknown-key",
        ["executors", ex.name, "options", k],
        `Cannot use the ssh provider option "${k}": expected one of ${
          SSH_PROVIDER_OPTIONS.join(", ")
        }`,
      ),
      at: "key" as const,
    });
  }
  return problems;
}

async function schedulerProblems(ex: Executor): Promise<Problem[]> {
  const problems: Problem[] = [];
  if (ex.filesystem === "executor-shared" && ex.via !== undefined) {
    problems.push(
      error(
        "invalid-value",
        ["executors", ex.name, "filesystem"],
        `Cannot use "filesystem: executor-shared" with via: ferry reaches the cluster's filesystem only by copying attempts there; use none (each attempt copied to remote_dir) or shared`,
      ),
    );
  }
  if (ex.filesystem === "none" && ex.via === undefined) {
    problems.push(
      error(
        "invalid-value",
        ["executors", ex.name, "filesystem"],
        `Cannot use "filesystem: none" with the ${ex.provider} provider without via: ferry copies attempts to a cluster only through its login node (via: ssh://user@login-host); use shared, or add via`,
      ),
    );
  }
  problems.push(...optionProblems(ex, (await dialectOf(ex)).checkOptions(ex.options)));
  return problems;
}

/**
 * `bundle: pilot` and `pilot:`: only on a scheduler executor, together, with block counts that
 * agree (`init_blocks` and `min_blocks` at most `max_blocks`); one node per block on HTCondor.
 */
function pilotProblems(ex: Executor): Problem[] {
  const at = (...keys: string[]) => ["executors", ex.name, ...keys];
  const p = ex.pilot;
  if (ex.bundle !== "pilot") {
    return p === undefined ? [] : [{
      ...error(
        "invalid-value",
        at("pilot"),
        `Cannot use "pilot" on executor "${ex.name}": it sizes pilot blocks, which only "bundle: pilot" submits; add bundle: pilot or remove pilot`,
      ),
      at: "key" as const,
    }];
  }
  if (!isScheduler(ex.provider)) {
    return [error(
      "invalid-value",
      at("bundle"),
      `Cannot use "bundle: pilot" with the ${ex.provider} provider: pilot blocks are jobs of a batch scheduler (slurm, pbs, lsf, htcondor)`,
    )];
  }
  const out: Problem[] = [];
  if (ex.filesystem === "executor-shared") {
    out.push(error(
      "invalid-value",
      at("bundle"),
      `Cannot use "bundle: pilot" with "filesystem: executor-shared": ferry and the workers meet in a queue directory, under the run's directory (filesystem: shared) or, through via:, under remote_dir (filesystem: none); use one of those, or bundle: array`,
    ));
  }
  if (p === undefined) return out;
  for (const [key, n] of [["init_blocks", p.initBlocks], ["min_blocks", p.minBlocks]] as const) {
    if (n <= p.maxBlocks) continue;
    out.push(error(
      "invalid-value",
      at("pilot", key),
      `Cannot use ${key}: ${n} on executor "${ex.name}": it is more than max_blocks (${p.maxBlocks})`,
    ));
  }
  if (p.nodesPerBlock > 1 && ex.provider === "htcondor") {
    out.push(error(
      "invalid-value",
      at("pilot", "nodes_per_block"),
      `Cannot use nodes_per_block: ${p.nodesPerBlock} on executor "${ex.name}": HTCondor runs no job over several nodes (its vanilla universe has one machine per job); use 1 and more blocks`,
    ));
  }
  return out;
}

/** A custom provider: the module loads and exports a factory; its `checkOptions`, if any, agree. */
async function moduleProblems(ex: Executor, baseDir: string): Promise<Problem[]> {
  try {
    const mod = await loadProviderModule(ex, baseDir);
    return optionProblems(ex, mod.checkOptions?.(ex.options) ?? []);
  } catch (e) {
    if (!(e instanceof BatchProviderError)) throw e;
    return [
      error(
        "unknown-provider",
        ["executors", ex.name, "provider"],
        `Cannot use batch provider "${ex.provider}": ${e.message}`,
      ),
    ];
  }
}

/** A provider's sentences about `options`, at the option they name (`option "partition"`). */
function optionProblems(ex: Executor, messages: readonly string[]): Problem[] {
  return messages.map((message) => {
    const key = /option "([^"]+)"/.exec(message)?.[1];
    const unknown = message.startsWith("Cannot use the ");
    const path = ["executors", ex.name, "options", ...(key ? [key] : [])];
    return {
      ...error(unknown ? "unknown-key" : "invalid-value", path, message),
      ...(unknown ? { at: "key" as const } : {}),
    };
  });
}
