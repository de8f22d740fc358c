import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  certificates,
  type HttpServerOptions,
  startHttpServer,
  type TestHttpServer,
} from "../../tests/_http_server.ts";
import { httpStaging } from "./http.ts";
import { partialPath, stageIn } from "./transfer.ts";
import { type FetchRequest, StagingError, type Validators } from "./types.ts";
import type { ParamValue } from "../../dsl/model.ts";
import { exists, haveService, sha256 } from "../../tests/_services.ts";

const SIZE = 1_000_003; // not a multiple of any buffer size
const DATA = new Uint8Array(SIZE).map((_, i) => (i * 7919 + (i >> 9)) & 255);
const OTHER = DATA.map((b) => b ^ 0x5a);

/** Run `f` with a server and a temporary directory, both removed after. */
async function withServer(
  options: HttpServerOptions,
  f: (s: TestHttpServer, dir: string) => Promise<void>,
): Promise<void> {
  const server = await startHttpServer({ files: { "/data.bin": DATA }, ...options });
  const dir = await Deno.makeTempDir({ prefix: "ferry-http-test-" });
  try {
    await f(server, dir);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

interface Call {
  options?: Record<string, ParamValue>;
  previous?: Validators;
  env?: Record<string, string>;
  signal?: AbortSignal;
}

/** Call the provider directly, as the runtime would for one attempt. */
function fetchOnce(url: string, partial: string, call: Call = {}) {
  const progress: number[] = [];
  const req: FetchRequest = {
    url,
    partial,
    options: call.options ?? {},
    signal: call.signal ?? new AbortController().signal,
    progress: (bytes) => progress.push(bytes),
    secret: (name) => call.env?.[name],
    ...(call.previous ? { previous: call.previous } : {}),
  };
  return { result: httpStaging().fetch!(req), progress };
}

/** What a failing promise was rejected with. */
async function failure(p: Promise<unknown>): Promise<StagingError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof StagingError, `not a StagingError: ${e}`);
    return e;
  }
  assert.fail("expected a failure");
}

const stage = (url: string, dest: string, more: Partial<Parameters<typeof stageIn>[1]> = {}) =>
  stageIn(httpStaging(), { url, dest, options: {}, retries: 3, retryBaseMs: 0, ...more });

Deno.test("httpStaging() fetches a file with its exact bytes and validators", async () => {
  await withServer({}, async (s, dir) => {
    const partial = join(dir, "data.bin.ferry-part");
    const { result, progress } = fetchOnce(s.url("/data.bin"), partial);
    const r = await result;
    assert.equal(r.status, "fetched");
    const file = s.file("/data.bin");
    assert.deepEqual(await Deno.readFile(partial), DATA);
    assert.equal(r.validators.size, SIZE);
    assert.match(r.validators.etag ?? "", /^"[0-9a-f]{16}"$/);
    assert.equal(r.validators.lastModified, new Date(Date.UTC(2026, 0, 1, 0, 0, 1)).toUTCString());
    assert.equal(r.validators.digest, undefined);
    assert.equal(progress.at(-1), SIZE);
    assert.equal(exists(`${partial}.http.json`), false);
    assert.equal(file.length, SIZE);
    assert.deepEqual(s.requests.map((q) => [q.range, q.ifRange, q.status]), [[null, null, 200]]);
    // Compressed bodies would break both the length check and ranges.
    assert.equal(s.requests[0]!.acceptEncoding, "identity");
  });
});

Deno.test("stageIn() with http puts the whole file at its final path", async () => {
  await withServer({}, async (s, dir) => {
    const dest = join(dir, "sub", "data.bin");
    const r = await stage(s.url("/data.bin"), dest);
    assert.equal(r.bytes, SIZE);
    assert.equal(r.attempts, 1);
    assert.equal(r.reused, false);
    assert.equal(sha256(await Deno.readFile(dest)), sha256(DATA));
    assert.equal(exists(partialPath(dest)), false);
    assert.equal(exists(`${partialPath(dest)}.http.json`), false);
  });
});

