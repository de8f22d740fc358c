/**
 * A task attempt on the filesystem: its directory (the task's working
 * directory), its logs, its inputs placed where the plan says the task sees
 * them (its outputs are checked and moved into place only after success, by
 * deliver.ts, so a failed or half-finished task never leaves a file at a final path).
 * @module
 */

import { dirname, join } from "node:path";
import { createHash } from "node:crypto";
import type { PlanFile, PlanTask } from "./plan.ts";
import type { Executor } from "../dsl/model.ts";
import type { JobSpec, KeptFile, NodeTransfer, NodeTransfers } from "../providers/batch/types.ts";
import { localPath } from "./values.ts";
import { slotPaths, taskFilePath } from "./script_task.ts";
import { taskPermissions } from "./task_permissions.ts";

/** Where one attempt keeps its files. */
export interface AttemptPaths {
  /** The attempt's own directory (logs, status, result). */
  readonly root: string;
  /** The task's working directory: it runs and writes its outputs here. */
  readonly work: string;
  /** Standard output log (unless the app redirects it to an output). */
  readonly stdoutLog: string;
  /** Standard error log. */
  readonly stderrLog: string;
  /** JSON result of a function app. */
  readonly result: string;
}

/** A short, stable, file-system-safe directory name for a task id. */
export function taskDirName(id: string): string {
  let name = dirNames.get(id);
  if (name === undefined) {
    const safe = id.replace(/[^A-Za-z0-9_.=-]+/g, "_").slice(0, 60);
    name = `${safe}-${createHash("sha256").update(id).digest("hex").slice(0, 8)}`;
    if (dirNames.size >= 100_000) dirNames.clear();
    dirNames.set(id, name);
  }
  return name;
}

/** Task ids seen lately and their directory names (each is asked for several times per attempt). */
const dirNames = new Map<string, string>();

/** Expand `$VAR` and `${VAR}` from the environment; unknown variables are an error. */
export function expandVars(
  s: string,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): string {
  return s.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_, a: string, b: string) => {
      const name = a ?? b;
      const v = env(name);
      if (v === undefined || v === "") {
        throw new Error(
          `the environment variable ${name} is not set`,
        );
      }
      return v;
    },
  );
}

/** An attempt's directories, and the input links to make in them, for whoever starts the task. */
export interface AttemptLayout extends AttemptPaths {
  /** Directories to make (the working directory first). */
  readonly dirs: readonly string[];
  /**
   * Symbolic links to make after the directories, as [target, link] pairs: each input the task
   * sees through a plain symlink to the workspace file.
   */
  readonly links: readonly (readonly [string, string])[];
}

/**
 * Lay out (and create) the directories of one attempt. With `scratchOnNode` (a batch provider
 * whose job wrapper copies the task directory to node-local scratch itself) the task directory
 * stays in the attempt directory, whatever the task's scratch.
 */
