/**
 * Rules on files: the long form has exactly one of path/url/glob/dir, dynamic
 * forms appear only in outputs, URLs parse, and outputs stay in the workspace.
 * @module
 */

import { join, posix, relative, resolve } from "node:path";
import { error, type Problem } from "../diagnostic.ts";
import { parseTemplateCached } from "../expr.ts";
import type { DeclaredFile, OwnFile, Where } from "../model.ts";
import { type TemplateField, templateFields, type WorkflowRule } from "./_context.ts";

/** Longer globs cannot become regular expressions (and no real one is this long). */
const MAX_PATTERN = 4096;
const FORMS = ["path", "url", "glob", "dir"] as const;
/** A named file may also be a logical file: its replicas listed, or found in a catalog. */
const NAMED_FORMS = [...FORMS, "replicas", "catalog"] as const;

/** `{path|url|glob|dir, ...}`: exactly one form; glob, dir and temp only on outputs. */
export const fileForms: WorkflowRule = ({ raw }) => {
  const out: Problem[] = [];
  const each = (v: unknown, where: Where, role: "input" | "output" | "file") => {
    if (Array.isArray(v)) return v.forEach((x, i) => each(x, [...where, i], role));
    if (!v || typeof v !== "object") return;
    const o = v as Record<string, unknown>;
    const forms = (role === "file" ? NAMED_FORMS : FORMS).filter((k) => o[k] !== undefined);
    if (role === "file" && o.name !== undefined && o.catalog === undefined) {
      out.push({
        ...error(
          "file-form",
          [...where, "name"],
          'Cannot use "name" without "catalog": it is the file\'s name in a replica catalog',
        ),
        at: "key",
      });
    }
    for (const k of ["glob", "dir"] as const) {
      const v = o[k];
      if (typeof v === "string" && v.length > MAX_PATTERN) {
        out.push(
          error(
            "file-form",
            [...where, k],
            `Cannot use a ${k} of ${v.length} characters: at most ${MAX_PATTERN}`,
          ),
        );
      }
    }
    if (forms.length !== 1) {
      out.push(error(
        "file-form",
        where,
        forms.length === 0
          ? `Cannot tell which file this is: give one of path, url${
            role === "output" ? ", glob or dir" : ""
          }`
          : `Cannot use ${forms.join(" and ")} together: a file has exactly one of ${
            role === "file" ? "path, url, replicas or catalog" : "path, url, glob or dir"
          }`,
      ));
    }
    if (role !== "output" && o.register !== undefined) {
      out.push({
        ...error(
          "file-form",
          [...where, "register"],
          "Cannot register an input in a replica catalog: only outputs are registered",
        ),
        at: "key",
      });
    } else if (typeof o.register === "string" && leavesWorkspace(o.register)) {
      out.push(
        error(
          "file-form",
          [...where, "register"],
          `Cannot register in "${o.register}": ${
            leavesWorkspace(o.register)
          }; ferry writes only in the workspace`,
        ),
      );
    } else if (typeof o.register === "string" && !/\.(csv|ya?ml|toml)$/i.test(o.register)) {
      out.push(
        error(
          "file-form",
          [...where, "register"],
          `Cannot register in "${o.register}": name the replica catalog .csv, .yaml, .yml or .toml`,
        ),
      );
    }
    if (role !== "output") {
      for (const k of ["glob", "dir", "temp"] as const) {
        if (o[k] === undefined) continue;
        out.push({
          ...error(
            "dynamic-input",
            [...where, k],
            `Cannot use "${k}" on ${
              role === "file" ? "a named file" : "an input"
            }: only outputs can be ${
              k === "temp" ? "temporary" : "dynamic (known after the task ran)"
            }`,
          ),
          at: "key",
        });
      }
    } else if (o.checksum !== undefined) {
      out.push({
        ...error(
          "file-form",
          [...where, "checksum"],
          "Cannot declare a checksum on an output: it is computed after the task ran",
        ),
        at: "key",
      });
    }
  };
  const obj = (
    v: unknown,
  ) => (v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : {});
  for (const [name, f] of Object.entries(obj(raw.files))) each(f, ["files", name], "file");
  for (const [app, a] of Object.entries(obj(raw.apps))) {
    for (const [name, f] of Object.entries(obj(obj(a).inputs))) {
      each(f, ["apps", app, "inputs", name], "input");
    }
    for (const [name, f] of Object.entries(obj(obj(a).outputs))) {
      each(f, ["apps", app, "outputs", name], "output");
    }
  }
  return out;
};

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
/** `https//host/x`: a known scheme whose colon was forgotten (else it reads as a relative path). */
const MISSING_COLON = /^(https?|ftps?|sftp|rsync|ssh|s3|gs|chirp|root)\/\//i;
const NEEDS_HOST = new Set(["http", "https", "ftp", "ftps", "sftp", "rsync", "ssh", "s3", "gs"]);

