/**
 * Running a task in a container: the engine's command line (podman, docker,
 * apptainer, singularity) that the local provider and the job wrapper run
 * through `ferry_container` (container.sh), and an image's identity for the
 * cache key. The task's directory is its working directory inside, at the same
 * path; what it reads outside that directory is mounted read-only at the same
 * path; its environment is passed by name (never as text on a command line).
 * @module
 */

import { createHash } from "node:crypto";
import type { ContainerRuntime } from "../../dsl/model.ts";
import type { JobSpec } from "./types.ts";
// The launcher function, in a real shell file so that shellcheck reads it (a text import: it
// works from a published package too).
import CONTAINER_LIBRARY from "./container.sh" with { type: "text" };

export { CONTAINER_LIBRARY };

/**
 * How a shell app's script runs inside: with bash (strict mode, as outside) when the image has
 * it, else with `sh -eu` (busybox and Alpine images have only sh).
 */
export const PICK_SHELL =
  'if command -v bash >/dev/null 2>&1; then exec bash -euo pipefail "$@"; fi; exec sh -eu "$@"';

/** A path that cannot be given to `-v SRC:DST` or `--bind SRC:DST` as it is. */
const UNMOUNTABLE = /[:,]/;

/** Why a job's container cannot mount its paths, or undefined when it can. */
export function mountProblem(job: JobSpec, extra: readonly string[] = []): string | undefined {
  if (job.container === undefined) return undefined;
  for (const p of [job.dir, ...jobMounts(job), ...extra]) {
    if (UNMOUNTABLE.test(p)) {
      return `Cannot mount "${p}" in container "${job.container.image}": a path holding ":" or "," cannot be bound`;
    }
  }
  return undefined;
}

/** The argv run inside the container: the command, or the shell running the script. */
export function innerArgv(job: JobSpec, scriptFile?: string): string[] {
  const run = job.run;
  if (run.kind === "command") return [...run.argv];
  if (run.kind === "shell") {
    const script = scriptFile !== undefined ? [scriptFile] : ["-c", run.script, "ferry-task"];
    return ["/bin/sh", "-c", PICK_SHELL, "sh", ...script];
  }
  if (run.kind === "script" && run.interpreter !== "deno") return [...run.interpreter, run.path];
  throw new Error(`Cannot run function task "${job.taskId}" in a container`);
}

/**
 * Everything a job's container mounts read-only besides its directory: its inputs (the job's
 * `container.mounts`), the files its environment names (FERRY_RESULTS, FERRY_TASK), a shell
 * task's script file, a script task's script; each once.
 */
function jobMounts(job: JobSpec, scriptFile?: string): string[] {
  const { FERRY_RESULTS: results, FERRY_TASK: task } = job.env;
  return [
    ...new Set([
      ...job.container!.mounts,
      ...(results !== undefined ? [results] : []),
      ...(scriptFile !== undefined ? [scriptFile] : []),
      ...(job.run.kind === "script" ? [job.run.path] : []),
      ...(task !== undefined ? [task] : []),
    ]),
  ];
}

/**
 * The container's name: one per attempt, so a cancel stops only its own. Made of the attempt
 * directory's last parts (`RUN/tasks/TASK/attempt-N`: the run id makes it unique), not of the
 * workspace's path, so `plan --show-scripts` prints the same name in every checkout.
 */
export function containerName(job: JobSpec): string {
  const tail = (job.root ?? job.dir).split("/").slice(-4).join("/");
  const h = createHash("sha256").update(tail).update("\0" + job.attempt);
  return `ferry-${h.digest("hex").slice(0, 16)}`;
}

/** Options for {@linkcode containerWords}. */
export interface ContainerWordsOptions {
  /** A shell task's script file (mounted read-only), instead of the script inline. */
  readonly scriptFile?: string;
  /** The working directory as the command line holds it. @default job.dir */
  readonly dir?: string;
}

/**
 * The arguments of `ferry_container` for a job: the number of words of the
 * stop command, the stop command (`podman kill NAME`; none for apptainer and
 * singularity), then the engine's command that runs the task.
 */
