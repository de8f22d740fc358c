/**
 * The command line reference, read from the commander program `ferry` runs
 * (`buildProgram()` in cli/mod.ts): every command with its usage, arguments,
 * options, defaults, choices, examples and exit codes, so the page says what
 * `--help` says.
 * @module
 */

import type { Argument, Command, Option } from "../../deps/commander.ts";
import { code, slug, table } from "./markdown.ts";

/** The commands' sections, as Markdown (no page title). */
export function cliReference(program: Command): string {
  const out: string[] = [];
  out.push(program.description(), "");
  out.push("```text", `Usage: ${program.name()} ${program.usage()}`, "```", "");
  const help = program.createHelp();
  out.push("Options:", "", optionsTable(help.visibleOptions(program)), "");
  out.push("Commands:", "");
  out.push(
    table(
      ["command", "what it does"],
      program.commands.map((c) => [`[${c.name()}](#${slug(`ferry ${c.name()}`)})`, c.summary()]),
    ),
    "",
  );
  out.push(...afterText(program));
  for (const c of program.commands) {
    out.push(`## ferry ${c.name()}`, "");
    out.push("```text", `ferry ${c.name()} ${c.usage()}`, "```", "");
    out.push(c.description(), "");
    if (c.registeredArguments.length > 0) {
      out.push("Arguments (`<name>` required, `[name]` optional, `...` several):", "");
      out.push(argumentsTable(c.registeredArguments), "");
    }
    out.push("Options:", "", optionsTable(help.visibleOptions(c)), "");
    out.push(...afterText(c));
  }
  return out.join("\n");
}

function argumentsTable(args: readonly Argument[]): string {
  return table(
    ["argument", "description", "default"],
    args.map((a) => {
      const term = `${a.name()}${a.variadic ? "..." : ""}`;
      const { text, shown } = splitDefault(a.description, a.defaultValue);
      const choices = a.argChoices ? ` One of ${a.argChoices.map(code).join(", ")}.` : "";
      return [code(a.required ? `<${term}>` : `[${term}]`), `${text}.${choices}`, shown];
    }),
  );
}

function optionsTable(options: readonly Option[]): string {
  return table(
    ["option", "description", "default"],
    options.map((o) => {
      // A negating flag (--no-cache) holds `true` by default: that is no default worth showing.
      const { text, shown } = splitDefault(o.description, o.negate ? undefined : o.defaultValue);
      const choices = o.argChoices ? ` One of ${o.argChoices.map(code).join(", ")}.` : "";
      return [code(o.flags), `${text}.${choices}`, shown];
    }),
  );
}

/** A description without its `(default: …)`, and the default to show: commander's, else that. */
function splitDefault(description: string, value: unknown): { text: string; shown: string } {
  const m = /\s*\(default: ([^)]*)\)/.exec(description);
  const text = capital(
    m ? description.slice(0, m.index) + description.slice(m.index + m[0].length) : description,
  );
  if (value !== undefined) return { text, shown: code(String(value)) };
  return { text, shown: m ? m[1]! : "—" };
}

/**
 * What `--help` prints after the option list (examples, exit codes, notes):
 * examples become a shell block, the rest stays prose.
 */
function afterText(cmd: Command): string[] {
  let help = "";
  cmd.configureOutput({ writeOut: (s) => (help += s) });
  cmd.outputHelp();
  const after = help.slice(cmd.helpInformation().length).trim();
  if (after === "") return [];
  const out: string[] = [];
  for (const paragraph of after.split(/\n\s*\n/)) {
    const [first, ...rest] = paragraph.split("\n");
    if (first === "Examples:") {
      out.push("Examples:", "", "```sh", ...rest.map((l) => l.replace(/^ {2}/, "")), "```", "");
    } else out.push(paragraph, "");
  }
  return out;
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
