/**
 * Persistent function workers for the local provider: a `function:` call (a workflow's function
 * app, a `submit()`) runs in a Deno process that stays up and takes calls one after another
 * (function_worker.ts), instead of a fresh process per call. Workers are interchangeable when
 * they were started with the same Deno flags (function_protocol.ts `workerFlags`: `-A` for calls
 * with every permission, else the rights any least-privilege call may be granted), so each call
 * goes to an idle worker of its own key, or a new one. A least-privilege call runs in a Web
 * Worker of its own with exactly its permissions (function_sandbox.ts): the user's code never
 * has more rights than it would have had in a process of its own.
 *
 * A worker's standard streams are FIFOs in its own directory, which ferry opens read-write (an
 * open never blocks, and ferry can end a dead worker's output with its own mark); the worker
 * itself starts like any task (its own session, the spawner as its watchdog, its group in the
 * run's record), so it dies with ferry.
 * @module
 */

import { join } from "node:path";
import type { JobResult, JobSpec, Usage } from "./types.ts";
import {
  callPermissions,
  type CallUsage,
  type WorkerCall,
  workerFlags,
  workerMark,
} from "./function_protocol.ts";
import { runnableModule } from "../_shared/urls.ts";
import { superviseGroup } from "./supervise.ts";

const FUNCTION_WORKER = runnableModule(new URL("./function_worker.ts", import.meta.url));

/** A started process: its pid (its group's id) and how it ended. */
export interface LaunchedWorker {
  readonly pid: number;
  readonly status: Promise<{ readonly code: number; readonly signal?: Deno.Signal | null }>;
}

/** Where and how a worker is started (its directory, the run whose record holds its group). */
export type WorkerPlace = Pick<JobSpec, "dir" | "env" | "mkdirs" | "runDir">;

/** What the pool needs from the provider. */
export interface FunctionPoolOptions {
  /** The Deno executable. */
  readonly deno: string;
  /** Start argv in its own session, as the provider starts a task. */
  readonly launch: (argv: string[], place: WorkerPlace) => Promise<LaunchedWorker>;
  /** Make a call's directories and input links (an Error says why it could not). */
  readonly prepare: (job: JobSpec) => void;
  /** Signal a worker's process group. */
  readonly signalGroup: (pid: number, sig: Deno.Signal) => void;
  /** Seconds between SIGTERM and SIGKILL when a call times out or is cancelled. */
  readonly killGraceSeconds: number;
  /** Idle workers of other keys are ended past this many workers. @default the machine's cores */
  readonly size?: number;
  /** The host name for results. */
  readonly host: string;
}

/** How a call ended in its worker. */
type Ending =
  | {
    readonly kind: "reply";
    readonly ok: boolean;
    readonly value?: unknown;
    /** A least-privilege call ended its Web Worker with this code (`Deno.exit`). */
    readonly exit?: number;
    /** What the call used, as its worker measured it. */
    readonly usage?: CallUsage;
  }
  | {
    readonly kind: "exit";
    readonly code: number;
    readonly signal?: Deno.Signal | null;
    /** The worker had ended before the call reached it. */
    readonly before?: boolean;
  };

const encoder = new TextEncoder();

/** The pool: idle workers by key, and every worker alive. */
export class FunctionPool {
  readonly #o: FunctionPoolOptions;
  readonly #idle = new Map<string, FunctionWorker[]>();
  readonly #all = new Set<FunctionWorker>();
  #next = 0;
  #closed = false;

  constructor(options: FunctionPoolOptions) {
    this.#o = options;
  }

  /** Run one function job in a worker. */
  async execute(job: JobSpec, signal: AbortSignal): Promise<JobResult> {
    const startedAt = Date.now();
    const host = this.#o.host;
    const failed = (message: string): JobResult => ({
      outcome: "failed",
      message,
      startedAt,
      endedAt: Date.now(),
      host,
    });
    if (signal.aborted) return { ...failed("cancelled"), outcome: "cancelled" };
    const flags = workerFlags(job.permissions);
    const key = JSON.stringify(flags);
    let worker: FunctionWorker;
    try {
      this.#o.prepare(job);
      worker = this.#take(key) ?? await this.#start(key, flags, job);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound
        ? `cannot start "${this.#o.deno}": not found`
        : String((e as Error).message ?? e);
      return failed(why);
    }
    const { value: ending, reason } = await superviseGroup(worker.pid, worker.call(job), {
      walltime: job.resources.walltime,
      signal,
      graceSeconds: this.#o.killGraceSeconds,
      signalGroup: this.#o.signalGroup,
    });
    const endedAt = Date.now();
    const base = {
      startedAt,
      endedAt,
      host,
      usage: usageOf(ending, (endedAt - startedAt) / 1000),
    };
    if (ending.kind === "reply" && !reason) this.#give(worker);
    else this.#end(worker);
    if (reason) {
      return { ...base, outcome: reason, ...exitOf(ending) };
    }
    if (ending.kind === "exit") return { ...base, ...lostOrExited(worker.pid, ending) };
    if (!ending.ok) return { ...base, outcome: "failed", exitCode: ending.exit ?? 1 };
    if (job.call?.result) {
      await Deno.writeTextFile(job.call.result, JSON.stringify(ending.value) + "\n");
    }
    return { ...base, outcome: "succeeded", exitCode: 0 };
  }

