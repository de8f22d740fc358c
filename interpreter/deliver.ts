/**
 * Delivery: a succeeded attempt's outputs, checked, then moved from its task
 * directory into the workspace, all or none. Outputs are looked at with
 * `lstat`, never through a link: a symbolic link whose target leaves the
 * workspace (or goes into `.ferry/`) is refused, as is a `dir:` output that
 * is a link or a FIFO, device or socket anywhere; a link inside the workspace
 * stays a link, rewritten to reach the same file from where it lands. No
 * output may be, hold or lie under `.ferry/`, the workflow file or the site
 * file, whatever a glob or a directory brought. A `dir:` output replaces the
 * directory there whole, but files in it ferry did not deliver are kept:
 * the old directory moves to `.ferry/trash/RUN/PATH`.
 * @module
 */

import { dirname, join, relative, resolve } from "node:path";
import type { OwnFile } from "../dsl/model.ts";
import { reservedProblem } from "../dsl/rules/files.ts";
import { isStagedOut } from "./attempt.ts";
import type { PlanFile, PlanTask } from "./plan.ts";
import { globPathRegExp, toUrl } from "./urls.ts";
import { FileValue, localPath } from "./values.ts";

/** What delivery respects beyond the task's own outputs. */
export interface DeliveryGuard {
  /** The workflow and site files: no output may be or hold them. @default [] */
  readonly ownFiles?: readonly OwnFile[];
  /** Where a replaced `dir:` output goes when it holds files ferry did not write. */
  readonly trash?: string;
  /** The files ferry delivered last time for one of the task's `dir:` outputs (by its URL), as URLs. */
  readonly delivered?: (url: string) => readonly string[] | undefined;
  /**
   * Outputs (by path) their executor's host kept: not here, they come by a transfer of their
   * own, if at all. @default none
   */
  readonly keptThere?: Readonly<Record<string, unknown>>;
}

/** Files an attempt wrote for one dynamic output, moved into the workspace. */
export type Collected = ReadonlyMap<string, readonly FileValue[]>;

/** A delivered attempt: the files of its dynamic outputs, and what delivery wants said. */
export type Delivered =
  | { readonly ok: true; readonly dynamic: Collected; readonly notes: readonly string[] }
  | { readonly ok: false; readonly message: string };

/** Check every declared output exists and may go where it says, then move all of them into place. */
export async function deliverOutputs(
  task: PlanTask,
  work: string,
  workspace: string,
  guard: DeliveryGuard = {},
): Promise<Delivered> {
  const d = new Delivery(work, workspace, guard);
  for (const f of task.outputs) {
    if (isStagedOut(f)) continue; // uploaded by its staging provider
    if (guard.keptThere?.[f.path] !== undefined) continue; // kept on its executor's host
    const why = await d.add(f);
    if (why !== undefined) return { ok: false, message: why };
  }
  return await d.move();
}

type Kind = "file" | "dir" | "link" | "special";

/** What `lstat` (or a directory entry) says a path is. */
function kindOf(i: Deno.FileInfo | Deno.DirEntry): Kind {
  return i.isSymlink ? "link" : i.isDirectory ? "dir" : i.isFile ? "file" : "special";
}

interface Move {
  readonly name: string;
  readonly from: string;
  readonly to: string;
  readonly dir: boolean;
  /** For a `dir:` output: files in the directory it replaces that ferry did not deliver. */
  readonly foreign?: readonly string[];
}

/** One attempt's delivery: outputs checked one by one, then moved together. */
class Delivery {
  readonly #moves: Move[] = [];
  readonly dynamic = new Map<string, FileValue[]>();
  #real: { work: string; ws: string } | undefined;

  constructor(
    readonly work: string,
    readonly ws: string,
    readonly guard: DeliveryGuard,
  ) {}

