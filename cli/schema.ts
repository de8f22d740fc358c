/** `ferry schema`: print the JSON Schema of workflow files, site files or plans. @module */

import { Argument, type Command } from "../deps/commander.ts";
import workflowSchema from "../schemas/workflow.schema.json" with { type: "json" };
import siteSchema from "../schemas/site.schema.json" with { type: "json" };
import planSchema from "../schemas/plan.schema.json" with { type: "json" };
import type { CommandContext } from "./context.ts";

const SCHEMAS = { workflow: workflowSchema, site: siteSchema, plan: planSchema } as const;

/** Add `schema` to `program`. */
export function schemaCommand(program: Command, { io, setExit }: CommandContext): void {
  program.command("schema")
    .summary("print the JSON Schema of workflow files, site files or plans")
    .description(
      "Print the JSON Schema of workflow files, site files or the plan (for editors and other tools).",
    )
    .addArgument(new Argument("<kind>", "which schema").choices(Object.keys(SCHEMAS)))
    .addHelpText(
      "after",
      `
Examples:
  ferry schema workflow > schemas/workflow.schema.json
  ferry schema site
  ferry schema plan
`,
    )
    .action((kind: keyof typeof SCHEMAS) => {
      io.stdout(JSON.stringify(SCHEMAS[kind], null, 2) + "\n");
      setExit(0);
    });
}
