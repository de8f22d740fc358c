/**
 * A fault-injecting HTTP(S) file server for tests and benchmarks, on 127.0.0.1
 * with a random free port. It serves files from memory or a directory with
 * ETag, Last-Modified, Content-Length, ranges (206, If-Range, 416) and
 * conditional requests (304), and misbehaves on demand, per path: dropped
 * connections, 5xx answers, trickles, lying Content-Length, content that
 * changes between requests, redirects, required Authorization. It records
 * every request with its Range and If-* headers, so tests can assert that a
 * resume really happened.
 *
 * Run it alone to serve a directory: `deno run -A tests/_http_server.ts DIR`
 * (prints `http://127.0.0.1:PORT` on its first line).
 * @module
 */

import { createHash } from "node:crypto";
import { join, normalize } from "node:path";

/**
 * A misbehaviour for one path. `times`: it applies to the first N requests to
 * the path made after it was set (default: all of them).
 */
export type Fault =
  /** Answer this status (e.g. 500) with a short text body. */
  | {
    readonly kind: "status";
    readonly status: number;
    readonly times?: number;
    readonly headers?: Record<string, string>;
  }
  /** Send the headers and `afterBytes` bytes of the body, then close the connection. */
  | { readonly kind: "drop"; readonly afterBytes: number; readonly times?: number }
  /** Send the body slowly: `chunk` bytes (default 1) at a time, `bytesPerSecond` on average. */
  | {
    readonly kind: "trickle";
    readonly bytesPerSecond: number;
    readonly chunk?: number;
    readonly times?: number;
  }
  /** Claim `extraBytes` more in Content-Length than the body has, send the body, close. */
  | { readonly kind: "lie"; readonly extraBytes: number; readonly times?: number }
  /** After `afterRequests` requests (default 1) to this path, its content becomes `body` (new ETag and Last-Modified). */
  | { readonly kind: "change"; readonly body: Uint8Array; readonly afterRequests?: number }
  /** Redirect to `location` (absolute, or relative to this server) with `status` (default 302). */
  | {
    readonly kind: "redirect";
    readonly location: string;
    readonly status?: number;
    readonly times?: number;
  }
  /** Answer a range request with a 206 from byte 0, whatever was asked (a broken server). */
  | { readonly kind: "wrongRange"; readonly times?: number }
  /** Answer 401 unless the Authorization header is exactly `authorization`. */
  | { readonly kind: "auth"; readonly authorization: string };

/** What the server saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly range: string | null;
  readonly ifRange: string | null;
  readonly ifNoneMatch: string | null;
  readonly ifModifiedSince: string | null;
  readonly authorization: string | null;
  readonly acceptEncoding: string | null;
  /** The status answered. */
  status: number;
}

/** Server options. */
export interface HttpServerOptions {
  /** Files served from memory, by path (`/data/a.bin`). */
  readonly files?: Readonly<Record<string, Uint8Array | string>>;
  /** A directory served for paths not in `files`. */
  readonly dir?: string;
  /** Send ETags. @default true */
  readonly etag?: boolean;
  /** Send Last-Modified. @default true */
  readonly lastModified?: boolean;
  /** Honour Range requests. @default true */
  readonly ranges?: boolean;
  /** Honour If-Range (false: a broken server that sends the range of whatever it has now). @default true */
  readonly ifRange?: boolean;
  /** Send a digest of the whole file in this header. @default none */
  readonly digest?: "repr-digest" | "digest" | "content-md5";
  /** Port to listen on. @default a free one */
  readonly port?: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  readonly tls?: { readonly cert: string; readonly key: string };
}

interface Entry {
  /** The content, for files served from memory. */
  body?: Uint8Array<ArrayBuffer>;
  /** The file, for files served from the directory. */
  file?: string;
  size: number;
  etag: string;
  lastModified: string;
}

