/** `ferry report`: one self-contained HTML report of a run. @module */

import type { Command } from "../deps/commander.ts";
import { type CommandContext, UsageError } from "./context.ts";
import { runArgument, workspaceOption } from "./options.ts";
import { workflowAndRun, workspaceOf } from "./workspace.ts";

interface ReportFlags {
  output: string;
  workspace?: string;
}

/** Add `report` to `program`. */
export function reportCommand(program: Command, context: CommandContext): void {
  program.command("report")
    .summary(
      "write one self-contained HTML report of a run: graph, timeline, tasks, failures, transfers",
    )
    .description(
      "Write a run's report as one HTML file that needs no network to view: the run's summary, its graph with fan-outs collapsed, a timeline of tasks and transfers per executor and worker, a sortable table of tasks, what the tasks used per app (with those that requested far more memory or cores than they used), the failures with the last lines of their logs, and the transfers with sizes and throughput. Reads the run's event log and the state in .ferry/.",
    )
    .argument(
      "[workflow]",
      "workflow file: its folder is the workspace (default: the current directory)",
    )
    .addArgument(runArgument())
    .option("-o, --output <file>", "where to write the report", "report.html")
    .addOption(workspaceOption("state"))
    .addHelpText(
      "after",
      `
Examples:
  ferry report                              # the latest run of the workspace, to report.html
  ferry report workflow.yaml -o run.html    # the latest run of workflow.yaml
  ferry report 20261121-1416 -o old.html    # one run, by the start of its id
`,
    )
    .action((first: string | undefined, second: string | undefined, opts: ReportFlags) =>
      report(first, second, opts, context)
    );
}

async function report(
  first: string | undefined,
  second: string | undefined,
  opts: ReportFlags,
  { io, setExit }: CommandContext,
): Promise<void> {
  const which = workflowAndRun(first, second);
  const ws = workspaceOf("make a report of", which.workflow, opts.workspace);
  // The report's page and graphics are loaded only by this command.
  const { buildReport } = await import("../interpreter/report.ts");
  const r = await buildReport(ws, which);
  if (!r.ok) throw new UsageError(r.message);
  try {
    await Deno.writeTextFile(opts.output, r.html);
  } catch (e) {
    throw new UsageError(`Cannot write the report to "${opts.output}": ${(e as Error).message}`);
  }
  const skipped = r.run.skippedEventLines ?? 0;
  const damage = skipped === 0
    ? ""
    : `; ${skipped} damaged line${skipped === 1 ? "" : "s"} of events.jsonl skipped`;
  io.stderr(
    `report of run ${r.run.id} (${r.run.status}, ${r.run.tasks.length} tasks): ${opts.output}${damage}\n`,
  );
  setExit(0);
}
