/** `ferry clean`: remove what runs leave behind in `.ferry/`. @module */

import type { Command } from "../deps/commander.ts";
import { cleanWorkspace } from "../interpreter/clean.ts";
import { renderCleanText } from "../interpreter/render_clean.ts";
import { type CommandContext, UsageError } from "./context.ts";
import { workspaceOption } from "./options.ts";
import { workspaceOf } from "./workspace.ts";

interface CleanFlags {
  all?: boolean;
  dryRun?: boolean;
  workspace?: string;
}

/** Add `clean` to `program`. */
export function cleanCommand(program: Command, { io, setExit }: CommandContext): void {
  program.command("clean")
    .summary("remove attempt directories and staged copies (--all: the whole .ferry/, state too)")
    .description(
      "Remove what runs leave behind in .ferry/: every attempt directory (.ferry/runs/*/tasks: task working directories and their logs) and the staged copies of remote files (.ferry/staged). Keeps the state (.ferry/state.db, so nothing re-runs) and each run's events.jsonl. --all removes the whole .ferry/, state too: the next run runs every task. Refuses while a run is using the workspace.",
    )
    .argument(
      "[workflow]",
      "workflow file: its folder is the workspace (every run in it is cleaned)",
    )
    .option("--all", "remove the whole .ferry/, the state too (the next run runs every task)")
    .option("-n, --dry-run", "only list what would be removed, with sizes")
    .addOption(workspaceOption("state"))
    .addHelpText(
      "after",
      `
Examples:
  ferry clean --dry-run                     # what would go, and how much space it would free
  ferry clean workflow.yaml                 # in workflow.yaml's folder
  ferry clean --all --workspace ws          # forget every run: the next one starts from scratch

Exit codes: 0 cleaned (or nothing to clean) · 1 something could not be removed · 2 a run is using the workspace, or usage
`,
    )
    .action((workflow: string | undefined, opts: CleanFlags) => {
      const ws = workspaceOf("clean", workflow, opts.workspace);
      const r = cleanWorkspace(ws, { all: opts.all === true, dryRun: opts.dryRun === true });
      if (!r.ok) throw new UsageError(r.message);
      if (r.report.warning) io.stderr(`ferry: warning: ${r.report.warning}\n`);
      io.stdout(renderCleanText(r.report));
      for (const e of r.report.errors) io.stderr(`ferry: ${e}\n`);
      setExit(r.report.errors.length > 0 ? 1 : 0);
    });
}
