/** Rule: memory and walltime quantities parse; a resource range's min is at most its max. @module */

import { error, type KeyPath, type Problem } from "../diagnostic.ts";
import { parseMemory, parseWalltime } from "../quantity.ts";

/** Check `resources` (and executor capacities) anywhere in a raw document. */
export function checkQuantities(raw: Readonly<Record<string, unknown>>): Problem[] {
  const out: Problem[] = [];
  const obj = (
    v: unknown,
  ) => (v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : {});
  const resources = (r: unknown, path: KeyPath) => {
    const o = obj(r);
    const memory = obj(o.memory);
    quantity(o.memory, [...path, "memory"], "memory", out);
    quantity(memory.min, [...path, "memory", "min"], "memory", out);
    quantity(memory.max, [...path, "memory", "max"], "memory", out);
    quantity(o.walltime, [...path, "walltime"], "walltime", out);
    out.push(...rangeOrder(o.cores, [...path, "cores"], "cores"));
    out.push(...rangeOrder(o.memory, [...path, "memory"], "memory"));
  };
  resources(obj(raw.defaults).resources, ["defaults", "resources"]);
  for (const [name, app] of Object.entries(obj(raw.apps))) {
    resources(obj(app).resources, ["apps", name, "resources"]);
  }
  for (const [name, ex] of Object.entries(obj(raw.executors))) {
    quantity(obj(ex).memory, ["executors", name, "memory"], "memory", out);
    for (const k of ["walltime", "idle_timeout"]) {
      quantity(obj(obj(ex).pilot)[k], ["executors", name, "pilot", k], "walltime", out);
    }
  }
  return out;
}

/** A range written with literal bounds has its minimum at most its maximum. */
function rangeOrder(v: unknown, path: KeyPath, kind: "cores" | "memory"): Problem[] {
  if (!v || typeof v !== "object" || Array.isArray(v)) return [];
  const { min, max } = v as Record<string, unknown>;
  const amount = (x: unknown) => {
    if (kind === "cores") return typeof x === "number" ? x : undefined;
    const q = typeof x === "string" && !x.includes("${{") ? parseMemory(x) : undefined;
    return q && "value" in q ? q.value : undefined;
  };
  const [lo, hi] = [amount(min), amount(max)];
  if (lo === undefined || hi === undefined || lo <= hi) return [];
  return [
    error(
      "invalid-value",
      [...path, "max"],
      `Cannot use ${kind} range ${JSON.stringify(min)} to ${JSON.stringify(max)}: max is below min`,
    ),
  ];
}

function quantity(v: unknown, path: KeyPath, kind: "memory" | "walltime", out: Problem[]): void {
  if (typeof v !== "string" && typeof v !== "number") return;
  if (typeof v === "string" && v.includes("${{")) return; // evaluated per task
  const r = kind === "memory" ? parseMemory(v) : parseWalltime(v);
  if ("why" in r) {
    out.push(error("invalid-quantity", path, `Cannot read ${kind} ${JSON.stringify(v)}: ${r.why}`));
  }
}