export function makeAttempt(
  runDir: string,
  task: PlanTask,
  attempt: number,
  runId: string,
  options: { readonly scratchOnNode?: boolean } = {},
): AttemptLayout {
  const root = join(runDir, "tasks", taskDirName(task.id), `attempt-${attempt}`);
  const scratch = options.scratchOnNode ? undefined : task.scratch;
  const work = scratch !== undefined
    ? join(scratchRunDir(scratch, runId), taskDirName(task.id), `attempt-${attempt}`)
    : join(root, "work");
  // The directories are made by whoever starts the task (the local provider
  // in its forked child): for thousands of tiny tasks, that keeps ferry's own
  // thread free of file-system calls.
  const dirs = new Set<string>([work]);
  if (scratch !== undefined) dirs.add(root);
  for (const f of task.outputs) {
    if (f.path.startsWith("/")) continue;
    const parent = dirname(f.dynamic === "glob" ? f.path.replace(/[*?[].*$/, "x") : f.path);
    if (parent !== ".") dirs.add(join(work, parent));
  }
  for (const d of [task.stdout, task.stderr]) {
    if (d !== undefined && !d.startsWith("/")) dirs.add(join(work, dirname(d)));
  }
  const links: (readonly [string, string])[] = [];
  const seen = new Set<string>();
  for (const f of task.inputs) {
    if (f.path.startsWith("/") || seen.has(f.path)) continue; // a file read as two inputs: once
    seen.add(f.path);
    const parent = dirname(f.path);
    if (parent !== ".") dirs.add(join(work, parent));
    const target = linkTarget(f);
    if (target !== undefined) links.push([target, join(work, f.path)]);
  }
  return {
    root,
    work,
    stdoutLog: join(root, "stdout.log"),
    stderrLog: join(root, "stderr.log"),
    result: join(root, "result.json"),
    dirs: [...dirs],
    links,
  };
}

/** A run's directory on the scratch `scratch` (as the site file writes it). */
function scratchRunDir(scratch: string, runId: string): string {
  return join(expandVars(scratch), "ferry", runId);
}

/**
 * Once a run is over: the directories it made on scratch, where empty (a failed attempt's
 * directory stays, and the run's with it).
 */
export async function removeScratchRunDirs(tasks: Iterable<PlanTask>, runId: string) {
  const seen = new Set<string>();
  for (const t of tasks) {
    if (t.scratch === undefined || seen.has(t.scratch)) continue;
    seen.add(t.scratch);
    try {
      await Deno.remove(scratchRunDir(t.scratch, runId));
    } catch { /* not empty, never made, or a variable only the node sets */ }
  }
}

/** The workspace file a plain symlink in the task directory points to, for such an input. */
function linkTarget(f: PlanFile): string | undefined {
  if (f.provider !== "shared" || (f.link ?? "symlink") !== "symlink") return undefined;
  return localPath(f.url);
}

/**
 * Whether ferry must place inputs inside the task directory before the job starts: copies,
 * hardlinks and fetches always; plain symlinks unless the provider makes them (`makesLinks`:
 * the local provider makes them where it makes the directories).
 */
export function needsPlacing(task: PlanTask, makesLinks = false): boolean {
  return task.inputs.some((f) =>
    !f.path.startsWith("/") && (!makesLinks || linkTarget(f) === undefined)
  );
}

/** Make the attempt's directories now (when inputs must be placed in them first). */
export function makeDirs(dirs: readonly string[]): void {
  for (const d of dirs) Deno.mkdirSync(d, { recursive: true });
}

/**
 * After a successful attempt, before its outputs are delivered: take the inputs out of the task
 * directory (links and copies ferry placed there, or what the task made of them), so that no
 * `glob` or `dir` output collects them and nothing is moved through a link into the workspace.
 */
export function unplaceInputs(task: PlanTask, work: string): void {
  const skip = new Set(task.outputs.map((f) => f.path));
  for (const f of task.inputs) {
    if (f.path.startsWith("/") || skip.has(f.path)) continue;
    skip.add(f.path);
    const at = join(work, f.path);
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(at);
    } catch {
      continue; // gone (the task removed it)
    }
    Deno.removeSync(at, { recursive: info.isDirectory });
  }
}

/**
 * What is left in a successful attempt's task directory once its outputs were delivered and
 * its inputs taken out (files a tool wrote beside an input, scratch files), relative to it,
 * sorted. Those files go; with `whole` (a directory on scratch) the directory goes too. In the
 * attempt's own directory the (empty) folders stay: thousands of tasks deleting folders slow
 * down making the next ones on some file systems.
 */
export async function sweepWork(work: string, whole: boolean): Promise<string[]> {
  let left: string[];
  try {
    left = walkSync(work);
  } catch {
    return [];
  }
  if (whole) await Deno.remove(work, { recursive: true }).catch(() => {});
  else for (const f of left) Deno.removeSync(join(work, f));
  return left;
}

/** A file's name in a run's store of kept files on a host: `DIGEST/NAME`. */
export function keptKey(url: string): string {
  const digest = createHash("sha256").update(url).digest("hex").slice(0, 16);
  const last = (localPath(url) ?? url).split("/").filter(Boolean).at(-1) ?? "";
  const name = last.replace(/[^A-Za-z0-9_.=-]+/g, "_");
  return `${digest}/${name === "" || name === "." || name === ".." ? "file" : name}`;
}

/** The outputs of `task` its provider keeps on its host for readers there. */
export function keptOutputs(task: PlanTask): KeptFile[] {
  return task.outputs.filter((f) => f.keep).map((f) => ({ path: f.path, key: keptKey(f.url) }));
}

/** Fetches a remote input into the task directory (node-side staging). */
export type FetchInto = (f: PlanFile, dest: string) => Promise<unknown>;

/**
 * Put inputs whose plan path is inside the task directory there: links and
 * copies of local files (`shared` with `link:`, `scratch`, `copy`), and remote
 * files fetched on the node when the executor has no shared filesystem.
 */