Deno.test("httpStaging() keeps the bytes of a dropped connection and resumes from them", async () => {
  await withServer({}, async (s, dir) => {
    s.fault("/data.bin", { kind: "drop", afterBytes: 300_000, times: 1 });
    const partial = join(dir, "p");
    const e = await failure(fetchOnce(s.url("/data.bin"), partial).result);
    assert.equal(e.message, `Connection to ${s.host} closed after 300000 of ${SIZE} bytes`);
    assert.equal(e.retryable, true);
    assert.deepEqual(await Deno.readFile(partial), DATA.subarray(0, 300_000));
    assert.ok(exists(`${partial}.http.json`));
    const r = await fetchOnce(s.url("/data.bin"), partial).result;
    assert.equal(r.status, "fetched");
    assert.equal(sha256(await Deno.readFile(partial)), sha256(DATA));
    assert.deepEqual(s.requests.map((q) => [q.range, q.ifRange, q.status]), [
      [null, null, 200],
      ["bytes=300000-", r.validators.etag, 206],
    ]);
    assert.equal(exists(`${partial}.http.json`), false);
  });
});

Deno.test("stageIn() with http resumes after a dropped connection", async () => {
  await withServer({}, async (s, dir) => {
    s.fault("/data.bin", { kind: "drop", afterBytes: 123_456, times: 2 });
    const dest = join(dir, "data.bin");
    const r = await stage(s.url("/data.bin"), dest);
    assert.equal(r.attempts, 3);
    assert.equal(sha256(await Deno.readFile(dest)), sha256(DATA));
    assert.deepEqual(s.requests.map((q) => [q.range, q.status]), [
      [null, 200],
      ["bytes=123456-", 206],
      ["bytes=246912-", 206],
    ]);
  });
});

Deno.test("stageIn() with http retries 500 answers until one succeeds", async () => {
  await withServer({}, async (s, dir) => {
    s.fault("/data.bin", { kind: "status", status: 500, times: 2 });
    const dest = join(dir, "data.bin");
    const r = await stage(s.url("/data.bin"), dest);
    assert.equal(r.attempts, 3);
    assert.deepEqual(s.requests.map((q) => q.status), [500, 500, 200]);
    assert.deepEqual(await Deno.readFile(dest), DATA);
  });
});

Deno.test("stageIn() with http gives up when the retries run out", async () => {
  await withServer({}, async (s, dir) => {
    s.fault("/data.bin", { kind: "status", status: 503 });
    const dest = join(dir, "data.bin");
    const e = await failure(stage(s.url("/data.bin"), dest, { retries: 2 }));
    assert.equal(
      e.message,
      `Cannot fetch "${
        s.url("/data.bin")
      }" with http after 3 attempt(s): HTTP 503 Service Unavailable from ${s.host}`,
    );
    assert.equal(s.requests.length, 3);
    assert.equal(exists(dest), false);
  });
});

Deno.test("stageIn() with http does not retry a 404 and says so exactly", async () => {
  await withServer({}, async (s, dir) => {
    const dest = join(dir, "x");
    const e = await failure(stage(s.url("/x"), dest));
    assert.equal(
      e.message,
      `Cannot fetch "http://${s.host}/x" with http after 1 attempt(s): HTTP 404 Not Found from ${s.host}`,
    );
    assert.equal(e.retryable, false);
    assert.equal(s.requests.length, 1);
    assert.equal(exists(dest), false);
  });
});

Deno.test("httpStaging() rejects a body shorter than its Content-Length, then completes it", async () => {
  await withServer({}, async (s, dir) => {
    s.fault("/data.bin", { kind: "lie", extraBytes: 1000, times: 1 });
    const dest = join(dir, "data.bin");
    const e = await failure(stage(s.url("/data.bin"), dest, { retries: 0 }));
    assert.equal(
      e.message,
      `Cannot fetch "${
        s.url("/data.bin")
      }" with http after 1 attempt(s): Connection to ${s.host} closed after ${SIZE} of ${
        SIZE + 1000
      } bytes`,
    );
    assert.equal(exists(dest), false);
    assert.equal((await Deno.stat(partialPath(dest))).size, SIZE);
    // The partial file already holds the whole file: the server says so with a 416.
    const r = await stage(s.url("/data.bin"), dest);
    assert.equal(r.bytes, SIZE);
    assert.deepEqual(await Deno.readFile(dest), DATA);
    assert.deepEqual(s.requests.map((q) => [q.range, q.status]), [
      [null, 200],
      [`bytes=${SIZE}-`, 416],
    ]);
  });
});

