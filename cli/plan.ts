/** `ferry plan`: show what a run would do, without running anything. @module */

import type { Command } from "../deps/commander.ts";
import { countSummary, formatDiagnostics } from "../dsl/report.ts";
import type { Plan } from "../interpreter/plan.ts";
import { planWorkflowFile } from "../interpreter/plan_file.ts";
import { planJsonChunks } from "../interpreter/render_json.ts";
import { renderDot, renderMarkdown, renderMermaid } from "../interpreter/render_graph.ts";
import { renderPlanText } from "../interpreter/render_text.ts";
import { type CommandContext, UsageError } from "./context.ts";
import {
  assumeInputsOption,
  formatOption,
  noCacheOption,
  paramOption,
  paramsFileOption,
  rerunOption,
  siteOption,
  storeOption,
  workflowArgument,
  workflowOptions,
  workspaceOption,
} from "./options.ts";

type PlanFormat = "text" | "json" | "mermaid" | "dot" | "markdown";

interface PlanFlags {
  site?: string;
  format: PlanFormat;
  workspace?: string;
  param?: string[];
  params?: string[];
  assumeInputs?: boolean;
  checkInputs?: boolean;
  rerun?: string[];
  cache: boolean;
  showScripts?: boolean;
  store?: string;
}

/** Add `plan` to `program`. */
export function planCommand(program: Command, context: CommandContext): void {
  program.command("plan")
    .summary("show what a run would do, without running anything (dry run)")
    .description(
      "Show what a run would do, without running anything: every task, what it waits for, and for every file how it reaches the task and the path the task sees.",
    )
    .addArgument(workflowArgument())
    .argument("[targets...]", "task ids, app names or output paths: plan only what they need")
    .addOption(siteOption())
    .addOption(formatOption(["text", "json", "mermaid", "dot", "markdown"]))
    .addOption(workspaceOption("workflow"))
    .addOption(paramOption())
    .addOption(paramsFileOption())
    .addOption(assumeInputsOption())
    .option(
      "--check-inputs",
      "ask the servers of remote http(s) inputs whether they exist (HEAD); the only network use",
    )
    .addOption(rerunOption())
    .addOption(noCacheOption("show every task as to run"))
    .addOption(storeOption())
    .option(
      "--show-scripts",
      "also print every job script (and job wrapper) a run would submit to a batch scheduler",
    )
    .addHelpText(
      "after",
      `
Examples:
  ferry plan workflow.yaml
  ferry plan --site cluster.yaml workflow.yaml out/a.bam        # only what out/a.bam needs
  ferry plan --format json workflow.yaml > plan.json
  ferry plan --format markdown --assume-inputs workflow.yaml    # a pull-request comment
  ferry plan --param samples='[a, b]' --format mermaid workflow.yaml
  ferry plan --site cluster.yaml --show-scripts workflow.yaml   # the sbatch scripts, unsubmitted
`,
    )
    .action((file: string, targets: string[], opts: PlanFlags) =>
      plan(file, targets, opts, context)
    );
}

async function plan(
  file: string,
  targets: string[],
  opts: PlanFlags,
  { io, setExit }: CommandContext,
): Promise<void> {
  const r = await planWorkflowFile(file, {
    ...workflowOptions(opts),
    assumeInputs: opts.assumeInputs === true,
    checkInputs: opts.checkInputs === true,
    targets,
    noCache: !opts.cache,
    rerun: opts.rerun ?? [],
    ...(opts.store !== undefined ? { store: opts.store } : {}),
  });
  if (r.diagnostics.length > 0) {
    io.stderr(formatDiagnostics(r.diagnostics, "text", { sources: r.sources, color: io.color }));
  }
  if (r.kind === "invalid") {
    io.stderr(`✗ ${file}: ${countSummary(r.diagnostics)}\n`);
    setExit(2);
    return;
  }
  if (r.kind !== "planned") throw new UsageError(r.message);
  if (opts.format === "json") { for (const chunk of planJsonChunks(r.plan)) io.stdout(chunk); }
  else io.stdout(renderPlan(r.plan, opts.format, io.color));
  if (opts.showScripts) {
    const { renderJobScripts } = await import("../interpreter/show_scripts.ts");
    const { resolveModules } = await import("../interpreter/resolve_modules.ts");
    // Exactly as `ferry run` writes them: function modules absolute.
    const text = await renderJobScripts(
      resolveModules(r.plan, r.baseDir),
      r.executors,
      r.workspace,
    );
    // With a machine-readable plan on stdout, the scripts go to stderr.
    if (opts.format === "text" || opts.format === "markdown") io.stdout("\n" + text);
    else io.stderr(text);
  }
  setExit(0);
}

function renderPlan(plan: Plan, format: PlanFormat, color: boolean): string {
  switch (format) {
    case "mermaid":
      return renderMermaid(plan);
    case "dot":
      return renderDot(plan);
    case "markdown":
      return renderMarkdown(plan);
    default:
      return renderPlanText(plan, { color });
  }
}
