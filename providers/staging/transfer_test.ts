/**
 * The transfer runtime's own guarantees, with scripted providers (the
 * protocols themselves are tested against real servers in their own files):
 * resume from the partial file, verification, atomic rename, the cache,
 * retries and their messages, concurrency limits.
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Limit } from "./limit.ts";
import { redactSecrets } from "../_shared/secrets.ts";
import { metaPath, partialPath, stageIn, stageOut } from "./transfer.ts";
import {
  type FetchRequest,
  type FetchResult,
  StagingError,
  type StagingProvider,
} from "./types.ts";

const DATA = new TextEncoder().encode("0123456789".repeat(1000));
const SHA = createHash("sha256").update(DATA).digest("hex");

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ferry-transfer-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** A provider that serves DATA, resuming from the partial, with scripted failures per call. */
function scripted(
  script: ((r: FetchRequest, call: number) => Promise<FetchResult | undefined>)[] = [],
) {
  const offsets: number[] = [];
  const provider: StagingProvider = {
    name: "fake",
    async fetch(r) {
      const call = offsets.length;
      let offset = 0;
      try {
        offset = Deno.statSync(r.partial).size;
      } catch { /* none */ }
      offsets.push(offset);
      const step = script[call];
      const scriptedResult = step ? await step(r, call) : undefined;
      if (scriptedResult) return scriptedResult;
      using f = await Deno.open(r.partial, { write: true, create: true, append: true });
      await f.write(DATA.subarray(offset));
      return { status: "fetched", validators: { size: DATA.length, etag: '"v1"' } };
    },
  };
  return { provider, offsets };
}

/** A step that writes `n` more bytes, then fails like a dropped connection. */
const drop = (n: number) => async (r: FetchRequest) => {
  let offset = 0;
  try {
    offset = Deno.statSync(r.partial).size;
  } catch { /* none */ }
  using f = await Deno.open(r.partial, { write: true, create: true, append: true });
  await f.write(DATA.subarray(offset, offset + n));
  throw new StagingError("connection reset by peer", { retryable: true });
};

Deno.test("stageIn resumes from what earlier attempts wrote and renames only when complete", async () => {
  await withDir(async (dir) => {
    const dest = join(dir, "x.bin");
    const { provider, offsets } = scripted([drop(3000), drop(2500)]);
    const r = await stageIn(provider, { url: "fake://h/x.bin", dest, options: {}, retryBaseMs: 1 });
    assert.deepEqual(offsets, [0, 3000, 5500]);
    assert.equal(r.attempts, 3);
    assert.equal(r.reused, false);
    assert.deepEqual(await Deno.readFile(dest), DATA);
    assert.equal(exists(partialPath(dest)), false);
    assert.equal(JSON.parse(Deno.readTextFileSync(metaPath(dest))).validators.etag, '"v1"');
  });
});

Deno.test("stageIn gives up with one message naming the URL, the provider and the last error; no final file", async () => {
  await withDir(async (dir) => {
    const dest = join(dir, "x.bin");
    const { provider, offsets } = scripted([drop(10), drop(10), drop(10)]);
    await assert.rejects(
      stageIn(provider, { url: "fake://h/x.bin", dest, options: { retries: 2 }, retryBaseMs: 1 }),
      {
        name: "StagingError",
        message:
          'Cannot fetch "fake://h/x.bin" with fake after 3 attempt(s): connection reset by peer',
      },
    );
    assert.equal(offsets.length, 3);
    assert.equal(exists(dest), false);
    // What arrived stays as the resume point of a later run.
    assert.equal(Deno.statSync(partialPath(dest)).size, 30);
  });
});

Deno.test("stageIn stops at once on an error that retrying cannot fix", async () => {
  await withDir(async (dir) => {
    const dest = join(dir, "x.bin");
    const { provider, offsets } = scripted([() => {
      throw new StagingError("HTTP 404 Not Found from h", { retryable: false });
    }]);
    await assert.rejects(
      stageIn(provider, { url: "fake://h/x.bin", dest, options: {}, retryBaseMs: 1 }),
      {
        message:
          'Cannot fetch "fake://h/x.bin" with fake after 1 attempt(s): HTTP 404 Not Found from h',
      },
    );
    assert.equal(offsets.length, 1);
    assert.equal(exists(dest), false);
  });
});

Deno.test("stageIn verifies a declared checksum: a mismatch discards the copy and tries again", async () => {
  await withDir(async (dir) => {
    const dest = join(dir, "x.bin");
    const corrupt = async (r: FetchRequest) => {
      const bad = DATA.slice();
      bad[5] = 0;
      await Deno.writeFile(r.partial, bad);
      return { status: "fetched" as const, validators: { size: DATA.length } };
    };
    const { provider, offsets } = scripted([corrupt]);
    const r = await stageIn(provider, {
      url: "fake://h/x.bin",
      dest,
      options: {},
      checksum: `sha256:${SHA}`,
      retryBaseMs: 1,
    });
    // The corrupt copy was not resumed from: the second attempt started at zero.
    assert.deepEqual(offsets, [0, 0]);
    assert.equal(r.sha256, SHA);
    assert.deepEqual(await Deno.readFile(dest), DATA);

    const always = scripted([corrupt, corrupt]);
    const dest2 = join(dir, "y.bin");
    await assert.rejects(
      stageIn(always.provider, {
        url: "fake://h/y.bin",
        dest: dest2,
        options: { retries: 1 },
        checksum: `sha256:${SHA}`,
        retryBaseMs: 1,
      }),
      (e: Error) => {
        assert.match(
          e.message,
          /^Cannot fetch "fake:\/\/h\/y\.bin" with fake after 2 attempt\(s\): checksum mismatch: the workflow's checksum is sha256:[0-9a-f]{64}, the file has sha256:[0-9a-f]{64}$/,
        );
        return true;
      },
    );
    assert.equal(exists(dest2), false);
    assert.equal(exists(partialPath(dest2)), false);
  });
});