Deno.test("httpStaging() abandons a stalled download after stall_timeout", async () => {
  await withServer({ files: { "/slow": "0123456789" } }, async (s, dir) => {
    s.fault("/slow", { kind: "trickle", bytesPerSecond: 2, chunk: 1 });
    const dest = join(dir, "slow");
    const started = performance.now();
    const e = await failure(
      stage(s.url("/slow"), dest, { retries: 0, options: { stall_timeout: 0.2 } }),
    );
    assert.ok(performance.now() - started < 2000);
    assert.equal(
      e.message,
      `Cannot fetch "${
        s.url("/slow")
      }" with http after 1 attempt(s): No data from ${s.host} for 0.2 s (stall_timeout)`,
    );
    assert.equal(exists(dest), false);
    assert.equal(await Deno.readTextFile(partialPath(dest)), "0");
  });
});

Deno.test("httpStaging() lets a slow but steady download finish: the stall timeout is per byte", async () => {
  await withServer({ files: { "/steady": DATA.subarray(0, 5000) } }, async (s, dir) => {
    // Ten chunks 100 ms apart: 0.9 s in all, twice the stall timeout.
    s.fault("/steady", { kind: "trickle", bytesPerSecond: 5000, chunk: 500 });
    const dest = join(dir, "steady");
    const started = performance.now();
    const r = await stage(s.url("/steady"), dest, { retries: 0, options: { stall_timeout: 0.45 } });
    assert.ok(performance.now() - started > 800, "the trickle took longer than the stall timeout");
    assert.equal(r.attempts, 1);
    assert.deepEqual(await Deno.readFile(dest), DATA.subarray(0, 5000));
  });
});

Deno.test("httpStaging() starts over when the file changed between attempts", async () => {
  await withServer({}, async (s, dir) => {
    s.fault(
      "/data.bin",
      { kind: "drop", afterBytes: 100_000, times: 1 },
      { kind: "change", body: OTHER, afterRequests: 1 },
    );
    const dest = join(dir, "data.bin");
    const r = await stage(s.url("/data.bin"), dest);
    assert.equal(r.attempts, 2);
    assert.equal(sha256(await Deno.readFile(dest)), sha256(OTHER));
    const [first, second] = s.requests;
    assert.equal(second!.range, "bytes=100000-");
    assert.notEqual(second!.ifRange, r.validators.etag);
    assert.equal(first!.status, 200);
    assert.equal(second!.status, 200);
    assert.equal(r.validators.etag, `"${sha256(OTHER).slice(0, 16)}"`);
  });
});

Deno.test("httpStaging() refuses a range of another version from a server ignoring If-Range", async () => {
  await withServer({ ifRange: false }, async (s, dir) => {
    s.fault(
      "/data.bin",
      { kind: "drop", afterBytes: 100_000, times: 1 },
      { kind: "change", body: OTHER, afterRequests: 1 },
    );
    const dest = join(dir, "data.bin");
    const e = await failure(stage(s.url("/data.bin"), dest, { retries: 1 }));
    assert.equal(
      e.message,
      `Cannot fetch "${
        s.url("/data.bin")
      }" with http after 2 attempt(s): ${s.host} sent part of another version of the file`,
    );
    assert.equal((await Deno.stat(partialPath(dest))).size, 0);
    assert.equal(exists(dest), false);
    const r = await stage(s.url("/data.bin"), dest);
    assert.deepEqual(await Deno.readFile(dest), OTHER);
    assert.equal(r.attempts, 1);
    assert.deepEqual(s.requests.map((q) => [q.range, q.status]), [
      [null, 200],
      ["bytes=100000-", 206],
      [null, 200],
    ]);
  });
});

