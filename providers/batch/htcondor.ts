/**
 * The HTCondor dialect: a bash script for the body, a submit description on
 * `condor_submit -terse -`'s standard input, one `condor_q -json` per interval
 * for every job, `condor_rm`.
 *
 * HTCondor has no directives inside scripts, so the work is split in two:
 * - {@linkcode htcondor.script} returns the bash script ferry writes to
 *   `scriptPath`: it merges stderr into stdout, sets `FERRY_ARRAY_INDEX` (from
 *   its first argument, `$(Process)`, for arrays) and `FERRY_LAUNCH`, then runs
 *   the body.
 * - {@linkcode htcondor.submit} returns `condor_submit -terse -` with the
 *   submit description ({@linkcode htcondorDescription}) as standard input:
 *   `executable = /bin/bash`, `arguments` pointing at `scriptPath`, resources,
 *   options, and `queue N`.
 *
 * The description assumes a shared filesystem (`should_transfer_files = NO`,
 * `initialdir = chdir`), like the other batch dialects. Resources: `request_cpus`
 * is ranks × cores, `request_memory` and `request_gpus` are per task times
 * ranks (an MPI task runs its ranks on one machine with `FERRY_LAUNCH=mpiexec`),
 * and the walltime plus one minute is `allowed_execute_duration` (HTCondor holds
 * the job with hold code 47 when it is exceeded). Arrays are `queue N` with
 * `$(Process)` as the index and `max_materialize = T` as the throttle; the
 * output path's `{array}` and `{index}` become `$(Cluster)` and `$(Process)`.
 *
 * Completed jobs leave `condor_q` at once unless kept; the description keeps
 * them for an hour (`leave_in_queue`), so the one `condor_q` call sees exit
 * codes. Jobs gone from the queue (removed, or completed over an hour ago) are
 * not reported and ferry judges them by its own status files; the interface
 * allows one call, so `condor_history` is not consulted.
 *
 * Ids: `condor_submit -terse` prints `1234.0 - 1234.9`. A one-job submission is
 * `1234.0`, an array is the cluster `1234`, and elements are `1234.i`
 * ({@linkcode htcondor.elementId}).
 *
 * Options (site file, executor `options`): `universe` (default `vanilla`),
 * `requirements` (a ClassAd expression), `accounting_group`, `extra` (lines
 * added to the submit description before `queue`).
 * @module
 */

import { hasControl, visible } from "../../dsl/visible.ts";
import {
  type Dialect,
  mebibytes,
  type QueueEntry,
  type SchedState,
  type ScriptRequest,
} from "./dialect.ts";
import { checkOptionKinds, type OptionKind } from "./dialect.ts";

/** Options the HTCondor provider accepts in an executor's `options`. */
const OPTIONS: Record<string, OptionKind> = {
  universe: "string",
  requirements: "expression",
  accounting_group: "string",
  extra: "lines",
};

/** `JobStatus` numbers and their names. */
const NAMES = [
  "Unexpanded",
  "Idle",
  "Running",
  "Removed",
  "Completed",
  "Held",
  "TransferringOutput",
  "Suspended",
];

/** How long a completed job stays in the queue for `condor_q` to report it. */
const KEEP_SECONDS = 3600;

