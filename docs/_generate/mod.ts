/**
 * Writes docs/reference/: the references generated from ferry's sources of
 * truth (the commander program, the JSON Schemas, the diagnostic registry).
 * `deno task docs` runs it; tests/reference_docs_test.ts fails while a page
 * is stale.
 * @module
 */

import { buildProgram } from "../../cli/mod.ts";
import { DIAGNOSTIC_CODES } from "../../dsl/codes.ts";
import workflowSchema from "../../schemas/workflow.schema.json" with { type: "json" };
import siteSchema from "../../schemas/site.schema.json" with { type: "json" };
import planSchema from "../../schemas/plan.schema.json" with { type: "json" };
import eventsSchema from "../../schemas/events.schema.json" with { type: "json" };
import ferryTaskSchema from "../../schemas/ferry-task.schema.json" with { type: "json" };
import { cliReference } from "./cli_reference.ts";
import { codesReference } from "./codes_reference.ts";
import { type Schema, schemaReference } from "./schema_reference.ts";
import { formatMarkdown, generatedBanner, ROOT } from "./markdown.ts";

/** One generated page. */
export interface ReferencePage {
  /** Its path from the repository root. */
  readonly path: string;
  /** Its content, formatted as `deno fmt` leaves it. */
  readonly text: string;
}

const FROM_SCHEMA = (file: string) =>
  `Generated from [\`schemas/${file}\`](../../schemas/${file}); \`ferry schema ${
    file.replace(".schema.json", "")
  }\` prints it.`;

/** What the schemas' two name patterns (said in words by schemaReference) allow. */
const NAMES =
  "Names: an _identifier_ (the names of params, files, executors, apps, inputs, outputs " +
  "and `for_each` variables) is a letter or `_`, then letters, digits, `_` or `-`; a _variable " +
  "name_ (environment variables) is a letter or `_`, then letters, digits or `_`.";

/** Every page of docs/reference/, generated now. */
export async function referencePages(): Promise<ReferencePage[]> {
  const codesSource = await Deno.readTextFile(`${ROOT}dsl/codes.ts`);
  const pages: [string, string[], string][] = [
    [
      "cli.md",
      ["cli/"],
      [
        "# Command line reference",
        "",
        "Generated from the commander definitions in [`cli/`](../../cli/) (a module per command,",
        "the options several take in `options.ts`): `ferry --help` and `ferry COMMAND --help` print",
        "the same.",
        "",
        cliReference(buildProgram({ stdout: () => {}, stderr: () => {}, color: false })),
      ].join("\n"),
    ],
    [
      "workflow.md",
      ["schemas/workflow.schema.json"],
      [
        "# Workflow file reference",
        "",
        "Every key of a workflow file, YAML (`.yaml`, `.yml`) or TOML (`.toml`); both load to the same",
        `model. ${FROM_SCHEMA("workflow.schema.json")} No other keys exist: an unknown key is an`,
        "error (`unknown-key`), with a suggestion when it looks like a typo. Codes in parentheses are",
        "[diagnostics](diagnostics.md). Executors and staging rules have the same keys as in a",
        "[site file](site.md).",
        "",
        NAMES,
        "",
        schemaReference(workflowSchema as Schema, {
          rootTitle: "Workflow file",
          elsewhere: { executor: "site.md#executor", stagingRule: "site.md#staging-rule" },
        }),
      ].join("\n"),
    ],
    [
      "site.md",
      ["schemas/site.schema.json"],
      [
        "# Site file reference",
        "",
        "A site file says where apps run and how files reach each executor; pass it with `--site`.",
        `${FROM_SCHEMA("site.schema.json")} No other keys exist (\`unknown-key\`). Codes in`,
        "parentheses are [diagnostics](diagnostics.md).",
        "",
        NAMES,
        "",
        schemaReference(siteSchema as Schema, { rootTitle: "Site file" }),
      ].join("\n"),
    ],
    [
      "plan-json.md",
      ["schemas/plan.schema.json"],
      [
        "# Plan JSON reference",
        "",
        "`ferry plan --format json` prints the plan a run would execute, as one JSON object.",
        FROM_SCHEMA("plan.schema.json"),
        "",
        schemaReference(planSchema as Schema, { rootTitle: "Plan" }),
      ].join("\n"),
    ],
    [
      "events.md",
      ["schemas/events.schema.json"],
      [
        "# Event log reference",
        "",
        "Generated from [`schemas/events.schema.json`](../../schemas/events.schema.json); a test",
        "runs workflows and checks every line they write against it. `ferry clean` keeps these logs",
        "(`clean --all` removes them).",
        "",
        schemaReference(eventsSchema as Schema, { rootTitle: "Event" }),
      ].join("\n"),
    ],
    [
      "ferry-task.md",
      ["schemas/ferry-task.schema.json"],
      [
        "# FERRY_TASK file reference",
        "",
        "A `script:` app's task reads what it needs (its inputs, outputs, params, bindings, resources,",
        "logs and attempt) from the JSON file named by its environment variable `FERRY_TASK`; the",
        "[script apps guide](../guides/script-apps.md) shows how to read it from Python, R and other",
        "languages. Generated from",
        "[`schemas/ferry-task.schema.json`](../../schemas/ferry-task.schema.json); a test checks the",
        "files real tasks get against it.",
        "",
        schemaReference(ferryTaskSchema as Schema, { rootTitle: "FERRY_TASK file" }),
      ].join("\n"),
    ],
    [
      "diagnostics.md",
      ["dsl/codes.ts"],
      [
        "# Diagnostic codes",
        "",
        "Every problem `ferry check`, `plan` and `run` report has a code, shown as",
        "`file:line:column: error[code]: message`. Generated from",
        "[`dsl/codes.ts`](../../dsl/codes.ts).",
        "",
        codesReference(DIAGNOSTIC_CODES, codesSource),
      ].join("\n"),
    ],
  ];
  return await Promise.all(pages.map(async ([name, sources, body]) => ({
    path: `docs/reference/${name}`,
    text: await formatMarkdown(`${generatedBanner(sources)}\n\n${body}\n`),
  })));
}

if (import.meta.main) {
  await Deno.mkdir(`${ROOT}docs/reference`, { recursive: true });
  for (const page of await referencePages()) {
    await Deno.writeTextFile(`${ROOT}${page.path}`, page.text);
    console.log(`wrote ${page.path}`);
  }
}