Deno.test("httpStaging() starts over when a 206 does not start where it asked", async () => {
  await withServer({}, async (s, dir) => {
    s.fault(
      "/data.bin",
      { kind: "drop", afterBytes: 100_000, times: 1 },
      { kind: "wrongRange", times: 2 },
    );
    const partial = join(dir, "p");
    await failure(fetchOnce(s.url("/data.bin"), partial).result);
    const e = await failure(fetchOnce(s.url("/data.bin"), partial).result);
    assert.equal(e.message, `${s.host} sent bytes 0-, not from byte 100000`);
    assert.equal(e.retryable, true);
    assert.equal((await Deno.stat(partial)).size, 0);
    await fetchOnce(s.url("/data.bin"), partial).result;
    assert.deepEqual(await Deno.readFile(partial), DATA);
    assert.deepEqual(s.requests.map((q) => [q.range, q.status]), [
      [null, 200],
      ["bytes=100000-", 206],
      [null, 200],
    ]);
  });
});

Deno.test("httpStaging() starts over when the server ignores ranges", async () => {
  await withServer({ ranges: false }, async (s, dir) => {
    s.fault("/data.bin", { kind: "drop", afterBytes: 50_000, times: 1 });
    const dest = join(dir, "data.bin");
    const r = await stage(s.url("/data.bin"), dest);
    assert.equal(r.attempts, 2);
    assert.deepEqual(await Deno.readFile(dest), DATA);
    assert.deepEqual(s.requests.map((q) => [q.range, q.status]), [[null, 200], [
      "bytes=50000-",
      200,
    ]]);
  });
});

Deno.test("httpStaging() answers unchanged to a 304 and writes nothing", async () => {
  await withServer({}, async (s, dir) => {
    const dest = join(dir, "data.bin");
    const first = await stage(s.url("/data.bin"), dest);
    const again = await stage(s.url("/data.bin"), dest);
    assert.equal(again.reused, true);
    assert.equal(again.attempts, 1);
    assert.deepEqual(s.requests.map((q) => [q.ifNoneMatch, q.status]), [
      [null, 200],
      [first.validators.etag, 304],
    ]);
    assert.equal(exists(partialPath(dest)), false);
    // Provider level: nothing is written at all.
    const partial = join(dir, "p");
    const r = await fetchOnce(s.url("/data.bin"), partial, { previous: first.validators }).result;
    assert.deepEqual(r, { status: "unchanged", validators: first.validators });
    assert.equal(exists(partial), false);
  });
});

Deno.test("httpStaging() revalidates by Last-Modified when there is no ETag", async () => {
  await withServer({ etag: false }, async (s, dir) => {
    const dest = join(dir, "data.bin");
    const first = await stage(s.url("/data.bin"), dest);
    assert.equal(first.validators.etag, undefined);
    s.setFile("/data.bin", OTHER);
    const changed = await stage(s.url("/data.bin"), dest);
    assert.equal(changed.reused, false);
    assert.deepEqual(await Deno.readFile(dest), OTHER);
    const again = await stage(s.url("/data.bin"), dest);
    assert.equal(again.reused, true);
    assert.deepEqual(s.requests.map((q) => [q.ifModifiedSince, q.status]), [
      [null, 200],
      [first.validators.lastModified, 200],
      [changed.validators.lastModified, 304],
    ]);
  });
});

for (
  const [digest, expect] of [
    ["repr-digest", `sha256:${sha256(DATA)}`],
    ["digest", `sha256:${sha256(DATA)}`],
    ["content-md5", `md5:${createHash("md5").update(DATA).digest("hex")}`],
  ] as const
) {
  Deno.test(`httpStaging() keeps the server's ${digest} as validators.digest`, async () => {
    await withServer({ digest }, async (s, dir) => {
      const r = await stage(s.url("/data.bin"), join(dir, "data.bin"));
      assert.equal(r.validators.digest, expect);
    });
  });
}

