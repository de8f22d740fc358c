/**
 * Validation: shape (the JSON Schemas), then the semantic rules, each a small
 * function of its own. Every problem is reported; none stops the others.
 * @module
 */

import { resolve } from "node:path";
import type { Problem } from "./diagnostic.ts";
import type { OwnFile, Site, Workflow } from "./model.ts";
import { validateShape } from "./shape.ts";
import { toSite, toWorkflow } from "./to_model.ts";
import type { WorkflowRule } from "./rules/_context.ts";
import { checkVersion } from "./rules/version.ts";
import { checkSecrets, isSecretKey } from "./rules/secrets.ts";
import { runKind } from "./rules/run_kind.ts";
import { expressionNames, unstagedFiles, unusedNames } from "./rules/expressions.ts";
import { afterApps, knownExecutors } from "./rules/references.ts";
import { fileForms, outputsInWorkspace, ownFilesNotOutputs, validUrls } from "./rules/files.ts";
import { forEachLists } from "./rules/for_each.ts";
import { checkQuantities } from "./rules/quantities.ts";
import { paramTypes } from "./rules/param_types.ts";
import { functionModules } from "./rules/function_module.ts";
import { scriptFiles } from "./rules/script_file.ts";
import { unusedPermissions } from "./rules/permissions.ts";
import { redirectsToOutputs } from "./rules/redirects.ts";
import { checkExecutors } from "./rules/staging_rules.ts";
import { quotedSubstitutions } from "./rules/shell_quotes.ts";
import { snakemakePlaceholders } from "./rules/placeholders.ts";
import { unusedInputs } from "./rules/unused_inputs.ts";
import { containerRuntimes } from "./rules/containers.ts";

/** The workflow rules, in the order their problems are usually read. */
export const WORKFLOW_RULES: readonly WorkflowRule[] = Object.freeze([
  runKind,
  expressionNames,
  unstagedFiles,
  afterApps,
  knownExecutors,
  containerRuntimes,
  fileForms,
  validUrls,
  outputsInWorkspace,
  ownFilesNotOutputs,
  forEachLists,
  functionModules,
  scriptFiles,
  unusedPermissions,
  redirectsToOutputs,
  quotedSubstitutions,
  snakemakePlaceholders,
  unusedInputs,
  unusedNames,
  paramTypes,
]);

/** Options for {@linkcode validateWorkflow}. */
export interface ValidateWorkflowOptions {
  /** The site model, when a site file was given. @default undefined */
  readonly site?: Site;
  /** Directory the workflow's relative module paths start from. @default "." */
  readonly baseDir?: string;
  /** The workspace directory. @default baseDir */
  readonly workspace?: string;
  /** The workflow and site files, absolute: no output may overwrite them. @default [] */
  readonly ownFiles?: readonly OwnFile[];
}

/** Validation result: the model (always built, tolerantly) and every problem. */
export interface Validated<T> {
  /** The model; trust it only when `problems` has no error. */
  readonly model: T;
  /** Problems, by key path. */
  readonly problems: readonly Problem[];
}

/** Shape problems, minus those a more specific rule reports better. */
function shapeProblems(raw: Record<string, unknown>, kind: "workflow" | "site"): Problem[] {
  return validateShape(raw, kind).filter((p) =>
    !(p.code === "unknown-key" && isSecretKey(String(p.path.at(-1))))
  );
}

/** Validate a workflow document's raw value. */
export function validateWorkflow(
  raw: Record<string, unknown>,
  options: ValidateWorkflowOptions = {},
): Validated<Workflow> {
  const { site, baseDir = ".", workspace = baseDir, ownFiles = [] } = options;
  const version = checkVersion(raw, "ferry");
  const workflow = toWorkflow(raw);
  if (version.length > 0) return { model: workflow, problems: version };
  const problems: Problem[] = [
    ...shapeProblems(raw, "workflow"),
    ...checkSecrets(raw),
    ...checkQuantities(raw),
  ];
  const ws = resolve(workspace);
  const ctx = site
    ? { raw, workflow, site, baseDir, workspace: ws, ownFiles }
    : { raw, workflow, baseDir, workspace: ws, ownFiles };
  for (const rule of WORKFLOW_RULES) problems.push(...rule(ctx));
  problems.push(...checkExecutors(workflow.executors));
  return { model: workflow, problems: dedupe(problems) };
}

/** Validate a site document's raw value. */
export function validateSite(raw: Record<string, unknown>): Validated<Site> {
  const version = checkVersion(raw, "ferry-site");
  const site = toSite(raw);
  if (version.length > 0) return { model: site, problems: version };
  const problems = [
    ...shapeProblems(raw, "site"),
    ...checkSecrets(raw),
    ...checkQuantities(raw),
    ...checkExecutors(site.executors),
  ];
  return { model: site, problems: dedupe(problems) };
}

/** One problem per (code, path, message). */
function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.code}\u0000${p.path.join("\u0000")}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