/** The part of a template before its first expression. */
function staticPrefix(f: TemplateField): { text: string; complete: boolean } | undefined {
  const parsed = parseTemplateCached(f.text);
  if (!parsed.ok) return undefined;
  const first = parsed.template[0];
  if (!first) return { text: "", complete: true };
  if (first.kind === "expr") return { text: "", complete: false };
  return { text: first.text, complete: parsed.template.length === 1 };
}

/** Why a URL is invalid, or undefined when it is fine. */
export function urlProblem(text: string, complete: boolean): string | undefined {
  const colonless = MISSING_COLON.exec(text);
  if (colonless) {
    return `write it as ${colonless[1]!.toLowerCase()}://${
      text.slice(colonless[0].length)
    } (the ":" is missing)`;
  }
  const m = SCHEME.exec(text);
  if (!m || /^[A-Za-z]:[\\/]/.test(text)) return undefined; // a path (or a Windows drive)
  const scheme = m[1]!.toLowerCase();
  if (NEEDS_HOST.has(scheme) && /^\/\/[\/?#]/.test(text.slice(m[0].length))) {
    return `a ${scheme}: URL needs a host: write ${scheme}://host/path`;
  }
  if (!text.slice(m[0].length).startsWith("//") && scheme !== "file") {
    return NEEDS_HOST.has(scheme) ? `write it as ${scheme}://host/path` : undefined;
  }
  const candidate = complete ? text : `${text}x`;
  if (/\s/.test(candidate.replace(/%20/g, ""))) return "a URL cannot contain spaces; write %20";
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return "it is not a valid URL";
  }
  if (NEEDS_HOST.has(scheme) && url.hostname === "") return `a ${scheme}: URL needs a host`;
  if (scheme === "file" && url.hostname !== "" && url.hostname !== "localhost") {
    return `a file: URL names a local path: write file:///path (three slashes), not file://${url.hostname}/`;
  }
  return undefined;
}

/** URLs in files, inputs and outputs parse and have what their scheme needs. */
export const validUrls: WorkflowRule = ({ workflow }) => {
  const out: Problem[] = [];
  for (const f of templateFields(workflow)) {
    if (f.field !== "files" && f.field !== "inputs" && f.field !== "outputs") continue;
    const prefix = staticPrefix(f);
    if (!prefix || !(SCHEME.test(prefix.text) || MISSING_COLON.test(prefix.text))) continue;
    const why = urlProblem(prefix.text, prefix.complete);
    if (why) out.push(error("invalid-url", f.where, `Cannot use URL "${f.text}": ${why}`));
  }
  return out;
};

/** Whether a literal output path leaves the workspace; the reason if so. */
export function leavesWorkspace(path: string): string | undefined {
  if (path.startsWith("/") || path.startsWith("~") || /^[A-Za-z]:[\\/]/.test(path)) {
    return "it is an absolute path";
  }
  if (path.toLowerCase().startsWith("file:")) return "it is a file: URL outside the workspace";
  let depth = 0;
  for (const seg of path.split(/[\\/]/)) {
    if (seg === "..") depth--;
    else if (seg !== "." && seg !== "") depth++;
    if (depth < 0) return 'it climbs out with ".."';
  }
  return undefined;
}

/** Outputs are workspace-relative (or under a root the site file allows). */
export const outputsInWorkspace: WorkflowRule = ({ workflow, site, workspace }) => {
  const out: Problem[] = [];
  const roots = site?.outputRoots ?? [];
  for (const app of Object.values(workflow.apps)) {
    for (const slot of Object.values(app.outputs)) {
      for (const f of slot.files) {
        const p = outputProblem(f, roots, workspace);
        if (p) out.push(error("output-outside-workspace", f.where, p));
      }
    }
  }
  return out;
};

/**
 * Why an output at `path` (absolute) would overwrite ferry's own files, or
 * undefined: it is under the workspace's `.ferry/`, is the workflow or site
 * file, or (with `holds`: a file or directory written whole) a directory
 * holding one of them.
 */