Deno.test("httpStaging() keeps the first response's digest through a resume", async () => {
  await withServer({ digest: "content-md5" }, async (s, dir) => {
    s.fault("/data.bin", { kind: "drop", afterBytes: 10_000, times: 1 });
    const r = await stage(s.url("/data.bin"), join(dir, "data.bin"));
    assert.equal(r.attempts, 2);
    assert.equal(r.validators.digest, `md5:${createHash("md5").update(DATA).digest("hex")}`);
  });
});

const TOKEN = "tok-3f9a2c7e51d4";

Deno.test("httpStaging() sends credentials from the environment, in every form", async () => {
  await withServer({}, async (s, dir) => {
    const env = { FERRY_T: TOKEN, FERRY_P: "pässword" };
    const cases: [Record<string, ParamValue>, string][] = [
      [{ token_env: "FERRY_T" }, `Bearer ${TOKEN}`],
      [{ header_env: "FERRY_T" }, TOKEN],
      [{ user: "ann", password_env: "FERRY_P" }, "Basic YW5uOnDDpHNzd29yZA=="],
    ];
    for (const [options, header] of cases) {
      s.reset();
      s.fault("/data.bin", { kind: "auth", authorization: header });
      const partial = join(dir, "p");
      const r = await fetchOnce(s.url("/data.bin"), partial, { options, env }).result;
      assert.equal(r.status, "fetched");
      assert.deepEqual(s.requests.map((q) => [q.authorization, q.status]), [[header, 200]]);
    }
  });
});

Deno.test("stageIn() with http never shows the secret, and names an unset variable", async () => {
  await withServer({}, async (s, dir) => {
    s.fault("/data.bin", { kind: "auth", authorization: "Bearer something-else" });
    const dest = join(dir, "data.bin");
    Deno.env.set("FERRY_HTTP_TEST_TOKEN", TOKEN);
    try {
      const e = await failure(
        stage(s.url("/data.bin"), dest, { options: { token_env: "FERRY_HTTP_TEST_TOKEN" } }),
      );
      assert.equal(
        e.message,
        `Cannot fetch "${
          s.url("/data.bin")
        }" with http after 1 attempt(s): HTTP 401 Unauthorized from ${s.host}`,
      );
      assert.equal(s.requests[0]!.authorization, `Bearer ${TOKEN}`);
      assert.ok(!e.message.includes(TOKEN) && !String(e.stack).includes(TOKEN));
    } finally {
      Deno.env.delete("FERRY_HTTP_TEST_TOKEN");
    }
    const e = await failure(
      stage(s.url("/data.bin"), dest, { options: { token_env: "FERRY_HTTP_TEST_TOKEN" } }),
    );
    assert.equal(
      e.message,
      `Cannot fetch "${
        s.url("/data.bin")
      }" with http after 1 attempt(s): Environment variable FERRY_HTTP_TEST_TOKEN (token_env) is not set`,
    );
    assert.equal(s.requests.length, 1);
    assert.equal(exists(dest), false);
  });
});

Deno.test("httpStaging() drops the Authorization header on a redirect to another origin", async () => {
  await withServer({}, async (s, dir) => {
    const other = await startHttpServer({ files: { "/there.bin": DATA } });
    try {
      s.fault("/here", { kind: "redirect", location: "/data.bin" });
      s.fault("/away", { kind: "redirect", location: other.url("/there.bin"), status: 307 });
      const env = { FERRY_T: TOKEN };
      const options = { token_env: "FERRY_T" };
      await fetchOnce(s.url("/here"), join(dir, "a"), { options, env }).result;
      await fetchOnce(s.url("/away"), join(dir, "b"), { options, env }).result;
      assert.deepEqual(s.requests.map((q) => [q.path, q.authorization, q.status]), [
        ["/here", `Bearer ${TOKEN}`, 302],
        ["/data.bin", `Bearer ${TOKEN}`, 200],
        ["/away", `Bearer ${TOKEN}`, 307],
      ]);
      assert.deepEqual(other.requests.map((q) => [q.path, q.authorization, q.status]), [
        ["/there.bin", null, 200],
      ]);
      assert.deepEqual(await Deno.readFile(join(dir, "b")), DATA);
    } finally {
      await other.close();
    }
  });
});

