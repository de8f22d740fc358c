/**
 * Faults of ferry's own files end in a clear message, never an internal
 * error: a state file with 8 KiB of zeros in the middle (run, plan and
 * status say so, exit 2; `ferry state check` and `repair` keep what is
 * readable); a read-only `.ferry/` (a read-only bind mount: as root, chmod
 * stops nothing); a full disk (a small tmpfs): the task that fills it fails
 * with "no space left on device" while the others succeed, the state store
 * says so, status still reads, and `ferry clean` frees the space; a
 * workspace that is a file. Mounts need root: without them these tests say
 * loudly that they skipped, and fail under CI=true.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferryRun, writeWorkflow } from "./_run.ts";
import { runCli } from "./_cli.ts";
import { FerryFileError, isNoSpace } from "../interpreter/fs_errors.ts";
import { openStateFile, StateStore } from "../interpreter/state.ts";

const decoder = new TextDecoder();

/** Run a system command; its exit status and standard error. */
async function sh(cmd: string, ...args: string[]): Promise<{ ok: boolean; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  return { ok: out.success, stderr: decoder.decode(out.stderr).trim() };
}

/** A fresh temporary directory for `fn`, removed afterwards (after any mount in it is gone). */
async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-faults-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Mount (`mount ARGS... dir`) for `fn`, unmounted afterwards whatever
 * happens. When mounting is impossible (not root, no mount namespace) the
 * test skips, saying so on stderr, or fails under CI=true.
 */
async function withMount(
  what: string,
  mountArgs: readonly string[],
  dir: string,
  fn: () => void | Promise<void>,
): Promise<boolean> {
  const m = await sh("mount", ...mountArgs, dir);
  if (!m.ok) {
    const why = `cannot mount ${what} (${m.stderr})`;
    if (Deno.env.get("CI") === "true") throw new Error(`${why}: the fault tests need it under CI`);
    console.error(`\n*** SKIPPED: ${why}; the fault it stands for is not tested here ***\n`);
    return false;
  }
  try {
    await fn();
  } finally {
    const u = await sh("umount", dir);
    if (!u.ok) await sh("umount", "-l", dir);
  }
  return true;
}

/** `dir` bind-mounted onto itself, read-only, for `fn`. */
function withReadOnly(dir: string, fn: () => Promise<void>): Promise<boolean> {
  return withMount("a read-only bind mount", ["--bind", dir], dir, async () => {
    const ro = await sh("mount", "-o", "remount,ro,bind", dir);
    assert.ok(ro.ok, `remount read-only: ${ro.stderr}`);
    await fn();
  });
}

