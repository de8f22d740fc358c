/**
 * Expansion: apps → tasks. Evaluates `for_each` (cartesian product), every
 * input and output template, and normalises files to URLs. A fan-out over an
 * output known only at run time becomes one placeholder task that expands
 * after its producer ran, through this same code.
 * @module
 */

import { relative } from "node:path";
import { error, inTemplate, type Problem } from "../dsl/diagnostic.ts";
import { expressions, parseTemplateCached } from "../dsl/expr.ts";
import type { App, DeclaredFile, OwnFile, ParamValue, Where, Workflow } from "../dsl/model.ts";
import { evaluate, evaluateText, ExpressionError, type Scope, template } from "./evaluate.ts";
import { safeDecode, toUrl, workspaceUrl } from "./urls.ts";
import { display, DynamicList, FileValue, kindOf, localPath, type Value } from "./values.ts";
import { reservedProblem } from "../dsl/rules/files.ts";
import { entries } from "../dsl/records.ts";
import { type Binding, isRecord, taskId } from "./task_ids.ts";

/** One file of a task, resolved to a URL. */
export interface TaskFile {
  /** Normalised URL (for a glob, the URL of the pattern). */
  readonly url: string;
  /** `file` for a concrete file; `glob`/`dir` for dynamic outputs or inputs gathering them. */
  readonly kind: "file" | "glob" | "dir";
  /** Where the file was written in the workflow. */
  readonly where: Where;
  /** An intermediate output. */
  readonly temp?: boolean;
  /** Declared digest of an input. */
  readonly checksum?: string;
  /** Outputs: the replica catalog to register it in (as written, relative to the workflow file). */
  readonly register?: string;
  /** For inputs gathering a dynamic output: which app and output. */
  readonly dynamic?: { readonly app: string; readonly output: string };
}

/** A named input or output slot of a task. */
export interface TaskSlot {
  /** Whether the slot is a list. */
  readonly many: boolean;
  /** Its files. */
  readonly files: readonly TaskFile[];
}

/** A task before staging is decided. */
export interface ExpandedTask {
  /** Stable readable id: `align[sample=A]`. */
  readonly id: string;
  /** The app it comes from. */
  readonly app: string;
  /** The `for_each` binding, as text. */
  readonly bindings: Readonly<Record<string, string>>;
  /** The `for_each` binding, as values (for evaluating commands later). */
  readonly vars: Readonly<Record<string, Value>>;
  /** Inputs by name. */
  readonly inputs: Readonly<Record<string, TaskSlot>>;
  /** Outputs by name. */
  readonly outputs: Readonly<Record<string, TaskSlot>>;
  /** Set on a placeholder that expands once this app's output is known. */
  readonly expandsAfter?: { readonly app: string; readonly output: string };
}

/** A named file with several copies of the same content. */
export interface LogicalFile {
  /** Its name in `files`. */
  readonly name: string;
  /** Its copies, in order of preference: absolute URLs and the sites holding them. */
  readonly replicas: readonly { readonly url: string; readonly site?: string }[];
  /** The digest every copy has. */
  readonly checksum?: string;
}

/** Options for {@linkcode expand}. */
export interface ExpandOptions {
  /** The workspace directory (relative paths resolve against it). */
  readonly workspace: string;
  /** Param overrides from `--param k=v`. @default {} */
  readonly params?: Readonly<Record<string, ParamValue>>;
  /** Roots outside the workspace that outputs may use. @default [] */
  readonly outputRoots?: readonly string[];
  /** The workflow and site files: no output may overwrite them (nor `.ferry/`). @default [] */
  readonly ownFiles?: readonly OwnFile[];
  /** Values for dynamic outputs that are already known (run time). @default undefined */
  readonly known?: ReadonlyMap<string, readonly FileValue[]>;
  /**
   * Bindings to add to apps' fan-outs, as if their lists held them (targets by output path):
   * app name → one record of `for_each` variable → value per extra task. @default none
   */
  readonly extra?: Extra;
}

/** Extra tasks by app: each one's `for_each` bindings, by variable. */
export type Extra = ReadonlyMap<string, readonly Readonly<Record<string, string>>[]>;

