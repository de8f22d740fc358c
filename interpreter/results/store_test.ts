import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { sha256File } from "../../providers/staging/transfer.ts";
import type { SuccessRecord } from "../state.ts";
import { BlobMismatch, DirBackend } from "./backend.ts";
import { parseStoreUrl } from "./location.ts";
import { blobPath, entryPath, parseManifest } from "./manifest.ts";
import { gcStore, verifyStore } from "./maintain.ts";
import { ResultStore } from "./store.ts";

const KEY = "a".repeat(64);
const RAN = { run: "r1", started_at: 1, ended_at: 2 };

async function withDirs(fn: (ws: string, store: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "ferry-results-" });
  try {
    await Deno.mkdir(join(root, "ws"));
    await fn(join(root, "ws"), join(root, "store"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function storeOver(ws: string, dir: string): ResultStore {
  return new ResultStore(new DirBackend(`file://${dir}`, dir), {
    workspaceUrl: pathToFileURL(ws).href,
    hash: async (p) => {
      try {
        return { sha256: await sha256File(p), size: (await Deno.stat(p)).size };
      } catch {
        return undefined;
      }
    },
    retryBaseMs: 1,
  });
}

/** A success recording `files` (workspace-relative) as one file output each. */
function recordOf(ws: string, files: readonly string[], key = KEY): SuccessRecord {
  return {
    taskId: "t",
    key,
    parts: {},
    runId: "r1",
    attempt: 1,
    finishedAt: 2,
    outputs: files.map((f, i) => ({
      name: `o${i}`,
      url: pathToFileURL(join(ws, f)).href,
      size: 0,
      sha256: "",
    })),
  };
}

Deno.test("parseStoreUrl: each scheme's location, and bad URLs said with where they come from", () => {
  const ok = (u: string) => {
    const r = parseStoreUrl(u);
    assert.ok(r.ok, u);
    return r.location;
  };
  assert.deepEqual(
    { ...ok("sftp://me@h:2222/srv/c/") },
    {
      url: "sftp://me@h:2222/srv/c",
      scheme: "sftp",
      action: "sftp",
      readOnly: false,
      options: {},
    },
  );
  assert.equal(ok("rsync+ssh://h/srv/c").action, "rsync");
  assert.equal(ok("https://h/cache").readOnly, true);
  assert.equal(ok("file:///srv/a%20b").dir, "/srv/a b");
  const bad = (u: string) => {
    const r = parseStoreUrl(u, {}, "site.yaml, store");
    assert.ok(!r.ok, u);
    return r.message;
  };
  assert.equal(
    bad("file:///"),
    'Cannot use store "file:///" (site.yaml, store): the store cannot be the root directory',
  );
  assert.equal(
    bad("sftp://h"),
    'Cannot use store "sftp://h" (site.yaml, store): it names no directory on the host',
  );
  assert.equal(
    bad("https://h/x?token=1"),
    'Cannot use store "https://h/x?token=1" (site.yaml, store): a store URL has no query or fragment',
  );
  assert.equal(
    bad("file:///a%2fb"),
    'Cannot use store "file:///a%2fb" (site.yaml, store): its path holds an encoded slash or NUL',
  );
});

Deno.test("ResultStore: hostile file names are stored by content and restored byte for byte", async () => {
  await withDirs(async (ws, dir) => {
    const names = ["a b\n\"$(touch pwned)`x`'.txt", "tab\there\u0007.txt", "ü/$HOME;rm -rf.txt"];
    for (const [i, n] of names.entries()) {
      await Deno.mkdir(join(ws, n, ".."), { recursive: true });
      await Deno.writeTextFile(join(ws, n), `content ${i}\n`);
    }
    const store = storeOver(ws, dir);
    assert.equal(await store.upload(recordOf(ws, names), RAN), true);
    // The store holds blobs named by hash and one manifest: no file name reached it.
    const files = await new DirBackend("", dir).list("blobs");
    assert.equal(files.length, 3);
    assert.ok(files.every((f) => /^blobs\/sha256\/[0-9a-f]{2}\/[0-9a-f]{62}$/.test(f)));
    const found = await store.lookup(KEY);
    assert.ok(found.hit);
    assert.deepEqual(found.manifest.outputs.map((o) => o.path), names);
    const into = join(ws, "..", "restored");
    await store.restore(found.manifest, into);
    for (const [i, n] of names.entries()) {
      assert.equal(await Deno.readTextFile(join(into, n)), `content ${i}\n`);
    }
    assert.equal(await Deno.stat(join(ws, "..", "pwned")).catch(() => "absent"), "absent");
  });
});

Deno.test("parseManifest: an entry naming a path outside the workspace, in .ferry/, or another key is unusable", () => {
  const manifest = (path: string, key = KEY) =>
    new TextEncoder().encode(JSON.stringify({
      format: 1,
      key,
      task: "t",
      outputs: [{
        name: "o",
        path,
        kind: "file",
        files: [{ path, sha256: "b".repeat(64), size: 1 }],
      }],
      ran: { host: "h", user: "u", run: "r", started_at: 1, ended_at: 2 },
      stored_at: 3,
      ferry: "0.1.0",
    }));
  assert.ok("manifest" in parseManifest(manifest("out/a.txt"), KEY));
  const why = "an output is malformed or names a path outside the workspace";
  for (const p of ["../escape", "/etc/passwd", ".ferry/state.db", "a/../../b", "a//b", "a/./b"]) {
    assert.deepEqual(parseManifest(manifest(p), KEY), { why }, p);
  }
  // A dir output's own path is checked too (it is made before its files are fetched).
  const dir = JSON.parse(new TextDecoder().decode(manifest("a")));
  dir.outputs[0] = { name: "o", path: "../../made", kind: "dir", files: [] };
  assert.deepEqual(parseManifest(new TextEncoder().encode(JSON.stringify(dir)), KEY), { why });
  assert.deepEqual(parseManifest(manifest("a", "c".repeat(64)), KEY), {
    why: "it names another key",
  });
  assert.deepEqual(parseManifest(new TextEncoder().encode("{"), KEY), { why: "it is not JSON" });
});

Deno.test("DirBackend: concurrent writers of one name leave one whole file and no temporary one", async () => {
  await withDirs(async (ws, dir) => {
    const backend = new DirBackend("", dir);
    const sources = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async (i) => {
      const p = join(ws, `src-${i}`);
      await Deno.writeTextFile(p, String(i).repeat(200_000 + i));
      return p;
    }));
    const reads: string[] = [];
    let writing = true;
    const reader = (async () => {
      while (writing) {
        const b = await backend.read(entryPath(KEY));
        if (b) reads.push(new TextDecoder().decode(b));
        await new Promise((r) => setTimeout(r, 0));
      }
    })();
    for (let round = 0; round < 5; round++) {
      await Promise.all(sources.map((s) => backend.put(s, entryPath(KEY))));
    }
    writing = false;
    await reader;
    const wholes = await Promise.all(sources.map((s) => Deno.readTextFile(s)));
    // Every read saw one writer's file whole, never a mixture or a truncated one.
    for (const r of [...reads, await Deno.readTextFile(join(dir, entryPath(KEY)))]) {
      assert.ok(wholes.includes(r), `a partial read of ${r.length} bytes`);
    }
    assert.deepEqual([...Deno.readDirSync(join(dir, "entries"))].map((e) => e.name), [
      `${KEY}.json`,
    ]);
  });
});

Deno.test("DirBackend.fetch: content other than its name is a BlobMismatch and leaves no file", async () => {
  await withDirs(async (ws, dir) => {
    await Deno.writeTextFile(join(ws, "x"), "hello\n");
    const sha = await sha256File(join(ws, "x"));
    const backend = new DirBackend("", dir);
    await backend.put(join(ws, "x"), blobPath(sha));
    await Deno.writeTextFile(join(dir, blobPath(sha)), "hellO\n");
    const e = await backend.fetch(blobPath(sha), join(ws, "got"), sha).catch((e) => e);
    assert.ok(e instanceof BlobMismatch);
    assert.equal(e.rel, blobPath(sha));
    assert.equal(await Deno.stat(join(ws, "got")).catch(() => "absent"), "absent");
  });
});

Deno.test("verifyStore and gcStore: a damaged blob is reported; gc drops what no kept entry names", async () => {
  await withDirs(async (ws, dir) => {
    await Deno.writeTextFile(join(ws, "a"), "a\n");
    await Deno.writeTextFile(join(ws, "b"), "b\n");
    const store = storeOver(ws, dir);
    const other = "d".repeat(64);
    await store.upload(recordOf(ws, ["a"]), RAN);
    await store.upload(recordOf(ws, ["b"], other), RAN);
    const backend = new DirBackend("", dir);
    const scratch = join(ws, "..", "scratch");
    assert.deepEqual(await verifyStore(backend, scratch), { blobs: 2, entries: 2, bad: [] });
    const shaB = await sha256File(join(ws, "b"));
    await Deno.writeTextFile(join(dir, blobPath(shaB)), "B\n");
    const r = await verifyStore(backend, scratch);
    assert.equal(r.bad.length, 2);
    assert.equal(r.bad[0]!.path, blobPath(shaB));
    assert.match(r.bad[1]!.why, /^its file "b" has no intact blob/);
    const dry = await gcStore(backend, { keep: new Set([KEY]), dryRun: true });
    assert.deepEqual(dry.entries, [entryPath(other)]);
    assert.deepEqual(dry.blobs, [blobPath(shaB)]);
    assert.equal((await backend.list("entries")).length, 2);
    await gcStore(backend, { keep: new Set([KEY]), dryRun: false });
    assert.deepEqual(await backend.list("entries"), [entryPath(KEY)]);
    assert.deepEqual(await verifyStore(backend, scratch), { blobs: 1, entries: 1, bad: [] });
    const old = await gcStore(backend, { before: Date.now() + 1000, dryRun: false });
    assert.equal(old.kept, 0);
    assert.deepEqual(await backend.list("blobs"), []);
  });
});
