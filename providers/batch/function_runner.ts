/**
 * Runs one `function:` app in its own Deno process: `deno run --allow-read=...
 * function_runner.ts MODULE EXPORT` (with the permissions the plan gives the task, or `-A` for
 * a call `submit()` hands over), with the call's JSON on standard input
 * (`{ args, result }`). The function gets the args object (inputs and outputs
 * as paths, params, task); its return value is written as JSON to `result`.
 * @module
 */

import { toFileUrl } from "../_shared/urls.ts";

interface Call {
  /** The one argument of a `function:` app. */
  readonly args?: unknown;
  /** Positional arguments of a submitted call (`executor().submit(fn, a, b)`). */
  readonly argv?: readonly unknown[];
  readonly result?: string;
}

if (import.meta.main) {
  const [module, name] = Deno.args;
  const text = await new Response(Deno.stdin.readable).text();
  const call: Call = text.trim() === "" ? {} : JSON.parse(text);
  // A function that submits functions (`executor().submit`) finds its own module's exports here.
  Deno.env.set("FERRY_FUNCTION_MODULE", module!);
  // The user's module, by its file URL: no import map is involved. `deno publish` warns
  // (unanalyzable-dynamic-import) and Deno 2.9 has no way to silence it (denoland/deno#22594).
  const mod = await import(toFileUrl(module!));
  const fn = mod[name!];
  if (typeof fn !== "function") {
    console.error(`ferry: Cannot call "${name}" of ${module}: it exports no function of that name`);
    Deno.exit(2);
  }
  let value: unknown;
  try {
    value = call.argv !== undefined ? await fn(...call.argv) : await fn(call.args ?? {});
  } catch (e) {
    // The stack for the log; the last line says what went wrong, for the task's failure message.
    console.error(e instanceof Error ? e.stack ?? String(e) : String(e));
    const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    console.error(`ferry: ${name} threw ${what.split("\n")[0]}`);
    Deno.exit(1);
  }
  if (call.result) await Deno.writeTextFile(call.result, JSON.stringify(value ?? null) + "\n");
}
