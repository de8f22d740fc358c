import assert from "node:assert/strict";
import { join } from "node:path";
import { IrregularFileError, StateStore, SYNC_HASH_LIMIT } from "./state.ts";

async function withStore(fn: (dir: string, store: StateStore) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  const store = StateStore.open(dir);
  try {
    await fn(dir, store);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const SHA_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

Deno.test("StateStore.hashPathAsync: the same hashes as hashPath, for small and large files and directories", async () => {
  await withStore(async (dir, store) => {
    await Deno.mkdir(join(dir, "d/sub"), { recursive: true });
    await Deno.writeTextFile(join(dir, "d/a.txt"), "a\n");
    await Deno.writeTextFile(join(dir, "d/sub/b.txt"), "b\n");
    await Deno.writeFile(join(dir, "d/big.bin"), new Uint8Array(SYNC_HASH_LIMIT + 5).fill(7));
    await Deno.writeFile(join(dir, "empty"), new Uint8Array());
    // A second store, which hashes every file synchronously.
    await Deno.mkdir(join(dir, "other"));
    const other = StateStore.open(join(dir, "other"));
    try {
      for (const p of ["d/a.txt", "d/big.bin", "d", "empty", "nothing"]) {
        const path = join(dir, p);
        assert.deepEqual(await store.hashPathAsync(path), other.hashPath(path), p);
      }
    } finally {
      other.close();
    }
    assert.deepEqual(await store.hashPathAsync(join(dir, "empty")), { sha256: SHA_EMPTY, size: 0 });
    assert.equal((await store.hashPathAsync(join(dir, "d")))!.size, 4 + SYNC_HASH_LIMIT + 5);
  });
});

Deno.test("StateStore.hashPathAsync: aborting stops the hash of a large file and remembers nothing", async () => {
  await withStore(async (dir, store) => {
    const big = join(dir, "big.bin");
    using f = await Deno.open(big, { write: true, create: true });
    await f.truncate(4 * 2 ** 30); // 4 GiB, sparse: minutes of reading at worst, seconds at best
    const controller = new AbortController();
    const reason = new Error("stop");
    const t0 = performance.now();
    setTimeout(() => controller.abort(reason), 100);
    await assert.rejects(store.hashPathAsync(big, false, controller.signal), (e) => e === reason);
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `the hash stopped ${ms} ms after it began (aborted at 100 ms)`);
    // Nothing was remembered: a second call reads again (and is stopped at once).
    await assert.rejects(store.hashPathAsync(big, false, controller.signal), (e) => e === reason);
  });
});

Deno.test("StateStore.hashPath: a FIFO, a device or a socket is refused at once, not read", async () => {
  await withStore(async (dir, store) => {
    const fifo = join(dir, "pipe");
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.equal(made.code, 0);
    assert.throws(
      () => store.hashPath(fifo),
      new IrregularFileError(fifo, "a FIFO (named pipe)"),
    );
    assert.throws(
      () => store.hashPath(fifo),
      {
        message:
          `Cannot read "${fifo}": it is a FIFO (named pipe), not a regular file or directory`,
      },
    );
    await assert.rejects(
      store.hashPathAsync("/dev/zero"),
      {
        message:
          'Cannot read "/dev/zero": it is a character device, not a regular file or directory',
      },
    );
    // Inside a directory too (through a symlink): a dir output holding one is refused.
    await Deno.mkdir(join(dir, "d"));
    await Deno.symlink("/dev/zero", join(dir, "d/zero"));
    assert.throws(() => store.hashPath(join(dir, "d")), {
      message: `Cannot read "${
        join(dir, "d/zero")
      }": it is a character device, not a regular file or directory`,
    });
  });
});

Deno.test("StateStore.open: a version 2 store gains the attempts' usage; its old attempts have none, new ones keep theirs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const attempt = {
      runId: "r1",
      taskId: "t",
      attempt: 1,
      outcome: "failed",
      startedAt: 1,
      endedAt: 2,
      host: "h",
    };
    StateStore.open(dir).close();
    // Back to what ferry wrote before version 3: no usage column, user_version 2.
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(join(dir, ".ferry", "state.db"));
    db.exec(
      "ALTER TABLE attempts DROP COLUMN usage; ALTER TABLE attempts DROP COLUMN pilot; PRAGMA user_version = 2",
    );
    db.prepare(
      "INSERT INTO attempts (run_id, task_id, attempt, outcome, started_at, ended_at, host) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ).run("r0", "t", 1, "succeeded", 1, 2, "h");
    db.close();
    const store = StateStore.open(dir);
    try {
      const usage = {
        wallSeconds: 1.5,
        userSeconds: 1,
        systemSeconds: 0.25,
        maxRssBytes: 3 * 2 ** 20,
        measuredBy: "wait4" as const,
      };
      store.recordAttempt({ ...attempt, usage });
      assert.deepEqual(store.attempts().map((a) => [a.runId, a.usage]), [
        ["r0", undefined],
        ["r1", usage],
      ]);
    } finally {
      store.close();
    }
    const after = new DatabaseSync(join(dir, ".ferry", "state.db"));
    assert.deepEqual({ ...after.prepare("PRAGMA user_version").get() }, { user_version: 4 });
    after.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("StateStore.open: a version 3 store gains the attempts' pilot place; its old attempts have none, new ones keep theirs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    StateStore.open(dir).close();
    // Back to what ferry wrote before version 4: no pilot column, user_version 3.
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(join(dir, ".ferry", "state.db"));
    db.exec("ALTER TABLE attempts DROP COLUMN pilot; PRAGMA user_version = 3");
    db.prepare(
      "INSERT INTO attempts (run_id, task_id, attempt, outcome, started_at, ended_at, host, usage) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ).run("r0", "t", 1, "succeeded", 1, 2, "h", '{"wallSeconds":1,"measuredBy":"clock"}');
    db.close();
    const store = StateStore.open(dir);
    const pilot = { block: "4711", worker: "node-a/2", node: "node-a" };
    try {
      store.recordAttempt({
        runId: "r1",
        taskId: "t",
        attempt: 1,
        outcome: "failed",
        startedAt: 3,
        endedAt: 4,
        host: "node-a",
        pilot,
      });
      assert.deepEqual(
        store.attempts().map((a) => [a.runId, a.usage?.wallSeconds, a.pilot]),
        [["r0", 1, undefined], ["r1", undefined, pilot]],
      );
    } finally {
      store.close();
    }
    const after = new DatabaseSync(join(dir, ".ferry", "state.db"));
    assert.deepEqual({ ...after.prepare("PRAGMA user_version").get() }, { user_version: 4 });
    assert.deepEqual(
      after.prepare("SELECT pilot FROM attempts ORDER BY run_id").all().map((r) => ({ ...r })),
      [{ pilot: null }, { pilot: JSON.stringify(pilot) }],
    );
    after.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