/** Tasks of every app, in app order, and the problems found. */
export interface Expansion {
  /** All tasks. */
  readonly tasks: ExpandedTask[];
  /** Tasks of each app, by app name. */
  readonly byApp: ReadonlyMap<string, readonly number[]>;
  /** Params in effect (overrides applied). */
  readonly params: Readonly<Record<string, Value>>;
  /** Named files, as URLs. */
  readonly files: Readonly<Record<string, string>>;
  /** Logical files (named files with replicas), by the URL of their first replica. */
  readonly logical?: ReadonlyMap<string, LogicalFile>;
  /** Problems with their key paths. */
  readonly problems: Problem[];
}

/** Expand every app of a workflow into tasks. */
export function expand(w: Workflow, options: ExpandOptions): Expansion {
  const { workspace, params: overrides = {}, outputRoots = [], ownFiles = [], known, extra } =
    options;
  const problems: Problem[] = [];
  const base = workspaceUrl(workspace);
  const params = { ...w.params, ...overrides } as Scope;
  const files: Record<string, Value> = {};
  const logical = new Map<string, LogicalFile>();
  for (const [name, f] of Object.entries(w.files)) {
    if (f.replicas) {
      const l = logicalFile(name, f, params, workspace, problems);
      if (l) logical.set(l.replicas[0]!.url, l), files[name] = new FileValue(l.replicas[0]!.url);
      continue;
    }
    const v = fileValues(f, { params }, workspace, problems);
    if (v[0]) files[name] = v[0];
  }
  const before = problems.length;
  const order = appOrder(w, problems);
  if (problems.length > before) {
    // Apps in a cycle cannot be expanded; reporting more about them would only repeat the cycle.
    return { tasks: [], byApp: new Map(), params, files: {}, problems };
  }
  const tasks: ExpandedTask[] = [];
  const byApp = new Map<string, number[]>();
  const appOutputs: Record<string, Record<string, Value>> = {};
  const ids = new Set<string>();
  for (const app of order) {
    const scope: Scope = { params, files, apps: appOutputs };
    const indices: number[] = [];
    const expanded = expandApp(
      app,
      scope,
      { workspace, base, outputRoots, ownFiles, known, extra },
      problems,
    );
    for (const t of expanded) {
      let id = t.id;
      for (let n = 2; ids.has(id); n++) id = `${t.id}#${n}`;
      ids.add(id);
      indices.push(tasks.length);
      tasks.push(id === t.id ? t : { ...t, id });
    }
    byApp.set(app.name, indices);
    appOutputs[app.name] = { outputs: outputsOf(app, indices.map((i) => tasks[i]!), known) };
  }
  const fileUrls: Record<string, string> = {};
  for (const [k, v] of Object.entries(files)) if (v instanceof FileValue) fileUrls[k] = v.url;
  return logical.size > 0
    ? { tasks, byApp, params, files: fileUrls, logical, problems }
    : { tasks, byApp, params, files: fileUrls, problems };
}

/** A named file's replicas as URLs (a catalog's are literal; the workflow's are templates). */
function logicalFile(
  name: string,
  f: DeclaredFile,
  params: Scope,
  workspace: string,
  problems: Problem[],
): LogicalFile | undefined {
  const replicas: { url: string; site?: string }[] = [];
  for (const r of f.replicas ?? []) {
    const urls = r.literal
      ? [r.value]
      : fileValues({ ...f, value: r.value, where: r.where }, { params }, workspace, problems)
        .flatMap((v) => v instanceof FileValue ? [v.url] : []);
    for (const url of urls) replicas.push(r.site !== undefined ? { url, site: r.site } : { url });
  }
  if (replicas.length === 0) return undefined;
  return f.checksum !== undefined ? { name, replicas, checksum: f.checksum } : { name, replicas };
}