Deno.test("httpStaging() follows 10 redirects and refuses the 11th", async () => {
  await withServer({}, async (s, dir) => {
    for (let i = 0; i < 11; i++) {
      s.fault(`/r${i}`, { kind: "redirect", location: i === 10 ? "/data.bin" : `/r${i + 1}` });
    }
    const ok = await fetchOnce(s.url("/r1"), join(dir, "a")).result;
    assert.equal(ok.status, "fetched");
    const dest = join(dir, "b");
    const e = await failure(stage(s.url("/r0"), dest));
    assert.equal(
      e.message,
      `Cannot fetch "${
        s.url("/r0")
      }" with http after 1 attempt(s): Too many redirects from ${s.host} (more than 10)`,
    );
    assert.equal(exists(dest), false);
  });
});

Deno.test("httpStaging() stops at once when the run is cancelled", async () => {
  await withServer({}, async (s, dir) => {
    s.fault("/data.bin", { kind: "trickle", bytesPerSecond: 100, chunk: 10 });
    const stop = new AbortController();
    const partial = join(dir, "p");
    const pending = fetchOnce(s.url("/data.bin"), partial, { signal: stop.signal }).result;
    setTimeout(() => stop.abort(), 300);
    const started = performance.now();
    const e = await failure(pending);
    assert.ok(performance.now() - started < 1000);
    assert.equal(e.message, `Download from ${s.host} cancelled`);
    assert.equal(e.retryable, false);
    assert.ok((await Deno.stat(partial)).size >= 10);
  });
});

Deno.test("httpStaging() holds at most max_per_host downloads at once", async () => {
  await withServer({ files: { "/small": "0123456789" } }, async (s, dir) => {
    s.fault("/small", { kind: "trickle", bytesPerSecond: 100, chunk: 5 });
    const http = httpStaging();
    const calls = Array.from({ length: 6 }, (_, i) =>
      http.fetch!({
        url: s.url("/small"),
        partial: join(dir, `p${i}`),
        options: { max_per_host: 2 },
        signal: new AbortController().signal,
        progress: () => {},
        secret: () => undefined,
      }));
    await Promise.all(calls);
    assert.equal(s.requests.length, 6);
    assert.equal(s.peakFaulty, 2);
  });
});

Deno.test("httpStaging() explains bad options and unreachable servers", async () => {
  const partial = join(await Deno.makeTempDir(), "p");
  try {
    for (
      const [options, message] of [
        [
          { stall_timeout: "abc" },
          'Option stall_timeout must be a positive number of seconds, not "abc"',
        ],
        [{ max_per_host: 0 }, "Option max_per_host must be at least 1, not 0"],
        [{ user: "ann" }, "Option user needs password_env"],
        [
          { token_env: "A", header_env: "B" },
          "Options token_env and header_env each give the credentials: use only one",
        ],
      ] as const
    ) {
      const e = await failure(fetchOnce("http://127.0.0.1:9/x", partial, { options }).result);
      assert.equal(e.message, message);
      assert.equal(e.retryable, false);
    }
    const nowhere = join(partial, "..", "missing", "p");
    const local = await startHttpServer({ files: { "/x": "x" } });
    const w = await failure(fetchOnce(local.url("/x"), nowhere).result);
    await local.close();
    assert.match(w.message, /^Cannot write .*missing\/p: No such file or directory/);
    assert.equal(w.retryable, false);
    const s = await startHttpServer();
    const gone = s.url("/x");
    await s.close();
    const e = await failure(fetchOnce(gone, partial).result);
    assert.equal(
      e.message,
      `Cannot connect to ${s.host}: tcp connect error: Connection refused (os error 111)`,
    );
    assert.equal(e.retryable, true);
  } finally {
    await Deno.remove(join(partial, ".."), { recursive: true });
  }
});

