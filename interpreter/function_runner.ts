/**
 * Runs one `function:` app in its own Deno process: `deno run -A
 * function_runner.ts MODULE EXPORT`, with the call's JSON on standard input
 * (`{ args, result }`). The function gets the args object (inputs and outputs
 * as paths, params, task); its return value is written as JSON to `result`.
 * @module
 */

import { toFileUrl } from "./urls.ts";

interface Call {
  readonly args?: unknown;
  readonly result?: string;
}

if (import.meta.main) {
  const [module, name] = Deno.args;
  const text = await new Response(Deno.stdin.readable).text();
  const call: Call = text.trim() === "" ? {} : JSON.parse(text);
  const mod = await import(toFileUrl(module!));
  const fn = mod[name!];
  if (typeof fn !== "function") {
    console.error(`ferry: Cannot call "${name}" of ${module}: it exports no function of that name`);
    Deno.exit(2);
  }
  const value = await fn(call.args ?? {});
  if (call.result) await Deno.writeTextFile(call.result, JSON.stringify(value ?? null) + "\n");
}
