/**
 * A local stand-in for the Globus Transfer API (v0.10), speaking exactly the
 * subset ferry's `globus` staging provider uses, with request and response
 * bodies shaped as Globus documents them:
 *
 * - `GET /submission_id` → `{ DATA_TYPE: "submission_id", value }`
 *   (https://docs.globus.org/api/transfer/task_submit/#get_submission_id)
 * - `POST /transfer` (a `transfer` document with `transfer_item`s) → 202
 *   `{ DATA_TYPE: "transfer_result", code: "Accepted", message, request_id,
 *   resource: "/transfer", submission_id, task_id }`
 *   (https://docs.globus.org/api/transfer/task_submit/#submit_transfer_task)
 * - `GET /task/ID` → a task document (`DATA_TYPE: "task"`, `task_id`, `type`,
 *   `status`, `nice_status`, `bytes_transferred`, `files`, `fatal_error`)
 *   (https://docs.globus.org/api/transfer/task/#task_fields)
 * - `POST /task/ID/cancel` → `{ DATA_TYPE: "result", code: "Canceled",
 *   message, request_id, resource }`
 *   (https://docs.globus.org/api/transfer/task/#cancel_task_by_id)
 * - `POST /operation/endpoint/ID/rename` (`{ DATA_TYPE: "rename", old_path, new_path }`) →
 *   `{ DATA_TYPE: "result", code: "FileRenamed", message, request_id, resource }`
 *   (https://docs.globus.org/api/transfer/file_operations/#rename)
 * - errors: `{ code: "ClientError.NotFound" | "AuthenticationFailed" | ...,
 *   message, request_id, resource }` (https://docs.globus.org/api/transfer/overview/#errors)
 *
 * Endpoints are directories: a transfer copies the source endpoint's file to
 * the destination endpoint's path (what the service would have done), after
 * the task was seen ACTIVE `activePolls` times. A task can be made to fail
 * with a given fatal error, or to stay ACTIVE until cancelled.
 * @module
 */

import { dirname, join } from "node:path";

/** One request the server saw. */
export interface GlobusRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | null;
  readonly body?: unknown;
}

/** Options. */
export interface GlobusServerOptions {
  /** Endpoint ID → the directory that is its root. */
  readonly endpoints: Readonly<Record<string, string>>;
  /** The bearer token it accepts. */
  readonly token: string;
  /** Polls answered ACTIVE before a task ends. @default 1 */
  readonly activePolls?: number;
}

/** A running fake Transfer API. */
export interface GlobusServer {
  /** Its base URL, as a rule's `api_url`. */
  readonly url: string;
  /** Every request, in order. */
  readonly requests: GlobusRequest[];
  /** The next submitted tasks fail with this fatal error. */
  failNext(error: { code: string; description: string } | undefined): void;
  /** The next submitted tasks stay ACTIVE until cancelled. */
  holdNext(hold: boolean): void;
  /** Stop it. */
  close(): Promise<void>;
}

interface Task {
  readonly id: string;
  status: "ACTIVE" | "SUCCEEDED" | "FAILED";
  nice: string;
  polls: number;
  bytes: number;
  fatal: { code: string; description: string } | null;
  readonly run: () => void;
  readonly hold: boolean;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });

