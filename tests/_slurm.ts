/**
 * A private Slurm cluster for tests and benchmarks (the recipe of
 * ../shared/recipes/services.md): munged with its own key and socket,
 * slurmctld and slurmd on free ports, everything under one temp directory,
 * one node unless asked for more (each a slurmd of its own on 127.0.0.1),
 * found by clients only through `SLURM_CONF`. Needs root (slurmd runs jobs as
 * their owner) and the Debian packages slurm-wlm and munge.
 * @module
 */

import { join } from "node:path";
import { freePort, killProcesses, mentioning, processesWhere, stopAtEnd } from "./_services.ts";

/** A running cluster. */
export interface SlurmCluster {
  /** The cluster's directory. */
  readonly dir: string;
  /** Environment for clients: `SLURM_CONF`. */
  readonly env: Record<string, string>;
  /** Run a Slurm client command; its output. */
  run(cmd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Job ids still in the queue (pending or running), any user. */
  active(): Promise<string[]>;
  /**
   * Cancel the jobs, stop the daemons and whatever still names the directory
   * (job steps, job processes: their environment holds `SLURM_CONF`), wait until
   * all are gone, and remove the directory. Also runs at the end of the test module.
   */
  stop(): Promise<void>;
}

async function sh(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Options for {@linkcode startSlurm}. */
export interface SlurmOptions {
  /** `NO` (exact CPU accounting) or `FORCE:8` (several jobs per core: fast tests). @default "FORCE:8" */
  readonly overSubscribe?: string;
  /** Extra partitions, e.g. `PartitionName=short Nodes=localhost MaxTime=1`. */
  readonly partitions?: readonly string[];
  /**
   * Nodes of the cluster: each a slurmd of its own on 127.0.0.1 (its own port, spool directory,
   * pid and log file), named `node1`, `node2`, ... when more than one, else `localhost`. Each
   * node has all the machine's CPUs and an equal share of its memory. @default 1
   */
  readonly nodes?: number;
}

/** The cluster's node names: `localhost` for one node, else `node1` .. `nodeN`. */
function nodeNames(nodes: number): string[] {
  return nodes > 1 ? Array.from({ length: nodes }, (_, i) => `node${i + 1}`) : ["localhost"];
}

/** Node `i`'s (from 0) file in `dir`: `slurmd.pid` for the first, `slurmd-2.pid` for the second. */
function nodeFile(dir: string, i: number, base: string, ext: string): string {
  return join(dir, i === 0 ? `${base}.${ext}` : `${base}-${i + 1}.${ext}`);
}

/** Start a cluster; throws with the daemons' logs when it does not come up. */
export async function startSlurm(options: SlurmOptions = {}): Promise<SlurmCluster> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "ferry-slurm-" });
  const env = { SLURM_CONF: join(dir, "slurm.conf") };
  const stop = stopAtEnd(() => stopCluster(dir, env));
  try {
    return await start(dir, env, options, stop);
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Cancel the jobs, stop the daemons, then what still names `dir`; remove `dir`. */
async function stopCluster(dir: string, env: Record<string, string>): Promise<void> {
  const squeue = await sh("squeue", ["--noheader", "--format=%F"], env).catch(() => undefined);
  const ids = [...new Set(squeue?.stdout.split("\n").map((l) => l.trim()).filter(Boolean))];
  if (squeue?.code === 0 && ids.length > 0) await sh("scancel", ids, env);
  const daemons: number[] = [];
  const slurmds = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
    /^slurmd(-\d+)?\.pid$/.test(n)
  );
  for (const f of [...slurmds, "slurmctld.pid", "munge/munged.pid"]) {
    try {
      daemons.push(Number(Deno.readTextFileSync(join(dir, f)).trim()));
    } catch { /* never started */ }
  }
  await killProcesses(daemons.filter((p) => p > 0), 5_000);
  await killProcesses(processesWhere(mentioning(dir)).map((p) => p.pid), 2_000);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

async function start(
  dir: string,
  env: Record<string, string>,
  options: SlurmOptions,
  stop: () => Promise<void>,
): Promise<SlurmCluster> {
  await Deno.chmod(dir, 0o755);
  const names = nodeNames(options.nodes ?? 1);
  const spools = names.map((_, i) => i === 0 ? "spool" : `spool-${i + 1}`);
  for (const d of ["munge", "state", ...spools, "log", "work"]) {
    await Deno.mkdir(join(dir, d), { recursive: true });
  }
  await Deno.chmod(join(dir, "munge"), 0o755);
  await Deno.chmod(join(dir, "log"), 0o755);
  await Deno.chmod(join(dir, "work"), 0o1777);
  const m = join(dir, "munge");
  const key = new Uint8Array(1024);
  crypto.getRandomValues(key);
  await Deno.writeFile(join(m, "munge.key"), key, { mode: 0o400 });
  const munged = await sh("munged", [
    `--socket=${m}/munge.socket`,
    `--key-file=${m}/munge.key`,
    `--pid-file=${m}/munged.pid`,
    `--log-file=${m}/munged.log`,
    `--seed-file=${m}/munged.seed`,
  ]);
  if (munged.code !== 0) throw new Error(`munged did not start: ${munged.stderr}`);
  const ctlPort = await freePort(), dPort = await freePort();
  const ports = [dPort];
  for (let i = 1; i < names.length; i++) ports.push(await freePort());
  const cpus = navigator.hardwareConcurrency;
  const memMiB = Math.floor(
    (Math.floor(Deno.systemMemoryInfo().total / 1024 / 1024) - 512) / names.length,
  );
  const conf = env.SLURM_CONF!;
  const over = options.overSubscribe ?? "FORCE:8";
  // One node: the port for every slurmd, as before. Several: each its own, on its NodeName line.
  const nodeLines = names.length === 1
    ? [`NodeName=localhost NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${memMiB} State=UNKNOWN`]
    : names.map((n, i) =>
      `NodeName=${n} NodeAddr=127.0.0.1 Port=${
        ports[i]
      } CPUs=${cpus} RealMemory=${memMiB} State=UNKNOWN`
    );
  const text = (i: number) =>
    [
      "ClusterName=ferry",
      "SlurmctldHost=localhost",
      "SlurmUser=root",
      "AuthType=auth/munge",
      "CredType=cred/munge",
      `AuthInfo=socket=${m}/munge.socket`,
      `SlurmctldPort=${ctlPort}`,
      `SlurmdPort=${dPort}`,
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${join(dir, spools[i]!)}`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${nodeFile(dir, i, "slurmd", "pid")}`,
      `SlurmctldLogFile=${dir}/log/slurmctld.log`,
      `SlurmdLogFile=${nodeFile(join(dir, "log"), i, "slurmd", "log")}`,
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "JobAcctGatherType=jobacct_gather/linux",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core_Memory",
      "DefMemPerCPU=512",
      "SchedulerType=sched/backfill",
      "SchedulerParameters=batch_sched_delay=0",
      "EnforcePartLimits=ALL",
      "AccountingStorageType=accounting_storage/none",
      "JobCompType=jobcomp/filetxt",
      `JobCompLoc=${dir}/log/jobcomp.txt`,
      "MinJobAge=300",
      "KillWait=5",
      "ReturnToService=2",
      "MailProg=/bin/true",
      "MpiDefault=none",
      "SwitchType=switch/none",
      ...nodeLines,
      `PartitionName=debug Nodes=${
        names.join(",")
      } Default=YES MaxTime=INFINITE State=UP OverSubscribe=${over}`,
      ...(options.partitions ?? []),
      "",
    ].join("\n");
  // Every slurmd but the first reads a copy that differs only in its own files (a build without
  // --enable-multiple-slurmd expands no %n in them); slurmctld and clients read slurm.conf.
  const confs = names.map((_, i) => i === 0 ? conf : join(dir, `slurm-${i + 1}.conf`));
  for (const [i, c] of confs.entries()) {
    await Deno.writeTextFile(c, text(i));
    await Deno.chmod(c, 0o644);
  }
  const ctl = await sh("slurmctld", [], env);
  let d = { code: 0, stdout: "", stderr: "" };
  for (const [i, n] of names.entries()) {
    const started = await sh("slurmd", ["-N", n], { SLURM_CONF: confs[i]! });
    if (started.code !== 0) d = started;
  }
  const cluster: SlurmCluster = {
    dir,
    env,
    run: (cmd, ...args) => sh(cmd, args, env),
    async active() {
      const r = await sh("squeue", ["--noheader", "--format=%F"], env);
      return [...new Set(r.stdout.split("\n").map((l) => l.trim()).filter(Boolean))];
    },
    stop,
  };
  for (let i = 0; i < 150; i++) {
    const s = await sh("sinfo", ["-h", "-N", "-n", names.join(","), "-o", "%T"], env);
    const states = s.stdout.trim().split("\n");
    if (states.length === names.length && states.every((x) => x === "idle")) return cluster;
    await new Promise((r) => setTimeout(r, 100));
  }
  const slurmdLogs = names.map((_, i) => nodeFile("log", i, "slurmd", "log"));
  const logs = ["log/slurmctld.log", ...slurmdLogs].map((f) => {
    try {
      return `--- ${f}\n` + Deno.readTextFileSync(join(dir, f)).split("\n").slice(-15).join("\n");
    } catch {
      return `--- ${f}: none`;
    }
  });
  throw new Error(
    `Slurm did not come up (slurmctld exit ${ctl.code}: ${ctl.stderr.trim()}; slurmd exit ${d.code}: ${d.stderr.trim()})\n${
      logs.join("\n")
    }`,
  );
}
