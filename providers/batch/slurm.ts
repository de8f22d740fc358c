/**
 * The Slurm dialect: `#SBATCH` lines from resources and options, `sbatch
 * --parsable`, one `squeue --states=all` per interval for every job, `scancel`.
 * @module
 */

import {
  bashQuote,
  type Dialect,
  directivePath,
  hms,
  mebibytes,
  type QueueEntry,
  type SchedState,
} from "./dialect.ts";
import { checkOptionKinds, type OptionKind } from "./dialect.ts";

/** Options the Slurm provider accepts in an executor's `options`. */
const OPTIONS: Record<string, OptionKind> = {
  partition: "string",
  account: "string",
  qos: "string",
  constraint: "string",
  reservation: "string",
  extra: "lines",
};

const STATES: Record<string, SchedState> = {
  PENDING: "pending",
  CONFIGURING: "pending",
  REQUEUED: "pending",
  REQUEUE_HOLD: "pending",
  REQUEUE_FED: "pending",
  RESV_DEL_HOLD: "pending",
  SUSPENDED: "running",
  RUNNING: "running",
  COMPLETING: "running",
  STAGE_OUT: "running",
  SIGNALING: "running",
  RESIZING: "running",
  STOPPED: "running",
  COMPLETED: "completed",
  FAILED: "failed",
  BOOT_FAIL: "node-fail",
  NODE_FAIL: "node-fail",
  DEADLINE: "timeout",
  TIMEOUT: "timeout",
  CANCELLED: "cancelled",
  REVOKED: "cancelled",
  PREEMPTED: "cancelled",
  SPECIAL_EXIT: "failed",
  OUT_OF_MEMORY: "out-of-memory",
};

/** `--time`: Slurm counts whole minutes (it rounds up); `D-HH:MM:SS` is accepted everywhere. */
function slurmTime(seconds: number): string {
  const s = Math.max(60, Math.ceil(seconds));
  const d = Math.floor(s / 86400);
  return d > 0 ? `${d}-${hms(s - d * 86400)}` : hms(s);
}

