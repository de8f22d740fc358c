/**
 * One call of an exported function, as every function runner makes it (a process of its own,
 * a persistent worker, a Web Worker): no import of its own, so that a Web Worker created for
 * one call loads little besides the user's module.
 * @module
 */

import type { WorkerCall } from "./function_protocol.ts";

/** A call: its module as named (for messages) and as the URL to import. */
export type Call = Pick<WorkerCall, "module" | "export" | "args" | "argv"> & {
  readonly url: string;
};

const modules = new Map<string, Promise<Record<string, unknown>>>();

/** How a call ended: its value (JSON), or the exit code of a process that ran only it. */
export type Invoked = { readonly ok: true; readonly value: unknown } | {
  readonly ok: false;
  /** 2: the module exports no such function; 1: it threw. */
  readonly code: 1 | 2;
};

/**
 * Call `call.export` of `call.module` (imported once per process) with the call's arguments;
 * what it threw goes to standard error, its stack and then a last line that says what went
 * wrong (for the task's failure message). Shared by function_worker.ts, function_runner.ts and
 * function_sandbox.ts.
 */
export async function invoke(call: Call): Promise<Invoked> {
  try {
    let loading = modules.get(call.url);
    if (!loading) {
      // The user's module, by its file URL: no import map is involved. `deno publish` warns
      // (unanalyzable-dynamic-import); Deno 2.9 cannot silence it (denoland/deno#22594).
      loading = import(call.url);
      modules.set(call.url, loading);
      loading.catch(() => modules.delete(call.url));
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
