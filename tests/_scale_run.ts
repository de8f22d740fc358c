/**
 * A run of many tasks without running them: one real run of a one-task
 * fan-out is made, then its records are copied for each new task — the
 * event log's lines and the state store's rows, with the task's id and its
 * attempt directory's name replaced and its times moved on as if two ran at
 * a time. The files keep the exact format ferry writes, at a size (100,000
 * tasks) no test could afford to run.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { taskDirName } from "../interpreter/attempt.ts";
import type { RunEvent } from "../interpreter/events.ts";
import { ferryRun, runDirOf, writeWorkflow } from "./_run.ts";

/** The part of node:sqlite this helper uses (local types, as in interpreter/state.ts: the older
 * @types/node that npm:@types/ssh2 brings into a whole-suite type-check lacks node:sqlite). */
interface Sqlite {
  DatabaseSync: new (path: string) => {
    exec(sql: string): void;
    prepare(sql: string): {
      all(...params: (string | number | null)[]): Record<string, string | number | null>[];
      run(...params: (string | number | null)[]): unknown;
    };
    close(): void;
  };
}
const builtins = process as unknown as { getBuiltinModule(id: string): unknown };
const { DatabaseSync } = builtins.getBuiltinModule("node:sqlite") as Sqlite;

/** The one task of the template run. */
const TEMPLATE = "work[i=0]";

/** The id of the `n`th task of a scaled run (0 is the template's). */
export const scaledId = (n: number): string => `work[i=${n}]`;

/** A copy's id, the name of its attempt directory (a hash: worked out once), its time shift. */
interface Names {
  readonly id: string;
  readonly dir: string;
  readonly shiftMs: number;
}

const TEMPLATE_DIR = taskDirName(TEMPLATE);

/** The fields of events and rows that hold a time, in ms since the epoch. */
const TIMES = new Set(["time", "startedAt", "endedAt", "started_at", "ended_at", "finished_at"]);

/** A field of the template's, for the copy `to`. */
function renamed(key: string, value: unknown, to: Names): unknown {
  if (typeof value === "number" && TIMES.has(key)) return value + to.shiftMs;
  if (typeof value !== "string") return value;
  return value.replaceAll(TEMPLATE_DIR, to.dir).replaceAll(TEMPLATE, to.id);
}

/**
 * Make a finished run of `tasks` succeeded tasks in the workspace `ws`;
 * returns the run's directory.
 */
export async function scaledRun(ws: string, tasks: number): Promise<string> {
  const wf = await writeWorkflow(ws, {
    ferry: 1,
    name: "scaled",
    params: { ids: [0] },
    apps: {
      work: {
        for_each: { i: "${{ params.ids }}" },
        outputs: { o: "out/${{ i }}.txt" },
        shell: "echo ${{ i }} > ${{ outputs.o }}",
      },
    },
  });
  const r = await ferryRun(["--quiet", wf]);
  assert.equal(r.code, 0, r.stderr);
  const runDir = runDirOf(r);
  const log = join(runDir, "events.jsonl");
  const lines = Deno.readTextFileSync(log).trimEnd().split("\n").map((l) =>
    JSON.parse(l) as RunEvent
  );
  const done = lines.find((e) => e.event === "finished")!;
  const spanMs = done.endedAt - done.startedAt + 1;
  const names = Array.from({ length: tasks }, (_, n) => {
    const id = scaledId(n);
    return { id, dir: taskDirName(id), shiftMs: Math.floor(n / 2) * spanMs };
  });
  const lastShiftMs = names.at(-1)!.shiftMs;
  scaleEvents(log, lines, names, lastShiftMs);
  scaleState(join(ws, ".ferry", "state.db"), names, lastShiftMs);
  return runDir;
}

/** The event log with the template task's events once per copy; the run ends after the last. */
function scaleEvents(
  path: string,
  events: readonly RunEvent[],
  names: readonly Names[],
  lastShiftMs: number,
): void {
  const out: string[] = [];
  for (const e of events) {
    if (e.event === "planned") out.push(JSON.stringify({ ...e, tasks: names.map((n) => n.id) }));
    else if (e.event === "graph") {
      out.push(JSON.stringify({ ...e, apps: [{ ...e.apps[0], tasks: names.length }] }));
    } else if ("task" in e && e.task === TEMPLATE) {
      for (const to of names) {
        out.push(JSON.stringify(Object.fromEntries(
          Object.entries(e).map(([k, v]) => [k, renamed(k, v, to)]),
        )));
      }
    } else if (e.event === "run-ended") {
      out.push(JSON.stringify({ ...e, time: e.time + lastShiftMs }));
    } else out.push(JSON.stringify(e));
  }
  Deno.writeTextFileSync(path, out.join("\n") + "\n");
}

/** The state store with the template task's rows once per copy, in one transaction. */
function scaleState(path: string, names: readonly Names[], lastShiftMs: number): void {
  const db = new DatabaseSync(path);
  try {
    db.exec("BEGIN");
    for (const table of ["attempts", "successes"]) {
      const rows = db.prepare(`SELECT * FROM ${table} WHERE task_id = ?`).all(TEMPLATE);
      assert.equal(rows.length, 1, `the template's row in ${table}`);
      const row = rows[0] as Record<string, string | number | null>;
      const columns = Object.keys(row);
      const insert = db.prepare(
        `INSERT OR REPLACE INTO ${table} (${columns.join(", ")}) VALUES (${
          columns.map(() => "?").join(", ")
        })`,
      );
      for (const to of names) {
        insert.run(...columns.map((c) => renamed(c, row[c], to) as string | number | null));
      }
    }
    db.prepare("UPDATE runs SET ended_at = ended_at + ?").run(lastShiftMs);
    db.exec("COMMIT");
  } finally {
    db.close();
  }
}
