/**
 * The `ferry` command line. `cli(args)` returns the exit code instead of
 * exiting, so tests drive it in-process: 0 success · 1 a task failed ·
 * 2 invalid input or usage · 130 interrupted.
 * @module
 */

import { Argument, Command, CommanderError, Option } from "../deps/commander.ts";
import workflowSchema from "../schemas/workflow.schema.json" with { type: "json" };
import siteSchema from "../schemas/site.schema.json" with { type: "json" };
import planSchema from "../schemas/plan.schema.json" with { type: "json" };
import denoJson from "../deno.json" with { type: "json" };
import { checkWorkflowFile } from "../interpreter/check.ts";
import { runWorkflowFile } from "../interpreter/execute.ts";
import { countSummary, formatDiagnostics, type ReportFormat } from "../dsl/report.ts";
import type { Diagnostic } from "../dsl/diagnostic.ts";
import { parseParamOverrides } from "../dsl/params.ts";
import type { ParamValue } from "../dsl/model.ts";
import { compareDiagnostics, locate } from "../dsl/diagnostic.ts";
import { loadFile } from "../dsl/load.ts";
import { checkRemoteInputs } from "../interpreter/check_inputs.ts";
import { buildPlan, LOCAL_EXECUTOR, type Plan } from "../interpreter/plan.ts";
import { statefulPlan } from "../interpreter/plan_state.ts";
import { StateStore } from "../interpreter/state.ts";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { resolveTargets } from "../interpreter/targets.ts";
import { renderPlanText } from "../interpreter/render_text.ts";
import { planJsonChunks } from "../interpreter/render_json.ts";
import { renderDot, renderMarkdown, renderMermaid } from "../interpreter/render_graph.ts";
import { workspaceStatus } from "../interpreter/status.ts";
import { renderStatusJson, renderStatusText } from "../interpreter/render_status.ts";
import { cleanWorkspace } from "../interpreter/clean.ts";
import { renderCleanText } from "../interpreter/render_clean.ts";

/** Where the CLI writes; tests pass their own. */
export interface CliIO {
  /** Standard output. */
  readonly stdout: (s: string) => void;
  /** Standard error. */
  readonly stderr: (s: string) => void;
  /** Whether stdout is a colour terminal. */
  readonly color: boolean;
  /** Whether standard error is a terminal (live progress). @default false */
  readonly terminal?: boolean;
}

const encoder = new TextEncoder();

/** The real process streams. */
export function processIO(): CliIO {
  return {
    stdout: (s) => writeAll(Deno.stdout, s),
    stderr: (s) => writeAll(Deno.stderr, s),
    color: Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR"),
    terminal: Deno.stderr.isTerminal(),
  };
}

let pipeClosed = false;

/** Write everything; a reader that went away (`ferry ... | head`) ends output quietly. */
function writeAll(w: { writeSync(p: Uint8Array): number }, s: string): void {
  if (pipeClosed) return;
  let bytes = encoder.encode(s);
  try {
    while (bytes.length > 0) bytes = bytes.subarray(w.writeSync(bytes));
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
    pipeClosed = true;
  }
}

/** A usage error: printed without a stack, exit 2. */
class UsageError extends Error {}

// No default list: commander would print "(default: [])" in the help of every repeatable option.
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** What `check`, `plan` and `run` all take from their options: site, workspace and params. */
function workflowOptions(opts: { site?: string; workspace?: string; param?: string[] }): {
  site?: string;
  workspace?: string;
  params: Readonly<Record<string, ParamValue>>;
} {
  const overrides = parseParamOverrides(opts.param ?? []);
  if (!overrides.ok) throw new UsageError(overrides.message);
  return {
    ...(opts.site !== undefined ? { site: opts.site } : {}),
    ...(opts.workspace !== undefined ? { workspace: opts.workspace } : {}),
    params: overrides.params,
  };
}

/** Whether a command-line word is a path (it exists, or ends like a workflow file), not a run id. */
function isWorkflowPath(word: string): boolean {
  return /\.(ya?ml|toml)$/i.test(word) || existsSync(word);
}

/**
 * The workspace `status` and `clean` look at: `--workspace`, else the
 * workflow file's folder (as `check`, `plan` and `run` decide it), else the
 * current directory.
 */