/** Fill the file system of `dir` with `name` until it is full; the bytes written. */
function fill(dir: string, name = "filler"): number {
  using f = Deno.openSync(join(dir, name), { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(64 * 1024).fill(7);
  let n = 0;
  for (;;) {
    try {
      n += f.writeSync(chunk);
    } catch (e) {
      assert.ok(isNoSpace(e), `filling ${dir}: ${e}`);
      return n;
    }
  }
}

/** The message of a damaged state, as ferry says it. */
function damaged(ws: string): string {
  const db = join(ws, ".ferry", "state.db");
  return `${db} is damaged (database disk image is malformed). To recover, keep what is still readable with "ferry state repair -w ${ws}" ("ferry state check -w ${ws}" shows what), or forget every run with "ferry clean --all -w ${ws}"`;
}

const MANY = {
  ferry: 1,
  name: "many",
  params: { ids: Array.from({ length: 120 }, (_, i) => i + 1) },
  apps: {
    make: {
      for_each: { i: "${{ params.ids }}" },
      outputs: { out: "out/${{ i }}.txt" },
      shell: "echo ${{ i }} > ${{ outputs.out }}",
    },
  },
};

/** Zero 8 KiB of `db` from the start of a leaf page of `table` in its middle; the pages of that table. */
function zeroMiddleOf(db: string, table: string): void {
  const reader = openStateFile(db).db;
  const pages = (reader.prepare(
    "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
  ).all(table) as { pageno: number }[]).map((r) => r.pageno);
  const pageSize = (reader.prepare("PRAGMA page_size").get() as { page_size: number }).page_size;
  reader.close();
  assert.ok(pages.length >= 3, `${table} spans ${pages.length} leaf pages`);
  const page = pages[Math.floor(pages.length / 2)]!;
  using f = Deno.openSync(db, { write: true });
  f.seekSync((page - 1) * pageSize, Deno.SeekMode.Start);
  f.writeSync(new Uint8Array(8192));
}

Deno.test("a state with 8 KiB of zeros in the middle: run, plan and status say it is damaged (exit 2) and how to recover; state check and repair keep what is readable", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, MANY);
    const first = await ferryRun(["-q", wf]);
    assert.equal(first.code, 0, first.stderr);
    const db = join(ws, ".ferry", "state.db");
    assert.equal(
      [...Deno.readDirSync(join(ws, ".ferry"))].some((e) => e.name === "state.db-wal"),
      false,
      "the run closed its state (no WAL left)",
    );
    zeroMiddleOf(db, "successes");
    const bytes = Deno.readFileSync(db);

    const run = await ferryRun(["-q", wf]);
    assert.deepEqual(
      [run.code, run.stderr],
      [2, `ferry: ${damaged(ws)}\n`],
    );
    const plan = await ferryRun([wf], {}, "plan");
    assert.deepEqual([plan.code, plan.stdout, plan.stderr], [2, "", `ferry: ${damaged(ws)}\n`]);
    const status = await ferryRun(["-w", ws], {}, "status");
    assert.deepEqual(
      [status.code, status.stderr],
      [2, `ferry: ${damaged(ws)}\n`],
    );
    assert.deepEqual(Deno.readFileSync(db), bytes, "nothing wrote into the damaged file");

    const check = await runCli(["state", "check", "-w", ws]);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    const lines = check.stdout.split("\n");
    assert.match(
      lines[0]!,
      new RegExp(`^${db} is damaged: SQLite's integrity check found \\d+ problems?$`),
    );
    const readable =
      /^ {2}successes {4}(\d+) rows; up to (\d+) rows unreadable \(those tasks run again\)$/m
        .exec(check.stdout);
    assert.ok(readable, check.stdout);
    const kept = Number(readable[1]);
    assert.ok(kept > 0 && kept < 120, check.stdout);
    assert.ok(Number(readable[2]) >= 120 - kept, check.stdout);
    assert.equal(
      lines.at(-2),
      `to recover: "ferry state repair -w ${ws}" keeps what is readable (the damaged file is backed up), or "ferry clean --all -w ${ws}" forgets every run`,
    );

    const repair = await runCli(["state", "repair", "-w", ws]);
    assert.equal(repair.code, 0, repair.stdout + repair.stderr);
    const backup = /^backed up the damaged state to (.*)$/m.exec(repair.stdout)?.[1];
    assert.ok(backup !== undefined && backup.startsWith(`${db}.damaged-`), repair.stdout);
    assert.deepEqual(Deno.readFileSync(backup), bytes, "the backup is the damaged file as it was");
    assert.match(
      repair.stdout,
      new RegExp(
        `^kept successes {4}${kept} rows; up to \\d+ rows lost \\(those tasks run again\\)$`,
        "m",
      ),
    );
    assert.ok(repair.stdout.endsWith(`repaired ${db}: every readable row kept\n`), repair.stdout);
    const again = await runCli(["state", "check", "-w", ws]);
    assert.equal(again.code, 0);
    assert.match(
      again.stdout,
      new RegExp(
        `^${db} is sound: \\d+ runs?, \\d+ attempts?, ${kept} successes, \\d+ file hashes\n$`,
      ),
    );
    assert.equal(
      (await runCli(["state", "repair", "-w", ws])).stdout,
      `${db} is sound: nothing to repair\n`,
    );

    // Only what the damage took runs again.
    const rerun = await ferryRun(["-q", wf]);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, new RegExp(`^plan: ${120 - kept} to run, ${kept} cached\n`));
  });
});

Deno.test("a state that is not a database at all: repair keeps nothing, backs it up, and the next run runs every task", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, { ...MANY, params: { ids: [1, 2] } });
    assert.equal((await ferryRun(["-q", wf])).code, 0);
    const db = join(ws, ".ferry", "state.db");
    using f = Deno.openSync(db, { write: true });
    f.writeSync(new Uint8Array(8192)); // the header and the schema gone
    f.close();
    const plan = await runCli(["plan", wf]);
    assert.deepEqual([plan.code, plan.stderr], [
      2,
      `ferry: ${
        damaged(ws).replace("database disk image is malformed", "file is not a database")
      }\n`,
    ]);
    const check = await runCli(["state", "check", "-w", ws]);
    assert.equal(check.code, 1);
    assert.equal(
      check.stdout.split("\n").slice(0, 4).join("\n"),
      `${db} is damaged: SQLite's integrity check found 1 problem\n  file is not a database\nstill readable:\n  runs         0 rows; the rest of the table unreadable (ferry status lists fewer runs)`,
    );
    const repair = await runCli(["state", "repair", "-w", ws]);
    assert.equal(repair.code, 0, repair.stderr);
    assert.match(
      repair.stdout,
      /^kept successes {4}0 rows; the rest of the table lost \(those tasks run again\)$/m,
    );
    const rerun = await ferryRun(["-q", wf]);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, /^plan: 2 to run, 0 cached\n/);
  });
});