Deno.test("httpStaging() does not resume a partial file it has no record of", async () => {
  await withServer({}, async (s, dir) => {
    const dest = join(dir, "data.bin");
    await Deno.writeFile(partialPath(dest), OTHER.subarray(0, 5000));
    const r = await stage(s.url("/data.bin"), dest);
    assert.equal(r.attempts, 1);
    assert.deepEqual(await Deno.readFile(dest), DATA);
    assert.deepEqual(s.requests.map((q) => [q.range, q.status]), [[null, 200]]);
  });
});

Deno.test("httpStaging() waits as long as Retry-After says before a retry", async () => {
  await withServer({}, async (s, dir) => {
    s.fault("/data.bin", {
      kind: "status",
      status: 429,
      times: 1,
      headers: { "retry-after": "1" },
    });
    const started = performance.now();
    const r = await stage(s.url("/data.bin"), join(dir, "data.bin"));
    assert.ok(performance.now() - started >= 1000);
    assert.equal(r.attempts, 2);
    assert.deepEqual(s.requests.map((q) => q.status), [429, 200]);
  });
});

Deno.test("httpStaging() refuses a redirect to another protocol", async () => {
  await withServer({}, async (s, dir) => {
    s.fault("/ftp", { kind: "redirect", location: "ftp://127.0.0.1/x" });
    const e = await failure(fetchOnce(s.url("/ftp"), join(dir, "p")).result);
    assert.equal(
      e.message,
      `${s.host} redirected to "ftp://127.0.0.1/x", which is not an http or https URL`,
    );
    assert.equal(e.retryable, false);
  });
});

const haveOpenssl = haveService("https", ["openssl"]);

Deno.test({
  name: "httpStaging() fetches over https trusting ca_file, and refuses an unknown issuer",
  ignore: !haveOpenssl,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ferry-https-test-" });
    const { ca, cert, key } = await certificates(dir);
    const s = await startHttpServer({ files: { "/data.bin": DATA }, tls: { cert, key } });
    const http = httpStaging();
    try {
      const dest = join(dir, "data.bin");
      const call = { url: s.url("/data.bin"), dest, retries: 0, retryBaseMs: 0 };
      const e = await failure(stageIn(http, { ...call, options: {} }));
      assert.equal(
        e.message,
        `Cannot fetch "https://${s.host}/data.bin" with http after 1 attempt(s): Cannot connect to ${s.host}: invalid peer certificate: UnknownIssuer`,
      );
      const r = await stageIn(http, { ...call, options: { ca_file: ca } });
      assert.equal(r.bytes, SIZE);
      assert.deepEqual(await Deno.readFile(dest), DATA);
      const missing = await failure(
        stageIn(http, { ...call, options: { ca_file: join(dir, "nope.pem") } }),
      );
      assert.match(missing.message, /: Cannot read ca_file .*nope\.pem: /);
    } finally {
      await http.close!();
      await s.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("httpStaging() reports progress as bytes land, and resumes a large file", async () => {
  const big = new Uint8Array(3 * 2 ** 20 + 5).map((_, i) => (i * 31 + (i >> 12)) & 255);
  await withServer({ files: { "/big": big } }, async (s, dir) => {
    s.fault("/big", { kind: "drop", afterBytes: 2_500_000, times: 1 });
    const partial = join(dir, "p");
    const first = fetchOnce(s.url("/big"), partial);
    await failure(first.result);
    // Written (and reported) in steps of at most 1 MiB, up to what arrived.
    const steps = (xs: number[], from: number) =>
      xs.map((x, i) => x - (i === 0 ? from : xs[i - 1]!)).every((d) => d > 0 && d <= 2 ** 20);
    assert.ok(first.progress.length >= 3 && steps(first.progress, 0), `${first.progress}`);
    assert.equal(first.progress.at(-1), 2_500_000);
    const again = fetchOnce(s.url("/big"), partial);
    await again.result;
    assert.ok(steps(again.progress, 2_500_000), `${again.progress}`);
    assert.equal(again.progress.at(-1), big.length);
    assert.equal(sha256(await Deno.readFile(partial)), sha256(big));
    assert.deepEqual(s.requests.map((q) => q.range), [null, "bytes=2500000-"]);
  });
});
