/**
 * Linking: data dependencies (an input URL equal to another task's output, or
 * inside a glob/dir output), app dependencies (`after`), two writers of one
 * file, inputs nothing produces, and cycles named task by task.
 * @module
 */

import { StatCache } from "./stat_cache.ts";
import { irregularKind } from "../dsl/file_kind.ts";
import { error, type Problem, warning } from "../dsl/diagnostic.ts";
import type { Workflow } from "../dsl/model.ts";
import type { Expansion, TaskFile } from "./expand.ts";
import { globToRegExp, workspaceRelative, workspaceUrl } from "./urls.ts";
import { localPath } from "./values.ts";

/** Options for {@linkcode link}. */
export interface LinkOptions {
  /** The workspace directory. */
  readonly workspace: string;
  /** Treat absent local inputs as present (CI without data), warning about each. @default false */
  readonly assumeInputs?: boolean;
  /** How to tell whether a local file exists. @default a stat through `stats` */
  readonly exists?: (path: string) => boolean;
  /** Files' metadata seen so far in this plan or run. @default a new, empty cache */
  readonly stats?: StatCache;
  /** Whether task `i` finds `url` in place on its nodes (cvmfs skip, rewrite), so it need not exist here. @default () => false */
  readonly inPlace?: (task: number, url: string) => boolean;
}

/** The task graph: for each task, the indices of the tasks it waits for. */
export interface Linked {
  /** deps[i]: tasks task i waits for, ascending, no duplicates. */
  readonly deps: readonly (readonly number[])[];
  /** Task indices in a valid topological order (dependencies first). */
  readonly order: readonly number[];
  /** Inputs that exist already (not produced), by URL. */
  readonly sources: ReadonlySet<string>;
  /** Problems found. */
  readonly problems: Problem[];
}

/** A glob or dir output: inputs inside it wait for its task. */
interface DynamicOutput {
  readonly task: number;
  readonly kind: "glob" | "dir";
  readonly url: string;
  readonly prefix: string;
  readonly re?: RegExp;
}

/** Who writes what: each file's writer, and the glob and dir outputs. */
interface Producers {
  readonly writer: ReadonlyMap<string, number>;
  readonly dynamicOutputs: readonly DynamicOutput[];
}

/**
 * Inputs nothing writes and that do not exist, or are a FIFO, a device or a socket (`kind`), by
 * URL and place: the tasks reading each.
 */
type Missing = Map<
  string,
  { where: readonly (string | number)[]; url: string; tasks: string[]; kind?: string }
>;

/** Link an expansion into a DAG. */
export function link(w: Workflow, x: Expansion, options: LinkOptions): Linked {
  const { workspace, assumeInputs = false } = options;
  const problems: Problem[] = [];
  const base = workspaceUrl(workspace);
  const producers = findProducers(x, workspace, problems);
  const { deps, sources, missing } = dependencies(w, x, producers, options);
  for (const p of missingInputs(missing, base, assumeInputs)) problems.push(p);
  const sorted = deps.map((d) => [...d].sort((a, b) => a - b));
  const ids = x.tasks.map((t) => t.id);
  const order = topoOrder(sorted, ids, problems, (i, j) => whereOfEdge(x, i, j));
  return { deps: sorted, order, sources, problems };
}

/** Every task's outputs: one writer per file (a second is a problem), and the dynamic ones. */
function findProducers(x: Expansion, workspace: string, problems: Problem[]): Producers {
  const tasks = x.tasks;
  const base = workspaceUrl(workspace);
  const writer = new Map<string, number>();
  const dynamicOutputs: DynamicOutput[] = [];
  tasks.forEach((t, i) => {
    for (const slot of Object.values(t.outputs)) {
      for (const f of slot.files) {
        if (f.kind !== "file") {
          const rel = workspaceRelative(f.url, base);
          dynamicOutputs.push({
            task: i,
            kind: f.kind,
            url: f.url,
            prefix: f.url + "/",
            ...(f.kind === "glob" && rel !== undefined ? { re: globToRegExp(rel, workspace) } : {}),
          });
          continue;
        }
        const other = writer.get(f.url);
        if (other !== undefined && other !== i) {
          problems.push(
            error(
              "duplicate-output",
              f.where,
              `Cannot let two tasks write "${shortUrl(f.url, base)}": both ${
                tasks[other]!.id
              } and ${t.id} output it`,
            ),
          );
        } else writer.set(f.url, i);
      }
    }
  });
  return { writer, dynamicOutputs };
}

/**
 * What each task waits for (the producers of its inputs, its `after` apps, the
 * producer its fan-out expands after), the inputs that exist already, and the
 * missing ones.
 */
