/**
 * Targets by output path (Snakemake's wildcards): a target path that no task
 * writes, but that exactly one output template of a fan-out app matches, adds
 * that app's task with the bindings read from the path (`sorted/D.bam` with
 * `sorted/${{ sample }}.bam` → `sample=D`); and, backwards, the tasks making
 * each of its inputs that is neither a file nor another task's output. A
 * variable matches one or more characters other than `/`; a path that a
 * template matches in more than one way is refused.
 * @module
 */

import { relative } from "node:path";
import { visible } from "../dsl/visible.ts";
import { parseTemplateCached, type Template } from "../dsl/expr.ts";
import type { App, Workflow } from "../dsl/model.ts";
import type { Expansion, Extra } from "./expand.ts";
import { targetTasks, unknownTarget, writersOf } from "./targets.ts";
import { safeDecode, toUrl, workspaceUrl } from "./urls.ts";
import { localPath, type Value } from "./values.ts";

/** Options for {@linkcode inferTargets}. */
export interface InferOptions {
  /** The workspace directory. */
  readonly workspace: string;
  /** The params in effect. */
  readonly params: Readonly<Record<string, Value>>;
  /** Expand the workflow with these extra tasks. */
  readonly expandWith: (extra: Extra) => Expansion;
  /** Whether a local file exists. */
  readonly exists: (path: string) => boolean;
}

/** The extra tasks the targets need (none when every target names tasks), or why there are none. */
export type Inferred =
  | { readonly ok: true; readonly extra: Extra }
  | { readonly ok: false; readonly message: string };

/** At most this many tasks are inferred for one plan (a template reading a longer name of itself would go on forever). */
const MAX_INFERRED = 1000;

/** Infer the tasks that make target paths no task writes yet. */
export function inferTargets(
  w: Workflow,
  targets: readonly string[],
  x: Expansion,
  o: InferOptions,
): Inferred {
  const state: State = { w, o, x, extra: new Map(), count: 0 };
  for (const target of targets) {
    if (targetTasks(target, state.x, o.workspace).size > 0) continue;
    let url: string;
    try {
      url = toUrl(target, o.workspace);
    } catch {
      return { ok: false, message: unknownTarget(target, x) };
    }
    const path = localPath(url);
    const c = path === undefined ? undefined : candidates(w, o, path);
    if (!c || (c.matches.length === 0 && c.ambiguous.length === 0)) {
      const why = c?.skipped.length
        ? `it is no task id, app or output, and no output template can make it (${
          c.skipped.join("; ")
        })`
        : undefined;
      return { ok: false, message: visible(unknownTarget(target, x, undefined, why)) };
    }
    const why = make(url, c, state);
    if (why !== undefined) {
      return { ok: false, message: visible(`Cannot make target "${target}": ${why}`) };
    }
  }
  return { ok: true, extra: state.extra };
}

interface State {
  readonly w: Workflow;
  readonly o: InferOptions;
  x: Expansion;
  readonly extra: Map<string, Record<string, string>[]>;
  count: number;
}

/** An output template that matches a path, with the bindings read from it. */
interface Match {
  readonly app: string;
  readonly text: string;
  readonly bindings: Readonly<Record<string, string>>;
}

/** What the output templates say about a path. */
interface Candidates {
  /** Templates that match it in exactly one way. */
  readonly matches: readonly Match[];
  /** Templates that match it in more than one way, described. */
  readonly ambiguous: readonly string[];
  /** Templates that could match it but use more than plain variables, described. */
  readonly skipped: readonly string[];
}

/** Add the task that makes `url` (one of `c`) and those making its inputs; else why not. */
function make(url: string, c: Candidates, s: State): string | undefined {
  if (c.ambiguous.length + c.matches.length > 1 || c.ambiguous.length === 1) {
    const all = [...c.matches.map(describeMatch), ...c.ambiguous];
    return c.ambiguous.length === 1 && c.matches.length === 0
      ? `${all[0]}, so the bindings are ambiguous`
      : `${all.length} output templates match it: ${all.join("; ")}`;
  }
  const m = c.matches[0]!;
  if (++s.count > MAX_INFERRED) {
    return `it needs more than ${MAX_INFERRED} inferred tasks (does a template read a longer name of itself?)`;
  }
  const list = s.extra.get(m.app) ?? [];
  list.push({ ...m.bindings });
  s.extra.set(m.app, list);
  s.x = s.o.expandWith(s.extra);
  const i = s.x.byApp.get(m.app)?.find((j) =>
    Object.entries(m.bindings).every(([k, v]) => s.x.tasks[j]!.bindings[k] === v)
  );
  const task = i === undefined ? undefined : s.x.tasks[i]!;
  if (!task || !writersOf(url, s.x, s.o.workspace).has(i!)) {
    return `${describeMatch(m)}, but that task would not write it`;
  }
  for (const slot of Object.values(task.inputs)) {
    for (const f of slot.files) {
      if (f.kind !== "file" || f.dynamic) continue;
      const path = localPath(f.url);
      if (path === undefined || writersOf(f.url, s.x, s.o.workspace).size > 0) continue;
      if (s.o.exists(path)) continue;
      const shown = shownPath(f.url, s.o.workspace);
      const inner = candidates(s.w, s.o, path);
      const why = inner.matches.length === 0 && inner.ambiguous.length === 0
        ? `which is no file and matches no output template${
          inner.skipped.length ? ` (${inner.skipped.join("; ")})` : ""
        }`
        : wrapped(make(f.url, inner, s));
      if (why !== undefined) return `${task.id} would write it but reads "${shown}", ${why}`;
    }
  }
  return undefined;
}

