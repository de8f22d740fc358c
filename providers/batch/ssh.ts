/**
 * The `ssh` batch provider (`provider: ssh`, `host: user@host[:port]`): each
 * attempt runs the job wrapper (`wrapper.ts`) on another host, over one SSH
 * connection (npm:ssh2) that carries every task as its own channel.
 *
 * - With `filesystem: shared` (the default) the workspace is at the same path
 *   on the host: ferry writes the wrapper into the attempt directory here,
 *   the host runs it there, and ferry reads the `exit.json` it writes. With
 *   `filesystem: none` each attempt runs in a copy of its directory on the
 *   host (remote_copy.ts), and outputs that later tasks there read stay in
 *   the run's store there (`keeps`: `JobSpec.keep`, `keptInputs`).
 * - At most `max_workers` tasks (default 4; `--jobs` overrides) run at once;
 *   resources are not accounted (the host is not a scheduler).
 * - The wrapper runs as `exec bash task.sh` in the session sshd starts, whose
 *   process group id is the pid it prints first. Cancelling (Ctrl-C) sends
 *   SIGTERM to that group (the wrapper passes it to the task's own group and
 *   writes its status), then SIGKILL to both groups when they are still there
 *   after the wrapper's grace period. The walltime is enforced by the wrapper.
 * - The result is the wrapper's `exit.json`; without it (the wrapper could not
 *   start or was killed), the channel's exit status. When the connection drops
 *   while a task runs, ferry reconnects and waits for the wrapper's pid to end.
 * @module
 */

import { dirname, join } from "node:path";
import type { Executor } from "../../dsl/model.ts";
import { shellQuote } from "../_shared/shell.ts";
import { sleep } from "../_shared/sleep.ts";
import { SshSetupError } from "../_shared/ssh_auth.ts";
import type { BatchProvider, JobResult, JobSpec, KeptFetch } from "./types.ts";
import { SSH_PROVIDER_OPTIONS } from "./registry.ts";
import { lastLines } from "./runner.ts";
import { relocate, RemoteCopies } from "./remote_copy.ts";
import { executorSsh, type RemoteExit, type SshRunner, sshRunner } from "./ssh_runner.ts";
import {
  KILL_GRACE_SECONDS,
  readWrapperStatus,
  resultOfStatus,
  wrapperFiles,
  type WrapperOptions,
  wrapperScript,
  type WrapperStatus,
} from "./wrapper.ts";

/** Options of {@linkcode sshProvider}. */
export interface SshProviderOptions extends WrapperOptions {
  /** Tasks at once. @default the executor's max_workers, else 4 */
  readonly maxWorkers?: number;
  /** Milliseconds after SIGTERM before SIGKILL when a task is cancelled. @default 6000 */
  readonly killAfterMs?: number;
  /** Milliseconds between checks while waiting for a wrapper after a dropped connection. @default 1000 */
  readonly pollMs?: number;
  /**
   * The host shares no filesystem with ferry (`filesystem: none`): each attempt's directory is
   * copied to this directory on the host (`""`: `$HOME/.ferry-remote`), run there, and its results
   * copied back. @default undefined (the workspace is at the same path on the host)
   */
  readonly remoteDir?: string;
}

/** Problems with an `ssh` executor's settings that no connection is needed to see. */
export function checkSshExecutor(ex: Executor): string[] {
  const problems: string[] = [];
  for (const k of Object.keys(ex.options)) {
    if (!SSH_PROVIDER_OPTIONS.includes(k)) {
      problems.push(
        `the ssh provider has no option "${k}": expected one of ${SSH_PROVIDER_OPTIONS.join(", ")}`,
      );
    }
  }
  const dir = ex.options.remote_dir;
  if (dir !== undefined && (typeof dir !== "string" || !dir.startsWith("/"))) {
    problems.push(`remote_dir must be an absolute path on the host, not ${JSON.stringify(dir)}`);
  }
  return problems;
}

/**
 * The `ssh` provider of executor `ex`: checks its settings, reads its login
 * (see `ssh_runner.ts`; relative paths are relative to `base`) and returns the
 * provider. Throws {@linkcode SshSetupError} for a setting that cannot work.
 */
export function sshExecutorProvider(
  ex: Executor,
  base: string,
  options: SshProviderOptions = {},
): BatchProvider {
  const problems = checkSshExecutor(ex);
  if (problems.length > 0) throw new SshSetupError(problems.join("; "));
  const { endpoint, auth } = executorSsh(ex, "host", base);
  const remote = ex.filesystem === "none"
    ? { remoteDir: typeof ex.options.remote_dir === "string" ? ex.options.remote_dir : "" }
    : {};
  return sshProvider(sshRunner(endpoint, auth), {
    ...options,
    ...remote,
    maxWorkers: options.maxWorkers ?? ex.maxWorkers ?? 4,
  });
}

