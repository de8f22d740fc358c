/** `ferry clean`: remove what runs leave behind in `.ferry/`. @module */

import type { Command } from "../deps/commander.ts";
import { cleanWorkspace } from "../interpreter/clean.ts";
import { renderCleanText } from "../interpreter/render_clean.ts";
import { type CommandContext, UsageError } from "./context.ts";
import { workspaceOption } from "./options.ts";
import { workspaceOf } from "./workspace.ts";

interface CleanFlags {
  all?: boolean;
  stale?: boolean;
  dryRun?: boolean;
  workspace?: string;
}

/** Add `clean` to `program`. */
export function cleanCommand(program: Command, { io, setExit }: CommandContext): void {
  program.command("clean")
    .summary(
      "remove attempt directories, staged copies and trash (--all: the whole .ferry/; --stale: stale outputs)",
    )
    .description(
      "Remove what runs leave behind in .ferry/: every attempt directory (.ferry/runs/*/tasks: task working directories and their logs), the staged copies of remote files (.ferry/staged) and the trash (.ferry/trash: what dir: outputs replaced that ferry had not written). Keeps the state (.ferry/state.db, so nothing re-runs) and each run's events.jsonl. --all removes the whole .ferry/, state too: the next run runs every task. --stale removes only the stale outputs instead: files earlier runs' glob or dir outputs left in the workspace that no task produces any more (ferry status lists them). Refuses while a run is using the workspace.",
    )
    .argument(
      "[workflow]",
      "workflow file: its folder is the workspace (every run in it is cleaned)",
    )
    .option("--all", "remove the whole .ferry/, the state too (the next run runs every task)")
    .option(
      "--stale",
      "remove only the files earlier glob or dir outputs left that no task produces any more",
    )
    .option("-n, --dry-run", "only list what would be removed, with sizes")
    .addOption(workspaceOption("state"))
    .addHelpText(
      "after",
      `
Examples:
  ferry clean --dry-run                     # what would go, and how much space it would free
  ferry clean workflow.yaml                 # in workflow.yaml's folder
  ferry clean --all --workspace ws          # forget every run: the next one starts from scratch
  ferry clean --stale --dry-run             # list the stale outputs ferry status counts

Exit codes: 0 cleaned (or nothing to clean) · 1 something could not be removed · 2 a run is using the workspace, or usage
`,
    )
    .action((workflow: string | undefined, opts: CleanFlags) => {
      const ws = workspaceOf("clean", workflow, opts.workspace);
      if (opts.all && opts.stale) {
        throw new UsageError(
          `Cannot use "--stale" with "--all": --all removes the whole .ferry/, and with it what tells which outputs are stale`,
        );
      }
      const r = cleanWorkspace(ws, {
        all: opts.all === true,
        dryRun: opts.dryRun === true,
        stale: opts.stale === true,
      });
      if (!r.ok) throw new UsageError(r.message);
      if (r.report.warning) io.stderr(`ferry: warning: ${r.report.warning}\n`);
      io.stdout(renderCleanText(r.report));
      for (const e of r.report.errors) io.stderr(`ferry: ${e}\n`);
      setExit(r.report.errors.length > 0 ? 1 : 0);
    });
}