function wrapped(why: string | undefined): string | undefined {
  return why === undefined ? undefined : `for which ${why}`;
}

function describeMatch(m: Match): string {
  const b = Object.entries(m.bindings).map(([k, v]) => `${k}=${v}`).join(",");
  return `"${m.text}" of app ${m.app} gives ${b}`;
}

function shownPath(url: string, workspace: string): string {
  const base = workspaceUrl(workspace);
  return url.startsWith(base + "/") ? safeDecode(url.slice(base.length + 1)) : safeDecode(url);
}

/** Every output template of every fan-out app, tried against a local path. */
function candidates(w: Workflow, o: InferOptions, path: string): Candidates {
  const ws = localPath(workspaceUrl(o.workspace))!;
  const rel = path.startsWith(ws + "/") ? relative(ws, path) : undefined;
  const matches: Match[] = [];
  const ambiguous: string[] = [];
  const skipped: string[] = [];
  for (const app of Object.values(w.apps)) {
    if (app.forEach.length === 0) continue;
    for (const slot of Object.values(app.outputs)) {
      for (const f of slot.files) {
        if (f.kind !== "file") continue;
        const parsed = parseTemplateCached(f.value);
        if (!parsed.ok) continue;
        const r = tryTemplate(
          app,
          f.value,
          parsed.template,
          o.params,
          f.value.startsWith("/") ? path : rel,
        );
        if (r.kind === "match") {
          matches.push({ app: app.name, text: f.value, bindings: r.bindings });
        } else if (r.kind === "ambiguous") ambiguous.push(r.why);
        else if (r.kind === "skipped") skipped.push(r.why);
      }
    }
  }
  return { matches, ambiguous, skipped };
}

type Tried =
  | { kind: "match"; bindings: Record<string, string> }
  | { kind: "ambiguous" | "skipped"; why: string }
  | { kind: "no" };

/** Match one output template against a path (undefined: outside the workspace for a relative one). */
function tryTemplate(
  app: App,
  text: string,
  t: Template,
  params: Readonly<Record<string, Value>>,
  path: string | undefined,
): Tried {
  if (path === undefined) return { kind: "no" };
  const vars = app.forEach.map((v) => v.name);
  const order: string[] = [];
  let lazy = "", greedy = "", loose = "";
  let notPlain: string | undefined;
  for (const [n, part] of t.entries()) {
    let literal: string | undefined;
    if (part.kind === "text") literal = n === 0 ? part.text.replace(/^(\.\/)+/, "") : part.text;
    else if (part.path.length === 2 && part.path[0] === "params") {
      const v = params[part.path[1] as string];
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
        literal = String(v);
      }
    }
    if (literal !== undefined) {
      const e = escapeRe(literal);
      lazy += e, greedy += e, loose += e;
      continue;
    }
    loose += ".+";
    const name = part.kind === "expr" && part.path.length === 1 ? String(part.path[0]) : undefined;
    if (name === undefined || !vars.includes(name)) {
      notPlain ??= part.kind === "expr" ? `\${{ ${part.source} }}` : "";
      continue;
    }
    const seen = order.indexOf(name);
    if (seen >= 0) {
      lazy += `\\${seen + 1}`, greedy += `\\${seen + 1}`;
      continue;
    }
    order.push(name);
    lazy += "([^/]+?)", greedy += "([^/]+)";
  }
  if (!new RegExp(`^${loose}$`).test(path)) return { kind: "no" };
  const where = `"${text}" of app ${app.name}`;
  if (notPlain !== undefined) {
    return { kind: "skipped", why: `${where} uses "${notPlain}", not a plain for_each variable` };
  }
  const missing = vars.filter((v) => !order.includes(v));
  if (missing.length > 0) {
    return { kind: "skipped", why: `${where} does not name ${missing.join(", ")}` };
  }
  if (app.forEach.some((v) => typeof v.source === "string" && v.source.includes("apps."))) {
    return { kind: "skipped", why: `${where} fans out over another app's outputs` };
  }
  const a = new RegExp(`^${lazy}$`).exec(path), b = new RegExp(`^${greedy}$`).exec(path);
  if (!a || !b) return { kind: "no" };
  const read = (m: RegExpExecArray) => Object.fromEntries(order.map((k, i) => [k, m[i + 1]!]));
  const first = read(a), second = read(b);
  const show = (r: Record<string, string>) => order.map((k) => `${k}=${r[k]}`).join(",");
  if (show(first) !== show(second)) {
    return {
      kind: "ambiguous",
      why: `${where} matches it as ${show(first)} and as ${show(second)}`,
    };
  }
  return { kind: "match", bindings: first };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