/** A counting semaphore whose waits give up when their signal aborts. */
function semaphore(n: number) {
  let free = n;
  const waiting: (() => void)[] = [];
  return {
    acquire(signal: AbortSignal): Promise<boolean> {
      if (signal.aborted) return Promise.resolve(false);
      if (free > 0) {
        free--;
        return Promise.resolve(true);
      }
      return new Promise((resolve) => {
        const go = () => {
          signal.removeEventListener("abort", give);
          resolve(true);
        };
        const give = () => {
          const i = waiting.indexOf(go);
          if (i >= 0) waiting.splice(i, 1);
          resolve(false);
        };
        waiting.push(go);
        signal.addEventListener("abort", give, { once: true });
      });
    },
    release() {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}

/** The wrapper's status, waiting up to `waitMs` for a slow shared filesystem. */
async function statusOf(path: string, waitMs: number): Promise<WrapperStatus | undefined> {
  const end = Date.now() + waitMs;
  for (;;) {
    const st = readWrapperStatus(path);
    if (st || Date.now() >= end) return st;
    await sleep(100);
  }
}

/** Where an attempt runs: its wrapper files here, and its directory on the host when copied. */
interface Placed {
  readonly job: JobSpec & { readonly root: string };
  readonly files: ReturnType<typeof wrapperFiles>;
  /** The attempt's copy on the host (`filesystem: none`), else undefined. */
  readonly remote: string | undefined;
  readonly submittedAt: number;
}

/** One wrapper started on the host: its pid once it printed it, and its cancelling. */
class WrapperRun {
  pid: number | undefined;
  cancelled = false;
  #head = "";
  #killTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly kill: { terminate(pid: number): unknown; killAll(pid: number): unknown },
    private readonly killAfterMs: number,
  ) {}

  /** Read the wrapper's first output; true once it has printed its pid (the first time). */
  sawPid(text: string): boolean {
    if (this.pid !== undefined) return false;
    this.#head += text;
    const m = /^ferry-pid (\d+)\n/.exec(this.#head);
    if (!m) return false;
    this.pid = Number(m[1]);
    return true;
  }

  /** SIGTERM to the wrapper's group, SIGKILL to everything after the grace period. */
  cancel(): void {
    if (this.cancelled || this.pid === undefined) return;
    this.cancelled = true;
    const p = this.pid;
    void this.kill.terminate(p);
    this.#killTimer = setTimeout(() => void this.kill.killAll(p), this.killAfterMs);
  }

  /** Stop the pending SIGKILL (the wrapper has ended). */
  dispose(): void {
    if (this.#killTimer !== undefined) clearTimeout(this.#killTimer);
  }
}

/** What came of the channel that ran the wrapper. */
interface Ran {
  readonly ended: RemoteExit;
  readonly run: WrapperRun;
  /** Why the wrapper's end is unknown after a dropped connection, if it is. */
  readonly lost: string | undefined;
}

/** The `ssh` provider: jobs run through `runner`'s host, at most `maxWorkers` at once. */
class SshProvider implements BatchProvider {
  readonly name = "ssh";
  readonly nodeSide = true;
  readonly capacity: number;
  readonly #runner: SshRunner;
  readonly #options: SshProviderOptions;
  readonly #slots: ReturnType<typeof semaphore>;
  readonly #killAfterMs: number;
  readonly #pollMs: number;
  readonly #copies: RemoteCopies | undefined;

  constructor(runner: SshRunner, options: SshProviderOptions) {
    this.#runner = runner;
    this.#options = options;
    this.capacity = Math.max(1, options.maxWorkers ?? 4);
    this.#slots = semaphore(this.capacity);
    this.#killAfterMs = options.killAfterMs ?? (KILL_GRACE_SECONDS + 1) * 1000;
    this.#pollMs = options.pollMs ?? 1000;
    this.#copies = options.remoteDir !== undefined
      ? new RemoteCopies(runner, options.remoteDir)
      : undefined;
  }

  get #where(): string {
    return this.#runner.where;
  }

  get #host(): string {
    return this.#runner.endpoint.host;
  }

  // Arrow functions: callers may hold a method apart from the provider.
  readonly execute = async (job: JobSpec, signal: AbortSignal): Promise<JobResult> => {
    if (job.root === undefined) {
      throw new Error("internal: batch jobs need their attempt directory");
    }
    const t0 = Date.now();
    if (!await this.#slots.acquire(signal)) {
      return { outcome: "cancelled", startedAt: t0, endedAt: Date.now(), host: this.#host };
    }
    try {
      return await this.#runOne(job as JobSpec & { root: string }, signal);
    } finally {
      this.#slots.release();
    }
  };

  readonly close = (): Promise<void> => this.#runner.close();

  /** Whether outputs stay on the host for later tasks there (`filesystem: none`). */
  get keeps(): boolean {
    return this.#copies !== undefined;
  }

  readonly fetchKept = (runId: string, key: string, dest: string, how?: KeptFetch) => {
    if (this.#copies === undefined) throw new Error("internal: ssh keeps no files here");
    return this.#copies.fetchKept(runId, key, dest, how);
  };

  readonly dropKept = async (runId: string, keys: readonly string[]): Promise<void> => {
    if (this.#copies !== undefined && keys.length > 0) await this.#copies.dropKept(runId, keys);
  };

  // Through bash (the wrapper needs it anyway), whatever the remote user's login shell is:
  // dash's kill, for one, takes no `--` and so no process group.
  #sh(script: string): Promise<RemoteExit> {
    return this.#runner.exec(`bash -c ${shellQuote(script)}`);
  }

  #terminate(pid: number): Promise<RemoteExit> {
    return this.#sh(`kill -TERM -- -${pid} 2>/dev/null || kill -TERM ${pid} 2>/dev/null; true`);
  }

  // The wrapper leads the login's session (sshd's setsid), which holds the task's own process
  // group (job control) and the watchdog: `pkill -s` reaches a task whose group leader has
  // already died (its processes are then no longer the wrapper's children). Where pkill is
  // missing, the wrapper's own group.
  #killAll(pid: number): Promise<RemoteExit> {
    return this.#sh(
      `pkill -KILL -s ${pid} 2>/dev/null; ` +
        `kill -KILL -- -${pid} 2>/dev/null || kill -KILL ${pid} 2>/dev/null; true`,
    );
  }

  /** After a dropped connection: wait until the wrapper's pid is gone (reconnecting to ask). */
  async #waitGone(pid: number, status: string, signal: AbortSignal, run: WrapperRun) {
    let unreachable = 0;
    for (;;) {
      if (readWrapperStatus(status)) return undefined;
      if (signal.aborted) run.cancel();
      const r = await this.#sh(`kill -0 ${pid} 2>/dev/null && echo running || echo gone`);
      if (r.stdout.includes("gone")) return undefined;
      if (r.stdout.includes("running")) unreachable = 0;
      else if (++unreachable >= 3) {
        return r.failure?.message ?? `ssh: cannot ask ${this.#where} about pid ${pid}`;
      }
      await sleep(this.#pollMs);
    }
  }

  async #runOne(job: JobSpec & { readonly root: string }, signal: AbortSignal): Promise<JobResult> {
    const submittedAt = Date.now();
    if (signal.aborted) {
      return {
        outcome: "cancelled",
        startedAt: submittedAt,
        endedAt: submittedAt,
        host: this.#host,
      };
    }
    const placed = await this.#place(job, submittedAt);
    if (!("files" in placed)) return placed;
    const ran = await this.#run(placed, signal);
    return await this.#result(placed, ran, signal);
  }

  /**
   * Write the attempt's wrapper; without a shared filesystem the attempt runs in a copy of its
   * directory on the host, uploaded here. A failed copy is the attempt's result.
   */
  async #place(job: Placed["job"], submittedAt: number): Promise<Placed | JobResult> {
    const failed = (message: string, retry: boolean): JobResult => ({
      outcome: "failed",
      message,
      startedAt: submittedAt,
      endedAt: Date.now(),
      host: this.#host,
      ...(retry ? { retryable: true } : {}),
    });
    let remote: string | undefined;
    if (this.#copies !== undefined) {
      try {
        remote = await this.#copies.rootOf(job.root);
      } catch (e) {
        return failed((e as Error).message, false);
      }
    }
    const onHost = remote !== undefined ? relocate(job, job.root, remote) : job;
    for (const [path, text] of wrapperScript(onHost, this.#options)) {
      const local = remote !== undefined ? job.root + path.slice(remote.length) : path;
      Deno.mkdirSync(dirname(local), { recursive: true });
      Deno.writeTextFileSync(local, text);
    }
    if (this.#copies !== undefined && remote !== undefined) {
      const sent = await this.#copies.upload(job.root, remote, job.keptInputs);
      if (sent !== undefined) return failed(sent, true);
    }
    return { job, files: wrapperFiles(job.root), remote, submittedAt };
  }

  /** Run the wrapper on the host; on a dropped connection, wait for it to end there. */
  async #run(p: Placed, signal: AbortSignal): Promise<Ran> {
    const script = p.remote !== undefined ? `${p.remote}/task.sh` : p.files.script;
    const command = `echo "ferry-pid $$"; exec bash ${shellQuote(script)}`;
    const run = new WrapperRun(
      { terminate: (pid) => this.#terminate(pid), killAll: (pid) => this.#killAll(pid) },
      this.#killAfterMs,
    );
    const onAbort = () => run.cancel();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const ended = await this.#runner.exec(command, {
        onStdout: (text) => {
          if (!run.sawPid(text)) return;
          Deno.writeTextFileSync(
            join(p.job.root, "job.json"),
            JSON.stringify({
              provider: "ssh",
              host: this.#where,
              pid: run.pid,
              command,
              submittedAt: p.submittedAt,
            }) + "\n",
          );
          if (signal.aborted) run.cancel();
        },
      });
      // The connection dropped, not (necessarily) the task: wait for its wrapper to end.
      const lost = ended.failure?.started && run.pid !== undefined
        ? await this.#waitGone(run.pid, p.files.status, signal, run)
        : undefined;
      return { ended, run, lost };
    } finally {
      signal.removeEventListener("abort", onAbort);
      run.dispose();
    }
  }

  /** The attempt's result: the wrapper's status (copied back first), else the channel's end. */
  async #result(p: Placed, { ended, run, lost }: Ran, signal: AbortSignal): Promise<JobResult> {
    const { files, remote } = p;
    const pid = run.pid;
    const base = {
      startedAt: p.submittedAt,
      endedAt: Date.now(),
      host: this.#host,
      ...(pid !== undefined ? { jobId: String(pid) } : {}),
    };
    if (ended.failure && !ended.failure.started) {
      return signal.aborted ? { ...base, outcome: "cancelled" } : {
        ...base,
        outcome: "failed",
        message: ended.failure.message,
        retryable: ended.failure.retryable,
      };
    }
    let kept: JobResult["kept"];
    if (this.#copies !== undefined && remote !== undefined) {
      const back = await this.#copies.bringBack(p.job.root, remote, p.job.keep);
      if ("failed" in back) {
        return { ...base, outcome: "failed", message: back.failed, retryable: true };
      }
      kept = back.kept;
    }
    const st = await statusOf(files.status, ended.failure || remote !== undefined ? 0 : 2000);
    if (st) {
      const r = {
        ...resultOfStatus(st, run.cancelled || signal.aborted),
        ...(kept ? { kept } : {}),
      };
      return pid !== undefined ? { ...r, jobId: String(pid) } : r;
    }
    if (run.cancelled || signal.aborted) return { ...base, outcome: "cancelled" };
    if (ended.failure) {
      return {
        ...base,
        outcome: "failed",
        message: lost ??
          `${ended.failure.message}, and the task's wrapper${
            pid !== undefined ? ` (pid ${pid})` : ""
          } wrote no ${files.status}`,
        retryable: true,
      };
    }
    return this.#channelResult(base, ended, files);
  }

  /** The result of a wrapper that wrote no status, from its channel's exit. */
  #channelResult(
    base: { startedAt: number; endedAt: number; host: string; jobId?: string },
    ended: RemoteExit,
    files: Placed["files"],
  ): JobResult {
    const said = lastLines(ended.stderr);
    if (ended.code === 0) return { ...base, outcome: "succeeded", exitCode: 0 };
    const notShared = ended.code === 127 && said.includes(files.script);
    const how = ended.signal ? `was killed by ${ended.signal}` : `exited with code ${ended.code}`;
    const where = this.#where;
    return {
      ...base,
      outcome: "failed",
      ...(ended.code !== undefined ? { exitCode: ended.code } : {}),
      ...(ended.signal ? { signal: ended.signal } : {}),
      message: notShared
        ? `the job wrapper ${files.script} is not there on ${where} (${said}): the ssh provider needs the workspace on a filesystem ${this.#host} shares at the same path`
        : `the job wrapper ${how} on ${where} without writing ${files.status}${
          said ? `: ${said}` : ` (see ${files.log})`
        }`,
      ...(notShared ? { retryable: false } : {}),
    };
  }
}

/** Run jobs through `runner`'s host. */
export function sshProvider(runner: SshRunner, options: SshProviderOptions = {}): BatchProvider {
  return new SshProvider(runner, options);
}
