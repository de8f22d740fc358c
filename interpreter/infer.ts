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
import { escapeRegExp, safeDecode, toUrl, workspaceUrl } from "./urls.ts";
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

/**
 * At most this many tasks are inferred, in chains at most this long (a template reading a longer
 * name of itself would go on forever).
 */
const MAX_INFERRED = 10_000, MAX_DEPTH = 100;

/** A path to make: a target, or an input of an inferred task (`parent`). */
interface Need {
  readonly url: string;
  readonly target?: string;
  readonly parent?: { readonly task: string; readonly reads: string; readonly need: Need };
}

/**
 * Infer the tasks that make target paths no task writes yet, round by round
 * backwards: each round adds the tasks making the paths needed, expands once,
 * and needs their inputs that are neither files nor outputs.
 */
export function inferTargets(
  w: Workflow,
  targets: readonly string[],
  x: Expansion,
  o: InferOptions,
): Inferred {
  const extra = new Map<string, Record<string, string>[]>();
  let pending: { need: Need; c: Candidates }[] = [];
  for (const target of targets) {
    if (targetTasks(target, x, o.workspace).size > 0) continue;
    let url: string;
    try {
      url = toUrl(target, o.workspace);
    } catch {
      return { ok: false, message: visible(unknownTarget(target, x)) };
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
    pending.push({ need: { url, target }, c });
  }
  const added = new Set<string>();
  for (let depth = 0; pending.length > 0; depth++) {
    const placed: { need: Need; m: Match }[] = [];
    for (const { need, c } of pending) {
      const why = ambiguity(c);
      if (why !== undefined) return failed(need, why, true);
      const m = c.matches[0]!;
      if (!added.has(keyOf(m.app, m.bindings))) {
        if (added.size >= MAX_INFERRED || depth >= MAX_DEPTH) {
          return failed(
            need,
            `it needs more than ${
              depth >= MAX_DEPTH ? `${MAX_DEPTH} tasks in a chain` : `${MAX_INFERRED} tasks`
            } (does a template read a longer name of itself?)`,
            false,
          );
        }
        added.add(keyOf(m.app, m.bindings));
        extra.set(m.app, [...extra.get(m.app) ?? [], { ...m.bindings }]);
      }
      placed.push({ need, m });
    }
    x = o.expandWith(extra);
    const next = nextNeeds(w, o, x, placed);
    if (!Array.isArray(next)) return next;
    pending = next;
  }
  return { ok: true, extra };
}

/** The inputs the tasks just placed need made, or why one of them cannot be. */
function nextNeeds(
  w: Workflow,
  o: InferOptions,
  x: Expansion,
  placed: readonly { need: Need; m: Match }[],
): { need: Need; c: Candidates }[] | Inferred {
  const byKey = new Map<string, number>();
  x.tasks.forEach((t, i) => byKey.set(keyOf(t.app, t.bindings), i));
  const written = x.tasks.flatMap((t) => Object.values(t.outputs).flatMap((s) => s.files));
  const urls = new Set(written.map((f) => f.url));
  const dynamic = written.some((f) => f.kind !== "file");
  const produced = (url: string) =>
    urls.has(url) || (dynamic && writersOf(url, x, o.workspace).size > 0);
  const out: { need: Need; c: Candidates }[] = [];
  const seen = new Set<string>();
  for (const { need, m } of placed) {
    const i = byKey.get(keyOf(m.app, m.bindings));
    const task = i === undefined ? undefined : x.tasks[i]!;
    if (!task || !writersOf(need.url, x, o.workspace).has(i!)) {
      return failed(need, `${describeMatch(m)}, but that task would not write it`, true);
    }
    for (const slot of Object.values(task.inputs)) {
      for (const f of slot.files) {
        const path = f.kind === "file" && !f.dynamic ? localPath(f.url) : undefined;
        if (path === undefined || seen.has(f.url) || produced(f.url) || o.exists(path)) continue;
        seen.add(f.url);
        const reads = shownPath(f.url, o.workspace);
        const child: Need = { url: f.url, parent: { task: task.id, reads, need } };
        const c = candidates(w, o, path);
        if (c.matches.length === 0 && c.ambiguous.length === 0) {
          const skipped = c.skipped.length ? ` (${c.skipped.join("; ")})` : "";
          return failed(child, `which is no file and matches no output template${skipped}`, false);
        }
        out.push({ need: child, c });
      }
    }
  }
  return out;
}

/** Why the templates matching a path do not name one task, if they do not. */
function ambiguity(c: Candidates): string | undefined {
  if (c.matches.length === 1 && c.ambiguous.length === 0) return undefined;
  const all = [...c.matches.map(describeMatch), ...c.ambiguous];
  return c.ambiguous.length === 1 && c.matches.length === 0
    ? `${all[0]}, so the bindings are ambiguous`
    : `${all.length} output templates match it: ${all.join("; ")}`;
}

/**
 * `Cannot make target …`: the chain of inferred tasks from the target down to `need`, then why
 * `need` cannot be made (`about`: the reason is about the path, said "for which …" in a chain).
 */
function failed(need: Need, why: string, about: boolean): Inferred {
  const steps: { task: string; reads: string }[] = [];
  let n = need;
  for (; n.parent; n = n.parent.need) steps.unshift(n.parent);
  const chain = steps.map((s) => `${s.task} would write it but reads "${s.reads}"`);
  const reason = steps.length > 0 && about ? `for which ${why}` : why;
  return {
    ok: false,
    message: visible(
      `Cannot make target "${n.target}": ${[...chain].join(", for which ")}${
        chain.length > 0 ? ", " : ""
      }${reason}`,
    ),
  };
}

/** One key per app and bindings, whatever the order of the variables. */
function keyOf(app: string, bindings: Readonly<Record<string, string>>): string {
  return JSON.stringify([app, Object.entries(bindings).sort(([a], [b]) => a < b ? -1 : 1)]);
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
      const e = escapeRegExp(literal);
      lazy += e, greedy += e, loose += e;
      continue;
    }
    loose += "[^]+";
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