/** A running test server. */
export interface TestHttpServer {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT` (`https:` with `tls`). */
  readonly origin: string;
  /** Every request so far, oldest first. */
  readonly requests: SeenRequest[];
  /** The most fault-shaped responses (drop, trickle, lie) that were in flight at once. */
  readonly peakFaulty: number;
  /** The full URL of `path`. */
  url(path: string): string;
  /** Requests to `path`. */
  requestsFor(path: string): SeenRequest[];
  /** Serve `body` at `path` (a new ETag and a later Last-Modified when it changes). */
  setFile(path: string, body: Uint8Array | string): void;
  /** The bytes served at `path` now. */
  file(path: string): Uint8Array;
  /** Add faults to `path` (they apply in the order given, each for its `times`). */
  fault(path: string, ...faults: Fault[]): void;
  /** Remove every fault, and forget the requests seen. */
  reset(): void;
  /** Stop: ends slow responses, closes connections. */
  close(): Promise<void>;
}

const enc = new TextEncoder();

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function b64(hash: string, bytes: Uint8Array): string {
  return createHash(hash).update(bytes).digest("base64");
}

/** Start a server. */
export function startHttpServer(options: HttpServerOptions = {}): Promise<TestHttpServer> {
  const { etag = true, lastModified = true, ranges = true, ifRange: checkIfRange = true, digest } =
    options;
  const files = new Map<string, Entry>();
  const faults = new Map<string, { fault: Fault; used: number }[]>();
  const requests: SeenRequest[] = [];
  let streaming = 0; // fault-shaped responses in flight
  let peak = 0;
  const live = new AbortController(); // ends trickles and stalls at close()
  let clock = Date.UTC(2026, 0, 1) / 1000;

  function entry(body: Uint8Array<ArrayBuffer>): Entry {
    clock += 1; // every version gets a later Last-Modified
    const tag = `"${createHash("sha256").update(body).digest("hex").slice(0, 16)}"`;
    return {
      body,
      size: body.length,
      etag: tag,
      lastModified: new Date(clock * 1000).toUTCString(),
    };
  }
  const setFile = (path: string, body: Uint8Array | string) =>
    void files.set(path, entry(typeof body === "string" ? enc.encode(body) : new Uint8Array(body)));
  for (const [p, b] of Object.entries(options.files ?? {})) setFile(p, b);

  /** The faults applying to this request (each consumes one of its `times`). */
  function activeFaults(path: string, count: number): Fault[] {
    const out: Fault[] = [];
    for (const f of faults.get(path) ?? []) {
      if (f.fault.kind === "change") {
        if (count >= (f.fault.afterRequests ?? 1) && f.used === 0) {
          f.used = 1;
          setFile(path, f.fault.body);
        }
        continue;
      }
      const times = "times" in f.fault ? f.fault.times ?? Infinity : Infinity;
      if (f.used < times) {
        f.used++;
        out.push(f.fault);
      }
    }
    return out;
  }

  async function load(path: string): Promise<Entry | undefined> {
    const mem = files.get(path);
    if (mem || !options.dir) return mem;
    const file = join(options.dir, normalize(path));
    if (!file.startsWith(options.dir)) return undefined;
    try {
      const st = await Deno.stat(file);
      if (!st.isFile) return undefined;
      const mtime = st.mtime?.getTime() ?? 0;
      return {
        file,
        size: st.size,
        etag: `"${st.size.toString(16)}-${mtime.toString(16)}"`,
        lastModified: new Date(mtime).toUTCString(),
      };
    } catch {
      return undefined;
    }
  }

  function text(status: number, msg: string, headers: Record<string, string> = {}): Response {
    return new Response(msg, { status, headers: { "content-type": "text/plain", ...headers } });
  }

  /** Bytes `start..end` (inclusive) of a file: a stream for directory files. */
  async function content(
    f: Entry,
    start: number,
    end: number,
    whole: boolean,
  ): Promise<Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>> {
    if (f.body) return f.body.subarray(start, end + 1);
    const file = await Deno.open(f.file!);
    if (whole) {
      using _ = file;
      const buf = new Uint8Array(end + 1 - start);
      await file.seek(start, Deno.SeekMode.Start);
      for (let got = 0; got < buf.length;) {
        got += (await file.read(buf.subarray(got))) ?? buf.length;
      }
      return buf;
    }
    if (start > 0) await file.seek(start, Deno.SeekMode.Start);
    if (end === f.size - 1) return file.readable;
    let left = end + 1 - start;
    return file.readable.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          if (left > 0) c.enqueue(chunk.subarray(0, Math.min(left, chunk.length)));
          left -= chunk.length;
        },
      }),
    );
  }

  async function handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    const count = requests.filter((r) => r.path === path).length;
    const active = activeFaults(path, count);
    for (const f of active) {
      if (f.kind === "auth" && req.headers.get("authorization") !== f.authorization) {
        return text(401, "authorization required\n", { "www-authenticate": 'Basic realm="test"' });
      }
      if (f.kind === "status") return text(f.status, `status ${f.status}\n`, f.headers);
      if (f.kind === "redirect") {
        return new Response(null, { status: f.status ?? 302, headers: { location: f.location } });
      }
    }
    const file = await load(path);
    if (!file) return text(404, "not found\n");
    const h = new Headers({ "content-type": "application/octet-stream" });
    if (etag) h.set("etag", file.etag);
    if (lastModified) h.set("last-modified", file.lastModified);
    if (ranges) h.set("accept-ranges", "bytes");
    const inm = req.headers.get("if-none-match");
    const ims = req.headers.get("if-modified-since");
    const notModified = inm !== null
      ? etag && inm.split(",").some((t) => t.trim().replace(/^W\//, "") === file.etag)
      : ims !== null && lastModified && Date.parse(file.lastModified) <= Date.parse(ims);
    if (notModified) return new Response(null, { status: 304, headers: h });
    const size = file.size;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = ranges ? /^bytes=(\d+)-(\d*)$/.exec(req.headers.get("range") ?? "") : null;
    const ifRange = req.headers.get("if-range");
    const rangeHolds = ifRange === null || !checkIfRange ||
      (etag && ifRange === file.etag) || (lastModified && ifRange === file.lastModified);
    if (range && rangeHolds) {
      start = active.some((f) => f.kind === "wrongRange") ? 0 : Number(range[1]);
      if (range[2]) end = Math.min(end, Number(range[2]));
      if (start >= size) {
        h.set("content-range", `bytes */${size}`);
        return new Response(null, { status: 416, headers: h });
      }
      status = 206;
      h.set("content-range", `bytes ${start}-${end}/${size}`);
    }
    const whole = file.body;
    if (whole && digest === "repr-digest") {
      h.set("repr-digest", `sha-256=:${b64("sha256", whole)}:`);
    }
    if (whole && digest === "digest") h.set("digest", `SHA-256=${b64("sha256", whole)}`);
    if (whole && digest === "content-md5" && status === 200) {
      h.set("content-md5", b64("md5", whole));
    }
    const lie = active.find((f) => f.kind === "lie");
    const drop = active.find((f) => f.kind === "drop");
    const trickle = active.find((f) => f.kind === "trickle");
    const length = end + 1 - start;
    h.set("content-length", String(length + (lie?.kind === "lie" ? lie.extraBytes : 0)));
    if (req.method === "HEAD") return new Response(null, { status, headers: h });
    if (!drop && !trickle && !lie) {
      return new Response(await content(file, start, end, false), { status, headers: h });
    }
    const body = await content(file, start, end, true) as Uint8Array<ArrayBuffer>;
    const limit = drop?.kind === "drop" ? Math.min(drop.afterBytes, body.length) : body.length;
    const step = trickle?.kind === "trickle" ? trickle.chunk ?? 1 : 64 << 10;
    const pause = trickle?.kind === "trickle" ? (1000 * step) / trickle.bytesPerSecond : 0;
    const cancelled = new AbortController(); // the client went away
    const gone = AbortSignal.any([live.signal, cancelled.signal]);
    let sent = 0;
    let open = true;
    const finish = () => {
      if (open) streaming--;
      open = false;
    };
    peak = Math.max(peak, ++streaming);
    // Closing the stream before Content-Length bytes makes the server drop the connection.
    const stream = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent > 0 && pause > 0) await delay(pause, gone);
        if (sent >= limit || gone.aborted) {
          finish();
          return c.close();
        }
        const n = Math.min(step, limit - sent);
        c.enqueue(body.slice(sent, sent + n));
        sent += n;
      },
      cancel() {
        cancelled.abort();
        finish();
      },
    });
    return new Response(stream, { status, headers: h });
  }

  let resolveReady!: (port: number) => void;
  const ready = new Promise<number>((r) => (resolveReady = r));
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    ...(options.tls ?? {}),
    onListen: (addr) => resolveReady(addr.port),
    onError: (e) => text(500, `test server error: ${(e as Error).message}\n`),
  }, async (req) => {
    const url = new URL(req.url);
    const seen: SeenRequest = {
      method: req.method,
      path: url.pathname,
      range: req.headers.get("range"),
      ifRange: req.headers.get("if-range"),
      ifNoneMatch: req.headers.get("if-none-match"),
      ifModifiedSince: req.headers.get("if-modified-since"),
      authorization: req.headers.get("authorization"),
      acceptEncoding: req.headers.get("accept-encoding"),
      status: 0,
    };
    const res = await handle(req);
    seen.status = res.status;
    requests.push(seen);
    return res;
  });

  return ready.then((port) => {
    const origin = `${options.tls ? "https" : "http"}://127.0.0.1:${port}`;
    return {
      host: `127.0.0.1:${port}`,
      port,
      origin,
      requests,
      get peakFaulty() {
        return peak;
      },
      url: (path) => `${origin}${path}`,
      requestsFor: (path) => requests.filter((r) => r.path === path),
      setFile,
      file: (path) => files.get(path)?.body ?? new Uint8Array(),
      fault(path, ...fs) {
        faults.set(path, [...(faults.get(path) ?? []), ...fs.map((fault) => ({ fault, used: 0 }))]);
      },
      reset() {
        faults.clear();
        requests.length = 0;
        peak = 0;
      },
      async close() {
        live.abort();
        await server.shutdown();
      },
    };
  });
}

if (import.meta.main) {
  const dir = Deno.args[0];
  if (!dir) {
    console.error("usage: deno run -A tests/_http_server.ts DIR [PORT]");
    Deno.exit(2);
  }
  const s = await startHttpServer({ dir, ...(Deno.args[1] ? { port: Number(Deno.args[1]) } : {}) });
  console.log(s.origin);
}

/** A CA and a certificate for 127.0.0.1 signed by it, made with openssl in `dir`. */
export async function certificates(
  dir: string,
): Promise<{ ca: string; cert: string; key: string }> {
  const run = async (...args: string[]) => {
    const r = await new Deno.Command("openssl", { args, cwd: dir, stderr: "piped" }).output();
    if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=ferry test CA",
  );
  await run("req", ...ec, "-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1");
  await Deno.writeTextFile(
    join(dir, "ext.cnf"),
    "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await run(
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "cert.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
  return {
    ca: join(dir, "ca.pem"),
    cert: await Deno.readTextFile(join(dir, "cert.pem")),
    key: await Deno.readTextFile(join(dir, "key.pem")),
  };
}