function lines(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** The Slurm dialect. */
export const slurm: Dialect = {
  name: "slurm",
  label: "Slurm",
  gone: /invalid job id|already completing or completed/i,
  script(req) {
    const r = req.resources, o = req.options;
    const out: string[] = ["#!/bin/bash", `#SBATCH --job-name=${req.name}`];
    // `%` starts a Slurm file-name pattern: a literal one is `%%`.
    const output = req.output.replaceAll("%", "%%").replaceAll("{array}", "%A")
      .replaceAll("{index}", "%a");
    out.push(
      `#SBATCH --output=${directivePath(output, "Slurm")}`,
      `#SBATCH --chdir=${directivePath(req.chdir, "Slurm")}`,
    );
    if (req.array) {
      const t = req.array.throttle !== undefined ? `%${req.array.throttle}` : "";
      out.push(`#SBATCH --array=0-${req.array.count - 1}${t}`);
    }
    const ranks = r.ranks ?? 1;
    out.push(`#SBATCH --ntasks=${req.nodes ?? ranks}`);
    if (req.nodes !== undefined) {
      out.push(`#SBATCH --nodes=${req.nodes}`, "#SBATCH --ntasks-per-node=1");
    }
    if (r.cores !== undefined) out.push(`#SBATCH --cpus-per-task=${r.cores}`);
    if (r.memory !== undefined) {
      // Per task; with several ranks Slurm's --mem is per node, so ask per CPU instead.
      out.push(
        ranks > 1
          ? `#SBATCH --mem-per-cpu=${mebibytes(r.memory / (r.cores ?? 1))}M`
          : `#SBATCH --mem=${mebibytes(r.memory)}M`,
      );
    }
    // ferry's wrapper enforces the walltime to the second; Slurm's own limit (whole minutes,
    // checked every ~30 s) is the backstop, one minute later.
    if (r.walltime !== undefined) out.push(`#SBATCH --time=${slurmTime(r.walltime + 60)}`);
    if (r.gpus !== undefined && r.gpus > 0) out.push(`#SBATCH --gres=gpu:${r.gpus}`);
    for (const k of ["partition", "account", "qos", "constraint", "reservation"]) {
      if (o[k] !== undefined) out.push(`#SBATCH --${k}=${o[k]}`);
    }
    for (const l of lines(o.extra)) out.push(l.startsWith("#SBATCH") ? l : `#SBATCH ${l}`);
    out.push(
      req.array ? 'FERRY_ARRAY_INDEX="$SLURM_ARRAY_TASK_ID"' : "FERRY_ARRAY_INDEX=0",
      "export FERRY_ARRAY_INDEX",
      // MPI tasks launch through srun; the wrapper reads this.
      ranks > 1 ? "export FERRY_LAUNCH=srun" : "export FERRY_LAUNCH=",
      req.body,
    );
    return out.join("\n") + "\n";
  },
  perNode(nodes, cores, script) {
    // One job step, a task on each node; Slurm numbers them from 0 and names each node.
    return [
      "# shellcheck disable=SC2016 # expanded by the bash srun starts on each node",
      `srun --nodes=${nodes} --ntasks=${nodes} --ntasks-per-node=1 --cpus-per-task=${cores} \\`,
      `  /bin/bash -c 'exec /bin/bash "$0" node "$((SLURM_NODEID + 1))" "$SLURMD_NODENAME"' ${
        bashQuote(script)
      }`,
    ].join("\n");
  },
  submit(scriptPath) {
    return { argv: ["sbatch", "--parsable", scriptPath] };
  },
  parseSubmit(stdout) {
    // `--parsable` prints `jobid` or `jobid;cluster`.
    const m = /^(\d+)(?:;\S+)?\s*$/m.exec(stdout.trim());
    return m?.[1];
  },
  status(ids) {
    return {
      argv: [
        "squeue",
        "--noheader",
        "--array",
        "--states=all",
        `--jobs=${ids.join(",")}`,
        "--format=%i|%T|%r",
      ],
    };
  },
  parseStatus(stdout) {
    const entries: QueueEntry[] = [];
    for (const line of stdout.split("\n")) {
      const [id, raw, reason] = line.trim().split("|");
      if (!id || !raw) continue;
      const word = raw.split(/[\s+]/)[0]!.toUpperCase();
      const state = STATES[word];
      if (!state) continue;
      entries.push({
        id,
        state,
        raw: word,
        ...(reason && reason !== "None" ? { reason } : {}),
      });
    }
    return entries;
  },
  history(ids) {
    return {
      argv: [
        "sacct",
        "--noheader",
        "--parsable2",
        "--allocations",
        `--jobs=${ids.join(",")}`,
        "--format=JobID,State,ExitCode",
      ],
    };
  },
  parseHistory(stdout) {
    const entries: QueueEntry[] = [];
    for (const line of stdout.split("\n")) {
      const [id, raw, exit] = line.trim().split("|");
      if (!id || !raw) continue;
      // `CANCELLED by 0`, `FAILED`; ExitCode is `code:signal`.
      const word = raw.split(/\s/)[0]!.replace(/\+$/, "").toUpperCase();
      const state = STATES[word];
      if (!state) continue;
      const code = exit !== undefined ? Number(exit.split(":")[0]) : NaN;
      entries.push({
        id,
        state,
        raw: word,
        ...(raw.includes(" by ") ? { reason: raw.slice(word.length).trim() } : {}),
        ...(Number.isFinite(code) ? { exitCode: code } : {}),
      });
    }
    return entries;
  },
  historyUnavailable: /accounting storage is disabled|slurmdbd|Connection refused/i,
  cancel(ids) {
    return { argv: ["scancel", ...ids] };
  },
  elementId(arrayId, index) {
    return `${arrayId}_${index}`;
  },
  checkOptions(options) {
    return checkOptionKinds(slurm.label, OPTIONS, options);
  },
};