  /** End every worker and wait for them. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#all].map((w) => this.#end(w)));
  }

  /** An idle worker of `key`, if any. */
  #take(key: string): FunctionWorker | undefined {
    const idle = this.#idle.get(key);
    let w = idle?.pop();
    // One that ended while idle (and is not forgotten yet) takes no call.
    while (w && !w.alive) w = idle?.pop();
    if (idle?.length === 0) this.#idle.delete(key);
    return w;
  }

  /** Back to the idle workers, unless the pool is closing or the worker is gone. */
  #give(worker: FunctionWorker): void {
    if (this.#closed || !worker.alive) return void this.#end(worker);
    const idle = this.#idle.get(worker.key) ?? [];
    idle.push(worker);
    this.#idle.set(worker.key, idle);
  }

  /** Start a worker of `key`, first ending an idle worker of another key if the pool is full. */
  async #start(key: string, flags: string[], job: JobSpec): Promise<FunctionWorker> {
    const size = Math.max(1, this.#o.size ?? navigator.hardwareConcurrency);
    if (this.#all.size >= size) {
      for (const [k, idle] of this.#idle) {
        if (k === key || idle.length === 0) continue;
        this.#end(idle.shift()!);
        if (idle.length === 0) this.#idle.delete(k);
        break;
      }
    }
    const token = crypto.randomUUID();
    const base = job.runDir ? join(job.runDir, "workers") : undefined;
    if (base) Deno.mkdirSync(base, { recursive: true });
    const fifos = await Deno.makeTempDir({
      prefix: `w${this.#next++}-`,
      ...(base ? { dir: base } : {}),
    });
    const [stdin, stdout, stderr] = ["in", "out", "err"].map((n) => join(fifos, n)) as [
      string,
      string,
      string,
    ];
    const made = await new Deno.Command("mkfifo", { args: ["-m", "600", stdin, stdout, stderr] })
      .output();
    if (!made.success) {
      await Deno.remove(fifos, { recursive: true }).catch(() => {});
      throw new Error(`Cannot make the FIFOs of a function worker in "${fifos}": mkfifo failed`);
    }
    const argv = [
      "/bin/sh",
      "-c",
      'exec </dev/null >"$1" 2>"$2"; shift 2; exec "$@"',
      "ferry-worker",
      stdout,
      stderr,
      this.#o.deno,
      "run",
      ...flags,
      "--no-prompt",
      FUNCTION_WORKER,
      // Also names the worker's directory in `ps` (and for tests that look for its process).
      stdin,
    ];
    const files = await Promise.all(
      [stdin, stdout, stderr].map((p) => Deno.open(p, { read: true, write: true })),
    ) as [Deno.FsFile, Deno.FsFile, Deno.FsFile];
    let launched: LaunchedWorker;
    try {
      const place = { dir: job.dir, env: { FERRY_WORKER_TOKEN: token }, mkdirs: [job.dir] };
      launched = await this.#o.launch(argv, job.runDir ? { ...place, runDir: job.runDir } : place);
    } catch (e) {
      for (const f of files) f.close();
      await Deno.remove(fifos, { recursive: true }).catch(() => {});
      throw e;
    }
    const worker = new FunctionWorker(key, token, launched, files, fifos);
    this.#all.add(worker);
    worker.exited.then(() => this.#forget(worker));
    return worker;
  }

  /** End a worker (end of its input; the spawner ends what stays) and forget it. */
  #end(worker: FunctionWorker): Promise<void> {
    this.#forget(worker);
    return worker.stop(this.#o.signalGroup, this.#o.killGraceSeconds);
  }

  #forget(worker: FunctionWorker): void {
    this.#all.delete(worker);
    const idle = this.#idle.get(worker.key);
    const i = idle?.indexOf(worker) ?? -1;
    if (i >= 0) idle!.splice(i, 1);
    if (idle?.length === 0) this.#idle.delete(worker.key);
  }
}

