/**
 * Replica catalogs: files that map logical file names to the URLs of their
 * copies, with an optional site label each (Pegasus's replica catalog, in
 * YAML, TOML or CSV). A named file `{ catalog: FILE, name }` gets its
 * replicas from one; every bad entry or row is an error located in the
 * catalog (file, line, column), a name the catalog lacks one located in the
 * workflow.
 *
 * ```yaml
 * ferry-replicas: 1
 * files:
 *   ref/genome.fa:
 *     - https://mirror.example.org/ref/genome.fa
 *     - { url: "sftp://login.example.org/data/ref/genome.fa", site: cluster }
 * ```
 *
 * CSV: a header `name,url,site` (`site` may be left out), then one replica a row; `#` starts a
 * comment line. Relative paths in a catalog are relative to its folder.
 * @module
 */

import { existsSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { type Diagnostic, error, locate, type Problem } from "../dsl/diagnostic.ts";
import { formatOf, loadDiagnostics, loadFile, readText } from "../dsl/load.ts";
import type { DeclaredFile, Replica, Where, Workflow } from "../dsl/model.ts";
import { urlProblem } from "../dsl/rules/files.ts";
import { didYouMean } from "../dsl/suggest.ts";
import { toFileUrl } from "../providers/_shared/urls.ts";

/** One replica as a catalog lists it: an absolute URL and the site holding it. */
export interface CatalogReplica {
  /** Absolute URL. */
  readonly url: string;
  /** The site holding it. */
  readonly site?: string;
}

/** A catalog read: its replicas by logical name, and its problems (located in it). */
export interface Catalog {
  /** Replicas by logical name, in the catalog's order. */
  readonly files: ReadonlyMap<string, readonly CatalogReplica[]>;
  /** Problems, each located in the catalog file. */
  readonly diagnostics: readonly Diagnostic[];
  /** Its text, for carets. */
  readonly text?: string | undefined;
}

/** A replica's URL: a URL as it is, a path made absolute against the catalog's folder. */
export function absoluteUrl(value: string, dir: string): string {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return value;
  return toFileUrl(isAbsolute(value) ? value : resolve(dir, value));
}

/** Why `value` is no replica URL, or undefined. */
function replicaProblem(value: string): string | undefined {
  if (value.trim() === "") return "a replica needs a URL or path";
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return "a URL cannot contain control characters";
  return urlProblem(value, true);
}

/** Read a YAML or TOML catalog. */
async function readStructured(file: string): Promise<Catalog> {
  const r = await loadFile(file);
  if (!r.document) {
    return { files: new Map(), diagnostics: loadDiagnostics(file, r.problems), text: r.text };
  }
  const doc = r.document;
  const problems: Problem[] = [];
  const files = new Map<string, CatalogReplica[]>();
  const v = doc.value;
  if (v["ferry-replicas"] !== 1) {
    problems.push(error(
      "replica-catalog",
      v["ferry-replicas"] === undefined ? [] : ["ferry-replicas"],
      `Cannot read replica catalog "${file}": it must start with ferry-replicas: 1`,
    ));
  }
  for (const k of Object.keys(v)) {
    if (k !== "ferry-replicas" && k !== "files") {
      problems.push({
        ...error(
          "replica-catalog",
          [k],
          `Cannot use "${k}" in a replica catalog: it has ferry-replicas and files`,
        ),
        at: "key",
      });
    }
  }
  const listed = v.files;
  if (!listed || typeof listed !== "object" || Array.isArray(listed)) {
    problems.push(error(
      "replica-catalog",
      listed === undefined ? [] : ["files"],
      `Cannot read replica catalog "${file}": files must map each logical name to a list of replicas`,
    ));
  } else {
    const dir = dirname(resolve(file));
    for (const [name, list] of Object.entries(listed as Record<string, unknown>)) {
      files.set(name, entries(name, list, dir, problems));
    }
  }
  return { files, diagnostics: problems.map((p) => locate(p, file, doc.index)), text: doc.text };
}

/** One logical name's replicas in a YAML or TOML catalog. */
function entries(name: string, list: unknown, dir: string, problems: Problem[]): CatalogReplica[] {
  const where: Where = ["files", name];
  if (!Array.isArray(list) || list.length === 0) {
    problems.push(error(
      "replica-catalog",
      where,
      `Cannot read the replicas of "${name}": give a list of URLs or { url, site }`,
    ));
    return [];
  }
  const out: CatalogReplica[] = [];
  list.forEach((item, i) => {
    const obj = item && typeof item === "object" && !Array.isArray(item)
      ? item as Record<string, unknown>
      : undefined;
    const url = typeof item === "string" ? item : obj?.url;
    const site = obj?.site;
    const extra = obj ? Object.keys(obj).filter((k) => k !== "url" && k !== "site") : [];
    const why = typeof url !== "string"
      ? "a replica is a URL or { url, site }"
      : site !== undefined && (typeof site !== "string" || site === "")
      ? "its site must be a name"
      : extra.length > 0
      ? `a replica has only url and site, not ${extra.join(", ")}`
      : replicaProblem(url);
    if (why !== undefined) {
      const at: Where = obj && typeof url === "string" && extra.length === 0 && site === undefined
        ? [...where, i, "url"]
        : [...where, i];
      problems.push(
        error("replica-catalog", at, `Cannot use replica ${i + 1} of "${name}": ${why}`),
      );
      return;
    }
    const u = absoluteUrl(url as string, dir);
    out.push(typeof site === "string" ? { url: u, site } : { url: u });
  });
  return out;
}

/** Split one CSV line into fields (RFC 4180 quoting), with each field's 1-based column. */
function csvFields(line: string): { value: string; column: number }[] | string {
  const out: { value: string; column: number }[] = [];
  let i = 0;
  for (;;) {
    const column = i + 1;
    let value = "";
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) return "a quoted field is not closed";
        if (line[i] === '"' && line[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (line[i] === '"') {
          i++;
          break;
        } else value += line[i++];
      }
      if (i < line.length && line[i] !== ",") return "text follows a quoted field";
    } else {
      const end = line.indexOf(",", i);
      value = line.slice(i, end < 0 ? line.length : end);
      i = end < 0 ? line.length : end;
    }
    out.push({ value: value.trim(), column });
    if (i >= line.length) return out;
    i++; // the comma
  }
}