export function reservedProblem(
  path: string,
  workspace: string,
  own: readonly OwnFile[],
  holds = true,
): string | undefined {
  const p = posix.normalize(path).replace(/(.)\/+$/, "$1");
  const ferry = join(workspace, ".ferry");
  if (p === ferry || p.startsWith(`${ferry}/`)) return "ferry keeps its own state in .ferry/";
  if (holds && ferry.startsWith(`${p}/`)) return "it holds ferry's own .ferry/";
  for (const f of own) {
    if (f.path === p) return `it is the ${f.what}`;
    if (holds && f.path.startsWith(`${p}/`)) {
      return `it holds the ${f.what} ${relative(p, f.path)}`;
    }
  }
  return undefined;
}

/**
 * The part of an output's path known before anything runs: all of a literal
 * path or directory (`whole`), else the directories before the first
 * expression or glob character; undefined when none is.
 */
function knownPath(f: DeclaredFile): { text: string; whole: boolean } | undefined {
  const parsed = parseTemplateCached(f.value);
  if (!parsed.ok) return undefined;
  let text = "";
  for (const p of parsed.template) {
    if (p.kind !== "text") break;
    text += p.text;
  }
  const literal = parsed.template.every((p) => p.kind === "text");
  const glob = f.kind === "glob" ? text.search(/[*?[{]/) : -1;
  if (literal && glob < 0) return { text, whole: f.kind !== "glob" };
  text = text.slice(0, text.lastIndexOf("/", glob < 0 ? text.length : glob) + 1);
  return text === "" ? undefined : { text, whole: false };
}

/** No output is, holds or lies under `.ferry/`, the workflow file or the site file. */
export const ownFilesNotOutputs: WorkflowRule = ({ workflow, workspace, ownFiles = [] }) => {
  const out: Problem[] = [];
  for (const app of Object.values(workflow.apps)) {
    for (const slot of Object.values(app.outputs)) {
      for (const f of slot.files) {
        const known = knownPath(f);
        if (!known) continue;
        const m = SCHEME.exec(known.text);
        if (m && !/^[A-Za-z]:[\\/]/.test(known.text) && m[1]!.toLowerCase() !== "file") continue;
        const abs = m ? safePath(known.text) : resolve(workspace, known.text || ".");
        if (abs === undefined) continue;
        const why = reservedProblem(abs, workspace, ownFiles, known.whole);
        if (why) {
          out.push({
            ...error("reserved-output", f.where, `Cannot write output "${f.value}": ${why}`),
            at: "key",
          });
        }
      }
    }
  }
  return out;
};

/** Why an output may not be written where it says, or undefined. */
export function outputProblem(
  f: DeclaredFile,
  roots: readonly string[],
  workspace: string,
): string | undefined {
  const parsed = parseTemplateCached(f.value);
  if (!parsed.ok) return undefined;
  const text = parsed.template.map((p) => (p.kind === "text" ? p.text : "x")).join("");
  const m = SCHEME.exec(text);
  const isFile = m?.[1]?.toLowerCase() === "file";
  if (m && !isFile && !/^[A-Za-z]:[\\/]/.test(text)) return undefined; // staged out by a provider
  const local = isFile ? safePath(text) : undefined;
  if (isFile && local !== undefined && within(local, rootPath(workspace))) return undefined;
  const why = leavesWorkspace(text);
  if (!why) return undefined;
  const abs = text.toLowerCase().startsWith("file:") ? safePath(text) : text;
  if (abs && roots.some((r) => within(abs, rootPath(r)))) return undefined;
  return `Cannot write output "${f.value}" outside the workspace: ${why}${
    roots.length
      ? ` and it is not under an output root (${roots.join(", ")})`
      : "; a site file may allow a root with output_roots"
  }`;
}

function safePath(fileUrl: string): string | undefined {
  try {
    return decodeURIComponent(new URL(fileUrl).pathname); // throws on %zz: caught below
  } catch {
    return undefined;
  }
}

function rootPath(r: string): string {
  const p = r.toLowerCase().startsWith("file:") ? safePath(r) ?? r : r;
  return p.endsWith("/") ? p : `${p}/`;
}

function within(path: string, root: string): boolean {
  const norm = path.split("/").reduce<string[]>((acc, seg) => {
    if (seg === "..") acc.pop();
    else if (seg !== "." && seg !== "") acc.push(seg);
    return acc;
  }, []);
  return `/${norm.join("/")}/`.startsWith(root);
}
