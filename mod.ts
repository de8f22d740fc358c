/**
 * ferry's library API: load, validate and check workflow and site files
 * (with the same diagnostics the `ferry` CLI prints), compile them into the
 * plan `ferry plan` shows, run it, and inspect (`workspaceStatus`) and clean
 * (`cleanWorkspace`) the runs a workspace keeps.
 *
 * Smaller entry points import less: `./builder` (workflows in TypeScript),
 * `./submit` (functions as tasks), `./staging` (writing a staging provider)
 * and `./cli` (the `ferry` command as a function). Import this module by path
 * or URL from anywhere: its npm dependencies are pinned in `deps/`, so no
 * import map or `--config` is needed.
 *
 * @example Plan a workflow
 * ```ts
 * import { checkWorkflowFile, renderPlanText } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const { plan } = await checkWorkflowFile("examples/quickstart/workflow.yaml");
 * assert.equal(plan?.summary.tasks, 7);
 * console.log(renderPlanText(plan!));
 * ```
 *
 * @example Check a workflow file
 * ```ts
 * import { checkWorkflowFile, formatDiagnostics } from "./mod.ts";
 * const result = await checkWorkflowFile("examples/quickstart/workflow.yaml");
 * console.log(formatDiagnostics(result.diagnostics, "text"));
 * ```
 *
 * @example Validate text in memory
 * ```ts
 * import { loadText, validateWorkflow } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const { document } = loadText("w.yaml", "ferry: 1\nname: demo\napps:\n  hello: { command: [echo, hi] }\n");
 * const { model, problems } = validateWorkflow(document!.value);
 * assert.equal(problems.length, 0);
 * assert.deepEqual(model.apps.hello?.run, { kind: "command", argv: ["echo", "hi"] });
 * ```
 * @module
 */

export type { Diagnostic, KeyPath, Problem, Severity } from "./dsl/diagnostic.ts";
export type { NodePositions, Position, SourceIndex } from "./dsl/source.ts";
export { formatPath, locate } from "./dsl/diagnostic.ts";
export type { Format, LoadProblem, LoadResult, RawDocument } from "./dsl/load.ts";
export { formatOf, loadFile, loadText } from "./dsl/load.ts";
export type * from "./dsl/model.ts";
export type { Validated, ValidateWorkflowOptions } from "./dsl/validate.ts";
export { validateSite, validateWorkflow } from "./dsl/validate.ts";
export type { ReportFormat, ReportOptions } from "./dsl/report.ts";
export { countSummary, formatDiagnostics } from "./dsl/report.ts";
export type { ExprPart, ParsedTemplate, Template, TemplateError, TextPart } from "./dsl/expr.ts";
export { parseTemplate } from "./dsl/expr.ts";
export type { Quantity } from "./dsl/quantity.ts";
export { parseMemory, parseWalltime } from "./dsl/quantity.ts";
export type { CheckOptions, CheckResult } from "./interpreter/check.ts";
export { checkWorkflowFile } from "./interpreter/check.ts";
export type { Compiled, CompileOptions } from "./interpreter/compile.ts";
export type { ImageResolver } from "./interpreter/images.ts";
export type {
  ExpandedTask,
  Expansion,
  Extra,
  LogicalFile,
  TaskFile,
  TaskSlot,
} from "./interpreter/expand.ts";
export type { Linked } from "./interpreter/link.ts";
export type { DynamicList, FileValue, Value } from "./interpreter/values.ts";
export type { RenderedRun } from "./interpreter/command.ts";
export type { DecisionKind } from "./interpreter/staging.ts";
export { compile } from "./interpreter/compile.ts";
export { StatCache } from "./interpreter/stat_cache.ts";
export type {
  Plan,
  PlanContainer,
  PlanFallback,
  PlanFile,
  PlanHop,
  PlanPlacement,
  PlanReplica,
  PlanStatus,
  PlanSummary,
  PlanTask,
  PlanTransfer,
} from "./interpreter/plan.ts";
export type { ScaledDown } from "./interpreter/resources.ts";
export type { TextOptions } from "./interpreter/render_text.ts";
export { renderPlanText } from "./interpreter/render_text.ts";
export { renderPlanJson } from "./interpreter/render_json.ts";
export { renderDot, renderMarkdown, renderMermaid } from "./interpreter/render_graph.ts";
export type { RunWorkflowOptions, RunWorkflowResult } from "./interpreter/execute.ts";
export type { ProgressIO } from "./interpreter/progress.ts";
export { runWorkflowFile } from "./interpreter/execute.ts";
export type { RunSummary, TaskOutcome, TaskState, TransferCounts } from "./interpreter/run.ts";
export type {
  AttemptStatus,
  RunDetail,
  RunOverview,
  RunStatus,
  StatusOptions,
  StatusReport,
  StatusResult,
  TaskStatus,
  TaskStatusState,
} from "./interpreter/status.ts";
export { TASK_STATES, workspaceStatus } from "./interpreter/status.ts";
export type { StatusTextOptions } from "./interpreter/render_status.ts";
export { renderStatusJson, renderStatusText } from "./interpreter/render_status.ts";
export type { CleanEntry, CleanOptions, CleanReport, CleanResult } from "./interpreter/clean.ts";
export { cleanWorkspace } from "./interpreter/clean.ts";
export { renderCleanText } from "./interpreter/render_clean.ts";
export type {
  BatchProvider,
  DenoPermissions,
  JobContainer,
  JobResult,
  JobSpec,
  KeptFetch,
  KeptFile,
  MeasuredBy,
  NodeFallback,
  NodeTransfer,
  NodeTransfers,
  Outcome,
  PilotBlock,
  PilotPlace,
  Usage,
} from "./providers/batch/types.ts";
export type { LocalProviderOptions } from "./providers/batch/local.ts";
export type { ScriptInterpreter } from "./dsl/script_interpreter.ts";
export { localProvider } from "./providers/batch/local.ts";
export type {
  FetchRequest,
  FetchResult,
  PutRequest,
  PutResult,
  StagingContext,
  StagingProvider,
  StagingProviderFactory,
  Validators,
} from "./providers/staging/types.ts";
export { StagingError } from "./providers/staging/types.ts";
export type {
  StageInCall,
  StageInResult,
  StageOutCall,
  StageOutResult,
  TransferCall,
} from "./providers/staging/transfer.ts";
export { stageIn, stageOut } from "./providers/staging/transfer.ts";
export { redactSecrets } from "./providers/_shared/secrets.ts";
export type { TransferEvent } from "./interpreter/stager.ts";
export type {
  AppRef,
  AppSpec,
  FileObject,
  FileSpec,
  FilesSpec,
  PermissionsSpec,
  ResourcesSpec,
  WorkflowOptions,
} from "./dsl/builder.ts";
export { app, BuilderError, file, Ref, workflow, WorkflowBuilder } from "./dsl/builder.ts";
export type {
  ExecutorOptions,
  FerryExecutor,
  Requirements,
  Submittable,
  SubmittedTaskStatus,
  Task,
} from "./interpreter/submit.ts";
export { executor, TaskError } from "./interpreter/submit.ts";