/** What `apps.A.outputs` holds: per output, the list of files over A's tasks. */
function outputsOf(
  app: App,
  tasks: ExpandedTask[],
  known?: ReadonlyMap<string, readonly FileValue[]>,
): Record<string, Value> {
  const out: Record<string, Value> = {};
  const dynamicApp = tasks.some((t) => t.expandsAfter);
  for (const [name, slot] of Object.entries(app.outputs)) {
    const isDynamic = dynamicApp || slot.files.some((f) => f.kind !== "file");
    const k = known?.get(`${app.name}.${name}`);
    if (k) out[name] = k;
    else if (isDynamic) out[name] = new DynamicList(app.name, name);
    else {out[name] = tasks.flatMap((t) =>
        t.outputs[name]?.files.map((f) => new FileValue(f.url)) ?? []
      );}
  }
  return out;
}

/** Apps in an order where every `apps.X` reference comes after X. */
function appOrder(w: Workflow, problems: Problem[]): App[] {
  const apps = Object.values(w.apps);
  const refs = new Map<string, { to: string; where: Where }[]>();
  for (const app of apps) {
    const list: { to: string; where: Where }[] = [];
    const scan = (text: string, where: Where) => {
      const parsed = parseTemplateCached(text);
      if (!parsed.ok) return;
      for (const e of expressions(parsed.template)) {
        if (
          e.path[0] === "apps" && typeof e.path[1] === "string" && Object.hasOwn(w.apps, e.path[1])
        ) {
          list.push({ to: e.path[1], where });
        }
      }
    };
    for (const v of app.forEach) {
      if (typeof v.source === "string") scan(v.source, ["apps", app.name, "for_each", v.name]);
    }
    for (const slot of Object.values(app.inputs)) {
      for (const f of slot.files) scan(f.value, f.where);
    }
    refs.set(app.name, list);
  }
  const state = new Map<string, "visiting" | "done">();
  const out: App[] = [];
  const visit = (name: string, stack: string[]) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      const first = refs.get(cycle[0]!)!.find((r) => r.to === cycle[1]);
      problems.push(
        error(
          "cycle",
          first?.where ?? ["apps", name],
          `Cannot order apps in a cycle: ${cycle.join(" → ")}`,
        ),
      );
      return;
    }
    state.set(name, "visiting");
    for (const r of refs.get(name) ?? []) visit(r.to, [...stack, name]);
    state.set(name, "done");
    out.push(w.apps[name]!);
  };
  for (const app of apps) visit(app.name, []);
  return out;
}

interface Ctx {
  readonly workspace: string;
  readonly base: string;
  readonly outputRoots: readonly string[];
  readonly ownFiles: readonly OwnFile[];
  readonly known: ReadonlyMap<string, readonly FileValue[]> | undefined;
  readonly extra: Extra | undefined;
}

function expandApp(app: App, scope: Scope, ctx: Ctx, problems: Problem[]): ExpandedTask[] {
  const lists = forEachLists(app, scope, problems);
  if (!lists) return [];
  const dynamic = lists.find((l) => l.values.length === 1 && l.values[0] instanceof DynamicList);
  if (dynamic) return [placeholder(app, lists, dynamic.values[0] as DynamicList)];
  const out: ExpandedTask[] = [];
  const named = new Map<string, string>();
  for (const combo of combos(lists, ctx.extra?.get(app.name))) {
    const vars: Record<string, Value> = {};
    const bindings: Record<string, string> = {};
    for (const [name, value] of combo) {
      vars[name] = value;
      bindings[name] = display(value, ctx.base);
    }
    const taskScope: Scope = { ...scope, ...vars };
    const explicit = app.id === undefined
      ? undefined
      : explicitId(app, app.id, taskScope, problems);
    if (app.id !== undefined && explicit === undefined) continue;
    const { id, named: isNamed } = taskId(app.name, combo, bindings, explicit);
    if (isNamed && !uniqueId(app, id, bindings, named, problems)) continue;
    const inputs = slots(app.inputs, taskScope, ctx, problems, "input");
    const outputs = slots(app.outputs, taskScope, ctx, problems, "output");
    out.push({ id, app: app.name, bindings, vars, inputs, outputs });
  }
  return out;
}