export function containerWords(job: JobSpec, options: ContainerWordsOptions = {}): string[] {
  const c = job.container!;
  const { dir = job.dir, scriptFile } = options;
  const mounts = jobMounts(job, scriptFile).filter((m) => m !== dir);
  const inner = innerArgv(job, scriptFile);
  const names = Object.keys(job.env);
  const r = c.runtime;
  const base = [r.command, ...r.args];
  if (r.engine === "apptainer" || r.engine === "singularity") {
    const run = [
      ...base,
      "exec",
      "--cleanenv",
      `--pwd=${dir}`,
      `--bind=${dir}:${dir}`,
      ...mounts.map((m) => `--bind=${m}:${m}:ro`),
      ...r.runArgs,
      c.image,
      ...inner,
    ];
    return ["0", ...run];
  }
  const name = containerName(job);
  const [entry, ...args] = inner;
  const run = [
    ...base,
    "run",
    "--rm",
    `--name=${name}`,
    `--workdir=${dir}`,
    `--volume=${dir}:${dir}`,
    ...mounts.map((m) => `--volume=${m}:${m}:ro`),
    ...names.map((k) => `--env=${k}`),
    ...r.runArgs,
    // podman reads an entrypoint starting with "[" as JSON: always give it JSON.
    `--entrypoint=${r.engine === "podman" ? JSON.stringify([entry]) : entry}`,
    c.image,
    ...args,
  ];
  const stop = [...base, "kill", name];
  return [String(stop.length), ...stop, ...run];
}

/**
 * The environment of the engine's process: the job's, and for apptainer and singularity each
 * variable again under their prefix (`APPTAINERENV_X`), which they pass in under `--cleanenv`.
 * podman and docker read the values by name (`--env X`) from it.
 */
export function engineEnv(job: Pick<JobSpec, "env" | "container">): Record<string, string> {
  const env: Record<string, string> = { ...job.env };
  const engine = job.container?.runtime.engine;
  if (engine !== "apptainer" && engine !== "singularity") return env;
  const prefix = engine === "apptainer" ? "APPTAINERENV_" : "SINGULARITYENV_";
  for (const [k, v] of Object.entries(job.env)) env[prefix + k] = v;
  return env;
}

/** Is `image` a local file for apptainer or singularity (not `docker://`, `library://`, ...)? */
function isLocalFile(image: string): boolean {
  return !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(image);
}

/**
 * The identity of `image` as the runtime sees it on this machine: podman's or docker's image ID
 * (`sha256:...`), a local `.sif` file's sha256; undefined when it cannot tell (not pulled yet,
 * the engine is missing, a `docker://` reference for apptainer).
 */
export function imageIdentity(runtime: ContainerRuntime, image: string): string | undefined {
  if (runtime.engine === "apptainer" || runtime.engine === "singularity") {
    return isLocalFile(image) ? fileSha256(image) : undefined;
  }
  let out: Deno.CommandOutput;
  try {
    out = new Deno.Command(runtime.command, {
      args: [...runtime.args, "image", "inspect", "--format", "{{.Id}}", "--", image],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
  } catch {
    return undefined; // the engine is not installed here
  }
  const id = new TextDecoder().decode(out.stdout).trim();
  if (!out.success || !/^(sha256:)?[0-9a-f]{64}$/.test(id)) return undefined;
  return id.startsWith("sha256:") ? id : `sha256:${id}`;
}

/** A file's sha256 (`sha256:<hex>`), read in pieces; undefined when it cannot be read. */
function fileSha256(path: string): string | undefined {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path);
  } catch {
    return undefined;
  }
  try {
    const h = createHash("sha256");
    const buf = new Uint8Array(4 << 20);
    for (let n = f.readSync(buf); n !== null; n = f.readSync(buf)) h.update(buf.subarray(0, n));
    return `sha256:${h.digest("hex")}`;
  } catch {
    return undefined;
  } finally {
    f.close();
  }
}
