/** `ferry status`: the runs of a workspace, and one run task by task. @module */

import type { Command } from "../deps/commander.ts";
import { renderStatusJson, renderStatusText } from "../interpreter/render_status.ts";
import { workspaceStatus } from "../interpreter/status.ts";
import { type CommandContext, UsageError } from "./context.ts";
import { formatOption, runArgument, workspaceOption } from "./options.ts";
import { workflowAndRun, workspaceOf } from "./workspace.ts";

interface StatusFlags {
  format: "text" | "json";
  workspace?: string;
  watch?: string | true;
}

/** Add `status` to `program`. */
export function statusCommand(program: Command, context: CommandContext): void {
  program.command("status")
    .summary("show the runs of a workspace, and one run task by task with its attempts and logs")
    .description(
      "Show the runs of a workspace (newest first) and the latest one task by task: its final state, each attempt with its outcome, duration, host, what it used (wall time, CPU time, peak memory) and log paths, and the end of a failed task's stderr. With RUN, that run only. A run whose ferry died (kill -9, a crash) shows as crashed. Reads the state in .ferry/ and changes nothing.",
    )
    .argument(
      "[workflow]",
      "workflow file: its folder is the workspace, and only its runs are shown (default: every run of the workspace)",
    )
    .addArgument(runArgument())
    .addOption(formatOption(["text", "json"]))
    .addOption(workspaceOption("state"))
    .option(
      "--watch [seconds]",
      "show it again every few seconds (default 2) until the run ends (text format)",
    )
    .addHelpText(
      "after",
      `
A single argument is the workflow when it is a file or ends in .yaml, .yml or .toml, else a run id.

Examples:
  ferry status                              # in the workspace: the runs, then the latest in detail
  ferry status workflow.yaml                # the runs of workflow.yaml, in its folder
  ferry status 20261121-1416                # one run, by the start of its id
  ferry status --workspace ws --format json | jq '.run.tasks[] | select(.state == "failed")'
  ferry status --watch                      # follow the latest run until it ends

Exit codes: 0 shown (whatever the runs' outcome) · 2 no state there, an unknown or ambiguous run, or usage
`,
    )
    .action((first: string | undefined, second: string | undefined, opts: StatusFlags) =>
      status(first, second, opts, context)
    );
}

async function status(
  first: string | undefined,
  second: string | undefined,
  opts: StatusFlags,
  { io, setExit }: CommandContext,
): Promise<void> {
  const which = workflowAndRun(first, second);
  const ws = workspaceOf("show the status of", which.workflow, opts.workspace);
  const every = watchSeconds(opts);
  for (let shown = 0;; shown++) {
    const r = await workspaceStatus(ws, which);
    if (!r.ok) throw new UsageError(r.message);
    const text = opts.format === "json"
      ? renderStatusJson(r.report)
      : renderStatusText(r.report, { color: io.color });
    // On a terminal each view replaces the last; elsewhere they follow one another.
    if (every !== undefined && shown > 0) io.stdout(io.color ? "\x1b[H\x1b[2J" : "\n");
    io.stdout(text);
    if (every === undefined || r.report.run?.status !== "running") break;
    await new Promise((done) => setTimeout(done, every * 1000));
  }
  setExit(0);
}

/** Seconds between views with `--watch`, else undefined. */
function watchSeconds(opts: StatusFlags): number | undefined {
  if (opts.watch === undefined) return undefined;
  const every = opts.watch === true ? 2 : Number(opts.watch);
  if (!(every > 0 && every <= 3600)) {
    throw new UsageError(
      `Cannot watch every "${opts.watch}" seconds: give a number from 0.1 to 3600`,
    );
  }
  if (opts.format === "json") {
    throw new UsageError("Cannot use --watch with --format json: watch shows text");
  }
  return every;
}