  /** Check one output and plan its move; why it cannot be delivered, if it cannot. */
  async add(f: PlanFile): Promise<string | undefined> {
    // An output on the executor's storage under another name (its endpoints) goes there.
    const dest = f.local ?? localPath(f.url);
    if (dest === undefined) return `Cannot deliver output "${f.name}" to "${f.url}"`;
    if (f.dynamic === "glob") return await this.#glob(f);
    const src = resolve(this.work, f.path);
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(src);
    } catch {
      return `the task did not write its output "${f.name}" (${f.path})`;
    }
    const reserved = this.#reserved(f, dest, true);
    if (reserved) return reserved;
    const kind = kindOf(info);
    if (f.dynamic === "dir") return await this.#dir(f, src, dest, kind);
    if (kind === "dir") {
      return `output "${f.name}" (${f.path}) is a directory, not a file`;
    }
    const bad = this.#entry(f, src, dest, kind);
    if (bad) return bad;
    this.#moves.push({ name: f.name, from: src, to: dest, dir: false });
    return undefined;
  }

  async #glob(f: PlanFile): Promise<string | undefined> {
    const re = globPathRegExp(f.path);
    const found = (await entries(this.work).catch(() => [])).filter((e) => re.test(e.rel));
    const values: FileValue[] = [];
    for (const e of found) {
      const to = join(this.ws, e.rel);
      const bad = this.#reserved(f, to, true) ?? this.#entry(f, join(this.work, e.rel), to, e.kind);
      if (bad) return bad;
      this.#moves.push({ name: f.name, from: join(this.work, e.rel), to, dir: false });
      values.push(new FileValue(toUrl(e.rel, this.ws)));
    }
    this.dynamic.set(f.name, values);
    return undefined;
  }

  async #dir(f: PlanFile, src: string, dest: string, kind: Kind): Promise<string | undefined> {
    if (kind === "link") {
      return `Cannot deliver output "${f.name}" (${f.path}): the task made it a symbolic link (to "${
        shown(Deno.readLinkSync(src))
      }"), not a directory`;
    }
    if (kind !== "dir") return `output "${f.name}" (${f.path}) is not a directory`;
    const files = await entries(src);
    for (const e of files) {
      const bad = this.#entry(f, join(src, e.rel), join(dest, e.rel), e.kind, `${f.path}/${e.rel}`);
      if (bad) return bad;
    }
    const wsRel = relative(this.ws, dest);
    this.dynamic.set(f.name, files.map((e) => new FileValue(toUrl(join(wsRel, e.rel), this.ws))));
    const foreign = await this.#foreign(f, dest);
    this.#moves.push({
      name: f.name,
      from: src,
      to: dest,
      dir: true,
      ...(foreign ? { foreign } : {}),
    });
    return undefined;
  }

  /** Files (and links) in the directory a `dir:` output replaces that ferry did not deliver there. */
  async #foreign(f: PlanFile, dest: string): Promise<string[] | undefined> {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(dest);
    } catch {
      return undefined; // nothing there yet
    }
    if (!info.isDirectory) return [relative(this.ws, dest)];
    const ours = new Set(
      (this.guard.delivered?.(f.url) ?? []).map((u) => localPath(u) ?? resolve(this.ws, u)),
    );
    const there = await entries(dest);
    const foreign = there.filter((e) => !ours.has(join(dest, e.rel)));
    return foreign.length > 0
      ? foreign.map((e) => relative(this.ws, join(dest, e.rel)))
      : undefined;
  }

  #reserved(f: PlanFile, dest: string, whole: boolean): string | undefined {
    const why = reservedProblem(dest, this.ws, this.guard.ownFiles ?? [], whole);
    return why &&
      `Cannot deliver output "${f.name}" to "${shown(relative(this.ws, dest))}": ${why}`;
  }

  /** Why one file of an output cannot be delivered (a link is rewritten to land right). */
  #entry(f: PlanFile, src: string, to: string, kind: Kind, rel = f.path): string | undefined {
    if (kind === "special") {
      return `Cannot deliver output "${f.name}" (${
        shown(rel)
      }): it is not a regular file (a FIFO, socket or device)`;
    }
    if (kind !== "link") return undefined;
    const target = this.#linkTarget(src);
    if (typeof target !== "string") {
      return `Cannot deliver output "${f.name}" (${shown(rel)}): it is a symbolic link to "${
        shown(Deno.readLinkSync(src))
      }", ${target.why}`;
    }
    const real = this.#realOf();
    const landing = to.startsWith(`${this.ws}/`) ? join(real.ws, relative(this.ws, to)) : to;
    const text = relative(dirname(landing), target);
    if (Deno.readLinkSync(src) !== text) {
      Deno.removeSync(src);
      Deno.symlinkSync(text, src);
    }
    return undefined;
  }

  /** Where a link in the task directory leads once delivered (real paths), or why it may not. */
  #linkTarget(link: string): string | { why: string } {
    let real: string;
    try {
      real = Deno.realPathSync(link);
    } catch {
      return { why: "which does not exist" };
    }
    const r = this.#realOf();
    const mapped = within(real, r.work) ? join(r.ws, relative(r.work, real)) : real;
    if (!within(mapped, r.ws)) return { why: "outside the workspace" };
    if (within(mapped, join(r.ws, ".ferry"))) return { why: "in ferry's own .ferry/" };
    return mapped;
  }

  #realOf(): { work: string; ws: string } {
    return this.#real ??= { work: Deno.realPathSync(this.work), ws: Deno.realPathSync(this.ws) };
  }

  /** Move every planned output into place. */
  async move(): Promise<Delivered> {
    const notes: string[] = [];
    for (const m of this.#moves) {
      const why = await moveInto(m, this.ws, this.guard.trash, notes);
      if (why) return { ok: false, message: why };
    }
    return { ok: true, dynamic: this.dynamic, notes };
  }
}

/** Whether `path` is `dir` or under it. */
function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}