function lines(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/**
 * One argument in `arguments = "…"` (the new syntax): single quotes, doubled quotes inside, `$`
 * as `$(DOLLAR)` (macros expand in every value).
 */
function condorArg(s: string): string {
  return `'${condorValue(s, "arguments").replaceAll("'", "''").replaceAll('"', '""')}'`;
}

/**
 * A path as a submit description's value: `$` (which starts a macro) as `$(DOLLAR)`; a value is
 * one line, so a path holding a control character is refused.
 */
function condorValue(path: string, key: string): string {
  if (hasControl(path)) {
    throw new Error(
      `Cannot write the HTCondor ${key} "${visible(path)}": it holds a control character`,
    );
  }
  return path.replaceAll("$", "$(DOLLAR)");
}

/** The state of a held job from its hold code (HTCondor's hold reason table). */
function held(code: unknown, subcode: unknown): SchedState {
  switch (code) {
    case 1: // UserRequest (condor_hold)
    case 15: // SubmittedOnHold
    case 16: // SpoolingInput
      return "pending";
    case 46: // JobDurationExceeded
    case 47: // JobExecuteExceeded
      return "timeout";
    case 34: // JobOutOfResources: subcode 102 is memory, 104 disk
      return subcode === 102 ? "out-of-memory" : "failed";
    default:
      return "failed";
  }
}

function str(v: unknown): string {
  return typeof v === "string" ? v.trim() : "";
}

/**
 * The submit description for a job whose bash script (from
 * {@linkcode htcondor.script}) is at `scriptPath`.
 *
 * ```ts
 * import { htcondorDescription } from "./htcondor.ts";
 * import assert from "node:assert/strict";
 * const text = htcondorDescription("/w/job.sh", {
 *   name: "j", resources: {}, options: {}, chdir: "/w", output: "/w/j.out", body: "true",
 * });
 * assert.match(text, /^arguments = "'\/w\/job.sh'"$/m);
 * assert.match(text, /^queue 1$/m);
 * ```
 */
export function htcondorDescription(scriptPath: string, req: ScriptRequest): string {
  const r = req.resources, o = req.options;
  const ranks = r.ranks ?? 1;
  const args = req.array ? `${condorArg(scriptPath)} $(Process)` : condorArg(scriptPath);
  const output = condorValue(req.output, "output").replaceAll("{array}", "$(Cluster)")
    .replaceAll("{index}", "$(Process)");
  const out: string[] = [
    `universe = ${o.universe ?? "vanilla"}`,
    "executable = /bin/bash",
    "transfer_executable = false",
    `arguments = "${args}"`,
    `initialdir = ${condorValue(req.chdir, "initialdir")}`,
    `output = ${output}`,
    `batch_name = ${req.name}`,
    "should_transfer_files = NO",
    `request_cpus = ${ranks * (r.cores ?? 1)}`,
  ];
  if (r.memory !== undefined) out.push(`request_memory = ${mebibytes(r.memory * ranks)}M`);
  if (r.gpus !== undefined && r.gpus > 0) out.push(`request_gpus = ${r.gpus * ranks}`);
  // ferry's wrapper enforces the walltime; HTCondor's limit is the backstop, one minute later.
  if (r.walltime !== undefined) {
    out.push(`allowed_execute_duration = ${Math.ceil(r.walltime) + 60}`);
  }
  if (o.accounting_group !== undefined) out.push(`accounting_group = ${o.accounting_group}`);
  if (o.requirements !== undefined) out.push(`requirements = ${o.requirements}`);
  out.push(
    "leave_in_queue = JobStatus == 4 && (CompletionDate =?= undefined || " +
      `CompletionDate == 0 || time() - CompletionDate < ${KEEP_SECONDS})`,
  );
  out.push(...lines(o.extra));
  if (req.array?.throttle !== undefined) out.push(`max_materialize = ${req.array.throttle}`);
  out.push(`queue ${req.array?.count ?? 1}`);
  return out.join("\n") + "\n";
}

/** The HTCondor dialect. */
export const htcondor: Dialect = {
  name: "htcondor",
  label: "HTCondor",
  gone: /not found|couldn't find/i,
  script(req) {
    const ranks = req.resources.ranks ?? 1;
    return [
      "#!/bin/bash",
      "exec 2>&1",
      req.array ? 'FERRY_ARRAY_INDEX="$1"' : "FERRY_ARRAY_INDEX=0",
      "export FERRY_ARRAY_INDEX",
      ranks > 1 ? "export FERRY_LAUNCH=mpiexec" : "export FERRY_LAUNCH=",
      req.body,
    ].join("\n") + "\n";
  },
  submit(scriptPath, req) {
    return { argv: ["condor_submit", "-terse", "-"], stdin: htcondorDescription(scriptPath, req) };
  },
  parseSubmit(stdout) {
    // `-terse` prints the range of job ids: `1234.0 - 1234.9`.
    const m = /^\s*(\d+)\.(\d+)\s*-\s*(\d+)\.(\d+)\s*$/m.exec(stdout);
    if (!m) return undefined;
    return m[2] === m[4] ? `${m[1]}.${m[2]}` : m[1];
  },
  status(ids) {
    return {
      argv: [
        "condor_q",
        "-json",
        "-attributes",
        "ClusterId,ProcId,JobStatus,ExitCode,ExitBySignal,ExitSignal," +
        "HoldReason,HoldReasonCode,HoldReasonSubCode,RemoveReason",
        ...ids,
      ],
    };
  },
  parseStatus(stdout) {
    const start = stdout.indexOf("["), end = stdout.lastIndexOf("]");
    if (start < 0 || end < start) return [];
    let ads: unknown;
    try {
      ads = JSON.parse(stdout.slice(start, end + 1));
    } catch {
      return [];
    }
    if (!Array.isArray(ads)) return [];
    const entries: QueueEntry[] = [];
    for (const ad of ads as Record<string, unknown>[]) {
      if (!ad || typeof ad !== "object") continue;
      const { ClusterId: cluster, ProcId: proc, JobStatus: status } = ad;
      if (!Number.isInteger(cluster) || !Number.isInteger(proc) || typeof status !== "number") {
        continue;
      }
      const raw = NAMES[status];
      if (!raw) continue;
      let state: SchedState, reason = "", exitCode: number | undefined;
      if (status === 0 || status === 1) state = "pending";
      else if (status === 2 || status === 6 || status === 7) state = "running";
      else if (status === 3) {
        state = "cancelled";
        reason = str(ad.RemoveReason);
      } else if (status === 5) {
        state = held(ad.HoldReasonCode, ad.HoldReasonSubCode);
        reason = str(ad.HoldReason);
      } else if (ad.ExitBySignal === true) {
        state = "failed";
        reason = typeof ad.ExitSignal === "number" ? `killed by signal ${ad.ExitSignal}` : "";
      } else {
        exitCode = typeof ad.ExitCode === "number" ? ad.ExitCode : undefined;
        state = exitCode === 0 ? "completed" : "failed";
      }
      entries.push({
        id: `${cluster}.${proc}`,
        state,
        raw,
        ...(reason ? { reason } : {}),
        ...(exitCode !== undefined ? { exitCode } : {}),
      });
    }
    return entries;
  },
  cancel(ids) {
    return { argv: ["condor_rm", ...ids] };
  },
  elementId(arrayId, index) {
    return `${arrayId.split(".")[0]}.${index}`;
  },
  checkOptions(options) {
    return checkOptionKinds(htcondor.label, OPTIONS, options);
  },
};
