/**
 * The IBM Spectrum LSF dialect (10.1): `#BSUB` lines from resources and
 * options, `bsub` with the script on standard input, one `bjobs -json -a` per
 * interval for every job (recently finished jobs included), `bkill`.
 *
 * `bsub` reads `#BSUB` directives only from a script given on its standard
 * input, so {@linkcode lsf.submit} runs `sh -c 'exec bsub < "$1"'` with the
 * script path as the argument (the caller needs no file reading of its own).
 *
 * A task asks for C slots on one host (`-n C -R "span[hosts=1]"`); an MPI task
 * with R ranks asks for R × C slots anywhere and the script exports
 * `FERRY_LAUNCH=mpiexec`. Memory is reserved per slot (`rusage[mem=…MB]`, the
 * task's memory divided by its cores), the run limit is ferry's walltime plus
 * one minute in whole minutes (`-W H:MM`), GPUs are `-gpu "num=G"` (per task
 * with `/task` for MPI jobs).
 *
 * Arrays are `-J "name[1-N]%T"`: LSF numbers elements from 1, so the script
 * sets `FERRY_ARRAY_INDEX=$((LSB_JOBINDEX - 1))` and element ids are
 * `1234[i+1]` ({@linkcode lsf.elementId}). An output path's `{array}` is
 * LSF's `%J` (the id `bsub` printed). LSF's `%I` is its 1-based index, one more
 * than ferry's, so a path holding `{index}` is opened by the script itself
 * (`exec >path 2>&1` with `$((LSB_JOBINDEX - 1))`) and LSF's own copy goes to
 * `/dev/null` (without `-o` LSF would mail it).
 *
 * Options (site file, executor `options`): `queue` (`-q`), `project` (`-P`),
 * `extra` (lines added as `#BSUB` directives).
 * @module
 */

import {
  bashQuote,
  type Dialect,
  directivePath,
  mebibytes,
  type QueueEntry,
  type SchedState,
} from "./dialect.ts";
import { checkOptionKinds, type OptionKind } from "./dialect.ts";

/** Options the LSF provider accepts in an executor's `options`. */
const OPTIONS: Record<string, OptionKind> = {
  queue: "string",
  project: "string",
  extra: "lines",
};

const STATES: Record<string, SchedState> = {
  PEND: "pending",
  PSUSP: "pending",
  WAIT: "pending",
  PROV: "pending",
  RUN: "running",
  USUSP: "running",
  SSUSP: "running",
  // The execution host stopped answering; LSF may still recover the job.
  UNKWN: "running",
  DONE: "completed",
  EXIT: "failed",
  // Killed while its host was unreachable.
  ZOMBI: "cancelled",
};

/** `EXIT_REASON` words (`TERM_…: text`) that say more than "failed". */
const TERM: Record<string, SchedState> = {
  TERM_RUNLIMIT: "timeout",
  TERM_CPULIMIT: "timeout",
  TERM_DEADLINE: "timeout",
  TERM_MEMLIMIT: "out-of-memory",
  TERM_SWAP: "out-of-memory",
  TERM_OWNER: "cancelled",
  TERM_ADMIN: "cancelled",
  TERM_FORCE_OWNER: "cancelled",
  TERM_FORCE_ADMIN: "cancelled",
  TERM_REQUEUE_OWNER: "cancelled",
  TERM_REQUEUE_ADMIN: "cancelled",
  TERM_PREEMPT: "cancelled",
  TERM_HOST: "node-fail",
  TERM_LOAD: "node-fail",
  TERM_ZOMBIE: "node-fail",
  TERM_RMS: "node-fail",
};