/** Read a CSV catalog: `name,url[,site]`. */
async function readCsv(file: string): Promise<Catalog> {
  const r = await readText(file);
  if ("problems" in r) return { files: new Map(), diagnostics: loadDiagnostics(file, r.problems) };
  const diagnostics: Diagnostic[] = [];
  const files = new Map<string, CatalogReplica[]>();
  const bad = (line: number, column: number, message: string) =>
    void diagnostics.push({
      file,
      line,
      column,
      code: "replica-catalog",
      severity: "error",
      message,
      path: `line ${line}`,
    });
  const dir = dirname(resolve(file));
  let header: string[] | undefined;
  r.text.split(/\r?\n/).forEach((text, n) => {
    const line = n + 1;
    if (text.trim() === "" || text.trimStart().startsWith("#")) return;
    const fields = csvFields(text);
    if (typeof fields === "string") return bad(line, 1, `Cannot read row ${line}: ${fields}`);
    if (!header) {
      header = fields.map((f) => f.value.toLowerCase());
      const want = header.length === 3 ? ["name", "url", "site"] : ["name", "url"];
      if (header.join(",") !== want.join(",")) {
        bad(line, 1, `Cannot read header "${text}": write name,url or name,url,site`);
        header = want;
      }
      return;
    }
    if (fields.length !== header.length) {
      return bad(
        line,
        1,
        `Cannot read row ${line}: it has ${fields.length} fields, the header ${header.length}`,
      );
    }
    const [name, url, site] = fields as [typeof fields[0], typeof fields[0], typeof fields[0]?];
    if (name.value === "") {
      return bad(line, name.column, `Cannot read row ${line}: its name is empty`);
    }
    const why = replicaProblem(url.value);
    if (why) {
      return bad(line, url.column, `Cannot use replica "${url.value}" of "${name.value}": ${why}`);
    }
    const replica: CatalogReplica = site && site.value !== ""
      ? { url: absoluteUrl(url.value, dir), site: site.value }
      : { url: absoluteUrl(url.value, dir) };
    const list = files.get(name.value) ?? [];
    list.push(replica);
    files.set(name.value, list);
  });
  if (!header) bad(1, 1, `Cannot read replica catalog "${file}": it has no header name,url,site`);
  return { files, diagnostics, text: r.text };
}

