/**
 * A persistent function worker: one Deno process, started with the permissions of the calls it
 * takes (`deno run FLAGS function_worker.ts TOKEN`), runs calls of exported functions one after
 * another, importing each module once. The protocol (see docs/architecture.md):
 *
 * - standard input: one call per line, JSON `{ module, export, args?, argv?, dir, env }`;
 * - standard output: what the call printed, then `\0ferry-worker TOKEN REPLY\n`, REPLY being JSON
 *   `{ ok: true, value }` (the value returned) or `{ ok: false }` (it threw; the error is on
 *   standard error);
 * - standard error: what the call printed, then `\0ferry-worker TOKEN\n`.
 *
 * ferry reads both streams, writes what comes before the marks into the call's logs, and knows
 * the call is over once both marks came. A call that ends the process (`Deno.exit`) ends it with
 * the process's exit code. The worker exits at the end of its standard input. Locally ferry reads
 * FIFOs (function_pool.ts); on a pilot worker bash reads files (pilot.sh, `ferry_fn_call`).
 * @module
 */

import { toFileUrl } from "../_shared/urls.ts";
// Not function_pool.ts: a module the worker imports may import ferry, and through it the pool;
// a cycle back to this main module would never finish loading.
import { type WorkerCall, workerMark } from "./function_protocol.ts";

const encoder = new TextEncoder();
const modules = new Map<string, Promise<Record<string, unknown>>>();

/** Write all of `text` to a stream (a pipe may take it in pieces). */
function writeAll(stream: typeof Deno.stdout, text: string): void {
  const bytes = encoder.encode(text);
  for (let done = 0; done < bytes.length;) done += stream.writeSync(bytes.subarray(done));
}

/** May this process set `name`? (A variable it may not set, its function may not read either.) */
function mayUse(name: string): boolean {
  return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
}

/** Set the call's variables; returns what undoes it. */
function enter(call: WorkerCall): () => void {
  const before = new Map<string, string | undefined>();
  const env = { ...call.env, FERRY_FUNCTION_MODULE: call.module };
  for (const [k, v] of Object.entries(env)) {
    if (!mayUse(k)) continue;
    before.set(k, Deno.env.get(k));
    Deno.env.set(k, v);
  }
  Deno.chdir(call.dir);
  return () => {
    for (const [k, v] of before) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  };
}

/** How a call ended: its value (JSON), or the exit code of a process that ran only it. */
export type Invoked = { readonly ok: true; readonly value: unknown } | {
  readonly ok: false;
  /** 2: the module exports no such function; 1: it threw. */
  readonly code: 1 | 2;
};

/**
 * Call `call.export` of `call.module` (imported once per process) with the call's arguments;
 * what it threw goes to standard error, its stack and then a last line that says what went
 * wrong (for the task's failure message). Shared with function_runner.ts.
 */
export async function invoke(call: Omit<WorkerCall, "dir" | "env">): Promise<Invoked> {
  try {
    let loading = modules.get(call.module);
    if (!loading) {
      // The user's module, by its file URL: no import map is involved. `deno publish` warns
      // (unanalyzable-dynamic-import); Deno 2.9 cannot silence it (denoland/deno#22594).
      loading = import(toFileUrl(call.module));
      modules.set(call.module, loading);
      loading.catch(() => modules.delete(call.module));
    }
    const fn = (await loading)[call.export];
    if (typeof fn !== "function") {
      console.error(
        `ferry: Cannot call "${call.export}" of ${call.module}: it exports no function of that name`,
      );
      return { ok: false, code: 2 };
    }
    const value = call.argv !== undefined ? await fn(...call.argv) : await fn(call.args ?? {});
    // A value JSON cannot hold (a BigInt, a cycle) fails the call here.
    return { ok: true, value: JSON.parse(JSON.stringify(value ?? null)) };
  } catch (e) {
    console.error(e instanceof Error ? e.stack ?? String(e) : String(e));
    const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    console.error(`ferry: ${call.export} threw ${what.split("\n")[0]}`);
    return { ok: false, code: 1 };
  }
}

/** Run one call in its directory and environment; its reply. */
async function run(call: WorkerCall): Promise<{ ok: boolean; value?: unknown }> {
  const leave = enter(call);
  try {
    const r = await invoke(call);
    return r.ok ? r : { ok: false };
  } finally {
    leave();
  }
}

if (import.meta.main) {
  const mark = workerMark(Deno.args[0] ?? "");
  let rest = "";
  const decoder = new TextDecoder();
  for await (const chunk of Deno.stdin.readable) {
    const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      if (line === "") continue;
      const reply = await run(JSON.parse(line) as WorkerCall);
      writeAll(Deno.stderr, `${mark}\n`);
      writeAll(Deno.stdout, `${mark} ${JSON.stringify(reply)}\n`);
    }
  }
}
