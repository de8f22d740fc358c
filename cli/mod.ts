/**
 * The `ferry` command line. `cli(args)` returns the exit code instead of
 * exiting, so tests drive it in-process: 0 success · 1 a task failed ·
 * 2 invalid input or usage · 130 interrupted. Each command is its own module
 * beside this one; the options they share are declared in `options.ts`.
 * @module
 */

import { Command, CommanderError } from "../deps/commander.ts";
import denoJson from "../deno.json" with { type: "json" };
import { checkCommand } from "./check.ts";
import { cleanCommand } from "./clean.ts";
import { type CommandContext, UsageError } from "./context.ts";
import { type CliIO, processIO } from "./io.ts";
import { FerryFileError } from "../interpreter/fs_errors.ts";
import { planCommand } from "./plan.ts";
import { reportCommand } from "./report.ts";
import { runCommand } from "./run.ts";
import { schemaCommand } from "./schema.ts";
import { stateCommand } from "./state.ts";
import { storeCommand } from "./store.ts";
import { statusCommand } from "./status.ts";

export { type CliIO, processIO };

/** The commands, in the order `ferry --help` lists them. */
const COMMANDS = [
  checkCommand,
  planCommand,
  runCommand,
  statusCommand,
  reportCommand,
  cleanCommand,
  stateCommand,
  storeCommand,
  schemaCommand,
] as const;

/**
 * The `ferry` commander program, built but not run: its commands, arguments
 * and options are the source the CLI reference (docs/reference/cli.md) is
 * generated from. `setExit` receives each action's exit code. Tooling, not
 * API: commander's types stay out of the documented surface.
 * @ignore
 */
export function buildProgram(
  io: CliIO = processIO(),
  setExit: (code: number) => void = () => {},
): Command {
  const program = new Command("ferry")
    .description(
      "ferry: declarative workflows that move their own files.\nWrite apps and the files they read and write; ferry checks, plans and runs them.",
    )
    .version(denoJson.version, "-V, --version", "print ferry's version")
    .helpOption("-h, --help", "show help")
    .showSuggestionAfterError(true)
    .showHelpAfterError("(run ferry --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      // A fixed width keeps help identical on every terminal (and in snapshots).
      getOutHelpWidth: () => 100,
      getErrHelpWidth: () => 100,
    })
    .addHelpText(
      "after",
      `
Examples:
  ferry check workflow.yaml
  ferry check --site site.yaml --format github workflows/*.yaml
  ferry plan --site site.yaml workflow.yaml
  ferry plan --format markdown workflow.yaml > plan.md
  ferry status --workspace runs/today
  ferry clean --dry-run
  ferry schema workflow > workflow.schema.json

Exit codes: 0 success · 1 a task failed · 2 invalid workflow, site file or usage · 130 interrupted
`,
    );
  // Subcommands made by program.command() inherit the settings above (output, exit override).
  const context: CommandContext = { io, setExit };
  for (const add of COMMANDS) add(program, context);
  return program;
}

/** Run the CLI with `args` (without the program name); resolves to the exit code. */
export async function cli(args: readonly string[], io: CliIO = processIO()): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync([...args], { from: "user" });
    if (args.length === 0) {
      io.stderr(program.helpInformation());
      return 2;
    }
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help, help and --version exit 0; every other commander exit is a usage
      // error whose message (with "did you mean") commander already printed.
      return e.exitCode === 0 ? 0 : 2;
    }
    // A fault of ferry's own files (full disk, read-only, damaged state) is no bug: one line.
    if (e instanceof UsageError || e instanceof FerryFileError) {
      io.stderr(`ferry: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