function lines(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** `-W` takes `[hours:]minutes`; LSF rounds nothing, so round up here. */
function runLimit(seconds: number): string {
  const m = Math.max(1, Math.ceil(seconds / 60));
  return `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}`;
}

/** Text for inside double quotes in a shell script. */
function dq(s: string): string {
  return s.replace(/[\\"$`]/g, (c) => `\\${c}`);
}

function text(v: unknown): string {
  return typeof v === "string" ? v.trim() : typeof v === "number" ? String(v) : "";
}

/** The LSF dialect. */
export const lsf: Dialect = {
  name: "lsf",
  label: "LSF",
  gone: /is not found|has already finished|no matching job/i,
  script(req) {
    const r = req.resources, o = req.options;
    const ranks = r.ranks ?? 1, cores = r.cores ?? 1;
    const out: string[] = ["#!/bin/bash"];
    if (req.array) {
      const t = req.array.throttle !== undefined ? `%${req.array.throttle}` : "";
      out.push(`#BSUB -J "${req.name}[1-${req.array.count}]${t}"`);
    } else {
      out.push(`#BSUB -J ${req.name}`);
    }
    const ownOutput = req.output.includes("{index}");
    const output = ownOutput ? "/dev/null" : req.output.replaceAll("{array}", "%J");
    out.push(
      `#BSUB -oo ${directivePath(output, "LSF")}`,
      `#BSUB -cwd ${directivePath(req.chdir, "LSF")}`,
    );
    out.push(`#BSUB -n ${(req.nodes ?? ranks) * cores}`);
    const select: string[] = [];
    // A job over several nodes: `cores` slots on each.
    if (req.nodes !== undefined) select.push(`span[ptile=${cores}]`);
    else if (ranks === 1) select.push("span[hosts=1]");
    if (r.memory !== undefined) select.push(`rusage[mem=${mebibytes(r.memory / cores)}MB]`);
    if (select.length) out.push(`#BSUB -R "${select.join(" ")}"`);
    // ferry's wrapper enforces the walltime; LSF's run limit is the backstop, one minute later.
    if (r.walltime !== undefined) out.push(`#BSUB -W ${runLimit(r.walltime + 60)}`);
    if (r.gpus !== undefined && r.gpus > 0) {
      out.push(`#BSUB -gpu "num=${r.gpus}${ranks > 1 ? "/task" : ""}"`);
    }
    if (o.queue !== undefined) out.push(`#BSUB -q ${o.queue}`);
    if (o.project !== undefined) out.push(`#BSUB -P ${o.project}`);
    for (const l of lines(o.extra)) out.push(l.startsWith("#BSUB") ? l : `#BSUB ${l}`);
    if (ownOutput) {
      const path = dq(req.output)
        .replaceAll("{array}", "${LSB_JOBID}")
        .replaceAll("{index}", req.array ? "$((LSB_JOBINDEX - 1))" : "0");
      out.push(`exec >"${path}" 2>&1`);
    }
    out.push(
      req.array ? "FERRY_ARRAY_INDEX=$((LSB_JOBINDEX - 1))" : "FERRY_ARRAY_INDEX=0",
      "export FERRY_ARRAY_INDEX",
      ranks > 1 ? "export FERRY_LAUNCH=mpiexec" : "export FERRY_LAUNCH=",
      req.body,
    );
    return out.join("\n") + "\n";
  },
  perNode(_nodes, _cores, script) {
    // $LSB_MCPU_HOSTS: "host1 slots1 host2 slots2 ...", a host per node; blaunch starts a task there.
    return [
      'read -ra ferry_hosts <<<"$LSB_MCPU_HOSTS"',
      "for ((ferry_i = 0; ferry_i * 2 < ${#ferry_hosts[@]}; ferry_i++)); do",
      "  ferry_host=${ferry_hosts[ferry_i * 2]}",
      `  blaunch "$ferry_host" /bin/bash ${
        bashQuote(script)
      } node "$((ferry_i + 1))" "$ferry_host" &`,
      "done",
      "wait",
    ].join("\n");
  },
  submit(scriptPath) {
    return { argv: ["sh", "-c", 'exec bsub < "$1"', "bsub", scriptPath] };
  },
  parseSubmit(stdout) {
    // `Job <1234> is submitted to queue <normal>.`
    return /Job <(\d+)> is submitted/.exec(stdout)?.[1];
  },
  status(ids) {
    return {
      argv: [
        "bjobs",
        "-json",
        "-a",
        "-o",
        "jobid jobindex stat exit_code exit_reason pend_reason",
        ...ids,
      ],
    };
  },
  parseStatus(stdout) {
    const start = stdout.indexOf("{"), end = stdout.lastIndexOf("}");
    if (start < 0 || end < start) return [];
    let doc: unknown;
    try {
      doc = JSON.parse(stdout.slice(start, end + 1));
    } catch {
      return [];
    }
    const records = (doc as { RECORDS?: unknown }).RECORDS;
    if (!Array.isArray(records)) return [];
    const entries: QueueEntry[] = [];
    for (const rec of records as Record<string, unknown>[]) {
      // Unknown ids come back as `{"JOBID": "…", "ERROR": "Job <…> is not found"}`.
      if (!rec || typeof rec !== "object" || rec.ERROR) continue;
      const jobid = text(rec.JOBID),
        index = text(rec.JOBINDEX),
        stat = text(rec.STAT).toUpperCase();
      let state = STATES[stat];
      if (!jobid || !state) continue;
      const id = index && index !== "0" && !jobid.includes("[") ? `${jobid}[${index}]` : jobid;
      const code = /^\d+$/.test(text(rec.EXIT_CODE)) ? Number(text(rec.EXIT_CODE)) : undefined;
      const term = text(rec.EXIT_REASON);
      let reason = "";
      let exitCode: number | undefined;
      if (stat === "DONE") exitCode = 0;
      if (stat === "EXIT") {
        state = TERM[term.split(/[:\s]/)[0]!] ?? "failed";
        reason = term;
        if (state === "failed") exitCode = code;
      }
      if (state === "pending") reason = text(rec.PEND_REASON).replace(/;$/, "");
      entries.push({
        id,
        state,
        raw: stat,
        ...(reason ? { reason } : {}),
        ...(exitCode !== undefined ? { exitCode } : {}),
      });
    }
    return entries;
  },
  cancel(ids) {
    return { argv: ["bkill", ...ids] };
  },
  elementId(arrayId, index) {
    return `${arrayId}[${index + 1}]`;
  },
  checkOptions(options) {
    return checkOptionKinds(lsf.label, OPTIONS, options);
  },
};
