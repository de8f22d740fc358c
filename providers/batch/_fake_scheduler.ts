/**
 * A scheduler that lives in the test process, for the scheduler provider's
 * unit tests: a `Dialect` with its own small command language (`fsub`,
 * `fstat`, `fdel`) and a `CommandRunner` that answers it from a table of jobs.
 * Tests finish a job by writing its wrapper's status file, as a node would,
 * and can make any call throw, fail or wait.
 * @module
 */

import { dirname, join } from "node:path";
import type { Executor } from "../../dsl/model.ts";
import type { Dialect, Invocation, QueueEntry, SchedState } from "./dialect.ts";
import type { CommandRunner, Ran } from "./runner.ts";
import type { RootedJob } from "./scheduler_job.ts";
import { wrapperFiles } from "./wrapper.ts";

const STATES: Record<string, SchedState> = {
  Q: "pending",
  R: "running",
  C: "completed",
  F: "failed",
  T: "timeout",
  X: "cancelled",
};

/** What the fake dialect does on purpose. */
export interface FakeDialectFaults {
  /** `status()` throws this many more times. */
  statusThrows: number;
}

/** A dialect for the fake scheduler; `faults` makes its calls misbehave. */
export function fakeDialect(faults: FakeDialectFaults = { statusThrows: 0 }): Dialect {
  return {
    name: "fake",
    label: "Fake",
    gone: /unknown job/i,
    script: (req) => `#!/bin/bash\n#FAKE ${req.name}\n${req.body}\n`,
    submit: (path, req) => ({
      argv: ["fsub", ...(req.array ? ["--array", String(req.array.count)] : []), path],
    }),
    parseSubmit: (stdout) => /^(\d+)\s*$/.exec(stdout)?.[1],
    status(ids) {
      if (faults.statusThrows > 0) {
        faults.statusThrows--;
        throw new Error("fstat exploded");
      }
      return { argv: ["fstat", ...ids] };
    },
    parseStatus(stdout) {
      const out: QueueEntry[] = [];
      for (const line of stdout.split("\n")) {
        const [id, raw] = line.trim().split(" ");
        const state = raw ? STATES[raw] : undefined;
        if (id && raw && state) out.push({ id, state, raw });
      }
      return out;
    },
    cancel: (ids) => ({ argv: ["fdel", ...ids] }),
    elementId: (arrayId, index) => `${arrayId}_${index}`,
    checkOptions: () => [],
  };
}

/** An answer the test gives instead of the fake scheduler's own. */
export type Override = (inv: Invocation) => Ran | undefined | Promise<Ran | undefined>;

/** The fake scheduler's queue, reached as a `CommandRunner`. */
export class FakeScheduler implements CommandRunner {
  readonly where = "this host";
  /** Every call, in order. */
  readonly calls: string[][] = [];
  /** Job (or array element) id → state letter (`Q`, `R`, `C`, `F`, `T`, `X`). */
  readonly queue = new Map<string, string>();
  /** Answers the test gives for some calls; `undefined` lets the fake answer. */
  override: Override | undefined;
  #nextId = 100;

  /** Calls whose command is `name` (`fsub`, `fstat`, `fdel`). */
  callsOf(name: string): string[][] {
    return this.calls.filter((c) => c[0] === name);
  }

  async run(inv: Invocation): Promise<Ran> {
    this.calls.push([...inv.argv]);
    const given = await this.override?.(inv);
    if (given) return given;
    const [cmd, ...args] = inv.argv;
    if (cmd === "fsub") {
      const id = String(this.#nextId++);
      const count = args[0] === "--array" ? Number(args[1]) : 0;
      if (count === 0) this.queue.set(id, "R");
      for (let i = 0; i < count; i++) this.queue.set(`${id}_${i}`, "R");
      return { code: 0, stdout: `${id}\n`, stderr: "" };
    }
    if (cmd === "fstat") {
      const lines = [...this.queue].filter(([id]) =>
        args.some((a) => id === a || id.startsWith(`${a}_`))
      );
      return { code: 0, stdout: lines.map(([id, s]) => `${id} ${s}\n`).join(""), stderr: "" };
    }
    if (cmd === "fdel") {
      for (const id of args) if (this.queue.has(id)) this.queue.set(id, "X");
      return { code: 0, stdout: "", stderr: "" };
    }
    return { code: 127, stdout: "", stderr: `${cmd}: command not found` };
  }
}

/** An executor of the fake scheduler. */
export function fakeExecutor(extra: Partial<Executor> = {}): Executor {
  return {
    name: "cluster",
    provider: "fake",
    options: {},
    filesystem: "shared",
    bundle: "none",
    env: {},
    staging: [],
    ...extra,
  };
}

/** One attempt of task `taskId` under `runDir` (a temporary directory). */
export function fakeJob(runDir: string, taskId: string, extra: Partial<RootedJob> = {}): RootedJob {
  const root = join(runDir, "tasks", taskId, "attempt-1");
  return {
    taskId,
    attempt: 1,
    dir: join(root, "work"),
    run: { kind: "shell", script: "true" },
    env: {},
    mkdirs: [join(root, "work")],
    stdout: join(root, "stdout.log"),
    stderr: join(root, "stderr.log"),
    resources: {},
    root,
    runDir,
    ...extra,
  };
}

/** Write the status file a job's wrapper leaves when the task ends, as a node would. */
export function endOnNode(job: RootedJob, exitCode = 0): void {
  const status = wrapperFiles(job.root).status;
  Deno.mkdirSync(dirname(status), { recursive: true });
  Deno.writeTextFileSync(
    status,
    JSON.stringify({
      exitCode,
      signal: null,
      startedAt: 1,
      endedAt: 2,
      host: "node1",
      timedOut: false,
    }),
  );
}

/** Resolves once `test()` holds, checking every few milliseconds (fails after `ms`). */
export async function until(test: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error("the condition did not hold in time");
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** `promise`, or a rejection if it has not settled within `ms` (a hang fails the test, not the suite). */
export function within<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