/** A call that ended its worker: lost with it (killed by a signal), or ended by it (Deno.exit). */
function lostOrExited(
  pid: number,
  ending: { code: number; signal?: Deno.Signal | null; before?: boolean },
): Omit<JobResult, "startedAt" | "endedAt" | "host"> {
  if (ending.before) {
    return {
      outcome: "failed",
      lost: true,
      message: `lost with its function worker (pid ${pid}), which had ended before the call`,
    };
  }
  if (ending.signal) {
    return {
      outcome: "failed",
      ...exitOf({ kind: "exit", ...ending }),
      lost: true,
      message:
        `lost with its function worker (pid ${pid}), killed by ${ending.signal} during the call`,
    };
  }
  return { outcome: "failed", exitCode: ending.code };
}

function exitOf(ending: Ending): { exitCode?: number; signal?: string } {
  if (ending.kind !== "exit") return {};
  return { exitCode: ending.code, ...(ending.signal ? { signal: ending.signal } : {}) };
}

/** One worker process: its streams, and the call it runs. */
class FunctionWorker {
  readonly exited: Promise<{ code: number; signal?: Deno.Signal | null }>;
  readonly pid: number;
  alive = true;
  /** How it ended, once it did. */
  #status: { code: number; signal?: Deno.Signal | null } | undefined;
  #call: CallLogs | undefined;
  #stopping: Promise<void> | undefined;

  constructor(
    readonly key: string,
    token: string,
    launched: LaunchedWorker,
    readonly files: readonly [Deno.FsFile, Deno.FsFile, Deno.FsFile],
    readonly fifos: string,
  ) {
    this.pid = launched.pid;
    const mark = encoder.encode(workerMark(token));
    const out = new MarkReader(
      files[1],
      mark,
      (b) => this.#call?.out.write(b),
      (tail) => this.#ended("out", tail),
    );
    const err = new MarkReader(
      files[2],
      mark,
      (b) => this.#call?.err.write(b),
      (tail) => this.#ended("err", tail),
    );
    const reading = Promise.all([out.run(), err.run()]);
    this.exited = launched.status.then(async (s) => {
      this.alive = false;
      this.#status = s;
      // Everything the worker wrote is in the FIFOs before ferry's own marks, which also end
      // the readers (so no read is left pending on a FIFO when it is closed). Written through
      // a descriptor of their own: a pending read holds the reader's.
      const end = encoder.encode(`${workerMark(token)} ${JSON.stringify({ exit: s })}\n`);
      for (const name of ["err", "out"]) {
        try {
          using f = Deno.openSync(join(fifos, name), { write: true });
          f.writeSync(end);
        } catch { /* closed already */ }
      }
      await reading;
      return s;
    });
  }

  /** Send a call; resolves once both streams are marked (or the worker ended). */
  async call(job: JobSpec): Promise<Ending> {
    const call = new CallLogs(job.stdout, job.stderr);
    if (this.#status) {
      await call.close();
      return { kind: "exit", ...this.#status, before: true };
    }
    this.#call = call;
    const run = job.run as Extract<JobSpec["run"], { kind: "function" }>;
    const message: WorkerCall = {
      module: run.module,
      export: run.export,
      ...(job.call?.argv !== undefined ? { argv: job.call.argv } : { args: job.call?.args ?? {} }),
      dir: job.dir,
      env: job.env,
      ...callPermissions(job),
    };
    this.files[0].write(encoder.encode(JSON.stringify(message) + "\n")).catch(() => {});
    const ending = await call.ended;
    this.#call = undefined;
    await call.close();
    return ending;
  }

  /** A stream reached its mark: the text after it (a reply on standard output). */
  #ended(stream: "out" | "err", tail: string): void {
    const call = this.#call;
    if (!call) return;
    if (stream === "err") return call.errDone();
    const reply = JSON.parse(tail) as {
      ok: boolean;
      value?: unknown;
      exit?: number;
      usage?: CallUsage;
    } | {
      exit: { code: number; signal?: Deno.Signal | null };
    };
    call.outDone("ok" in reply ? { kind: "reply", ...reply } : { kind: "exit", ...reply.exit });
  }

