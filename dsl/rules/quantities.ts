/** Rule: memory and walltime quantities parse. @module */

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
    quantity(o.memory, [...path, "memory"], "memory", out);
    quantity(o.walltime, [...path, "walltime"], "walltime", out);
  };
  resources(obj(raw.defaults).resources, ["defaults", "resources"]);
  for (const [name, app] of Object.entries(obj(raw.apps))) {
    resources(obj(app).resources, ["apps", name, "resources"]);
  }
  for (const [name, ex] of Object.entries(obj(raw.executors))) {
    quantity(obj(ex).memory, ["executors", name, "memory"], "memory", out);
  }
  return out;
}

function quantity(v: unknown, path: KeyPath, kind: "memory" | "walltime", out: Problem[]): void {
  if (typeof v !== "string" && typeof v !== "number") return;
  const r = kind === "memory" ? parseMemory(v) : parseWalltime(v);
  if ("why" in r) {
    out.push(error("invalid-quantity", path, `Cannot read ${kind} ${JSON.stringify(v)}: ${r.why}`));
  }
}
