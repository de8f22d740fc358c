/**
 * Output registration: a succeeded task's outputs whose `register` names a
 * replica catalog are added to it as they land, in the catalog's own format
 * (CSV, YAML or TOML, by its extension). Entries already there are kept as
 * they are; the catalog is written whole to a temporary name beside it and
 * renamed into place, so that a reader never sees half of it.
 * @module
 */

import { dirname } from "node:path";
import { parse as parseToml, stringify as stringifyToml } from "../deps/smol_toml.ts";
import { yamlModule } from "../dsl/lazy_modules.ts";
import { formatOf } from "../dsl/load.ts";
import type { Collected } from "./deliver.ts";
import type { PlanTask } from "./plan.ts";
import { absoluteUrl } from "./replica_catalog.ts";
import { safeDecode, workspaceRelative, workspaceUrl } from "./urls.ts";
import { localPath } from "./values.ts";

/** A catalog that cannot be added to (unreadable as a catalog): the message says which and why. */
export class CatalogWriteError extends Error {}

/** One replica to register: the output's logical name, its URL and its executor's site. */
interface Entry {
  readonly name: string;
  readonly url: string;
  readonly site: string;
}

/**
 * A CSV field: quoted when it holds a comma, a quote or surrounding space; control characters
 * percent-encoded (a row is one line). A `%` stays as it is: a URL's own escapes must read back.
 */
