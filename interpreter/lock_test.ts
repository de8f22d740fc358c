import assert from "node:assert/strict";
import { hostname } from "node:os";
import { join } from "node:path";
import { acquireLock, type LockHolder, readLock } from "./lock.ts";

/** A pid above Linux's largest (2^22): no process of this host has it. */
const NO_SUCH_PID = 2 ** 22 + 7;

/** A workspace whose `.ferry/lock` names `holder`; removed after `fn`. */
async function withLock(
  holder: LockHolder,
  fn: (ws: string, lock: string) => void | Promise<void>,
): Promise<void> {
  const ws = await Deno.makeTempDir({ prefix: "ferry-lock-" });
  try {
    const lock = join(ws, ".ferry", "lock");
    Deno.mkdirSync(join(ws, ".ferry"));
    Deno.writeTextFileSync(lock, JSON.stringify(holder) + "\n");
    await fn(ws, lock);
  } finally {
    await Deno.remove(ws, { recursive: true });
  }
}

Deno.test("acquireLock() never takes over a lock held from another host, whatever its pid is here", async () => {
  // Whether a process on another host lives cannot be seen from here: its lock stands.
  for (const pid of [NO_SUCH_PID, Deno.pid]) {
    const holder = { pid, host: `not-${hostname()}.example`, startedAt: 0, runId: "far-run" };
    await withLock(holder, (ws, lock) => {
      const before = Deno.readTextFileSync(lock);
      assert.deepEqual(acquireLock(ws, "my-run"), { ok: false, holder, path: lock });
      assert.equal(Deno.readTextFileSync(lock), before, `pid ${pid}: the lock is left as it was`);
      assert.deepEqual(readLock(ws), { path: lock, holder, live: true });
    });
  }
});

Deno.test("acquireLock() takes over a lock of this host whose holder is gone, and refuses a live one", async () => {
  const gone = { pid: NO_SUCH_PID, host: hostname(), startedAt: 0, runId: "old-run" };
  await withLock(gone, (ws, lock) => {
    assert.deepEqual(readLock(ws), { path: lock, holder: gone, live: false });
    const got = acquireLock(ws, "my-run");
    assert.ok(got.ok);
    assert.equal(
      got.lock.warning,
      `took over a stale lock: pid ${NO_SUCH_PID} on host ${hostname()}, started 1970-01-01 00:00:00 UTC (run old-run) is no longer running`,
    );
    assert.equal(got.lock.crashedRun, "old-run");
    assert.equal(JSON.parse(Deno.readTextFileSync(lock)).runId, "my-run");
    got.lock.release();
    assert.equal(readLock(ws), undefined);
  });
  const live = { pid: Deno.pid, host: hostname(), startedAt: 0, runId: "live-run" };
  await withLock(live, (ws, lock) => {
    assert.deepEqual(acquireLock(ws, "my-run"), { ok: false, holder: live, path: lock });
  });
});
