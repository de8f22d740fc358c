/**
 * A persistent function worker: one Deno process, started with the permissions of the calls it
 * takes (`FERRY_WORKER_TOKEN=TOKEN deno run FLAGS function_worker.ts INPUT`, standard input
 * `/dev/null`), runs calls of exported functions one after another. The protocol (see
 * docs/architecture.md):
 *
 * - INPUT (a FIFO): one call per line, JSON `{ module, export, args?, argv?, dir, env,
 *   permissions? }`;
 * - standard output: what the call printed, then `\0ferry-worker TOKEN REPLY\n`, REPLY being JSON
 *   `{ ok: true, value }` (the value returned), `{ ok: false }` (it threw; the error is on
 *   standard error) or `{ ok: false, exit: CODE }` (a least-privilege call ended its Web Worker
 *   with `Deno.exit(CODE)`; the process goes on);
 * - standard error: what the call printed, then `\0ferry-worker TOKEN\n`.
 *
 * ferry reads both streams, writes what comes before the marks into the call's logs, and knows
 * the call is over once both marks came. A call with `permissions` runs in a Web Worker created
 * for it with exactly those (function_sandbox.ts; the process has every right any such call may
 * be granted, `workerFlags`), which imports its module and is terminated after the call; its
 * console output goes to the process's streams like the process's own. A call without runs in
 * the process itself, importing each module once, and a call there that ends the process
 * (`Deno.exit`) ends it with the process's exit code. The worker exits at the end of its standard input. Locally ferry reads
 * FIFOs (function_pool.ts); on a pilot worker bash reads files (pilot.sh, `ferry_fn_call`).
 * @module
 */

import { resolve } from "node:path";
import process from "node:process";
import { toFileUrl } from "../_shared/urls.ts";
// Not function_pool.ts: a module the worker imports may import ferry, and through it the pool;
// a cycle back to this main module would never finish loading.
import { type CallUsage, type WorkerCall, workerMark } from "./function_protocol.ts";
import { invoke, type Invoked } from "./function_invoke.ts";
import type { DenoPermissions } from "./types.ts";

const encoder = new TextEncoder();

/** Write all of `text` to a stream (a pipe may take it in pieces). */
function writeAll(stream: typeof Deno.stdout, text: string): void {
  const bytes = encoder.encode(text);
  for (let done = 0; done < bytes.length;) done += stream.writeSync(bytes.subarray(done));
}

/** May this process set `name`? (A variable it may not set, its function may not read either.) */
function mayUse(name: string): boolean {
  return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
}

/**
 * Set the call's variables; returns what undoes it. After a least-privilege call, the whole
 * environment is as before: what it set is not for the next call to read.
 */
function enter(call: WorkerCall): () => void {
  const all = call.permissions ? Deno.env.toObject() : undefined;
  const before = new Map<string, string | undefined>();
  const env = { ...call.env, FERRY_FUNCTION_MODULE: call.module };
  for (const [k, v] of Object.entries(env)) {
    if (!mayUse(k)) continue;
    before.set(k, Deno.env.get(k));
    Deno.env.set(k, v);
  }
  Deno.chdir(call.dir);
  return () => {
    if (all) return restoreEnv(all);
    for (const [k, v] of before) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  };
}

/** The environment back to `env`. */
function restoreEnv(env: Record<string, string>): void {
  for (const k of Object.keys(Deno.env.toObject())) if (!(k in env)) Deno.env.delete(k);
  for (const [k, v] of Object.entries(env)) if (Deno.env.get(k) !== v) Deno.env.set(k, v);
}

/** A call's reply (function_protocol.ts). */
type Reply = { ok: true; value: unknown } | { ok: false; exit?: number };

/** Run one call in its directory and environment; its reply. */
async function run(call: WorkerCall): Promise<Reply> {
  const leave = enter(call);
  try {
    const url = toFileUrl(call.module);
    const r = call.permissions
      ? await sandboxed({ ...call, url }, call.permissions)
      : await invoke({ ...call, url });
    return r.ok ? r : { ok: false, ..."exit" in r ? { exit: r.exit } : {} };
  } finally {
    leave();
  }
}

const SANDBOX = new URL("./function_sandbox.ts", import.meta.url);

/**
 * Run a call in a Web Worker of its own with exactly `permissions`, their paths made absolute
 * against the call's directory (function_sandbox.ts); the Worker is terminated after the call.
 * An error the call left uncaught (Deno prints it) fails the call, as it would end a process.
 */
