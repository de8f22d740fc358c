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
