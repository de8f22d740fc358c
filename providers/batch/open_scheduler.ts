/**
 * Opening a scheduler executor's provider: its dialect, and where its
 * commands run: on this host, or on a login node through `via:` (over SSH,
 * with attempts copied to the cluster when it shares no filesystem with ferry).
 * @module
 */

import type { Executor } from "../../dsl/model.ts";
import { PILOT_DEFAULTS } from "../../dsl/to_model.ts";
import { type BatchProviderContext, BatchProviderError, dialectOf } from "./registry.ts";
import { SchedulerProvider } from "./scheduler.ts";
import type { BatchProvider } from "./types.ts";
import type { PilotOptions } from "./pilot.ts";

/** The provider of scheduler executor `ex` (`slurm`, `pbs`, `lsf`, `htcondor`). */
export async function openScheduler(
  ex: Executor,
  context: BatchProviderContext,
): Promise<BatchProvider> {
  // Unless the caller says (ferry run --poll-interval), the provider's own default.
  const polling = context.pollMs !== undefined ? { pollMs: context.pollMs } : {};
  if (ex.filesystem === "none" && ex.via === undefined) {
    throw new BatchProviderError(
      ex.name,
      `"filesystem: none" with the ${ex.provider} provider needs via: ferry copies attempts to a cluster only through its login node (via: ssh://user@login-host)`,
    );
  }
  if (ex.bundle === "pilot" && ex.filesystem === "executor-shared") {
    throw new BatchProviderError(
      ex.name,
      `"bundle: pilot" needs "filesystem: shared", or "none" with via: ferry and the workers meet in a queue directory, under the run's directory or, through via:, under remote_dir`,
    );
  }
  if (ex.bundle === "pilot" && ex.via === undefined) return await openPilots(ex, { ...polling });
  if (ex.via === undefined) return new SchedulerProvider(await dialectOf(ex), ex, polling);
  // SSH logins: relative identity_file and known_hosts paths are relative to the file declaring
  // the executor; a setting that cannot work stops here.
  const { executorSsh, sshRunner, withoutSshOptions } = await import("./ssh_runner.ts");
  const { endpoint, auth } = executorSsh(ex, "via", context.baseDir);
  const scheduled = { ...ex, options: withoutSshOptions(ex.options) };
  const runner = sshRunner(endpoint, auth);
  // Sharing nothing with ferry: attempts are copied to the cluster through the login node.
  const copies = ex.filesystem === "none"
    ? new (await import("./remote_copy.ts")).RemoteCopies(
      runner,
      typeof ex.options.remote_dir === "string" ? ex.options.remote_dir : "",
    )
    : undefined;
  if (ex.bundle === "pilot") {
    // Sharing nothing: the queue directory lives on the cluster, beside the attempts' copies.
    const remoteQueue = copies
      ? async (runDir: string) =>
        new (await import("./pilot_remote.ts")).RemotePilotQueue(
          runner,
          runDir,
          ex.name,
          await copies.base(),
        )
      : undefined;
    return await openPilots(scheduled, {
      runner,
      ...polling,
      ...(remoteQueue ? { remoteQueue } : {}),
    });
  }
  return new SchedulerProvider(await dialectOf(scheduled), scheduled, {
    runner,
    ...polling,
    ...(copies ? { copies } : {}),
  });
}

/** The pilot provider of `ex` (`bundle: pilot`), its scheduler commands run by `options.runner`. */
async function openPilots(ex: Executor, options: PilotOptions): Promise<BatchProvider> {
  const { PilotProvider } = await import("./pilot.ts");
  return new PilotProvider(
    await dialectOf(ex),
    { ...ex, pilot: ex.pilot ?? PILOT_DEFAULTS },
    options,
  );
}