async function sandboxed(
  call: WorkerCall & { url: string },
  permissions: DenoPermissions,
): Promise<Invoked | { ok: false; exit: number }> {
  const options = {
    type: "module",
    name: call.export,
    deno: { permissions: narrowed(permissions, call.dir) },
  } as WorkerOptions;
  let worker: Worker;
  try {
    worker = new Worker(SANDBOX, options);
  } catch (e) {
    console.error(`ferry: Cannot start a Web Worker for ${call.export}: ${(e as Error).message}`);
    return { ok: false, code: 1 };
  }
  try {
    return await new Promise((done) => {
      worker.onmessage = (e) => done(answer(e.data));
      worker.onerror = (e) => {
        e.preventDefault();
        done({ ok: false, code: 1 });
      };
      worker.onmessageerror = () => done({ ok: false, code: 1 });
      const { module, url, export: name, args, argv } = call;
      worker.postMessage({ module, url, export: name, args, argv });
    });
  } finally {
    worker.terminate();
  }
}

/**
 * The Web Worker's answer as a reply: what the call's own code may have posted instead (it runs
 * there too) ends its call no other way than a value, a failure or an exit code would.
 */
function answer(data: unknown): Invoked | { ok: false; exit: number } {
  const d = (typeof data === "object" && data !== null ? data : {}) as Record<string, unknown>;
  if ("exit" in d) {
    return { ok: false, exit: Number.isInteger(d.exit) ? (d.exit as number) & 255 : 1 };
  }
  if (d.ok !== true) return { ok: false, code: 1 };
  try {
    return { ok: true, value: JSON.parse(JSON.stringify(d.value ?? null)) };
  } catch (e) {
    console.error(`ferry: Cannot record the value of the call: ${(e as Error).message}`);
    return { ok: false, code: 1 };
  }
}

/**
 * A Web Worker's permissions: each list as it is (paths made absolute against `dir`, as Deno
 * reads a relative flag in the call's directory), none for an empty list, and none of the kinds
 * a call is never granted (`import` is no more than Deno's default hosts, as the process has).
 */
export function narrowed(p: DenoPermissions, dir: string): Record<string, string[] | false> {
  const list = (l: readonly string[]) => (l.length > 0 ? [...new Set(l)] : false);
  return {
    read: list(p.read.map((x) => resolve(dir, x))),
    write: list(p.write.map((x) => resolve(dir, x))),
    net: list(p.net),
    env: list(p.env),
    run: list(p.run),
    sys: false,
    ffi: false,
    import: false,
  };
}

/**
 * Start measuring a call: the process's CPU time so far, and its peak resident set. One call at a
 * time runs in a worker, so the process's figures are the call's (with the worker's own small
 * share, as a process of the call's own would have its runtime's). The peak: where the process may
 * reset it (Linux, `-A`: `5` written to /proc/self/clear_refs), the peak after the call is the
 * call's; else the process's lifetime peak when the call raised it, and otherwise the largest
 * resident set seen every 20 ms during the call (a Web Worker's call runs beside this thread).
 */
export function startMeasure(): () => CallUsage {
  const cpu0 = process.cpuUsage();
  let reset = true;
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
  } catch {
    reset = false; // not Linux, or a worker without every permission (Deno wants -A for /proc)
  }
  const peak0 = process.resourceUsage().maxRSS;
  let seen = Deno.memoryUsage().rss;
  const look = () => (seen = Math.max(seen, Deno.memoryUsage().rss));
  const timer = reset ? undefined : setInterval(look, 20);
  return () => {
    clearInterval(timer);
    const cpu = process.cpuUsage(cpu0);
    const peak = process.resourceUsage().maxRSS; // KiB
    return {
      userSeconds: cpu.user / 1e6,
      systemSeconds: cpu.system / 1e6,
      maxRssBytes: reset || peak > peak0 ? peak * 1024 : look(),
    };
  };
}

if (import.meta.main) {
  // The marks' token, then gone from the environment: a call's code sees the process's arguments
  // and standard input, and must not end its output early (nor read the next call's line).
  const mark = workerMark(Deno.env.get("FERRY_WORKER_TOKEN") ?? "");
  Deno.env.delete("FERRY_WORKER_TOKEN");
  const input = await Deno.open(Deno.args[0]!);
  let rest = "";
  const decoder = new TextDecoder();
  for await (const chunk of input.readable) {
    const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      if (line === "") continue;
      const measure = startMeasure();
      const reply = await run(JSON.parse(line) as WorkerCall);
      writeAll(Deno.stderr, `${mark}\n`);
      writeAll(Deno.stdout, `${mark} ${JSON.stringify({ ...reply, usage: measure() })}\n`);
    }
  }
}