/** Each `for_each` variable's values (a mapping's entries as records), or undefined after a problem. */
function forEachLists(
  app: App,
  scope: Scope,
  problems: Problem[],
): { name: string; values: readonly Value[] }[] | undefined {
  const lists: { name: string; values: readonly Value[] }[] = [];
  for (const v of app.forEach) {
    const where = ["apps", app.name, "for_each", v.name];
    let value: Value;
    try {
      value = typeof v.source === "string" ? evaluate(v.source, scope) : v.source;
    } catch (e) {
      if (e instanceof ExpressionError) {
        problems.push(
          inTemplate(error("for-each-not-list", where, e.message), String(v.source), e.offset),
        );
      }
      return undefined;
    }
    if (value instanceof DynamicList) lists.push({ name: v.name, values: [value] });
    else if (Array.isArray(value)) lists.push({ name: v.name, values: value });
    else if (isRecord(value)) lists.push({ name: v.name, values: entries(value) });
    else {
      problems.push(
        error(
          "for-each-not-list",
          where,
          `Cannot iterate over "${typeof v.source === "string" ? v.source : ""}": it is ${
            kindOf(value)
          }, not a list or a mapping`,
        ),
      );
      return undefined;
    }
  }
  return lists;
}

/** The one task standing for a fan-out over an output known only at run time. */
function placeholder(
  app: App,
  lists: { name: string; values: readonly Value[] }[],
  dynamic: DynamicList,
): ExpandedTask {
  const bindings: Record<string, string> = {};
  for (const l of lists) {
    bindings[l.name] = l.values.length === 1 && l.values[0] instanceof DynamicList
      ? "*"
      : `${l.values.length} values`;
  }
  const id = `${app.name}[${Object.entries(bindings).map(([k, v]) => `${k}=${v}`).join(",")}]`;
  return {
    id,
    app: app.name,
    bindings,
    vars: {},
    inputs: {},
    outputs: {},
    expandsAfter: { app: dynamic.producer, output: dynamic.output },
  };
}

/** The text of an app's `id:` template for one task, or undefined after a problem. */
function explicitId(app: App, text: string, scope: Scope, problems: Problem[]): string | undefined {
  try {
    return evaluateText(template(text), scope);
  } catch (e) {
    if (!(e instanceof ExpressionError)) throw e;
    problems.push(inTemplate(error(e.code, ["apps", app.name, "id"], e.message), text, e.offset));
    return undefined;
  }
}

/** Whether `id` is new in its app (`seen`: id → bindings shown); a clash is a problem at the key. */
function uniqueId(
  app: App,
  id: string,
  bindings: Readonly<Record<string, string>>,
  seen: Map<string, string>,
  problems: Problem[],
): boolean {
  const shown = Object.entries(bindings).map(([k, v]) => `${k}=${v}`).join(",");
  const first = seen.get(id);
  if (first === undefined) {
    seen.set(id, shown);
    return true;
  }
  const where = app.id !== undefined ? ["apps", app.name, "id"] : ["apps", app.name, "for_each"];
  problems.push({
    ...error(
      "duplicate-task-id",
      where,
      `Cannot give two tasks the id "${id}": the bindings ${first} and ${shown} both give it${
        app.id !== undefined ? "" : `; set "id" on app "${app.name}" to tell them apart`
      }`,
    ),
    at: "key",
  });
  return false;
}

/** Every combination of the lists, then the extra bindings (each placed after its list's values). */
function* combos(
  lists: { name: string; values: readonly Value[] }[],
  extra: readonly Readonly<Record<string, string>>[] | undefined,
): Generator<Binding[]> {
  yield* product(lists);
  for (const e of extra ?? []) {
    yield lists.map((l) => [l.name, e[l.name] ?? null, l.values.length] as Binding);
  }
}

function* product(lists: { name: string; values: readonly Value[] }[]): Generator<Binding[]> {
  if (lists.length === 0) {
    yield [];
    return;
  }
  const idx = lists.map(() => 0);
  if (lists.some((l) => l.values.length === 0)) return;
  for (;;) {
    yield lists.map((l, i) => [l.name, l.values[idx[i]!]!, idx[i]!] as Binding);
    let k = lists.length - 1;
    while (k >= 0 && ++idx[k]! >= lists[k]!.values.length) idx[k--] = 0;
    if (k < 0) return;
  }
}

