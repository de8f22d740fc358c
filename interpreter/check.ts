/**
 * `ferry check` end to end: load the site and workflow files, validate them,
 * then expand and link the DAG so that problems only visible across tasks
 * (two writers, cycles, missing inputs) are found too. Returns diagnostics
 * with positions; never throws for bad input.
 * @module
 */

import { dirname, resolve } from "node:path";
import {
  compareDiagnostics,
  type Diagnostic,
  error,
  locate,
  type Problem,
} from "../dsl/diagnostic.ts";
import { didYouMean } from "../dsl/suggest.ts";
import { batchProviderProblems } from "../providers/batch/check_provider.ts";
import { loadFile, type LoadResult, type RawDocument } from "../dsl/load.ts";
import type { Executor, OwnFile, ParamValue, Site, Workflow } from "../dsl/model.ts";
import { validateSite, validateWorkflow } from "../dsl/validate.ts";
import type { Expansion } from "./expand.ts";
import type { Linked } from "./link.ts";
import type { Plan } from "./plan.ts";
import { compile } from "./compile.ts";
import { checkRemoteInputs } from "./check_inputs.ts";
import { StatCache } from "./stat_cache.ts";

/** Options for {@linkcode checkWorkflowFile}. */
export interface CheckOptions {
  /** A site file to check and use. @default undefined */
  readonly site?: string;
  /** The workspace directory. @default the workflow file's directory */
  readonly workspace?: string;
  /** Treat absent local inputs as present, warning about each. @default false */
  readonly assumeInputs?: boolean;
  /** Param overrides. @default {} */
  readonly params?: Readonly<Record<string, ParamValue>>;
  /**
   * Also ask the servers of remote http(s) inputs whether they exist (HEAD), once the
   * workflow plans without errors: the only network use of checking. @default false
   */
  readonly checkInputs?: boolean;
}

/** Everything `check` learned: diagnostics, and the models when they are sound. */
export interface CheckResult {
  /** Every diagnostic, sorted by file and position. */
  readonly diagnostics: readonly Diagnostic[];
  /** Source texts by file name, for carets. */
  readonly sources: ReadonlyMap<string, string>;
  /** The workflow model (valid only when no diagnostic is an error). */
  readonly workflow?: Workflow;
  /** The site model. */
  readonly site?: Site;
  /** Executors in effect: the workflow's, overridden by the site's. */
  readonly executors?: Readonly<Record<string, Executor>>;
  /** Expanded tasks (present when the DAG phase ran). */
  readonly expansion?: Expansion;
  /** The linked DAG (present when the DAG phase ran). */
  readonly linked?: Linked;
  /** The plan (present when there were no errors before planning). */
  readonly plan?: Plan;
  /** The workspace directory used. */
  readonly workspace: string;
  /** The workflow file and the site file, absolute: no output may overwrite them. */
  readonly ownFiles: readonly OwnFile[];
  /** The workflow file's folder, absolute: `script:` and `permissions:` paths start there. */
  readonly baseDir?: string;
}

function loadDiagnostics(file: string, r: LoadResult): Diagnostic[] {
  return r.problems.map((p) => ({
    file,
    line: p.line,
    column: p.column,
    code: p.code,
    severity: p.severity,
    message: p.message,
    path: "",
  }));
}

function located(doc: RawDocument, problems: readonly Problem[]): Diagnostic[] {
  return problems.map((p) => locate(p, doc.file, doc.index));
}

/** Check a workflow file (and optionally a site file): every problem at once. */
export function checkWorkflowFile(file: string, options: CheckOptions = {}): Promise<CheckResult> {
  return checkWithStats(file, { ...options, stats: new StatCache() });
}

/**
 * {@linkcode checkWorkflowFile}, looking files up through `stats`: the cache
 * of the plan or run that checks, whose state store then hashes the same files.
 */
