/** `ferry run`: run a workflow's tasks on their executors, with progress. @module */

import type { Command } from "../deps/commander.ts";
import { runWorkflowFile } from "../interpreter/execute.ts";
import { type CommandContext, UsageError } from "./context.ts";
import {
  noCacheOption,
  paramOption,
  paramsFileOption,
  positiveInt,
  rerunOption,
  secondsAsMs,
  siteOption,
  storeOption,
  workflowArgument,
  workflowOptions,
  workspaceOption,
} from "./options.ts";

interface RunFlags {
  site?: string;
  workspace?: string;
  param?: string[];
  params?: string[];
  jobs?: number;
  sequential?: boolean;
  keepGoing?: boolean;
  transfers?: number;
  rerun?: string[];
  cache: boolean;
  pollInterval?: number;
  retryBase?: number;
  quiet?: boolean;
  progress?: string;
  store?: string;
}

/** Add `run` to `program`. */
export function runCommand(program: Command, context: CommandContext): void {
  program.command("run")
    .summary("run a workflow's tasks on their executors, with progress")
    .description(
      "Run a workflow on its executors: every task of the plan, dependencies first, outputs moved into place only when a task succeeds.",
    )
    .addArgument(workflowArgument())
    .argument("[targets...]", "task ids, app names or output paths: run only what they need")
    .addOption(siteOption())
    .addOption(workspaceOption("workflow"))
    .addOption(paramOption())
    .addOption(paramsFileOption())
    .option(
      "-j, --jobs <n>",
      "at most this many tasks at once per executor (default: its max_workers, else its cores)",
      positiveInt,
    )
    .option("--sequential", "one task at a time, in plan order (for debugging)")
    .option("-k, --keep-going", "after a failure keep running what does not depend on it")
    .addOption(rerunOption())
    .addOption(noCacheOption("run every task"))
    .addOption(storeOption())
    .option(
      "--transfers <n>",
      "at most this many file transfers at once, over all providers (default: 8)",
      positiveInt,
    )
    .option(
      "--retry-base <seconds>",
      "wait before a failed task or transfer is tried again, doubled for each retry up to 30 (default: 1)",
      secondsAsMs("--retry-base", 0, 30),
    )
    .option(
      "--poll-interval <seconds>",
      "wait between status calls to a batch scheduler: squeue, qstat, bjobs or condor_q (default: 1)",
      secondsAsMs("--poll-interval", 0.01, 3600),
    )
    .option("-q, --quiet", "no progress, only the summary")
    .option(
      "--progress <style>",
      "live (a terminal display) or lines (one line per task start and end)",
    )
    .addHelpText(
      "after",
      `
Examples:
  ferry run workflow.yaml
  ferry run --jobs 8 --keep-going workflow.yaml
  ferry run workflow.yaml total.txt          # only what total.txt needs
  ferry run --sequential --progress lines workflow.yaml

Exit codes: 0 every task succeeded · 1 a task failed · 2 invalid workflow or usage · 130 interrupted
`,
    )
    .action((file: string, targets: string[], opts: RunFlags) => run(file, targets, opts, context));
}

async function run(
  file: string,
  targets: string[],
  opts: RunFlags,
  { io, setExit }: CommandContext,
): Promise<void> {
  const common = workflowOptions(opts);
  if (opts.progress !== undefined && opts.progress !== "live" && opts.progress !== "lines") {
    throw new UsageError(`Cannot use --progress "${opts.progress}": write live or lines`);
  }
  // Ctrl-C (or a TERM) stops the run: running tasks are cancelled, the state kept.
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, stop);
  try {
    const r = await runWorkflowFile(file, {
      ...common,
      targets,
      ...(opts.jobs !== undefined ? { jobs: opts.jobs } : {}),
      sequential: opts.sequential === true,
      keepGoing: opts.keepGoing === true,
      ...(opts.transfers !== undefined ? { maxTransfers: opts.transfers } : {}),
      ...(opts.retryBase !== undefined ? { retryBaseMs: opts.retryBase } : {}),
      ...(opts.pollInterval !== undefined ? { pollMs: opts.pollInterval } : {}),
      noCache: !opts.cache,
      rerun: opts.rerun ?? [],
      ...(opts.store !== undefined ? { store: opts.store } : {}),
      progress: opts.quiet ? "quiet" : (opts.progress as "live" | "lines" | undefined) ?? "auto",
      signal: controller.signal,
      io: { write: io.stderr, out: io.stdout, color: io.color, terminal: io.terminal === true },
    });
    setExit(r.code);
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, stop);
  }
}