export async function placeInputs(
  task: PlanTask,
  work: string,
  fetchInto?: FetchInto,
  onNode = false,
  kept: ReadonlySet<string> = new Set(),
): Promise<string | undefined> {
  const seen = new Set<string>(kept); // kept on the host: linked there
  for (const f of task.inputs) {
    if (f.path.startsWith("/") || seen.has(f.path)) continue; // used where it is, or placed
    seen.add(f.path);
    if (onNode && fetchedOnNode(f)) continue; // the job wrapper fetches it
    const dest = join(work, f.path);
    Deno.mkdirSync(dirname(dest), { recursive: true });
    const src = f.staged ?? f.via?.path ?? localPath(f.url);
    if (src === undefined || (f.staging === "wrap" && f.provider !== "scratch")) {
      if (!fetchInto) return `Cannot stage "${f.url}" with "${f.provider}" in this run`;
      try {
        await fetchInto(f, dest);
      } catch (e) {
        return (e as Error).message;
      }
      continue;
    }
    try {
      await place(src, dest, f);
    } catch (e) {
      return `Cannot place input "${f.name}" (${src}) in the task directory: ${
        (e as Error).message
      }`;
    }
  }
  return undefined;
}

/** Link or copy a local input into the task directory, as its rule says. */
async function place(src: string, dest: string, f: PlanFile): Promise<void> {
  const mode = f.staged !== undefined
    ? "symlink" // the run's own copy in .ferry/staged
    : f.provider === "shared"
    ? (f.link ?? "symlink")
    : "copy";
  if (mode === "symlink") return Deno.symlinkSync(src, dest);
  if (mode === "hardlink") {
    try {
      return Deno.linkSync(src, dest);
    } catch (e) {
      // Another filesystem (or links not allowed): a copy is what the user gets instead.
      if (
        !(e instanceof Error) ||
        !/EXDEV|cross-device|os error 18|EPERM|os error 1\b/i.test(e.message)
      ) {
        throw e;
      }
    }
  }
  await Deno.copyFile(src, dest);
}

/** Whether an output leaves through a staging provider (not moved into the workspace). */
export function isStagedOut(f: PlanFile): boolean {
  return f.staging === "transfer" ||
    (f.staging === "wrap" && f.provider !== "scratch" && localPath(f.url) === undefined);
}

/** Where an attempt's job runs and logs, for {@linkcode jobSpec}. */
export interface JobPlace {
  /** The attempt's directories. */
  readonly paths: AttemptLayout;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The run's directory. */
  readonly runDir: string;
  /** Standard output file. */
  readonly stdout: string;
  /** Standard error file. */
  readonly stderr: string;
  /** Whether the attempt's directories were made already (inputs placed in them). */
  readonly placed: boolean;
  /** Whether the provider makes the input links (`paths.links`) itself. */
  readonly makesLinks?: boolean;
  /** Node-local scratch root for providers that copy there on the node. */
  readonly scratch?: string;
  /** Transfers the job wrapper makes on the node (`filesystem: none`). */
  readonly nodeTransfers?: NodeTransfers;
  /** Inputs kept on the host by earlier tasks (a provider that `keeps`), and outputs to keep. */
  readonly kept?: { readonly inputs: readonly KeptFile[]; readonly outputs: readonly KeptFile[] };
  /** For a function task: what the function tasks it depends on returned, by task id. */
  readonly results?: Readonly<Record<string, unknown>>;
  /**
   * The run's retry base in ms (`ferry run --retry-base`): node-side transfers in the job
   * wrapper wait from it. @default `RETRY_BASE_MS` of providers/_shared/retry.ts
   */
  readonly retryBaseMs?: number;
}