function slots(
  specs: App["inputs"],
  scope: Scope,
  ctx: Ctx,
  problems: Problem[],
  role: "input" | "output",
): Record<string, TaskSlot> {
  const out: Record<string, TaskSlot> = {};
  for (const [name, slot] of Object.entries(specs)) {
    const files: TaskFile[] = [];
    let many = slot.many;
    for (const spec of slot.files) {
      const before = files.length;
      for (const v of fileValues(spec, scope, ctx.workspace, problems)) {
        if (v instanceof DynamicList) {
          files.push({
            url: `${ctx.base}/.ferry-dynamic/${v.producer}/${v.output}`,
            kind: "glob",
            where: spec.where,
            dynamic: { app: v.producer, output: v.output },
          });
          many = true;
        } else {
          files.push(withExtras({ url: v.url, kind: spec.kind, where: spec.where }, spec));
        }
      }
      if (files.length - before !== 1) many = true;
      if (role === "output") checkOutputUrl(spec, files.slice(before), ctx, problems);
    }
    out[name] = { many, files };
  }
  return out;
}

function withExtras(f: TaskFile, spec: DeclaredFile): TaskFile {
  const extra: { temp?: boolean; checksum?: string; register?: string } = {};
  if (spec.register) extra.register = spec.register;
  if (spec.temp) extra.temp = true;
  if (spec.checksum) extra.checksum = spec.checksum;
  return { ...f, ...extra };
}

/** Evaluate one file spec to file values (a sole expression may give a list). */
function fileValues(
  spec: DeclaredFile,
  scope: Scope,
  workspace: string,
  problems: Problem[],
): (FileValue | DynamicList)[] {
  let v: Value;
  try {
    v = evaluate(spec.value, scope);
  } catch (e) {
    if (!(e instanceof ExpressionError)) throw e;
    problems.push(inTemplate(error(e.code, spec.where, e.message), spec.value, e.offset));
    return [];
  }
  const out: (FileValue | DynamicList)[] = [];
  const add = (x: Value) => {
    if (x instanceof FileValue || x instanceof DynamicList) out.push(x);
    else if (Array.isArray(x)) x.forEach(add);
    else if (typeof x === "string" || typeof x === "number") {
      try {
        out.push(new FileValue(toUrl(String(x), workspace)));
      } catch {
        problems.push(
          error("invalid-url", spec.where, `Cannot use URL "${x}": it is not a valid URL`),
        );
      }
    } else {problems.push(
        error("wrong-type", spec.where, `Cannot use ${kindOf(x)} as a file in "${spec.value}"`),
      );}
  };
  add(v);
  return out;
}

function checkOutputUrl(
  spec: DeclaredFile,
  files: TaskFile[],
  ctx: Ctx,
  problems: Problem[],
): void {
  // Literal outputs were checked by the dsl rule; templated ones are known only now.
  if (template(spec.value).every((p) => p.kind === "text")) return;
  for (const f of files) {
    const here = localPath(f.url);
    const why = here === undefined
      ? undefined
      : reservedProblem(here, ctx.workspace, ctx.ownFiles, spec.kind !== "glob");
    if (why) {
      const shown = here!.startsWith(`${ctx.workspace}/`) ? relative(ctx.workspace, here!) : here;
      problems.push({
        ...error(
          "reserved-output",
          spec.where,
          `Cannot write output "${shown}": ${why} ("${spec.value}" evaluates to it)`,
        ),
        at: "key",
      });
      continue;
    }
    if (!f.url.startsWith("file:") || f.url.startsWith(ctx.base + "/")) continue;
    const roots = ctx.outputRoots.map((r) => toUrl(r, ctx.workspace));
    if (roots.some((r) => f.url.startsWith(r + "/"))) continue;
    problems.push(
      error(
        "output-outside-workspace",
        spec.where,
        `Cannot write output "${
          safeDecode(f.url)
        }" outside the workspace: "${spec.value}" evaluates to a path outside it`,
      ),
    );
  }
}