/** Read one catalog file, by its extension. */
export function readCatalog(file: string): Promise<Catalog> | undefined {
  if (/\.csv$/i.test(file)) return readCsv(file);
  if (formatOf(file) !== undefined) return readStructured(file);
  return undefined;
}

/**
 * The workflow with every `{ catalog, name }` file's replicas filled in from its catalog
 * (each catalog read once), and the problems: the catalogs' own, located in them, and
 * the workflow's (an unreadable format, a name the catalog lacks), by key path.
 */
export async function withCatalogs(
  w: Workflow,
  workflowFile: string,
  sources: Map<string, string>,
): Promise<{ workflow: Workflow; diagnostics: Diagnostic[]; problems: Problem[] }> {
  const diagnostics: Diagnostic[] = [];
  const problems: Problem[] = [];
  const read = new Map<string, Catalog | undefined>();
  const files: Record<string, DeclaredFile> = {};
  for (const [key, f] of Object.entries(w.files)) {
    files[key] = f;
    if (!f.catalog) continue;
    // Shown as the workflow file is: beside it, as the user named it.
    const shown = isAbsolute(f.catalog.file)
      ? f.catalog.file
      : join(dirname(workflowFile), f.catalog.file);
    const path = resolve(shown);
    if (!read.has(path)) {
      const c = await readCatalog(path);
      read.set(path, c);
      if (c) {
        diagnostics.push(...c.diagnostics.map((d) => ({ ...d, file: shown })));
        if (c.text !== undefined) sources.set(shown, c.text);
      }
    }
    const c = read.get(path);
    const replicas = c ? c.files.get(f.catalog.name) : undefined;
    if (!c) {
      problems.push(error(
        "unknown-format",
        f.catalog.where,
        `Cannot read replica catalog "${f.catalog.file}": name it .yaml, .yml, .toml or .csv`,
      ));
    } else if (!replicas) {
      if (c.diagnostics.length > 0) continue; // its own errors say why
      const names = [...c.files.keys()];
      problems.push(error(
        "unknown-logical-file",
        f.catalog.where,
        `Cannot find "${f.catalog.name}" in replica catalog "${f.catalog.file}"${
          didYouMean(f.catalog.name, names) ||
          (names.length === 0
            ? ": it lists no files"
            : `: it lists ${names.slice(0, 5).join(", ")}`)
        }`,
      ));
    } else if (replicas.length > 0) {
      const list: Replica[] = replicas.map((r) => ({
        value: r.url,
        ...(r.site !== undefined ? { site: r.site } : {}),
        where: f.catalog!.where,
        literal: true,
      }));
      files[key] = { ...f, value: list[0]!.value, replicas: list };
    }
  }
  await registerCatalogs(w, workflowFile, { read, sources, diagnostics });
  return { workflow: { ...w, files }, diagnostics, problems };
}

/**
 * The catalogs outputs are registered in that exist already: each must read as a catalog now,
 * not fail once a task succeeded. Their problems go to `to.diagnostics`.
 */
async function registerCatalogs(
  w: Workflow,
  workflowFile: string,
  to: {
    read: Map<string, Catalog | undefined>;
    sources: Map<string, string>;
    diagnostics: Diagnostic[];
  },
): Promise<void> {
  for (const app of Object.values(w.apps)) {
    for (const slot of Object.values(app.outputs)) {
      for (const f of slot.files) {
        if (f.register === undefined) continue;
        const shown = isAbsolute(f.register) ? f.register : join(dirname(workflowFile), f.register);
        const path = resolve(shown);
        if (to.read.has(path) || !existsSync(path)) continue;
        const c = await readCatalog(path);
        to.read.set(path, c);
        if (!c) continue; // its name is a problem of its own (dsl/rules/files.ts)
        to.diagnostics.push(...c.diagnostics.map((d) => ({ ...d, file: shown })));
        if (c.text !== undefined) to.sources.set(shown, c.text);
      }
    }
  }
}