Deno.test("a read-only .ferry/: run and clean say which file could not be written and why (exit 2); plan, status and state check still read it", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, { ...MANY, params: { ids: [1, 2] } });
    assert.equal((await ferryRun(["-q", wf])).code, 0);
    const dir = join(ws, ".ferry");
    const lock = join(dir, "lock");
    const refused = `cannot write ${lock} while taking the workspace lock: read-only file system`;
    await withReadOnly(dir, async () => {
      const run = await ferryRun(["-q", wf]);
      assert.deepEqual([run.code, run.stderr], [2, `ferry: ${refused}\n`]);
      for (const args of [["clean", "-w", ws], ["clean", "--all", "-w", ws]]) {
        const clean = await ferryRun(args.slice(1), {}, "clean");
        assert.deepEqual(
          [clean.code, clean.stdout, clean.stderr],
          [2, "", `ferry: Cannot clean "${ws}": ${refused}\n`],
          args.join(" "),
        );
      }
      const repair = await runCli(["state", "repair", "-w", ws]);
      assert.deepEqual([repair.code, repair.stderr], [2, `ferry: ${refused}\n`]);
      const plan = await ferryRun([wf], {}, "plan");
      assert.equal(plan.code, 0, plan.stderr);
      assert.match(plan.stdout, /make\[i=1\] {2}\[cached\]/);
      const status = await runCli(["status", "-w", ws]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /2 succeeded, 0 failed/);
      const check = await runCli(["state", "check", "-w", ws]);
      assert.deepEqual([check.code, check.stdout], [
        0,
        `${join(dir, "state.db")} is sound: 1 run, 2 attempts, 2 successes, 2 file hashes\n`,
      ]);
    });
  });
});

Deno.test("a full disk: the task that fills it fails with no space left on device, the run goes on with the others", async () => {
  await withTemp(async (ws) => {
    await withMount("a 4 MiB tmpfs", ["-t", "tmpfs", "-o", "size=4m", "tmpfs"], ws, async () => {
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "full",
        apps: {
          small: { outputs: { out: "small.txt" }, shell: "echo small > ${{ outputs.out }}" },
          big: {
            outputs: { out: "big.bin" },
            shell: "head -c 8000000 /dev/zero > ${{ outputs.out }}",
          },
          small2: { outputs: { out: "small2.txt" }, shell: "echo small2 > ${{ outputs.out }}" },
        },
      });
      const run = await ferryRun(["--sequential", "--keep-going", "-q", wf]);
      assert.equal(run.code, 1, run.stderr);
      // The run ends as runs end: no fault line (a warning may say what could not be recorded).
      assert.doesNotMatch(run.stderr, /internal error|^ferry: (?!warning)/m);
      const status = await runCli(["status", "-w", ws, "--format", "json"]);
      assert.equal(status.code, 0, status.stderr);
      const tasks = JSON.parse(status.stdout).run.tasks as {
        id: string;
        state: string;
        reason?: string;
        attempts: { reason?: string }[];
      }[];
      const state = Object.fromEntries(tasks.map((t) => [t.id, t.state]));
      assert.deepEqual(state, { small: "succeeded", big: "failed", small2: "succeeded" });
      const big = tasks.find((t) => t.id === "big")!;
      assert.match(big.attempts.at(-1)?.reason ?? big.reason ?? "", /no space left on device/);
      assert.equal(Deno.readTextFileSync(join(ws, "small2.txt")), "small2\n");
    });
  });
});

Deno.test("a full disk: the state store says no space left on device (and keeps working once there is room); status reads; ferry clean frees the space", async () => {
  await withTemp(async (ws) => {
    await withMount("a 4 MiB tmpfs", ["-t", "tmpfs", "-o", "size=4m", "tmpfs"], ws, async () => {
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "leftovers",
        apps: {
          // Fails after writing 3 MiB: its attempt directory keeps them.
          heavy: {
            outputs: { out: "heavy.bin" },
            shell: "head -c 3000000 /dev/zero > ${{ outputs.out }}; exit 3",
          },
        },
      });
      const first = await ferryRun(["-q", wf]);
      assert.equal(first.code, 1, first.stderr);
      const runId = /^logs: .*\/runs\/(.*)$/m.exec(first.stderr)?.[1];
      assert.ok(runId, first.stderr);
      fill(ws);

      // status: on a full disk, the state (closed cleanly, so no WAL to share) is read as it is.
      const status = await runCli(["status", "-w", ws]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`run ${runId}: failed`));

      const run = await ferryRun(["-q", wf]);
      const lock = join(ws, ".ferry", "lock");
      assert.deepEqual(
        [run.code, run.stderr],
        [
          2,
          `ferry: no space left on device while taking the workspace lock (${lock}); "ferry clean -w ${ws}" frees the space earlier runs' attempts take\n`,
        ],
      );

      const clean = await ferryRun(["-w", ws], {}, "clean");
      assert.equal(clean.code, 0, clean.stderr);
      assert.match(
        clean.stdout,
        new RegExp(`^removed \\.ferry/runs/${runId}/tasks \\((?:2\\.\\d|3\\.\\d) MiB\\)\n`),
      );
      assert.deepEqual(
        [...Deno.readDirSync(join(ws, ".ferry"))].map((e) => e.name).filter((n) =>
          n.startsWith("lock")
        ),
        [],
        "no lock (nor a lock's temporary file) left",
      );
      Deno.writeFileSync(join(ws, "room.bin"), new Uint8Array(2 << 20)); // the space is back
      Deno.removeSync(join(ws, "room.bin"));
    });
  });
});