/** A path or link target for a message: control characters escaped. */
function shown(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

const ensured = new Set<string>();

/** `mkdir -p`, remembered: thousands of tasks writing into one folder create it once. */
function ensureDir(dir: string): void {
  if (ensured.has(dir)) return;
  Deno.mkdirSync(dir, { recursive: true });
  if (ensured.size > 10_000) ensured.clear();
  ensured.add(dir);
}

/**
 * Rename into place (replacing what was there), copying across filesystems;
 * why it could not, when the workspace is in the way. The names used on the
 * way (`.ferry-old`, `.ferry-tmp`) are fixed, so what a crash left under them
 * is cleared by the next delivery of the same output (the crash came before
 * the task's success was committed, so it runs again).
 */
async function moveInto(
  m: Move,
  ws: string,
  trash: string | undefined,
  notes: string[],
): Promise<string | undefined> {
  const { from, to } = m;
  try {
    ensureDir(dirname(to));
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists || e instanceof Deno.errors.NotADirectory)) {
      throw e;
    }
    return `Cannot deliver output "${m.name}" to "${
      shown(relative(ws, to))
    }": a file in the workspace is in the way of its folder`;
  }
  if (!m.dir) {
    try {
      return await renameOrCopy(from, to, false);
    } catch (e) {
      if (!(e instanceof Deno.errors.IsADirectory)) throw e;
      return `Cannot deliver output "${m.name}" to "${
        shown(relative(ws, to))
      }": a directory is there, and the output is a file`;
    }
  }
  if (m.foreign) {
    const kept = await toTrash(m, ws, trash);
    if (kept.startsWith("Cannot")) return kept;
    notes.push(kept);
    return await renameOrCopy(from, to, true);
  }
  const old = `${to}.ferry-old`;
  await Deno.remove(old, { recursive: true }).catch(() => {});
  let had = false;
  try {
    Deno.renameSync(to, old);
    had = true;
  } catch { /* nothing there yet */ }
  await renameOrCopy(from, to, true);
  if (had) await Deno.remove(old, { recursive: true });
  return undefined;
}

/**
 * Move what a `dir:` output replaces into the trash (`.ferry/trash/RUN/PATH`),
 * since it holds files ferry did not write: a note saying so, or why it cannot.
 */
async function toTrash(m: Move, ws: string, trash: string | undefined): Promise<string> {
  const rel = relative(ws, m.to);
  const names = m.foreign!.slice(0, 5).map(shown).join(", ") +
    (m.foreign!.length > 5 ? `, and ${m.foreign!.length - 5} more` : "");
  const refuse = (why: string) =>
    `Cannot replace output "${m.name}" (${
      shown(rel)
    }): it holds files ferry did not write (${names}) and ${why}; move them away`;
  if (trash === undefined) return refuse("this run keeps no trash");
  let kept = join(trash, rel.startsWith("..") ? join("_outside", m.to) : rel);
  for (let n = 2; await exists(kept); n++) kept = `${kept.replace(/~\d+$/, "")}~${n}`;
  ensureDir(dirname(kept));
  try {
    Deno.renameSync(m.to, kept);
  } catch (e) {
    if (!(e instanceof Error) || !/cross-device|EXDEV|os error 18/i.test(e.message)) throw e;
    return refuse(".ferry/trash is on another file system");
  }
  return `kept what output "${m.name}" replaced in ${
    shown(relative(ws, kept))
  }: ${names} (ferry did not write ${m.foreign!.length === 1 ? "it" : "them"})`;
}

/**
 * Move an output the task wrote at `from` to the path on the executor's storage that its URL
 * names through an endpoint (`f.local`): done on this host when it is the node.
 */
export async function placeOutput(f: PlanFile, from: string): Promise<void> {
  ensureDir(dirname(f.local!));
  await renameOrCopy(from, f.local!, false);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function renameOrCopy(from: string, to: string, dir: boolean): Promise<undefined> {
  try {
    Deno.renameSync(from, to);
  } catch (e) {
    if (!(e instanceof Error) || !/cross-device|EXDEV|os error 18/i.test(e.message)) throw e;
    // Scratch is often another filesystem: copy under a temporary name, then rename.
    const tmp = `${to}.ferry-tmp`;
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    if (dir) await copyDir(from, tmp);
    else await copyEntry(from, tmp);
    Deno.renameSync(tmp, to);
  }
  return undefined;
}

/** Copy a file, or a symbolic link as a link (its target was checked). */
async function copyEntry(from: string, to: string): Promise<void> {
  if (Deno.lstatSync(from).isSymlink) Deno.symlinkSync(Deno.readLinkSync(from), to);
  else await Deno.copyFile(from, to);
}

async function copyDir(from: string, to: string): Promise<void> {
  Deno.mkdirSync(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(join(from, e.name), join(to, e.name));
    else await copyEntry(join(from, e.name), join(to, e.name));
  }
}

/** Everything but directories under `dir`, relative to it, sorted, links not followed. */
export async function entries(dir: string, prefix = ""): Promise<{ rel: string; kind: Kind }[]> {
  const out: { rel: string; kind: Kind }[] = [];
  for await (const e of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    const kind = kindOf(e);
    if (kind !== "dir") out.push({ rel, kind });
    else for (const f of await entries(dir, rel)) out.push(f);
  }
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}
