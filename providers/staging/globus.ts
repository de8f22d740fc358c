/**
 * Globus staging (`action: globus`): `globus://ENDPOINT_ID/path` files moved
 * by the Globus Transfer service between the file's endpoint and the
 * endpoint that sees this host's storage (`local_endpoint`, whose root is the
 * local directory `local_root`, default `/`). Globus moves the bytes; ferry
 * submits the task, polls it, and cancels it when the run stops. The subset
 * of the Transfer API (v0.10) used, as documented by Globus:
 *
 * - `GET /submission_id` → `{ "DATA_TYPE": "submission_id", "value": ID }`
 *   (https://docs.globus.org/api/transfer/task_submit/#get_submission_id);
 * - `POST /transfer` with a transfer document (`DATA_TYPE: "transfer"`,
 *   `submission_id`, `source_endpoint`, `destination_endpoint`,
 *   `verify_checksum: true`, `DATA: [{ DATA_TYPE: "transfer_item",
 *   source_path, destination_path }]`) → `{ "DATA_TYPE": "transfer_result",
 *   "code": "Accepted", "task_id": ... }`
 *   (https://docs.globus.org/api/transfer/task_submit/#submit_transfer_task);
 * - `GET /task/TASK_ID` → the task document: `status` `ACTIVE`, `INACTIVE`,
 *   `SUCCEEDED` or `FAILED`, `nice_status`, `bytes_transferred`, and on
 *   failure `fatal_error: { code, description }`
 *   (https://docs.globus.org/api/transfer/task/#task_fields);
 * - `POST /task/TASK_ID/cancel` → `{ "DATA_TYPE": "result", "code":
 *   "Canceled", ... }` (https://docs.globus.org/api/transfer/task/#cancel_task_by_id);
 * - `POST /operation/endpoint/ENDPOINT_ID/rename` with `{ DATA_TYPE: "rename", old_path,
 *   new_path }` → `{ "DATA_TYPE": "result", "code": "FileRenamed", ... }`
 *   (https://docs.globus.org/api/transfer/file_operations/#rename);
 * - errors: an HTTP status with `{ "code", "message", "request_id" }`
 *   (https://docs.globus.org/api/transfer/overview/#errors).
 *
 * Every request carries `Authorization: Bearer TOKEN`, the token read from the
 * environment variable the rule's `token_env` names (through `secret()`, so it
 * is redacted everywhere). Tested against a local server speaking this subset
 * (tests/_globus_server.ts); never against the live service. An upload goes to
 * `NAME.ferry-part` on the destination endpoint and is renamed there once Globus verified it.
 * @module
 */

import { posix } from "node:path";
import { sleep } from "../_shared/sleep.ts";
import {
  type FetchRequest,
  type FetchResult,
  type PutRequest,
  type PutResult,
  type StagingContext,
  StagingError,
  type StagingProvider,
} from "./types.ts";

/** The Transfer API's base URL. */
export const GLOBUS_TRANSFER_API = "https://transfer.api.globus.org/v0.10";

/** A `globus://ENDPOINT_ID/path` URL's parts. */
export function parseGlobusUrl(url: string): { endpoint: string; path: string } {
  const u = new URL(url);
  if (u.protocol !== "globus:" || u.hostname === "") {
    throw new StagingError(`Cannot use "${url}": write globus://ENDPOINT_ID/path`, {
      retryable: false,
    });
  }
  return { endpoint: decodeURIComponent(u.hostname), path: decodeURIComponent(u.pathname) };
}

/** What a call needs of the rule's options, checked. */
interface Setup {
  readonly api: string;
  readonly token: string;
  readonly localEndpoint: string;
  readonly localRoot: string;
  readonly pollMs: number;
}

function setup(c: StagingContext): Setup {
  const o = c.options;
  const bad = (why: string) => new StagingError(`Cannot use Globus: ${why}`, { retryable: false });
  const tokenEnv = o.token_env;
  if (typeof tokenEnv !== "string") {
    throw bad("set token_env on the rule (an environment variable holding a Globus access token)");
  }
  const token = c.secret(tokenEnv);
  if (!token) throw bad(`the environment variable ${tokenEnv} (token_env) is not set`);
  if (typeof o.local_endpoint !== "string") {
    throw bad(
      "set local_endpoint on the rule: the Globus endpoint or collection that sees this host's storage",
    );
  }
  const root = typeof o.local_root === "string" ? o.local_root : "/";
  const poll = typeof o.poll_interval === "number" && o.poll_interval > 0 ? o.poll_interval : 5;
  return {
    api: (typeof o.api_url === "string" ? o.api_url : GLOBUS_TRANSFER_API).replace(/\/+$/, ""),
    token,
    localEndpoint: o.local_endpoint,
    localRoot: root.endsWith("/") ? root : `${root}/`,
    pollMs: poll * 1000,
  };
}