export async function checkWithStats(
  file: string,
  options: CheckOptions & { readonly stats: StatCache },
): Promise<CheckResult> {
  const { site: siteFile, assumeInputs = false, params = {}, checkInputs = false, stats } = options;
  const workspace = resolve(options.workspace ?? dirname(file));
  const ownFiles = ownFilesOf(file, siteFile);
  const diagnostics: Diagnostic[] = [];
  const sources = new Map<string, string>();
  let site: Site | undefined;
  if (siteFile !== undefined) {
    const r = await loadFile(siteFile);
    if (r.text !== undefined) sources.set(siteFile, r.text);
    diagnostics.push(...loadDiagnostics(siteFile, r));
    if (r.document) {
      const v = validateSite(r.document.value);
      diagnostics.push(...located(r.document, v.problems));
      site = v.model;
      if (v.problems.length === 0) {
        const problems = await batchProviderProblems(site.executors, dirname(resolve(siteFile)));
        diagnostics.push(...located(r.document, problems));
      }
    }
  }
  const r = await loadFile(file);
  if (r.text !== undefined) sources.set(file, r.text);
  diagnostics.push(...loadDiagnostics(file, r));
  if (!r.document) {
    return finish({ diagnostics, sources, workspace, ownFiles, ...(site ? { site } : {}) });
  }
  const doc = r.document;
  const v = validateWorkflow(doc.value, {
    ...(site ? { site } : {}),
    baseDir: dirname(file),
    workspace,
    ownFiles,
  });
  diagnostics.push(...located(doc, v.problems));
  const workflow = v.model;
  if (v.problems.length === 0) {
    const problems = await batchProviderProblems(workflow.executors, dirname(resolve(file)));
    diagnostics.push(...located(doc, problems));
  }
  diagnostics.push(...located(doc, unknownOverrides(params, workflow)));
  const executors = { ...workflow.executors, ...(site?.executors ?? {}) };
  const baseDir = dirname(resolve(file));
  const base = {
    diagnostics,
    sources,
    workspace,
    ownFiles,
    baseDir,
    workflow,
    executors,
    ...(site ? { site } : {}),
  };
  if (diagnostics.some((d) => d.severity === "error")) return finish(base);
  const c = compile(workflow, {
    workspace,
    executors,
    params,
    outputRoots: site?.outputRoots ?? [],
    ownFiles,
    assumeInputs,
    stats,
    baseDir,
  });
  diagnostics.push(...located(doc, c.problems));
  const planned = c.plan && c.linked && !diagnostics.some((d) => d.severity === "error");
  if (planned && checkInputs) {
    diagnostics.push(...located(doc, await checkRemoteInputs(c.expansion, c.linked!.sources)));
  }
  return finish({
    ...base,
    expansion: c.expansion,
    ...(c.linked ? { linked: c.linked } : {}),
    ...(c.plan && !diagnostics.some((d) => d.severity === "error") ? { plan: c.plan } : {}),
  });
}

/**
 * `--param` names the workflow does not declare: an error each, at its `params` (a misspelt
 * override silently running with the default is worse than no run).
 */
function unknownOverrides(
  overrides: Readonly<Record<string, ParamValue>>,
  workflow: Workflow,
): Problem[] {
  const declared = Object.keys(workflow.params);
  const listed = declared.length === 0
    ? "; it declares none"
    : `; it declares ${declared.map((p) => `"${p}"`).join(", ")}`;
  return Object.keys(overrides).filter((name) => !Object.hasOwn(workflow.params, name)).map(
    (name) => {
      const hint = didYouMean(name, declared);
      return error(
        "unknown-param",
        declared.length > 0 ? ["params"] : [],
        `Cannot set --param "${name}": the workflow has no such param${hint || listed}`,
      );
    },
  );
}

/** The workflow file and the site file, absolute. */
function ownFilesOf(file: string, siteFile: string | undefined): OwnFile[] {
  const own = [{ path: resolve(file), what: "workflow file" }];
  if (siteFile !== undefined) own.push({ path: resolve(siteFile), what: "site file" });
  return own;
}

function finish(r: CheckResult & { diagnostics: Diagnostic[] }): CheckResult {
  r.diagnostics.sort(compareDiagnostics);
  return r;
}
