/**
 * A client for ferry's spawner: a small helper process that starts tasks.
 * spawner.c, when `deno task build` compiled it (spawner_build.ts), and
 * spawner.py (Python 3.8+) use posix_spawn, which copies no process's
 * memory; spawner.pl (Perl, part of every Debian) forks its own few
 * megabytes. Each is far cheaper than forking ferry's large Deno process,
 * and all put each task in its own session without an extra exec. The
 * compiled one costs the least per task (no interpreter); with no
 * spawner at all, the local provider starts tasks itself.
 *
 * The spawner is also the tasks' watchdog: when its standard input ends
 * (`close()`, or ferry died, even by SIGKILL) it ends every task still
 * running, process group and all, and exits.
 * @module
 */

import { fileURLToPath } from "node:url";
import type { Usage } from "./types.ts";
import { builtSpawner } from "./spawner_build.ts";

// The helpers run as local files (decoded paths: a checkout's path may hold spaces). ferry
// loaded from a URL has none, and the local provider starts tasks itself.
const LOCAL = import.meta.url.startsWith("file:");
const PERL_SCRIPT = LOCAL ? fileURLToPath(new URL("./spawner.pl", import.meta.url)) : undefined;
const PYTHON_SCRIPT = LOCAL ? fileURLToPath(new URL("./spawner.py", import.meta.url)) : undefined;

/** Which spawner to start: the compiled one, or one of the scripts. */
export type SpawnerKind = "c" | "python" | "perl";

/**
 * Start the spawner: the compiled one when built (or the binary `binary` names), else
 * spawner.py under python3 (which hands over to spawner.pl itself when it is older than 3.8),
 * else spawner.pl under perl; only the one named when told. No interpreter is probed first: under a version manager's
 * shim, a probe alone costs from 0.3 s to seconds before the first task.
 * (A failed start is one that cannot exec at all; a `python3` too old for
 * the script hands over to Perl itself.)
 */
function spawnSpawner(
  only: SpawnerKind | undefined,
  grace: number,
  binary?: string,
): Deno.ChildProcess | undefined {
  if (PERL_SCRIPT === undefined || PYTHON_SCRIPT === undefined) return undefined;
  const tries: [string, string[]][] = [];
  if (only === undefined || only === "c") {
    const compiled = binary ?? builtSpawner();
    if (compiled !== undefined) tries.push([compiled, [String(grace)]]);
  }
  if (only === undefined || only === "python") {
    const args = ["-I", "-S", PYTHON_SCRIPT, String(grace), only === "python" ? "" : PERL_SCRIPT];
    for (const python of pythons()) tries.push([python, args]);
  }
  if (only === undefined || only === "perl") tries.push(["perl", [PERL_SCRIPT, String(grace)]]);
  for (const [cmd, args] of tries) {
    try {
      return new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "inherit" })
        .spawn();
    } catch { /* not installed: the next one */ }
  }
  return undefined;
}

/**
 * The Python interpreters to try: the system's own first (a version manager's `python3` shim on
 * PATH costs 0.1 s to seconds to start, all of it before the first task), then the one on PATH.
 * Started isolated (`-I`) and without `site` (`-S`): the spawner needs only the standard library.
 */
function pythons(): string[] {
  try {
    if (Deno.statSync(SYSTEM_PYTHON).isFile) return [SYSTEM_PYTHON, "python3"];
  } catch { /* none: the one on PATH */ }
  return ["python3"];
}

const SYSTEM_PYTHON = "/usr/bin/python3";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Options for {@linkcode Spawner.spawn}. */
export interface SpawnOptions {
  /** Extra environment (on top of the spawner's). @default {} */
  readonly env?: Readonly<Record<string, string>>;
  /** Directories to make first. @default [] */
  readonly mkdirs?: readonly string[];
  /** Symbolic links to make then, as [target, link] pairs. @default [] */
  readonly links?: readonly (readonly [string, string])[];
  /**
   * A run's record of process groups (a file made by `GroupRecord.open`, process_groups.ts): the
   * spawner appends the task's group when it starts it and again once it is gone. @default none
   */
  readonly record?: string;
}

/** How a spawned process ended. */
export interface ExitStatus {
  /** Exit code (128 + signal number when killed by a signal). */
  readonly code: number;
  /** Signal name when killed by one. */
  readonly signal?: Deno.Signal;
  /** What the process and the descendants it waited for used (absent when it did not start). */
  readonly usage?: Usage;
}

interface Pending {
  started: (pid: number) => void;
  exited: (s: ExitStatus) => void;
  failed: (message: string) => void;
  /** performance.now() when it was asked for: the wall time when the spawner measures none. */
  readonly asked: number;
}

/**
 * The usage field of an exit reply, `WALL USER SYS MAXRSS` (seconds, KiB; `-` when not measured):
 * spawner.py measures all four (wait4), spawner.pl CPU time only, its wall time is ferry's clock.
 */
