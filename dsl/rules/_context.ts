/**
 * What every semantic rule receives, and the walk over every template field
 * of a workflow that several rules share.
 * @module
 */

import type { Problem } from "../diagnostic.ts";
import type { App, OwnFile, Site, Where, Workflow } from "../model.ts";

/** Input to a workflow rule. */
export interface WorkflowRuleContext {
  /** The raw document (for rules about how things were written). */
  readonly raw: Readonly<Record<string, unknown>>;
  /** The model built from it. */
  readonly workflow: Workflow;
  /** The site file's model, when one was given. */
  readonly site?: Site;
  /** Directory of the workflow file (module paths are relative to it). */
  readonly baseDir: string;
  /** The workspace directory (outputs must stay inside it). */
  readonly workspace: string;
  /** The workflow and site files, absolute: no output may overwrite them. @default [] */
  readonly ownFiles?: readonly OwnFile[];
}

/** Input to a site rule. */
export interface SiteRuleContext {
  /** The raw document. */
  readonly raw: Readonly<Record<string, unknown>>;
  /** The model built from it. */
  readonly site: Site;
}

/** A semantic rule over a workflow. */
export type WorkflowRule = (ctx: WorkflowRuleContext) => Problem[];

/** A semantic rule over a site file (or a workflow's `executors` block). */
export type SiteRule = (ctx: SiteRuleContext) => Problem[];

/** Which names a template field may use. */
export type Field =
  | "files"
  | "for_each"
  | "inputs"
  | "outputs"
  | "id"
  | "label"
  | "command"
  | "shell"
  | "script"
  | "stdout"
  | "stderr"
  | "benchmark"
  | "env"
  | "resources";

/** One template-bearing field: its text, where it is, and what it belongs to. */
export interface TemplateField {
  /** The template text. */
  readonly text: string;
  /** Key path of the value. */
  readonly where: Where;
  /** Which field kind (decides the allowed names). */
  readonly field: Field;
  /** The app it belongs to, if any. */
  readonly app?: App;
}

/** Every template field of a workflow, in document order. */
export function* templateFields(w: Workflow): Generator<TemplateField> {
  for (const f of Object.values(w.files)) {
    if (f.catalog) continue; // a catalog's URLs are literal, checked where it is read
    for (const r of f.replicas ?? [f]) {
      if (!("literal" in r && r.literal)) yield { text: r.value, where: r.where, field: "files" };
    }
  }
  for (const app of Object.values(w.apps)) {
    const base = ["apps", app.name];
    for (const v of app.forEach) {
      if (typeof v.source === "string") {
        yield { text: v.source, where: [...base, "for_each", v.name], field: "for_each", app };
      }
    }
    if (app.id !== undefined) yield { text: app.id, where: [...base, "id"], field: "id", app };
    if (app.label !== undefined) {
      yield { text: app.label, where: [...base, "label"], field: "label", app };
    }
    for (const slot of Object.values(app.inputs)) {
      for (const f of slot.files) yield { text: f.value, where: f.where, field: "inputs", app };
    }
    for (const slot of Object.values(app.outputs)) {
      for (const f of slot.files) yield { text: f.value, where: f.where, field: "outputs", app };
    }
    const run = app.run;
    if (run?.kind === "command") {
      for (const [i, arg] of run.argv.entries()) {
        yield { text: arg, where: [...base, "command", i], field: "command", app };
      }
    }
    if (run?.kind === "shell") {
      yield { text: run.script, where: [...base, "shell"], field: "shell", app };
    }
    if (run?.kind === "script") {
      yield { text: run.path, where: [...base, "script"], field: "script", app };
    }
    if (app.stdout !== undefined) {
      yield { text: app.stdout, where: [...base, "stdout"], field: "stdout", app };
    }
    if (app.stderr !== undefined) {
      yield { text: app.stderr, where: [...base, "stderr"], field: "stderr", app };
    }
    if (app.benchmark !== undefined) {
      yield { text: app.benchmark, where: [...base, "benchmark"], field: "benchmark", app };
    }
    for (const [k, v] of Object.entries(app.env)) {
      yield { text: v, where: [...base, "env", k], field: "env", app };
    }
    for (const r of [app.resources.cores, app.resources.memory]) {
      if (typeof r?.min === "string") {
        yield { text: r.min, where: r.minWhere, field: "resources", app };
      }
      if (typeof r?.max === "string" && r.max !== r.min) {
        yield { text: r.max, where: r.maxWhere, field: "resources", app };
      }
    }
  }
}