/** A local path as the local endpoint names it (its root is `local_root`). */
function onLocalEndpoint(s: Setup, path: string): string {
  if (!path.startsWith(s.localRoot)) {
    throw new StagingError(
      `Cannot reach "${path}" through Globus endpoint ${s.localEndpoint}: it is outside its root ${s.localRoot} (local_root)`,
      { retryable: false },
    );
  }
  return posix.join("/", path.slice(s.localRoot.length));
}

/** One API call: its JSON answer, or a StagingError with Globus's own code and message. */
async function call(
  s: Setup,
  method: "GET" | "POST",
  path: string,
  signal: AbortSignal,
  body?: unknown,
): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(`${s.api}${path}`, {
      method,
      signal,
      headers: {
        Authorization: `Bearer ${s.token}`,
        Accept: "application/json",
        ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (e) {
    if (signal.aborted) throw e;
    throw new StagingError(`Globus Transfer API unreachable: ${(e as Error).message}`, {
      retryable: true,
      cause: e,
    });
  }
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch { /* described below */ }
  if (!res.ok) {
    const what = typeof json.code === "string"
      ? `${json.code}: ${String(json.message ?? "")}`
      : `HTTP ${res.status} ${res.statusText}`;
    throw new StagingError(`Globus ${method} ${path} failed: ${what}`, {
      retryable: res.status >= 500 || res.status === 429,
    });
  }
  return json;
}

/** Submit one file's transfer task (checksums verified by Globus); its task id. */
async function submit(
  s: Setup,
  from: { endpoint: string; path: string },
  to: { endpoint: string; path: string },
  signal: AbortSignal,
): Promise<string> {
  const id = await call(s, "GET", "/submission_id", signal);
  if (typeof id.value !== "string") {
    throw new StagingError("Globus gave no submission id", { retryable: true });
  }
  const result = await call(s, "POST", "/transfer", signal, {
    DATA_TYPE: "transfer",
    submission_id: id.value,
    label: "ferry",
    source_endpoint: from.endpoint,
    destination_endpoint: to.endpoint,
    verify_checksum: true,
    DATA: [{ DATA_TYPE: "transfer_item", source_path: from.path, destination_path: to.path }],
  });
  if (typeof result.task_id !== "string") {
    throw new StagingError(`Globus did not accept the transfer: ${String(result.message ?? "")}`, {
      retryable: false,
    });
  }
  return result.task_id;
}

/**
 * Poll a task until it ends: its size once SUCCEEDED; a FAILED task throws with Globus's
 * error. Stopping the run cancels the task on the service before giving up.
 */
async function awaitTask(s: Setup, task: string, c: StagingContext): Promise<number> {
  for (;;) {
    if (c.signal.aborted) {
      await call(s, "POST", `/task/${encodeURIComponent(task)}/cancel`, AbortSignal.timeout(10_000))
        .catch(() => {});
      throw c.signal.reason ?? new DOMException("cancelled", "AbortError");
    }
    const t = await call(s, "GET", `/task/${encodeURIComponent(task)}`, c.signal).catch((e) => {
      if (c.signal.aborted) return undefined; // cancelled while asking: cancel the task
      throw e;
    });
    if (t !== undefined) {
      const bytes = typeof t.bytes_transferred === "number" ? t.bytes_transferred : 0;
      if (t.status === "SUCCEEDED") return bytes;
      if (t.status === "FAILED") {
        const f = t.fatal_error as { code?: unknown; description?: unknown } | null | undefined;
        const why = f ? `${String(f.code)}: ${String(f.description)}` : String(t.nice_status ?? "");
        throw new StagingError(`Globus task ${task} failed: ${why}`, { retryable: false });
      }
      c.progress(bytes);
    }
    await sleep(s.pollMs, c.signal).catch(() => {});
  }
}

async function fetchGlobus(r: FetchRequest): Promise<FetchResult> {
  const s = setup(r);
  const from = parseGlobusUrl(r.url);
  const to = { endpoint: s.localEndpoint, path: onLocalEndpoint(s, r.partial) };
  const task = await submit(s, from, to, r.signal);
  await awaitTask(s, task, r);
  const size = (await Deno.stat(r.partial)).size;
  r.progress(size, size);
  return { status: "fetched", validators: { size } };
}

/** Upload under a temporary name on the destination endpoint, then rename it there. */
async function putGlobus(r: PutRequest): Promise<PutResult> {
  const s = setup(r);
  const to = parseGlobusUrl(r.url);
  const from = { endpoint: s.localEndpoint, path: onLocalEndpoint(s, r.source) };
  const partial = `${to.path}.ferry-part`;
  const task = await submit(s, from, { endpoint: to.endpoint, path: partial }, r.signal);
  await awaitTask(s, task, r);
  await call(s, "POST", `/operation/endpoint/${encodeURIComponent(to.endpoint)}/rename`, r.signal, {
    DATA_TYPE: "rename",
    old_path: partial,
    new_path: to.path,
  });
  r.progress(r.size, r.size);
  return { validators: { size: r.size } };
}

/** The Globus provider. */
export function globusStaging(): StagingProvider {
  return { name: "globus", fetch: fetchGlobus, put: putGlobus };
}
