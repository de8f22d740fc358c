/**
 * Test helpers for real services (sshd, vsftpd, HTTP, Slurm) on 127.0.0.1.
 * Under CI=true a missing service is a failing test; elsewhere the tests that
 * need it are skipped, and the skip is announced loudly on stderr.
 * @module
 */

import { createHash } from "node:crypto";

/** Whether every program is installed. */
function installed(program: string): boolean {
  if (program.startsWith("/")) {
    try {
      return Deno.statSync(program).isFile;
    } catch {
      return false;
    }
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${program}`).isFile) return true;
    } catch { /* next */ }
  }
  return false;
}

/**
 * Whether a service's programs are present. When some are missing: under
 * CI=true registers a failing test naming them; otherwise warns loudly. Use the
 * result as `ignore: !have` on the tests that need the service.
 */
export function haveService(service: string, programs: readonly string[]): boolean {
  const missing = programs.filter((p) => !installed(p));
  if (missing.length === 0) return true;
  serviceMissing(
    service,
    `${service} tests need ${missing.join(", ")} (see .ci/run for the Debian packages)`,
  );
  return false;
}

/**
 * What a missing service (or anything else tests need and cannot find) does, `why` saying what is
 * missing: under CI=true a failing test; otherwise a loud warning that `service` tests are skipped.
 */
export function serviceMissing(service: string, why: string): void {
  if (Deno.env.get("CI") === "true") {
    Deno.test(`${service}: service available`, () => {
      throw new Error(`CI=true and ${why}`);
    });
  } else {
    console.error(`\n!!! SKIPPING ${service} tests: ${why} !!!\n`);
  }
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Wait until `check` resolves true, polling every 50 ms, or throw after `ms`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  ms = 10_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if (await check()) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export async function listening(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/** `n` random bytes (incompressible test data). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

/** sha256 of bytes (or text), hex. */
export function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Whether a path exists (without following a final symlink's target). */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** mulberry32: a small, fast, well-mixed seeded PRNG returning numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `size` consecutive free ports on 127.0.0.1, chosen at random. */
export function freeRange(size: number): [number, number] {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const held: Deno.Listener[] = [];
    try {
      for (let p = base; p < base + size; p++) {
        held.push(Deno.listen({ hostname: "127.0.0.1", port: p }));
      }
      return [base, base + size - 1];
    } catch {
      /* taken: try another base */
    } finally {
      for (const l of held) l.close();
    }
  }
  throw new Error(`no ${size} consecutive free ports found`);
}

/** The stops of the servers this test module started and has not stopped yet. */
const running = new Set<() => Promise<void>>();

// At the end of each test module, stop what a failed, filtered-out or forgetful test left
// running: a server shared by a module's tests is otherwise stopped by its last test only.
// (Outside `deno test`, e.g. in a benchmark, this registers nothing.)
Deno.test.afterAll(async () => {
  for (const stop of [...running]) await stop();
});

/**
 * Register a server's `stop` to run at the end of the test module unless it
 * ran before. Returns `stop` made idempotent: call that one to stop early.
 */
export function stopAtEnd(stop: () => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const once = () => {
    running.delete(once);
    return stopping ??= stop();
  };
  running.add(once);
  return once;
}

/** One live process, from /proc. */
export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  /** Its arguments (argv). */
  readonly cmdline: readonly string[];
  /** Its environment at exec, as `NAME=value` (empty when unreadable). */
  readonly environ: readonly string[];
}

/**
 * Live processes (zombies left out) that `test` selects, never this process or
 * its ancestors: e.g. the orphans a server's sessions or jobs left behind,
 * found by the server's temp dir in their command line or environment.
 */
export function processesWhere(test: (p: ProcessInfo) => boolean): ProcessInfo[] {
  const parents = new Map<number, number>();
  const found: ProcessInfo[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parents.set(pid, Number(ppid));
      if (state === "Z") continue;
      const split = (f: string) => {
        try {
          return Deno.readTextFileSync(`/proc/${pid}/${f}`).split("\0").filter(Boolean);
        } catch {
          return [];
        }
      };
      const info = {
        pid,
        ppid: Number(ppid),
        cmdline: split("cmdline"),
        environ: split("environ"),
      };
      if (test(info)) found.push(info);
    } catch { /* exited meanwhile */ }
  }
  const mine = new Set<number>();
  for (let p: number | undefined = Deno.pid; p !== undefined && p > 0; p = parents.get(p)) {
    mine.add(p);
  }
  return found.filter((p) => !mine.has(p.pid));
}

/** Whether a process is gone (or only a zombie waiting to be reaped). */
export function processGone(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** SIGTERM `pids`, SIGKILL those left after `graceMs`, then wait until every one is gone. */
export async function killProcesses(pids: readonly number[], graceMs = 3_000): Promise<void> {
  const send = (sig: Deno.Signal) => {
    for (const p of pids) {
      try {
        Deno.kill(p, sig);
      } catch { /* gone */ }
    }
  };
  send("SIGTERM");
  const end = Date.now() + graceMs;
  while (Date.now() < end && !pids.every(processGone)) await new Promise((r) => setTimeout(r, 50));
  if (pids.every(processGone)) return;
  send("SIGKILL");
  await waitFor(`processes ${pids.join(" ")} to exit`, () => pids.every(processGone), 5_000);
}

/** A {@linkcode processesWhere} test: the process names `text` in its command line or environment. */
export function mentioning(text: string): (p: ProcessInfo) => boolean {
  return (p) => p.cmdline.some((a) => a.includes(text)) || p.environ.some((e) => e.includes(text));
}

/**
 * A {@linkcode processesWhere} test: the process names `dir` in its command
 * line or environment, or works in it (its cwd, even one removed since).
 */
export function inDir(dir: string): (p: ProcessInfo) => boolean {
  const names = mentioning(dir);
  return (p) => {
    if (names(p)) return true;
    try {
      const cwd = Deno.readLinkSync(`/proc/${p.pid}/cwd`);
      return cwd === dir || cwd.startsWith(`${dir}/`);
    } catch {
      return false; // exited, or not ours to read
    }
  };
}

/**
 * Processes still in `dir` (see {@linkcode inDir}) once those ending anyway
 * had `ms` to end, as `pid argv` lines; the ones found are killed, so a
 * failing test leaves nothing behind either.
 */
export async function processesLeftIn(dir: string, ms = 10_000): Promise<string[]> {
  const test = inDir(dir);
  await waitFor(`no process in ${dir}`, () => processesWhere(test).length === 0, ms)
    .catch(() => {});
  const left = processesWhere(test);
  await killProcesses(left.map((p) => p.pid));
  return left.map((p) => `${p.pid} ${p.cmdline.join(" ")}`);
}

/** Pids of the processes whose parent is `pid`, from /proc. */
export function childPids(pid: number): number[] {
  const kids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      // pid (comm) state ppid ...: comm may hold spaces, so split after the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) kids.push(Number(e.name));
    } catch { /* exited */ }
  }
  return kids;
}

/** Every descendant of `pid`. */
export function descendants(pid: number): number[] {
  const all: number[] = [];
  for (const k of childPids(pid)) all.push(k, ...descendants(k));
  return all;
}

/** Send `signal` to each of `pids`; how many were still there to receive it. */
export function killAll(pids: number[], signal: Deno.Signal = "SIGKILL"): number {
  let n = 0;
  for (const p of pids) {
    try {
      Deno.kill(p, signal);
      n++;
    } catch { /* gone */ }
  }
  return n;
}