  /** End the worker: its input closed, then SIGTERM and SIGKILL if it does not go. */
  stop(signalGroup: (pid: number, sig: Deno.Signal) => void, grace: number): Promise<void> {
    this.#stopping ??= (async () => {
      try {
        this.files[0].close();
      } catch { /* closed */ }
      const term = setTimeout(() => signalGroup(this.pid, "SIGTERM"), 1000);
      const kill = setTimeout(() => signalGroup(this.pid, "SIGKILL"), 1000 + grace * 1000);
      await this.exited;
      clearTimeout(term);
      clearTimeout(kill);
      for (const f of this.files.slice(1)) {
        try {
          f.close();
        } catch { /* closed */ }
      }
      await Deno.remove(this.fifos, { recursive: true }).catch(() => {});
    })();
    return this.#stopping;
  }
}

/** A call's two logs: created empty at once, appended to as its output comes. */
class CallLogs {
  readonly out: LogSink;
  readonly err: LogSink;
  readonly ended: Promise<Ending>;
  outDone!: (e: Ending) => void;
  errDone!: () => void;

  constructor(stdout: string, stderr: string) {
    this.out = new LogSink(stdout);
    this.err = stderr === stdout ? this.out : new LogSink(stderr);
    const out = new Promise<Ending>((ok) => (this.outDone = ok));
    const err = new Promise<void>((ok) => (this.errDone = ok));
    this.ended = Promise.all([out, err]).then(([e]) => e);
  }

  async close(): Promise<void> {
    await this.out.close();
    if (this.err !== this.out) await this.err.close();
  }
}

/** One log file: written in order, opened on the first bytes (it exists, empty, from the start). */
class LogSink {
  #file: Deno.FsFile | undefined;
  #writes: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {
    Deno.writeFileSync(path, new Uint8Array());
  }

  write(bytes: Uint8Array): Promise<unknown> {
    this.#writes = this.#writes.then(async () => {
      this.#file ??= await Deno.open(this.path, { append: true });
      for (let done = 0; done < bytes.length;) done += await this.#file.write(bytes.subarray(done));
    }).catch(() => {});
    return this.#writes;
  }

  async close(): Promise<void> {
    await this.#writes;
    this.#file?.close();
  }
}

/**
 * Reads a worker's stream: bytes before a mark go to `data`; each mark's line (what follows the
 * mark up to the newline, without its leading space) to `marked`.
 */
class MarkReader {
  constructor(
    readonly file: Deno.FsFile,
    readonly mark: Uint8Array,
    readonly data: (b: Uint8Array) => unknown,
    readonly marked: (tail: string) => void,
  ) {}

  /** ferry's own mark after the worker ended: the last thing on the stream. */
  static isEnd(tail: string): boolean {
    return tail.startsWith('{"exit"');
  }

  async run(): Promise<void> {
    let buf: Uint8Array = new Uint8Array(0);
    const chunk = new Uint8Array(64 * 1024);
    const decoder = new TextDecoder();
    for (;;) {
      let n: number | null;
      try {
        n = await this.file.read(chunk);
      } catch {
        return; // closed
      }
      if (n === null) return;
      buf = concat(buf, chunk.subarray(0, n));
      let at: number;
      for (;;) {
        at = indexOf(buf, this.mark);
        if (at < 0) break;
        const nl = buf.indexOf(10, at + this.mark.length);
        if (nl < 0) break;
        if (at > 0) await this.data(buf.slice(0, at));
        const tail = decoder.decode(buf.subarray(at + this.mark.length, nl)).trim();
        this.marked(tail);
        if (MarkReader.isEnd(tail)) return;
        buf = buf.slice(nl + 1);
      }
      // Keep a mark whose line is not complete yet, or what may begin one (a mark starts with
      // the one NUL byte it holds); pass the rest on.
      if (at < 0) {
        const nul = buf.lastIndexOf(0);
        at = nul >= 0 && buf.length - nul < this.mark.length ? nul : buf.length;
      }
      if (at > 0) {
        await this.data(buf.slice(0, at));
        buf = buf.slice(at);
      }
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const c = new Uint8Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  let from = 0;
  for (;;) {
    const i = haystack.indexOf(needle[0]!, from);
    if (i < 0 || i + needle.length > haystack.length) return -1;
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
    from = i + 1;
  }
}

/** A call's usage: its worker's figures when it replied with them, else its wall time alone. */
function usageOf(ending: Ending, wallSeconds: number): Usage {
  const u = ending.kind === "reply" ? ending.usage : undefined;
  return u ? { wallSeconds, ...u, measuredBy: "worker" } : { wallSeconds, measuredBy: "clock" };
}
