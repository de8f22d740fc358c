/**
 * Plan targets, like make's: a task id (with `*` matching any text:
 * `align[sample=*]`), an app name, or an output path (or URL). The plan keeps
 * the targets and everything they need.
 * @module
 */

import { closest } from "../dsl/suggest.ts";
import type { Expansion } from "./expand.ts";
import type { Linked } from "./link.ts";
import { escapeRegExp, globToRegExp, toUrl, workspaceRelative, workspaceUrl } from "./urls.ts";

/** Resolved targets, or the first target that names nothing. */
export type TargetResult =
  | { readonly ok: true; readonly tasks: ReadonlySet<number> }
  | { readonly ok: false; readonly message: string };

/** Resolve targets to the set of tasks they need (themselves and every ancestor). */
export function resolveTargets(
  targets: readonly string[],
  x: Expansion,
  l: Linked,
  workspace: string,
): TargetResult {
  const ids = new Map(x.tasks.map((t, i) => [t.id, i]));
  const roots: number[] = [];
  for (const target of targets) {
    const found = targetTasks(target, x, workspace, ids);
    if (found.size === 0) return { ok: false, message: unknownTarget(target, x, ids) };
    for (const i of found) roots.push(i);
  }
  const keep = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0) {
    const i = stack.pop()!;
    if (keep.has(i)) continue;
    keep.add(i);
    for (const d of l.deps[i]!) stack.push(d); // no spread: a gather may wait for 100,000
  }
  return { ok: true, tasks: keep };
}

/** `Cannot find target …`, with the closest task id or app name. */
export function unknownTarget(
  target: string,
  x: Expansion,
  ids: ReadonlyMap<string, number> = new Map(x.tasks.map((t, i) => [t.id, i])),
  why = "it is no task id, app or output",
): string {
  const hint = closest(target, [...ids.keys(), ...x.byApp.keys()]);
  return `Cannot find target "${target}": ${why}${hint ? `; did you mean "${hint}"?` : ""}`;
}

/** The tasks a target names: by id, app name, id pattern (`*`), or output path. */
export function targetTasks(
  target: string,
  x: Expansion,
  workspace: string,
  ids: ReadonlyMap<string, number> = new Map(x.tasks.map((t, i) => [t.id, i])),
): Set<number> {
  const found = new Set<number>();
  const byId = ids.get(target);
  if (byId !== undefined) found.add(byId);
  for (const i of x.byApp.get(target) ?? []) found.add(i);
  if (found.size === 0 && target.includes("*")) {
    // `align[sample=*]`: every task whose id matches, `*` standing for any text. A fan-out's
    // placeholder id (`measure[part=*]`) so names all its tasks once they are known.
    const re = new RegExp(
      "^" + target.split("*").map(escapeRegExp).join(".*") +
        "$",
    );
    x.tasks.forEach((t, i) => {
      if (re.test(t.id)) found.add(i);
    });
  }
  if (found.size > 0) return found;
  let url: string | undefined;
  try {
    url = toUrl(target, workspace);
  } catch {
    return found;
  }
  return writersOf(url, x, workspace);
}

/** The tasks that write a URL: as an output, or inside a glob or dir output. */
export function writersOf(url: string, x: Expansion, workspace: string): Set<number> {
  const base = workspaceUrl(workspace);
  const found = new Set<number>();
  x.tasks.forEach((t, i) => {
    for (const slot of Object.values(t.outputs)) {
      for (const f of slot.files) {
        const rel = f.kind === "glob" ? workspaceRelative(f.url, base) : undefined;
        if (
          f.url === url || (f.kind === "dir" && url.startsWith(f.url + "/")) ||
          (rel !== undefined && globToRegExp(rel, workspace).test(url))
        ) found.add(i);
      }
    }
  });
  return found;
}
