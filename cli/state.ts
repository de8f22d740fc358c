/** `ferry state check` and `ferry state repair`: a damaged `.ferry/state.db`, checked and repaired. @module */

import { Argument, type Command } from "../deps/commander.ts";
import { renderStateCheck, renderStateRepair } from "../interpreter/render_state.ts";
import { checkState, repairState } from "../interpreter/state_repair.ts";
import { type CommandContext, UsageError } from "./context.ts";
import { workspaceOption } from "./options.ts";
import { workspaceOf } from "./workspace.ts";

interface StateFlags {
  workspace?: string;
}

/** Add `state` to `program`. */
export function stateCommand(program: Command, { io, setExit }: CommandContext): void {
  program.command("state")
    .summary("check the state in .ferry/state.db, or repair a damaged one keeping what is readable")
    .description(
      "ferry state check says whether the state (.ferry/state.db) is sound; when it is not, SQLite's findings and, table by table, how many rows are still readable. ferry state repair keeps those: it backs the damaged file up beside it (.ferry/state.db.damaged-TIME), copies every readable row into a fresh state and puts that in its place; a task whose recorded success was lost runs again, lost runs and attempts are no longer shown. Repair refuses while a run is using the workspace. The other way out of a damaged state is ferry clean --all, which forgets every run. run, plan and status refuse a damaged state (exit 2) and name both ways.",
    )
    .addArgument(new Argument("<action>", "what to do").choices(["check", "repair"]))
    .argument("[workflow]", "workflow file: its folder is the workspace")
    .addOption(workspaceOption("state"))
    .addHelpText(
      "after",
      `
Examples:
  ferry state check                         # in the workspace: sound, or what is damaged
  ferry state repair --workspace ws         # keep what is readable, back the damaged file up
  ferry clean --all --workspace ws          # or forget every run: the next one runs every task

Exit codes: 0 sound, or repaired · 1 damaged (check) · 2 no state there, a run is using it, or usage
`,
    )
    .action((action: "check" | "repair", workflow: string | undefined, opts: StateFlags) => {
      const ws = workspaceOf(`${action} the state of`, workflow, opts.workspace);
      if (action === "check") {
        const r = checkState(ws);
        if (!r.ok) throw new UsageError(r.message);
        io.stdout(renderStateCheck(r.value));
        setExit(r.value.sound ? 0 : 1);
        return;
      }
      const r = repairState(ws);
      if (!r.ok) throw new UsageError(r.message);
      io.stdout(renderStateRepair(r.value));
      setExit(0);
    });
}