/** The job a batch provider gets for one attempt of a task (`ferry run` and `plan --show-scripts`). */
export function jobSpec(task: PlanTask, ex: Executor, place: JobPlace): JobSpec {
  const { paths, attempt } = place;
  const run = task.run ?? { kind: "command" as const, argv: ["true"] };
  const env = {
    ...ex.env,
    ...task.env,
    FERRY_TASK_ID: task.id,
    FERRY_ATTEMPT: String(attempt),
    ...(task.resources.cores !== undefined ? { FERRY_CORES: String(task.resources.cores) } : {}),
    ...(run.kind === "script" ? { FERRY_TASK: taskFilePath(paths.root) } : {}),
  };
  const permissions = taskPermissions(task, { root: paths.root, result: paths.result, env });
  return {
    taskId: task.id,
    attempt,
    dir: paths.work,
    run,
    env,
    ...(permissions ? { permissions } : {}),
    stdout: place.stdout,
    stderr: place.stderr,
    mkdirs: place.placed ? [] : paths.dirs,
    ...(!place.placed && place.makesLinks && paths.links.length > 0 ? { links: paths.links } : {}),
    resources: task.resources,
    ...(ex.workerInit ? { workerInit: ex.workerInit } : {}),
    ...(run.kind === "function"
      ? { call: { args: functionArgs(task, paths.work, place.results), result: paths.result } }
      : {}),
    root: paths.root,
    runDir: place.runDir,
    bundle: task.app,
    ...(place.scratch !== undefined ? { scratch: place.scratch } : {}),
    ...(place.nodeTransfers !== undefined ? { nodeTransfers: place.nodeTransfers } : {}),
    ...(place.kept?.inputs.length ? { keptInputs: place.kept.inputs } : {}),
    ...(place.kept?.outputs.length ? { keep: place.kept.outputs } : {}),
    ...(place.retryBaseMs !== undefined ? { retryBaseMs: place.retryBaseMs } : {}),
    ...(task.container && ex.containerRuntime
      ? {
        container: {
          image: task.container.image,
          runtime: ex.containerRuntime,
          mounts: containerMounts(task),
        },
      }
      : {}),
  };
}

/**
 * What a task in a container reads outside its directory, mounted read-only at the same paths:
 * inputs used where they are, and the files its input links point to (a workspace file, the
 * run's copy in `.ferry/staged`), so that the links resolve inside as outside.
 */
export function containerMounts(task: PlanTask): string[] {
  const out = new Set<string>();
  for (const f of task.inputs) {
    if (f.path.startsWith("/")) out.add(f.path);
    else {
      const target = f.staged ?? linkTarget(f);
      if (target !== undefined) out.add(target);
    }
  }
  return [...out];
}

/**
 * A function app's arguments: inputs and outputs as paths, bindings, the task, and what the
 * function tasks it depends on returned (`results`, by task id).
 */
function functionArgs(
  task: PlanTask,
  work: string,
  results: Readonly<Record<string, unknown>> = {},
): unknown {
  const at = (p: string) => p.startsWith("/") ? p : join(work, p);
  return {
    inputs: slotPaths(task.inputs, at),
    outputs: slotPaths(task.outputs, at),
    bindings: task.bindings,
    task: { id: task.id },
    results,
  };
}

/** Whether a job wrapper on a node without a shared filesystem fetches this input itself. */
function fetchedOnNode(f: PlanFile): boolean {
  return f.staging === "wrap" && f.provider !== "scratch" && localPath(f.url) === undefined;
}

/**
 * The transfers a job wrapper makes on the node for a task on an executor with
 * `filesystem: none` (remote inputs in, outputs to remote URLs out), with what
 * the staging rule says about logging in. Secrets stay named, never copied.
 */
export function nodeTransfersOf(task: PlanTask, ex: Executor): NodeTransfers {
  const of = (f: PlanFile): NodeTransfer => {
    const rule = typeof f.rule === "number" ? ex.staging[f.rule] : undefined;
    const o = rule?.options ?? {};
    const str = (k: string) => (typeof o[k] === "string" ? o[k] as string : undefined);
    const user = str("user"), passwordEnv = str("password_env"), tokenEnv = str("token_env");
    return {
      url: f.url,
      path: f.path,
      action: f.provider,
      ...(f.checksum !== undefined ? { checksum: f.checksum } : {}),
      ...(user !== undefined ? { user } : {}),
      ...(passwordEnv !== undefined ? { passwordEnv } : {}),
      ...(tokenEnv !== undefined ? { tokenEnv } : {}),
      ...(typeof o.retries === "number" ? { retries: o.retries } : {}),
      ...(f.local !== undefined ? { local: f.local } : {}),
    };
  };
  const fetch = (f: PlanFile): NodeTransfer => {
    const fallbacks = (f.fallbacks ?? []).map((b) =>
      of({ ...f, url: b.url, provider: b.provider, rule: b.rule })
    );
    return fallbacks.length > 0 ? { ...of(f), fallbacks } : of(f);
  };
  return {
    fetch: task.inputs.filter(fetchedOnNode).map(fetch),
    put: task.outputs.filter((f) => isStagedOut(f) && !f.temp && f.dynamic === undefined).map(of),
  };
}

/** Files under `dir`, relative to it, sorted (few: read at once). */
function walkSync(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(prefix ? join(dir, prefix) : dir)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (!e.isDirectory) out.push(rel);
    else for (const f of walkSync(dir, rel)) out.push(f);
  }
  return out.sort();
}