/** Start the server on 127.0.0.1 and a free port. */
export function startGlobusServer(o: GlobusServerOptions): Promise<GlobusServer> {
  const requests: GlobusRequest[] = [];
  const tasks = new Map<string, Task>();
  const submissions = new Set<string>();
  let fail: { code: string; description: string } | undefined;
  let hold = false;
  let n = 0;
  const error = (status: number, code: string, message: string, resource: string) =>
    json(status, { code, message, request_id: `req${++n}`, resource });

  const transfer = (doc: Record<string, unknown>): Response => {
    const items = doc.DATA as { source_path: string; destination_path: string }[] | undefined;
    const src = o.endpoints[String(doc.source_endpoint)];
    const dst = o.endpoints[String(doc.destination_endpoint)];
    if (
      doc.DATA_TYPE !== "transfer" || !submissions.has(String(doc.submission_id)) ||
      !Array.isArray(items) || items.length !== 1 || doc.verify_checksum !== true
    ) {
      return error(400, "BadRequest", "Malformed transfer document", "/transfer");
    }
    if (src === undefined || dst === undefined) {
      return error(404, "ClientError.NotFound", "Endpoint not found", "/transfer");
    }
    const id = crypto.randomUUID();
    const item = items[0]!;
    const task: Task = {
      id,
      status: "ACTIVE",
      nice: "Queued",
      polls: 0,
      bytes: 0,
      fatal: fail ?? null,
      hold,
      run: () => {
        const from = join(src, item.source_path), to = join(dst, item.destination_path);
        try {
          Deno.mkdirSync(dirname(to), { recursive: true });
          Deno.copyFileSync(from, to);
          task.bytes = Deno.statSync(to).size;
          task.status = "SUCCEEDED";
          task.nice = "OK";
        } catch {
          task.status = "FAILED";
          task.fatal = { code: "FILE_NOT_FOUND", description: `No such file: ${item.source_path}` };
        }
      },
    };
    tasks.set(id, task);
    return json(202, {
      DATA_TYPE: "transfer_result",
      code: "Accepted",
      message:
        "The transfer has been accepted and a task has been created and queued for execution",
      request_id: `req${++n}`,
      resource: "/transfer",
      submission_id: doc.submission_id,
      task_id: id,
    });
  };

  const renamed = (endpoint: string, doc: Record<string, unknown>, path: string): Response => {
    const root = o.endpoints[endpoint];
    if (root === undefined) return error(404, "ClientError.NotFound", "Endpoint not found", path);
    if (doc?.DATA_TYPE !== "rename") return error(400, "BadRequest", "Malformed rename", path);
    try {
      Deno.renameSync(join(root, String(doc.old_path)), join(root, String(doc.new_path)));
    } catch {
      return error(404, "ClientError.NotFound", `No such file: ${String(doc.old_path)}`, path);
    }
    return json(200, {
      DATA_TYPE: "result",
      code: "FileRenamed",
      message: "File or directory renamed successfully",
      request_id: `req${++n}`,
      resource: path,
    });
  };

  const taskDoc = (t: Task) => {
    if (t.status === "ACTIVE" && !t.hold && ++t.polls > (o.activePolls ?? 1)) {
      if (t.fatal) {
        t.status = "FAILED";
        t.nice = t.fatal.code;
      } else t.run();
    }
    return json(200, {
      DATA_TYPE: "task",
      task_id: t.id,
      type: "TRANSFER",
      status: t.status,
      nice_status: t.status === "ACTIVE" ? t.nice : t.status === "SUCCEEDED" ? "OK" : t.nice,
      bytes_transferred: t.bytes,
      files: 1,
      fatal_error: t.status === "FAILED" ? t.fatal : null,
    });
  };

  const handle = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    const text = req.method === "POST" ? await req.text() : "";
    const body = text ? JSON.parse(text) : undefined;
    requests.push({
      method: req.method,
      path,
      authorization: req.headers.get("authorization"),
      ...(body !== undefined ? { body } : {}),
    });
    if (req.headers.get("authorization") !== `Bearer ${o.token}`) {
      return error(401, "AuthenticationFailed", "Token is not active", path);
    }
    if (req.method === "GET" && path === "/submission_id") {
      const value = crypto.randomUUID();
      submissions.add(value);
      return json(200, { DATA_TYPE: "submission_id", value });
    }
    if (req.method === "POST" && path === "/transfer") return transfer(body ?? {});
    const rename = /^\/operation\/endpoint\/([^/]+)\/rename$/.exec(path);
    if (req.method === "POST" && rename) return renamed(decodeURIComponent(rename[1]!), body, path);
    const m = /^\/task\/([^/]+)(\/cancel)?$/.exec(path);
    const t = m ? tasks.get(decodeURIComponent(m[1]!)) : undefined;
    if (!m || !t) return error(404, "ClientError.NotFound", `Task not found`, path);
    if (req.method === "GET" && !m[2]) return taskDoc(t);
    if (req.method === "POST" && m[2]) {
      t.status = "FAILED";
      t.nice = "CANCELED";
      t.fatal = { code: "CANCELED", description: "canceled" };
      return json(200, {
        DATA_TYPE: "result",
        code: "Canceled",
        message: "The task has been cancelled successfully.",
        resource: path,
        request_id: `req${++n}`,
      });
    }
    return error(405, "ClientError.BadMethod", "Method not allowed", path);
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handle);
  return Promise.resolve({
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    failNext(e) {
      fail = e;
    },
    holdNext(h) {
      hold = h;
    },
    close: () => server.shutdown(),
  });
}