function workspaceOf(action: string, workflow: string | undefined, workspace?: string): string {
  if (workflow !== undefined) {
    let info;
    try {
      info = statSync(workflow);
    } catch {
      throw new UsageError(`Cannot ${action} "${workflow}": no such workflow file`);
    }
    if (info.isDirectory()) {
      throw new UsageError(
        `Cannot ${action} "${workflow}": it is a directory; name a workflow file, or use --workspace ${workflow}`,
      );
    }
  }
  return workspace ?? (workflow !== undefined ? dirname(workflow) : ".");
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`Cannot use "${value}" as a count: write a whole number of 1 or more`);
  }
  return n;
}

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
  const cmd = new Command("ferry")
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

  cmd.command("check")
    .summary("check workflow and site files: every problem with its file, line and column")
    .description(
      "Check workflow files (and a site file) and report every problem with its file, line and column.",
    )
    .argument("<workflow...>", "workflow files (.yaml, .yml or .toml)")
    .option("-s, --site <file>", "site file describing the executors")
    .addOption(
      new Option("-f, --format <format>", "output format").choices(["text", "json", "github"])
        .default("text"),
    )
    .option("-w, --workspace <dir>", "workspace directory (default: the workflow file's folder)")
    .option(
      "-p, --param <name=value>",
      "override a param; the value is read as YAML (repeatable)",
      collect,
    )
    .option(
      "--assume-inputs",
      "treat absent local input files as present (CI without data) and warn about each",
    )
    .addHelpText(
      "after",
      `
Examples:
  ferry check workflow.yaml
  ferry check --site cluster.yaml workflow.toml
  ferry check --format github --assume-inputs workflows/*.yaml   # annotations in a GitHub Actions job
`,
    )
    .action(
      async (
        files: string[],
        opts: {
          site?: string;
          format: ReportFormat;
          workspace?: string;
          param?: string[];
          assumeInputs?: boolean;
        },
      ) => {
        const common = workflowOptions(opts);
        const all: Diagnostic[] = [];
        const seen = new Set<string>();
        const sources = new Map<string, string>();
        let tasks = 0;
        for (const file of files) {
          const r = await checkWorkflowFile(file, {
            ...common,
            assumeInputs: opts.assumeInputs === true,
          });
          // A site file checked with several workflows reports its problems once.
          for (const d of r.diagnostics) {
            const key = `${d.file}\0${d.line}\0${d.column}\0${d.code}\0${d.message}`;
            if (!seen.has(key)) {
              seen.add(key);
              all.push(d);
            }
          }
          for (const [k, v] of r.sources) sources.set(k, v);
          tasks += r.expansion?.tasks.length ?? 0;
        }
        io.stdout(formatDiagnostics(all, opts.format, { sources, color: io.color }));
        const failed = all.some((d) => d.severity === "error");
        if (opts.format === "text") {
          // Name the files the errors are in (a site file's errors are not the workflow's).
          const erring = [...new Set(all.filter((d) => d.severity === "error").map((d) => d.file))];
          const what = failed && erring.length > 0 && erring.length <= 3
            ? erring.join(", ")
            : files.length === 1
            ? files[0]
            : `${files.length} files`;
          io.stdout(
            failed
              ? `✗ ${what}: ${countSummary(all)}\n`
              : `✓ ${what}: valid, ${tasks} task${tasks === 1 ? "" : "s"}, ${countSummary(all)}\n`,
          );
        }
        setExit(failed ? 2 : 0);
      },
    );

  cmd.command("plan")
    .summary("show what a run would do, without running anything (dry run)")
    .description(
      "Show what a run would do, without running anything: every task, what it waits for, and for every file how it reaches the task and the path the task sees.",
    )
    .argument("<workflow>", "workflow file (.yaml, .yml or .toml)")
    .argument("[targets...]", "task ids, app names or output paths: plan only what they need")
    .option("-s, --site <file>", "site file describing the executors")
    .addOption(
      new Option("-f, --format <format>", "output format").choices([
        "text",
        "json",
        "mermaid",
        "dot",
        "markdown",
      ]).default("text"),
    )
    .option("-w, --workspace <dir>", "workspace directory (default: the workflow file's folder)")
    .option(
      "-p, --param <name=value>",
      "override a param; the value is read as YAML (repeatable)",
      collect,
    )
    .option(
      "--assume-inputs",
      "treat absent local input files as present (CI without data) and warn about each",
    )
    .option(
      "--check-inputs",
      "ask the servers of remote http(s) inputs whether they exist (HEAD); the only network use",
    )
    .option(
      "--rerun <app>",
      "run this app (or task id) again, and what depends on it (repeatable)",
      collect,
    )
    .option("--no-cache", "show every task as to run, ignoring the state of earlier runs")
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
    .action(async (file: string, targets: string[], opts: {
      site?: string;
      format: "text" | "json" | "mermaid" | "dot" | "markdown";
      workspace?: string;
      param?: string[];
      assumeInputs?: boolean;
      checkInputs?: boolean;
      rerun?: string[];
      cache: boolean;
      showScripts?: boolean;
    }) => {
      const r = await checkWorkflowFile(file, {
        ...workflowOptions(opts),
        assumeInputs: opts.assumeInputs === true,
      });
      let diagnostics = [...r.diagnostics];
      if (opts.checkInputs && r.expansion && r.linked && r.plan) {
        const doc = await loadFile(file);
        const problems = await checkRemoteInputs(r.expansion, r.linked.sources);
        if (doc.document) {
          diagnostics.push(...problems.map((p) => locate(p, file, doc.document!.index)));
        }
      }
      diagnostics = diagnostics.sort(compareDiagnostics);
      if (diagnostics.length > 0) {
        io.stderr(formatDiagnostics(diagnostics, "text", { sources: r.sources, color: io.color }));
      }
      if (diagnostics.some((d) => d.severity === "error") || !r.plan || !r.expansion || !r.linked) {
        io.stderr(`✗ ${file}: ${countSummary(diagnostics)}\n`);
        setExit(2);
        return;
      }
      let plan = r.plan;
      if (targets.length > 0) {
        const t = resolveTargets(targets, r.expansion, r.linked, r.workspace);
        if (!t.ok) throw new UsageError(t.message);
        plan = buildPlan(r.workflow!, r.expansion, r.linked, {
          workspace: r.workspace,
          executors: r.executors ?? {},
          only: t.tasks,
        }).plan;
      }
      // With a state from earlier runs, each task is marked cached or to run, and why.
      const stateFile = join(r.workspace, ".ferry", "state.db");
      if (existsSync(stateFile)) {
        const store = StateStore.open(r.workspace);
        try {
          plan = statefulPlan(r, {
            file,
            plan,
            executors: { local: LOCAL_EXECUTOR, ...(r.executors ?? {}) },
            params: workflowOptions(opts).params,
            targets,
            store,
            noCache: !opts.cache,
            rerun: opts.rerun ?? [],
          }).plan;
        } finally {
          store.close();
        }
      }
      if (opts.format === "json") { for (const chunk of planJsonChunks(plan)) io.stdout(chunk); }
      else io.stdout(renderPlan(plan, opts.format, io.color));
      if (opts.showScripts) {
        const { renderJobScripts } = await import("../interpreter/show_scripts.ts");
        const text = await renderJobScripts(
          plan,
          { local: LOCAL_EXECUTOR, ...(r.executors ?? {}) },
          r.workspace,
        );
        // With a machine-readable plan on stdout, the scripts go to stderr.
        if (opts.format === "text" || opts.format === "markdown") io.stdout("\n" + text);
        else io.stderr(text);
      }
      setExit(0);
    });

  cmd.command("run")
    .summary("run a workflow's tasks on their executors, with progress")
    .description(
      "Run a workflow on its executors: every task of the plan, dependencies first, outputs moved into place only when a task succeeds.",
    )
    .argument("<workflow>", "workflow file (.yaml, .yml or .toml)")
    .argument("[targets...]", "task ids, app names or output paths: run only what they need")
    .option("-s, --site <file>", "site file describing the executors")
    .option("-w, --workspace <dir>", "workspace directory (default: the workflow file's folder)")
    .option(
      "-p, --param <name=value>",
      "override a param; the value is read as YAML (repeatable)",
      collect,
    )
    .option(
      "-j, --jobs <n>",
      "at most this many tasks at once per executor (default: its max_workers, else its cores)",
      positiveInt,
    )
    .option("--sequential", "one task at a time, in plan order (for debugging)")
    .option("-k, --keep-going", "after a failure keep running what does not depend on it")
    .option(
      "--rerun <app>",
      "run this app (or task id) again, and what depends on it (repeatable)",
      collect,
    )
    .option("--no-cache", "run every task, ignoring the state of earlier runs")
    .option(
      "--transfers <n>",
      "at most this many file transfers at once, over all providers (default: 8)",
      positiveInt,
    )
    .option("-q, --quiet", "no progress, only the summary")
    .option(
      "--progress <style>",
      "live (a terminal display) or lines (one line per task start and end)",
    )
    .addHelpText(
      "after",
      `
Examples:
  ferry run workflow.yaml
  ferry run --jobs 8 --keep-going workflow.yaml
  ferry run workflow.yaml total.txt          # only what total.txt needs
  ferry run --sequential --progress lines workflow.yaml

Exit codes: 0 every task succeeded · 1 a task failed · 2 invalid workflow or usage · 130 interrupted
`,
    )
    .action(async (file: string, targets: string[], opts: {
      site?: string;
      workspace?: string;
      param?: string[];
      jobs?: number;
      sequential?: boolean;
      keepGoing?: boolean;
      transfers?: number;
      rerun?: string[];
      cache: boolean;
      quiet?: boolean;
      progress?: string;
    }) => {
      const common = workflowOptions(opts);
      if (opts.progress !== undefined && opts.progress !== "live" && opts.progress !== "lines") {
        throw new UsageError(`Cannot use --progress "${opts.progress}": write live or lines`);
      }
      const controller = new AbortController();
      const stop = () => controller.abort();
      const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
      for (const s of signals) Deno.addSignalListener(s, stop);
      try {
        const r = await runWorkflowFile(file, {
          ...common,
          targets,
          ...(opts.jobs !== undefined ? { jobs: opts.jobs } : {}),
          sequential: opts.sequential === true,
          keepGoing: opts.keepGoing === true,
          ...(opts.transfers !== undefined ? { maxTransfers: opts.transfers } : {}),
          noCache: !opts.cache,
          rerun: opts.rerun ?? [],
          progress: opts.quiet
            ? "quiet"
            : (opts.progress as "live" | "lines" | undefined) ?? "auto",
          signal: controller.signal,
          io: { write: io.stderr, out: io.stdout, color: io.color, terminal: io.terminal === true },
        });
        setExit(r.code);
      } finally {
        for (const s of signals) Deno.removeSignalListener(s, stop);
      }
    });

  cmd.command("status")
    .summary("show the runs of a workspace, and one run task by task with its attempts and logs")
    .description(
      "Show the runs of a workspace (newest first) and the latest one task by task: its final state, each attempt with its outcome, duration, host and log paths, and the end of a failed task's stderr. With RUN, that run only. A run whose ferry died (kill -9, a crash) shows as crashed. Reads the state in .ferry/ and changes nothing.",
    )
    .argument(
      "[workflow]",
      "workflow file: its folder is the workspace, and only its runs are shown (default: every run of the workspace)",
    )
    .argument("[run]", "a run id, or the start of exactly one (default: the latest run)")
    .addOption(
      new Option("-f, --format <format>", "output format").choices(["text", "json"]).default(
        "text",
      ),
    )
    .option(
      "-w, --workspace <dir>",
      "workspace directory (default: the workflow file's folder, else the current directory)",
    )
    .option(
      "--watch [seconds]",
      "show it again every few seconds (default 2) until the run ends (text format)",
    )
    .addHelpText(
      "after",
      `
A single argument is the workflow when it is a file or ends in .yaml, .yml or .toml, else a run id.

Examples:
  ferry status                              # in the workspace: the runs, then the latest in detail
  ferry status workflow.yaml                # the runs of workflow.yaml, in its folder
  ferry status 20261121-1416                # one run, by the start of its id
  ferry status --workspace ws --format json | jq '.run.tasks[] | select(.state == "failed")'
  ferry status --watch                      # follow the latest run until it ends

Exit codes: 0 shown (whatever the runs' outcome) · 2 no state there, an unknown or ambiguous run, or usage
`,
    )
    .action(async (first: string | undefined, second: string | undefined, opts: {
      format: "text" | "json";
      workspace?: string;
      watch?: string | true;
    }) => {
      const [workflow, run] = second !== undefined
        ? [first, second]
        : first !== undefined && !isWorkflowPath(first)
        ? [undefined, first]
        : [first, undefined];
      const ws = workspaceOf("show the status of", workflow, opts.workspace);
      const every = opts.watch === undefined
        ? undefined
        : opts.watch === true
        ? 2
        : Number(opts.watch);
      if (every !== undefined && !(every > 0 && every <= 3600)) {
        throw new UsageError(
          `Cannot watch every "${opts.watch}" seconds: give a number from 0.1 to 3600`,
        );
      }
      if (every !== undefined && opts.format === "json") {
        throw new UsageError("Cannot use --watch with --format json: watch shows text");
      }
      for (let shown = 0;; shown++) {
        const r = await workspaceStatus(ws, {
          ...(run !== undefined ? { run } : {}),
          ...(workflow !== undefined ? { workflow } : {}),
        });
        if (!r.ok) throw new UsageError(r.message);
        const text = opts.format === "json"
          ? renderStatusJson(r.report)
          : renderStatusText(r.report, { color: io.color });
        // On a terminal each view replaces the last; elsewhere they follow one another.
        if (every !== undefined && shown > 0) io.stdout(io.color ? "\x1b[H\x1b[2J" : "\n");
        io.stdout(text);
        if (every === undefined || r.report.run?.status !== "running") break;
        await new Promise((done) => setTimeout(done, every * 1000));
      }
      setExit(0);
    });

  cmd.command("report")
    .summary(
      "write one self-contained HTML report of a run: graph, timeline, tasks, failures, transfers",
    )
    .description(
      "Write a run's report as one HTML file that needs no network to view: the run's summary, its graph with fan-outs collapsed, a timeline of tasks and transfers per executor and worker, a sortable table of tasks, the failures with the last lines of their logs, and the transfers with sizes and throughput. Reads the run's event log and the state in .ferry/.",
    )
    .argument(
      "[workflow]",
      "workflow file: its folder is the workspace (default: the current directory)",
    )
    .argument("[run]", "a run id, or the start of exactly one (default: the latest run)")
    .option("-o, --output <file>", "where to write the report", "report.html")
    .option(
      "-w, --workspace <dir>",
      "workspace directory (default: the workflow file's folder, else the current directory)",
    )
    .addHelpText(
      "after",
      `
Examples:
  ferry report                              # the latest run of the workspace, to report.html
  ferry report workflow.yaml -o run.html    # the latest run of workflow.yaml
  ferry report 20261121-1416 -o old.html    # one run, by the start of its id
`,
    )
    .action(async (first: string | undefined, second: string | undefined, opts: {
      output: string;
      workspace?: string;
    }) => {
      const [workflow, run] = second !== undefined
        ? [first, second]
        : first !== undefined && !isWorkflowPath(first)
        ? [undefined, first]
        : [first, undefined];
      const ws = workspaceOf("make a report of", workflow, opts.workspace);
      const { buildReport } = await import("../interpreter/report.ts");
      const r = await buildReport(ws, {
        ...(run !== undefined ? { run } : {}),
        ...(workflow !== undefined ? { workflow } : {}),
      });
      if (!r.ok) throw new UsageError(r.message);
      try {
        await Deno.writeTextFile(opts.output, r.html);
      } catch (e) {
        throw new UsageError(
          `Cannot write the report to "${opts.output}": ${(e as Error).message}`,
        );
      }
      io.stderr(
        `report of run ${r.run.id} (${r.run.status}, ${r.run.tasks.length} tasks): ${opts.output}\n`,
      );
      setExit(0);
    });

  cmd.command("clean")
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
    .option(
      "-w, --workspace <dir>",
      "workspace directory (default: the workflow file's folder, else the current directory)",
    )
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
    .action((workflow: string | undefined, opts: {
      all?: boolean;
      dryRun?: boolean;
      workspace?: string;
    }) => {
      const ws = workspaceOf("clean", workflow, opts.workspace);
      const r = cleanWorkspace(ws, { all: opts.all === true, dryRun: opts.dryRun === true });
      if (!r.ok) throw new UsageError(r.message);
      if (r.report.warning) io.stderr(`ferry: warning: ${r.report.warning}\n`);
      io.stdout(renderCleanText(r.report));
      for (const e of r.report.errors) io.stderr(`ferry: ${e}\n`);
      setExit(r.report.errors.length > 0 ? 1 : 0);
    });

  cmd.command("schema")
    .summary("print the JSON Schema of workflow files, site files or plans")
    .description(
      "Print the JSON Schema of workflow files, site files or the plan (for editors and other tools).",
    )
    .addArgument(new Argument("<kind>", "which schema").choices(["workflow", "site", "plan"]))
    .addHelpText(
      "after",
      `
Examples:
  ferry schema workflow > schemas/workflow.schema.json
  ferry schema site
  ferry schema plan
`,
    )
    .action((kind: string) => {
      const schema = kind === "site" ? siteSchema : kind === "plan" ? planSchema : workflowSchema;
      io.stdout(JSON.stringify(schema, null, 2) + "\n");
      setExit(0);
    });
  return cmd;
}

function renderPlan(plan: Plan, format: string, color: boolean): string {
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

/** Run the CLI with `args` (without the program name); resolves to the exit code. */
export async function cli(args: readonly string[], io: CliIO = processIO()): Promise<number> {
  let code = 0;
  const cmd = buildProgram(io, (c) => (code = c));
  try {
    await cmd.parseAsync([...args], { from: "user" });
    if (args.length === 0) {
      io.stderr(cmd.helpInformation());
      return 2;
    }
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help, help and --version exit 0; every other commander exit is a usage
      // error whose message (with "did you mean") commander already printed.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError) {
      io.stderr(`ferry: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
