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
import { loadDiagnostics, loadFile, type RawDocument } from "../dsl/load.ts";
import { paramTypeProblem } from "../dsl/params.ts";
import { readParamsFiles } from "./params_files.ts";
import { withCatalogs } from "./replica_catalog.ts";
import type { Executor, OwnFile, ParamValue, Site, Workflow } from "../dsl/model.ts";
import { validateSite, validateWorkflow } from "../dsl/validate.ts";
import type { Expansion } from "./expand.ts";
import type { Linked } from "./link.ts";
import type { Plan } from "./plan.ts";
import { compile } from "./compile.ts";
import { checkRemoteInputs } from "./check_inputs.ts";
import { StatCache } from "./stat_cache.ts";
import type { ImageResolver } from "./images.ts";

/** Options for {@linkcode checkWorkflowFile}. */
export interface CheckOptions {
  /** A site file to check and use. @default undefined */
  readonly site?: string;
  /** The workspace directory. @default the workflow file's directory */
  readonly workspace?: string;
  /** Treat absent local inputs as present, warning about each. @default false */
  readonly assumeInputs?: boolean;
  /** Param overrides (`--param`): they win over the params files. @default {} */
  readonly params?: Readonly<Record<string, ParamValue>>;
  /** Params files (`--params`), YAML, TOML or JSON; a later one wins. @default [] */
  readonly paramFiles?: readonly string[];
  /**
   * Also ask the servers of remote http(s) inputs whether they exist (HEAD), once the
   * workflow plans without errors: the only network use of checking. @default false
   */
  readonly checkInputs?: boolean;
  /**
   * Identify container images for the plan (plan and run pass one resolver per invocation).
   * @default none: an image is identified by its reference
   */
  readonly images?: ImageResolver;
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
  /** The params set by params files and `--param`, merged (present with the workflow). */
  readonly params?: Readonly<Record<string, ParamValue>>;
  /** The resolver the plan's images were identified with (plans made again use it too). */
  readonly images?: ImageResolver;
  /** The workflow file's folder, absolute: `script:` and `permissions:` paths start there. */
  readonly baseDir?: string;
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
  const { site: siteFile, assumeInputs = false, checkInputs = false, stats, images } = options;
  const workspace = resolve(options.workspace ?? dirname(file));
  const ownFiles = ownFilesOf(file, siteFile);
  const diagnostics: Diagnostic[] = [];
  const sources = new Map<string, string>();
  const site = siteFile === undefined ? undefined : await checkSite(siteFile, diagnostics, sources);
  const r = await loadFile(file);
  if (r.text !== undefined) sources.set(file, r.text);
  diagnostics.push(...loadDiagnostics(file, r.problems));
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
  const catalogs = await withCatalogs(v.model, file, sources);
  diagnostics.push(...catalogs.diagnostics, ...located(doc, catalogs.problems));
  const workflow = catalogs.workflow;
  if (v.problems.length === 0) {
    const problems = await batchProviderProblems(workflow.executors, dirname(resolve(file)));
    diagnostics.push(...located(doc, problems));
  }
  const merged = await paramsInEffect(doc, workflow, options, diagnostics, sources);
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
    params: merged,
    ...(site ? { site } : {}),
    ...(images ? { images } : {}),
  };
  if (diagnostics.some((d) => d.severity === "error")) return finish(base);
  const c = compile(workflow, {
    workspace,
    executors,
    params: merged,
    outputRoots: site?.outputRoots ?? [],
    ownFiles,
    assumeInputs,
    stats,
    ...(images ? { images } : {}),
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

/** Load and validate a site file; its problems go to `diagnostics`, its text to `sources`. */
async function checkSite(
  siteFile: string,
  diagnostics: Diagnostic[],
  sources: Map<string, string>,
): Promise<Site | undefined> {
  const r = await loadFile(siteFile);
  if (r.text !== undefined) sources.set(siteFile, r.text);
  diagnostics.push(...loadDiagnostics(siteFile, r.problems));
  if (!r.document) return undefined;
  const v = validateSite(r.document.value);
  diagnostics.push(...located(r.document, v.problems));
  if (v.problems.length === 0) {
    const problems = await batchProviderProblems(v.model.executors, dirname(resolve(siteFile)));
    diagnostics.push(...located(r.document, problems));
  }
  return v.model;
}

/**
 * The params files' values under the `--param` overrides, a later file winning; their problems
 * (and those of the overrides) go to `diagnostics`.
 */
async function paramsInEffect(
  doc: RawDocument,
  workflow: Workflow,
  options: CheckOptions,
  diagnostics: Diagnostic[],
  sources: Map<string, string>,
): Promise<Record<string, ParamValue>> {
  const params = options.params ?? {};
  diagnostics.push(...located(doc, unknownOverrides(params, workflow)));
  const fromFiles = await readParamsFiles(options.paramFiles ?? [], workflow, sources);
  diagnostics.push(...fromFiles.diagnostics);
  return { ...fromFiles.params, ...params };
}

/**
 * `--param` names the workflow does not declare: an error each, at its `params` (a misspelt
 * override silently running with the default is worse than no run); values of another type
 * than the param's: an error each, at the param.
 */
function unknownOverrides(
  overrides: Readonly<Record<string, ParamValue>>,
  workflow: Workflow,
): Problem[] {
  const declared = Object.keys(workflow.params);
  const listed = declared.length === 0
    ? "; it declares none"
    : `; it declares ${declared.map((p) => `"${p}"`).join(", ")}`;
  return Object.entries(overrides).flatMap(([name, value]) => {
    if (!Object.hasOwn(workflow.params, name)) {
      const hint = didYouMean(name, declared);
      return [error(
        "unknown-param",
        declared.length > 0 ? ["params"] : [],
        `Cannot set --param "${name}": the workflow has no such param${hint || listed}`,
      )];
    }
    const why = paramTypeProblem(value, workflow.params[name], workflow.paramTypes?.[name]);
    return why === undefined
      ? []
      : [error("wrong-type", ["params", name], `Cannot set --param "${name}": ${why}`)];
  });
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
