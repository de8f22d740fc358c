/** `ferry check`: check workflow files (and a site file) and report every problem. @module */

import type { Command } from "../deps/commander.ts";
import { countSummary, formatDiagnostics, type ReportFormat } from "../dsl/report.ts";
import type { Diagnostic } from "../dsl/diagnostic.ts";
import { checkWorkflowFiles } from "../interpreter/check_files.ts";
import type { CommandContext } from "./context.ts";
import {
  assumeInputsOption,
  formatOption,
  paramOption,
  paramsFileOption,
  siteOption,
  workflowOptions,
  workspaceOption,
} from "./options.ts";

interface CheckFlags {
  site?: string;
  format: ReportFormat;
  workspace?: string;
  param?: string[];
  params?: string[];
  assumeInputs?: boolean;
}

/** Add `check` to `program`. */
export function checkCommand(program: Command, { io, setExit }: CommandContext): void {
  program.command("check")
    .summary("check workflow and site files: every problem with its file, line and column")
    .description(
      "Check workflow files (and a site file) and report every problem with its file, line and column.",
    )
    .argument("<workflow...>", "workflow files (.yaml, .yml or .toml)")
    .addOption(siteOption())
    .addOption(formatOption(["text", "json", "github"]))
    .addOption(workspaceOption("workflow"))
    .addOption(paramOption())
    .addOption(paramsFileOption())
    .addOption(assumeInputsOption())
    .addHelpText(
      "after",
      `
Examples:
  ferry check workflow.yaml
  ferry check --site cluster.yaml workflow.toml
  ferry check --format github --assume-inputs workflows/*.yaml   # annotations in a GitHub Actions job
`,
    )
    .action(async (files: string[], opts: CheckFlags) => {
      const r = await checkWorkflowFiles(files, {
        ...workflowOptions(opts),
        assumeInputs: opts.assumeInputs === true,
      });
      io.stdout(
        formatDiagnostics(r.diagnostics, opts.format, { sources: r.sources, color: io.color }),
      );
      const failed = r.diagnostics.some((d) => d.severity === "error");
      if (opts.format === "text") io.stdout(checkSummary(files, r.diagnostics, r.tasks));
      setExit(failed ? 2 : 0);
    });
}

/** The closing `✓`/`✗` line of the text format. */
function checkSummary(files: readonly string[], all: readonly Diagnostic[], tasks: number): string {
  const failed = all.some((d) => d.severity === "error");
  // Name the files the errors are in (a site file's errors are not the workflow's).
  const erring = [...new Set(all.filter((d) => d.severity === "error").map((d) => d.file))];
  const what = failed && erring.length > 0 && erring.length <= 3
    ? erring.join(", ")
    : files.length === 1
    ? files[0]
    : `${files.length} files`;
  return failed
    ? `✗ ${what}: ${countSummary(all)}\n`
    : `✓ ${what}: valid, ${tasks} task${tasks === 1 ? "" : "s"}, ${countSummary(all)}\n`;
}