export function parseUsage(text: string, elapsedSeconds: number): Usage {
  const [wall, user, sys, rss] = text.split(" ").map((f) => {
    const n = Number(f);
    return f !== "-" && f !== "" && Number.isFinite(n) && n >= 0 ? n : undefined;
  });
  return {
    wallSeconds: wall ?? Math.round(elapsedSeconds * 1000) / 1000,
    ...(user !== undefined ? { userSeconds: user } : {}),
    ...(sys !== undefined ? { systemSeconds: sys } : {}),
    ...(rss !== undefined ? { maxRssBytes: rss * 1024 } : {}),
    measuredBy: wall !== undefined ? "wait4" : "times",
  };
}

/** How many fields the reply at the head of `fields` has. */
function replyLength(fields: readonly string[]): number {
  return fields[0] === "E" ? 4 : 3;
}

const SIGNALS: Readonly<Record<number, Deno.Signal>> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
  24: "SIGXCPU",
  25: "SIGXFSZ",
};

/** A running spawner. */
export class Spawner {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<string, Pending>();
  #next = 0;
  #closed = false;
  #stopped = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#read();
  }

  /**
   * Start a spawner (the compiled one if built, else Python if it can, else Perl; or only the one
   * named), or undefined when none runs. `graceSeconds`: between SIGTERM and SIGKILL when it ends
   * tasks on its own. `binary`: a compiled spawner to use instead of the one `deno task build`
   * made.
   */
  static start(only?: SpawnerKind, graceSeconds = 2, binary?: string): Spawner | undefined {
    const child = spawnSpawner(only, graceSeconds, binary);
    return child ? new Spawner(child) : undefined;
  }

  async #read(): Promise<void> {
    let rest = "";
    const fields: string[] = [];
    for await (const chunk of this.#child.stdout) {
      const parts = (rest + decoder.decode(chunk, { stream: true })).split("\0");
      rest = parts.pop()!;
      fields.push(...parts);
      // Replies are 3 fields, an exit 4 (its usage last).
      while (fields.length >= replyLength(fields)) {
        const [kind, id, value, use] = fields.splice(0, replyLength(fields)) as string[] as [
          string,
          string,
          string,
          string | undefined,
        ];
        const p = this.#pending.get(id);
        if (!p) continue;
        if (kind === "S") p.started(Number(value));
        else if (kind === "F") {
          this.#pending.delete(id);
          p.failed(value);
        } else {
          this.#pending.delete(id);
          const raw = Number(value);
          const sig = raw & 127;
          const usage = parseUsage(use ?? "", (performance.now() - p.asked) / 1000);
          p.exited(
            sig === 0
              ? { code: raw >> 8, usage }
              : { code: 128 + sig, ...(SIGNALS[sig] ? { signal: SIGNALS[sig] } : {}), usage },
          );
        }
      }
    }
    // The spawner is gone: nothing pending will hear from it again, nor anything asked later.
    this.#stopped = true;
    for (const p of this.#pending.values()) p.failed("ferry's process spawner stopped");
    this.#pending.clear();
  }

  /** Start argv in `cwd`; resolves the pid, then the exit status. */
  spawn(
    argv: readonly string[],
    cwd: string,
    options: SpawnOptions = {},
  ): { pid: Promise<number>; status: Promise<ExitStatus> } {
    const { env = {}, mkdirs = [], links = [], record: recordPath = "" } = options;
    const id = String(this.#next++);
    let started!: (pid: number) => void,
      exited!: (s: ExitStatus) => void,
      failed!: (m: string) => void;
    const pid = new Promise<number>((resolve, reject) => {
      started = resolve;
      failed = (m) => reject(new Error(m));
    });
    const status = new Promise<ExitStatus>((resolve) => (exited = resolve));
    pid.catch(() => {}); // the caller awaits the status too
    const pending: Pending = {
      asked: performance.now(),
      started,
      exited,
      failed: (m) => {
        failed(m);
        exited({ code: 127 });
      },
    };
    if (this.#stopped) {
      pending.failed("ferry's process spawner stopped");
      return { pid, status };
    }
    this.#pending.set(id, pending);
    const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const record = [
      id,
      cwd,
      String(mkdirs.length),
      ...mkdirs,
      String(links.length),
      ...links.flat(),
      String(vars.length),
      ...vars,
      String(argv.length),
      ...argv,
      recordPath,
    ]
      .map((f) => `${f}\0`).join("");
    const bytes = encoder.encode(record);
    const head = encoder.encode(`${bytes.length}\n`);
    // One write: the spawner wakes once per request, not once for its length and again for it.
    const message = new Uint8Array(head.length + bytes.length);
    message.set(head);
    message.set(bytes, head.length);
    this.#writer.write(message).catch(() => {});
    return { pid, status };
  }

  /** Stop: the spawner ends the tasks still running (SIGTERM, then SIGKILL), reaps them and exits. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer.close().catch(() => {});
    await this.#child.status;
  }
}