function dependencies(
  w: Workflow,
  x: Expansion,
  producers: Producers,
  options: LinkOptions,
): { deps: Set<number>[]; sources: Set<string>; missing: Missing } {
  const { stats = new StatCache(), inPlace = () => false } = options;
  // "file" for a file or directory, undefined when missing, else what it is ("a FIFO (named pipe)").
  const kindOf = options.exists
    ? (path: string) => options.exists!(path) ? "file" : undefined
    : (path: string) => {
      const info = stats.stat(path);
      return info === null ? undefined : irregularKind(info) ?? "file";
    };
  const deps: Set<number>[] = x.tasks.map(() => new Set());
  const sources = new Set<string>();
  const checked = new Map<string, string | undefined>();
  const missing: Missing = new Map();
  x.tasks.forEach((t, i) => {
    for (const slot of Object.values(t.inputs)) {
      for (const f of slot.files) {
        if (addProducers(f, x, producers, deps[i]!)) continue;
        sources.add(f.url);
        const path = localPath(f.url);
        if (path === undefined || inPlace(i, f.url)) continue; // fetched by, or in place for, a staging provider
        if (!checked.has(path)) checked.set(path, kindOf(path));
        const kind = checked.get(path);
        if (kind === "file") continue;
        const key = `${f.url}\u0000${f.where.join("\u0000")}`;
        const m = missing.get(key);
        if (m) m.tasks.push(t.id);
        else {missing.set(key, {
            where: f.where,
            url: f.url,
            tasks: [t.id],
            ...(kind ? { kind } : {}),
          });}
      }
    }
    if (t.expandsAfter) { for (const p of x.byApp.get(t.expandsAfter.app) ?? []) deps[i]!.add(p); }
    const app = w.apps[t.app];
    for (const after of app?.after ?? []) for (const p of x.byApp.get(after) ?? []) deps[i]!.add(p);
  });
  return { deps, sources, missing };
}

/**
 * One problem per missing input: an error, or with --assume-inputs a warning; an error for each
 * input that is a FIFO, a device or a socket (reading one blocks or never ends).
 */
function missingInputs(missing: Missing, base: string, assumeInputs: boolean): Problem[] {
  return [...missing.values()].map((m) => {
    const shown = shortUrl(m.url, base);
    const who = m.tasks.length === 1
      ? m.tasks[0]
      : `${m.tasks[0]} and ${m.tasks.length - 1} more task${m.tasks.length === 2 ? "" : "s"}`;
    if (m.kind !== undefined) {
      return error(
        "irregular-input",
        m.where,
        `Cannot read input "${shown}" of ${who}: it is ${m.kind}, not a regular file or directory`,
      );
    }
    return assumeInputs
      ? warning(
        "assumed-input",
        m.where,
        `Input "${shown}" of ${who} does not exist; assuming it will (--assume-inputs)`,
      )
      : error(
        "missing-input",
        m.where,
        `Cannot find input "${shown}" of ${who}: no such file, and no app writes it`,
      );
  });
}

/** Add the tasks that produce `f` to `into`; false when none does. */
function addProducers(
  f: TaskFile,
  x: Expansion,
  { writer, dynamicOutputs }: Producers,
  into: Set<number>,
): boolean {
  if (f.dynamic) {
    const all = x.byApp.get(f.dynamic.app) ?? [];
    for (const p of all) into.add(p);
    return all.length > 0;
  }
  const exact = writer.get(f.url);
  if (exact !== undefined) {
    into.add(exact);
    return true;
  }
  let found = false;
  for (const d of dynamicOutputs) {
    if (d.url === f.url || (d.kind === "dir" && f.url.startsWith(d.prefix)) || d.re?.test(f.url)) {
      into.add(d.task);
      found = true;
    }
  }
  return found;
}

function shortUrl(url: string, base: string): string {
  return workspaceRelative(url, base) ?? localPath(url) ?? url;
}

function whereOfEdge(x: Expansion, from: number, to: number) {
  // The input of `from` that makes it wait for `to`, else the app itself.
  const t = x.tasks[from]!;
  const producer = x.tasks[to]!;
  const outs = new Set(Object.values(producer.outputs).flatMap((s) => s.files.map((f) => f.url)));
  for (const slot of Object.values(t.inputs)) {
    for (const f of slot.files) {
      if (outs.has(f.url) || f.dynamic?.app === producer.app) return f.where;
    }
  }
  return ["apps", t.app];
}

/** Kahn's algorithm; on a cycle, report it as `a → b → a` and order the rest. */
export function topoOrder(
  deps: readonly (readonly number[])[],
  ids: readonly string[],
  problems: Problem[],
  whereOf: (from: number, to: number) => readonly (string | number)[],
): number[] {
  const n = deps.length;
  const indegree = new Int32Array(n);
  const users: number[][] = Array.from({ length: n }, () => []);
  deps.forEach((d, i) => {
    indegree[i] = d.length;
    for (const j of d) users[j]!.push(i);
  });
  const order: number[] = [];
  for (let i = 0; i < n; i++) if (indegree[i] === 0) order.push(i);
  for (let k = 0; k < order.length; k++) {
    for (const u of users[order[k]!]!) if (--indegree[u]! === 0) order.push(u);
  }
  if (order.length === n) return order;
  const cycle = findCycle(deps, indegree);
  if (cycle.length > 0) {
    const names = [...cycle, cycle[0]!].map((i) => ids[i]!);
    problems.push(
      error(
        "cycle",
        whereOf(cycle[1] ?? cycle[0]!, cycle[0]!),
        `Cannot order tasks in a cycle: ${names.join(" → ")}`,
      ),
    );
  }
  return order;
}

/** A cycle among the nodes Kahn's algorithm could not order (indegree > 0). */
function findCycle(deps: readonly (readonly number[])[], indegree: Int32Array): number[] {
  const start = indegree.findIndex((d) => d > 0);
  if (start < 0) return [];
  // Walk dependency edges inside the stuck set until a node repeats.
  const seenAt = new Map<number, number>();
  const path: number[] = [];
  let cur = start;
  while (!seenAt.has(cur)) {
    seenAt.set(cur, path.length);
    path.push(cur);
    const next = deps[cur]!.find((j) => indegree[j]! > 0);
    if (next === undefined) return [];
    cur = next;
  }
  // path[k] waits for path[k+1]; present it in data-flow order (producer first).
  return path.slice(seenAt.get(cur)!).reverse();
}