function csvField(s: string): string {
  // deno-lint-ignore no-control-regex
  const safe = s.replace(/[\u0000-\u001f\u007f]/g, (c) => encodeURIComponent(c));
  return /[",]|^\s|\s$/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** An output's logical name: its workspace-relative path, else its URL's path. */
function logicalName(url: string, workspace: string): string {
  const rel = workspaceRelative(url, workspaceUrl(workspace));
  if (rel !== undefined) return rel;
  const path = localPath(url) ?? safeDecode(new URL(url).pathname);
  return path.replace(/^\/+/, "");
}

/** The catalog's text, or "" when it does not exist yet. */
function readOrEmpty(catalog: string): string {
  try {
    return Deno.readTextFileSync(catalog);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
}

/** Write `text` to `file` whole: a temporary file beside it, renamed into place. */
function writeWhole(file: string, text: string): void {
  const tmp = `${file}.ferry-tmp`;
  try {
    Deno.writeTextFileSync(tmp, text);
    Deno.renameSync(tmp, file);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* it was not made */ }
    throw e;
  }
}

/** A CSV catalog with rows added for the entries it lacks (the header first into an empty one). */
function addCsv(text: string, entries: readonly Entry[]): string | undefined {
  const have = new Set(text.split(/\r?\n/));
  const rows = [...new Set(entries.map((e) => [e.name, e.url, e.site].map(csvField).join(",")))]
    .filter((l) => !have.has(l));
  const head = text.trim() === "" ? "name,url,site\n" : text.endsWith("\n") ? "" : "\n";
  if (rows.length === 0 && !head.startsWith("name")) return undefined;
  return text + head + rows.map((l) => `${l}\n`).join("");
}

/** Why `v`, a structured catalog's value, cannot be added to; undefined when it can. */
function notCatalog(v: unknown): string | undefined {
  const obj = (x: unknown) => x !== null && typeof x === "object" && !Array.isArray(x);
  if (!obj(v) || (v as Record<string, unknown>)["ferry-replicas"] !== 1) {
    return "it does not start with ferry-replicas: 1";
  }
  const files = (v as Record<string, unknown>).files;
  if (files === undefined) return undefined;
  if (!obj(files)) return "its files is no mapping of logical names to replicas";
  for (const [name, list] of Object.entries(files as Record<string, unknown>)) {
    if (!Array.isArray(list)) return `the replicas of "${name}" are no list`;
  }
  return undefined;
}

/** The entries a structured catalog (its plain value) lacks, as `{ url, site }` by name. */
function missing(
  v: unknown,
  entries: readonly Entry[],
  dir: string,
): Map<string, { url: string; site: string }[]> {
  const files = ((v as Record<string, unknown>).files ?? {}) as Record<string, unknown[]>;
  const out = new Map<string, { url: string; site: string }[]>();
  for (const e of entries) {
    const listed = (files[e.name] ?? []).map((r) => {
      const url = typeof r === "string" ? r : (r as { url?: unknown })?.url;
      return typeof url === "string" ? absoluteUrl(url, dir) : undefined;
    });
    const adding = out.get(e.name) ?? [];
    if (listed.includes(e.url) || adding.some((r) => r.url === e.url)) continue;
    out.set(e.name, [...adding, { url: e.url, site: e.site }]);
  }
  return out;
}

/** A YAML catalog with the entries it lacks added (its comments and layout kept). */
function addYaml(file: string, text: string, entries: readonly Entry[]): string | undefined {
  const yaml = yamlModule();
  const doc = text.trim() === ""
    ? new yaml.Document({ "ferry-replicas": 1, files: {} })
    : yaml.parseDocument(text);
  const bad = doc.errors[0]?.message.split("\n")[0] ?? notCatalog(doc.toJS());
  if (bad !== undefined) {
    throw new CatalogWriteError(`Cannot register outputs in "${file}": ${bad}`);
  }
  const add = missing(doc.toJS(), entries, dirname(file));
  if (add.size === 0 && text.trim() !== "") return undefined;
  for (const [name, list] of add) {
    for (const r of list) {
      if (doc.hasIn(["files", name])) doc.addIn(["files", name], doc.createNode(r));
      else doc.setIn(["files", name], doc.createNode([r]));
    }
  }
  return doc.toString();
}

/** A TOML catalog with the entries it lacks added (TOML is rewritten whole: comments go). */
function addToml(file: string, text: string, entries: readonly Entry[]): string | undefined {
  let v: Record<string, unknown> = { "ferry-replicas": 1, files: {} };
  if (text.trim() !== "") {
    try {
      v = parseToml(text) as Record<string, unknown>;
    } catch (e) {
      const why = String((e as Error).message ?? e).split("\n")[0]!.replace(/\.$/, "");
      throw new CatalogWriteError(`Cannot register outputs in "${file}": ${why}`);
    }
  }
  const bad = notCatalog(v);
  if (bad !== undefined) {
    throw new CatalogWriteError(`Cannot register outputs in "${file}": ${bad}`);
  }
  const add = missing(v, entries, dirname(file));
  if (add.size === 0 && text.trim() !== "") return undefined;
  const files = { ...(v.files as Record<string, unknown[]> | undefined) };
  for (const [name, list] of add) files[name] = [...(files[name] ?? []), ...list];
  return stringifyToml({ ...v, files });
}

/**
 * Register a succeeded task's outputs whose `register` names a catalog (a glob or dir output:
 * each file it collected): its workspace-relative path (else its URL's path) as the logical
 * name, its URL, and its executor's site, unless the catalog lists that URL under that name
 * already. The catalogs' paths written to. Throws {@linkcode CatalogWriteError} for a YAML or
 * TOML catalog that is not one (nothing is written to it then).
 */
export function registerOutputs(
  task: PlanTask,
  workspace: string,
  collected: Collected,
): string[] {
  const byCatalog = new Map<string, Entry[]>();
  for (const f of task.outputs) {
    if (!f.register) continue;
    const urls = f.dynamic ? (collected.get(f.name) ?? []).map((v) => v.url) : [f.url];
    const list = byCatalog.get(f.register.catalog) ?? [];
    for (const url of urls) {
      list.push({ name: logicalName(url, workspace), url, site: f.register.site });
    }
    byCatalog.set(f.register.catalog, list);
  }
  for (const [catalog, entries] of byCatalog) {
    const text = readOrEmpty(catalog);
    const format = formatOf(catalog);
    const next = format === "yaml"
      ? addYaml(catalog, text, entries)
      : format === "toml"
      ? addToml(catalog, text, entries)
      : addCsv(text, entries);
    if (next !== undefined) writeWhole(catalog, next);
  }
  return [...byCatalog.keys()];
}