Deno.test("stageIn checks the size the server announced and the server's own digest", async () => {
  await withDir(async (dir) => {
    const dest = join(dir, "x.bin");
    const { provider } = scripted([
      async (r) => {
        await Deno.writeFile(r.partial, DATA.subarray(0, 100));
        return { status: "fetched", validators: { size: DATA.length } };
      },
      async (r) => {
        await Deno.writeFile(r.partial, DATA);
        return { status: "fetched", validators: { size: DATA.length, digest: "md5:00" } };
      },
    ]);
    await assert.rejects(
      stageIn(provider, { url: "fake://h/x.bin", dest, options: { retries: 1 }, retryBaseMs: 1 }),
      (e: Error) => {
        assert.match(
          e.message,
          /after 2 attempt\(s\): checksum mismatch: the server's digest is md5:00, the file has md5:[0-9a-f]{32}$/,
        );
        return true;
      },
    );
    assert.equal(exists(dest), false);
  });
});

Deno.test("a cached copy is reused when the provider says unchanged, or with no request when its checksum is pinned", async () => {
  await withDir(async (dir) => {
    const dest = join(dir, "x.bin");
    const url = "fake://h/x.bin";
    await stageIn(scripted().provider, { url, dest, options: {}, checksum: `sha256:${SHA}` });
    let asked = 0;
    const unchanged: StagingProvider = {
      name: "fake",
      fetch(r) {
        asked++;
        assert.deepEqual(r.previous, { size: DATA.length, etag: '"v1"' });
        return Promise.resolve({ status: "unchanged", validators: { etag: '"v1"' } });
      },
    };
    const pinned = await stageIn(unchanged, { url, dest, options: {}, checksum: `sha256:${SHA}` });
    assert.deepEqual([pinned.reused, pinned.attempts, asked], [true, 0, 0]);
    const again = await stageIn(unchanged, { url, dest, options: {} });
    assert.deepEqual([again.reused, again.attempts, asked], [true, 1, 1]);
    // An edited copy is not trusted: its size differs from the record, so it is fetched afresh.
    await Deno.writeTextFile(dest, "edited");
    const { provider, offsets } = scripted();
    const fresh = await stageIn(provider, { url, dest, options: {} });
    assert.deepEqual([fresh.reused, offsets], [false, [0]]);
    assert.deepEqual(await Deno.readFile(dest), DATA);
  });
});

Deno.test("stageOut retries and reports a size the server disagrees with", async () => {
  await withDir(async (dir) => {
    const source = join(dir, "out.bin");
    await Deno.writeFile(source, DATA);
    let calls = 0;
    const flaky: StagingProvider = {
      name: "fake",
      put(r) {
        calls++;
        if (calls === 1) throw new Error("socket hang up");
        return Promise.resolve({ validators: { size: calls === 2 ? 10 : r.size } });
      },
    };
    const r = await stageOut(flaky, {
      url: "fake://h/out.bin",
      source,
      options: {},
      retryBaseMs: 1,
    });
    assert.deepEqual([r.attempts, r.bytes], [3, DATA.length]);
    const never: StagingProvider = {
      name: "fake",
      put: () => Promise.resolve({ validators: { size: 1 } }),
    };
    await assert.rejects(
      stageOut(never, { url: "fake://h/o", source, options: { retries: 0 }, retryBaseMs: 1 }),
      {
        message:
          `Cannot upload "${source}" to "fake://h/o" with fake after 1 attempt(s): the server has 1 bytes, the file has 10000`,
      },
    );
    await assert.rejects(
      stageOut({ name: "ro", fetch: scripted().provider.fetch! }, {
        url: "fake://h/o",
        source,
        options: {},
      }),
      { message: 'Cannot upload to "fake://h/o" with ro: this provider can only stage in' },
    );
  });
});

Deno.test("secrets read through the context never reach a message", async () => {
  await withDir(async (dir) => {
    Deno.env.set("FERRY_TEST_SECRET", "s3cr3t-value");
    const leaky: StagingProvider = {
      name: "fake",
      fetch(r) {
        const pw = r.secret("FERRY_TEST_SECRET");
        throw new StagingError(`login failed for ftp://ann:${pw}@h/ with password ${pw}`, {
          retryable: false,
        });
      },
    };
    await assert.rejects(
      stageIn(leaky, { url: "fake://h/x", dest: join(dir, "x"), options: {} }),
      {
        message:
          'Cannot fetch "fake://h/x" with fake after 1 attempt(s): login failed for ftp://ann:***@h/ with password ***',
      },
    );
    assert.equal(redactSecrets("token=s3cr3t-value"), "token=***");
    Deno.env.delete("FERRY_TEST_SECRET");
  });
});

Deno.test("Limit holds at most its size at once and serves waiters in order", async () => {
  const limit = new Limit(2);
  let now = 0, peak = 0;
  const order: number[] = [];
  await Promise.all(
    [0, 1, 2, 3, 4, 5].map((i) =>
      limit.run(async () => {
        now++;
        peak = Math.max(peak, now);
        order.push(i);
        await new Promise((r) => setTimeout(r, 5));
        now--;
      })
    ),
  );
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  const c = new AbortController();
  const busy = new Limit(1);
  await busy.acquire();
  const waiting = busy.acquire(c.signal);
  c.abort(new Error("stop"));
  await assert.rejects(waiting, { message: "stop" });
  busy.release();
  await busy.acquire(); // the aborted waiter left the queue: the slot is free
});
