/**
 * The Web Worker in which a function worker (function_worker.ts) runs one least-privilege call,
 * created for that call with exactly its permissions and terminated after it: the user's module
 * is imported only here. It takes one message, the call (`{ module, url, export, args?, argv? }`), and
 * answers with how it ended: `invoke`'s `{ ok, value? | code }`, or `{ exit: CODE }` when the
 * call ended its Worker (`Deno.exit(CODE)`, `close()`), which in a process of its own would have
 * ended the process with that code.
 * @module
 */

import { type Call, invoke } from "./function_invoke.ts";

/** The Worker's side of its scope (the type-check sees a window's). */
interface Scope {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((e: MessageEvent<Call>) => void) | null;
}

const scope = globalThis as unknown as Scope;
const exit = Deno.exit;
const close = scope.close.bind(scope);

/** Say the Worker ends with `code`, then end it; neither can be replaced by the call's code. */
function ending(code: number | undefined): never {
  scope.postMessage({ exit: code ?? Deno.exitCode });
  return exit(code);
}
Object.defineProperty(Deno, "exit", { value: ending, writable: false, configurable: false });
Object.defineProperty(scope, "close", {
  value: () => {
    scope.postMessage({ exit: 0 });
    close();
  },
  writable: false,
  configurable: false,
});

scope.onmessage = async (e) => {
  scope.onmessage = null;
  scope.postMessage(await invoke(e.data));
};
