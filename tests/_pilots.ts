/**
 * For the live pilot tests (tests/pilot_*_test.ts): the fan-out they run on executor
 * `cluster`, and what they read back after a run: rows of the workspace's state store, and that
 * every task of the fan-out wrote its output and was committed exactly once.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { writeWorkflow } from "./_run.ts";

interface Sqlite {
  DatabaseSync: new (path: string) => {
    prepare(sql: string): { all(...p: (string | number)[]): Record<string, unknown>[] };
    close(): void;
  };
}
const builtins = process as unknown as { getBuiltinModule(id: string): unknown };
const { DatabaseSync } = builtins.getBuiltinModule("node:sqlite") as Sqlite;

/** Rows of `sql` in the workspace's state store. */
export function query(ws: string, sql: string): Record<string, unknown>[] {
  const db = new DatabaseSync(join(ws, ".ferry", "state.db"));
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

/**
 * Every output `out/I.txt` (I from 0 to `n` - 1) holds `I` and worker_init's greeting, and every
 * task has exactly one recorded success.
 */
export function assertAllOnce(ws: string, n: number): void {
  for (let i = 0; i < n; i++) {
    assert.equal(
      Deno.readTextFileSync(join(ws, "out", `${i}.txt`)),
      `${i} hi from worker_init\n`,
    );
  }
  const rows = query(ws, "SELECT task_id, COUNT(*) AS n FROM successes GROUP BY task_id");
  assert.equal(rows.length, n);
  assert.ok(rows.every((r) => r.n === 1));
}

/** A fan-out of `n` tasks, each writing its index (after `sleep` seconds) and the greeting. */
export function fanOut(ws: string, n: number, sleep = 0): Promise<string> {
  return writeWorkflow(ws, {
    ferry: 1,
    name: "pilots",
    params: { ids: Array.from({ length: n }, (_, i) => i) },
    defaults: { executor: "cluster", retries: 0 }, // a lost block's tasks run again all the same
    apps: {
      work: {
        for_each: { i: "${{ params.ids }}" },
        outputs: { out: "out/${{ i }}.txt" },
        shell: `${
          sleep > 0 ? `sleep ${sleep}; ` : ""
        }echo "\${{ i }} $PILOT_GREETING" > \${{ outputs.out }}`,
      },
    },
  });
}

/**
 * A site file with executor `cluster`: Slurm with pilot blocks sized by `pilot`, whose
 * worker_init exports the greeting the fan-out's tasks write, then runs `init` (lines); `extra`
 * adds to the executor's settings.
 */
export function pilotSite(
  ws: string,
  pilot: Record<string, unknown>,
  init: readonly string[] = [],
  extra: Record<string, unknown> = {},
): Promise<string> {
  return writeWorkflow(ws, {
    "ferry-site": 1,
    executors: {
      cluster: {
        provider: "slurm",
        bundle: "pilot",
        worker_init: ["export PILOT_GREETING='hi from worker_init'", ...init].join("\n"),
        pilot,
        ...extra,
      },
    },
  }, "site.yaml");
}