Deno.test("a full disk: the state store's writes fail with no space left on device naming the write, and work again once there is room", async () => {
  await withTemp(async (ws) => {
    await withMount("a 2 MiB tmpfs", ["-t", "tmpfs", "-o", "size=2m", "tmpfs"], ws, () => {
      const store = StateStore.open(ws);
      const db = join(ws, ".ferry", "state.db");
      try {
        const attempt = (n: number) => ({
          runId: "r",
          taskId: `t${n}`,
          attempt: 1,
          outcome: "failed",
          reason: "x".repeat(2000),
          startedAt: n,
          endedAt: n,
          host: "h",
        });
        fill(ws);
        let failed: unknown;
        let n = 0;
        for (; n < 10_000 && failed === undefined; n++) {
          try {
            store.recordAttempt(attempt(n));
          } catch (e) {
            failed = e;
          }
        }
        assert.ok(failed instanceof FerryFileError, `after ${n} attempts: ${failed}`);
        assert.equal(
          failed.message,
          `no space left on device while recording attempt 1 of task t${n - 1} (${db})`,
        );
        assert.ok(isNoSpace(failed));
        // A transaction that fails says why too (its rollback does not hide it).
        assert.throws(
          () =>
            store.recordSuccess(
              {
                taskId: "s",
                key: "k".repeat(4000),
                parts: {},
                runId: "r",
                attempt: 1,
                finishedAt: 1,
                outputs: [],
              },
              attempt(99_999),
            ),
          (e) =>
            e instanceof FerryFileError &&
            e.message === `no space left on device while recording the success of task s (${db})`,
        );
        Deno.removeSync(join(ws, "filler"));
        store.recordAttempt(attempt(n + 1));
        assert.ok(store.attempts("r").some((a) => a.taskId === `t${n + 1}`));
      } finally {
        store.close();
      }
    });
  });
});

Deno.test("a workspace that is a file, or does not exist where one must: one line, exit 2", async () => {
  await withTemp(async (dir) => {
    const wf = await writeWorkflow(dir, { ...MANY, params: { ids: [1] } });
    const file = join(dir, "a-file");
    Deno.writeTextFileSync(file, "not a workspace\n");
    const missing = join(dir, "missing");
    const cases: [string[], string][] = [
      [
        ["run", "-w", file, wf],
        `Cannot use the workspace "${file}": it is a file, not a workspace directory`,
      ],
      [
        ["plan", "-w", file, wf],
        `Cannot use the workspace "${file}": it is a file, not a workspace directory`,
      ],
      [
        ["check", "-w", file, wf],
        `Cannot use the workspace "${file}": it is a file, not a workspace directory`,
      ],
      [
        ["run", "-w", join(file, "ws"), wf],
        `Cannot use the workspace "${
          join(file, "ws")
        }": a part of that path is a file, not a directory`,
      ],
      [
        ["status", "-w", file],
        `Cannot show the status of "${file}": it is a file, not a workspace directory`,
      ],
      [
        ["report", "-w", file],
        `Cannot make a report of "${file}": it is a file, not a workspace directory`,
      ],
      [["clean", "-w", file], `Cannot clean "${file}": it is a file, not a workspace directory`],
      [
        ["state", "check", "-w", file],
        `Cannot check the state of "${file}": it is a file, not a workspace directory`,
      ],
      [["status", "-w", missing], `Cannot show the status of "${missing}": no such directory`],
      [["report", "-w", missing], `Cannot make a report of "${missing}": no such directory`],
      [["clean", "-w", missing], `Cannot clean "${missing}": no such directory`],
      [
        ["state", "repair", "-w", missing],
        `Cannot repair the state of "${missing}": no such directory`,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.deepEqual(
        [r.code, r.stdout, r.stderr],
        [2, "", `ferry: ${message}\n`],
        args.join(" "),
      );
    }
    // As users run it: /etc/passwd.
    const real = await ferryRun(["-q", "-w", "/etc/passwd", wf]);
    assert.deepEqual(
      [real.code, real.stderr],
      [
        2,
        `ferry: Cannot use the workspace "/etc/passwd": it is a file, not a workspace directory\n`,
      ],
    );
  });
});
