/**
 * Runs one `function:` app in its own Deno process: `deno run --allow-read=...
 * function_runner.ts MODULE EXPORT` (with the permissions the plan gives the task, or `-A` for
 * a call `submit()` hands over), with the call's JSON on standard input
 * (`{ args, result }`). The function gets the args object (inputs and outputs
 * as paths, params, task); its return value is written as JSON to `result`.
 * (Locally and on pilot workers, calls outside a container run in persistent workers instead:
 * function_worker.ts.)
 * @module
 */

import { invoke } from "./function_invoke.ts";
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
  const r = await invoke({ module: module!, url: toFileUrl(module!), export: name!, ...call });
  if (!r.ok) Deno.exit(r.code);
  if (call.result) await Deno.writeTextFile(call.result, JSON.stringify(r.value) + "\n");
}
