/**
 * A task's identity does not depend on where the workspace is: a finished
 * workspace copied (`cp -a`) or moved (`mv`) to another path is fully cached,
 * with file, list, glob and dir outputs, names with spaces and non-ASCII
 * characters, and a state written by the previous version of ferry (absolute
 * URLs, schema version 1), which is migrated on open.
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import process from "node:process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";
import { canonical } from "../interpreter/canonical.ts";

/** A fan-out with file, glob and dir outputs, and a gathering task, all under awkward names. */
const WORKFLOW = {
  ferry: 1,
  name: "identity",
  params: { words: ["één", "two words"] },
  apps: {
    split: {
      for_each: { w: "${{ params.words }}" },
      inputs: { text: "in put/poème.txt" },
      outputs: {
        line: "out/${{ w }}.txt",
        parts: { glob: "parts/${{ w }}-*.txt" },
        tree: { dir: "tree/${{ w }}" },
      },
      shell: [
        "grep -c . ${{ inputs.text }} > ${{ outputs.line }}",
        'mkdir -p parts && echo 1 > "parts/${{ w }}-1.txt" && echo 2 > "parts/${{ w }}-2.txt"',
        "mkdir -p ${{ outputs.tree }}/sub && echo x > ${{ outputs.tree }}/sub/x.txt",
      ].join("\n"),
    },
    gather: {
      inputs: { lines: "${{ apps.split.outputs.line }}", parts: "${{ apps.split.outputs.parts }}" },
      outputs: { all: "all of it.txt" },
      shell: "cat ${{ inputs.lines }} ${{ inputs.parts }} > ${{ outputs.all }}",
    },
  },
};

const TASKS = ["gather", "split[w=two words]", "split[w=één]"];

/** A finished workspace `name` in `dir`: its workflow file. */
async function finished(dir: string, name: string): Promise<string> {
  const ws = join(dir, name);
  await Deno.mkdir(join(ws, "in put"), { recursive: true });
  await Deno.writeTextFile(join(ws, "in put/poème.txt"), "a\nb\n");
  const wf = await writeWorkflow(ws, WORKFLOW);
  const r = await ferryRun([wf]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^plan: 3 to run, 0 cached$/m);
  return wf;
}

/** Each task's mark in `ferry plan` (`cached`, `run: why`). */
async function marks(wf: string): Promise<Record<string, string>> {
  const r = await ferryRun([wf], {}, "plan");
  assert.equal(r.code, 0, r.stderr);
  const out: Record<string, string> = {};
  for (const m of r.stdout.matchAll(/^ {2}(\S.*?) {2}\[(.*)\]$/gm)) out[m[1]!] = m[2]!;
  return out;
}

const CACHED = Object.fromEntries(TASKS.map((t) => [t, "cached"]));

/** Plan and run in the workspace of `wf`: nothing to run. */
async function fullyCached(wf: string): Promise<void> {
  assert.deepEqual(await marks(wf), CACHED);
  const r = await ferryRun([wf]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^plan: 0 to run, 3 cached$/m);
  assert.match(r.stderr, /^done: 0 succeeded, 3 cached, 0 failed in /m);
}

async function copyTree(from: string, to: string): Promise<void> {
  const out = await new Deno.Command("cp", { args: ["-a", from, to] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

Deno.test("a finished workspace copied with cp -a or moved with mv is fully cached", async () => {
  await withTemp(async (dir) => {
    await finished(dir, "first ws");
    await copyTree(join(dir, "first ws"), join(dir, "copy ws"));
    await fullyCached(join(dir, "copy ws", "workflow.yaml"));
    // The copy's state now holds its own runs; the original is untouched and cached too.
    await fullyCached(join(dir, "first ws", "workflow.yaml"));
    await Deno.rename(join(dir, "first ws"), join(dir, "moved"));
    await fullyCached(join(dir, "moved", "workflow.yaml"));
    // What the moved workspace recorded is still what decides: an edit there re-runs.
    await Deno.writeTextFile(join(dir, "moved", "out/één.txt"), "9\n");
    assert.deepEqual(await marks(join(dir, "moved", "workflow.yaml")), {
      ...CACHED,
      "split[w=één]": "run: output line modified",
      gather: "may run: split[w=één] runs first",
    });
  });
});

// node:sqlite, as interpreter/state.ts loads it.
const { DatabaseSync } = (process as unknown as { getBuiltinModule(id: string): unknown })
  .getBuiltinModule("node:sqlite") as {
    DatabaseSync: new (path: string) => {
      exec(sql: string): void;
      prepare(sql: string): { all(...p: unknown[]): unknown[]; run(...p: unknown[]): unknown };
      close(): void;
    };
  };

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * Turn the state of the workspace `ws` back into what ferry wrote before version 2: absolute
 * `file:` URLs in the outputs and in the key, glob hashes over absolute URLs, user_version 1.
 */
function asVersion1(ws: string): void {
  const base = pathToFileURL(ws).href;
  const abs = (u: string) => u.startsWith("./") ? `${base}${u.slice(1)}` : u;
  const db = new DatabaseSync(join(ws, ".ferry", "state.db"));
  try {
    const memo = new Map(
      (db.prepare("SELECT path, sha256 FROM file_hashes").all() as {
        path: string;
        sha256: string;
      }[]).map((r) => [r.path, r.sha256]),
    );
    const rows = db.prepare("SELECT task_id, parts, outputs FROM successes").all() as {
      task_id: string;
      parts: string;
      outputs: string;
    }[];
    for (const r of rows) {
      const parts = JSON.parse(r.parts);
      parts.outputs = parts.outputs.map(abs);
      const outputs = JSON.parse(r.outputs).map((o: Record<string, unknown>) => {
        const files = (o.files as string[] | undefined)?.map(abs);
        const hash = o.glob
          ? sha256(files!.map((f) => `${f}\0${memo.get(decodeURI(f.slice(7)))}\n`).join(""))
          : o.sha256;
        return { ...o, url: abs(o.url as string), sha256: hash, ...(files ? { files } : {}) };
      });
      db.prepare("UPDATE successes SET key = ?, parts = ?, outputs = ? WHERE task_id = ?").run(
        sha256(canonical(parts)),
        JSON.stringify(parts),
        JSON.stringify(outputs),
        r.task_id,
      );
    }
    db.exec("ALTER TABLE attempts DROP COLUMN usage"); // version 3's
    db.exec("ALTER TABLE attempts DROP COLUMN pilot"); // version 4's
    db.exec("PRAGMA user_version = 1");
  } finally {
    db.close();
  }
}

Deno.test("a state written by the previous ferry (absolute URLs) is migrated: cached, moved or not", async () => {
  await withTemp(async (dir) => {
    await finished(dir, "old ws");
    const ws = join(dir, "old ws");
    const before = new DatabaseSync(join(ws, ".ferry", "state.db"));
    const recorded = before.prepare("SELECT task_id, key, outputs FROM successes ORDER BY task_id")
      .all();
    before.close();
    asVersion1(ws);
    // Moved before the new ferry opens it: the old URLs name the old place.
    await Deno.rename(ws, join(dir, "new place"));
    await fullyCached(join(dir, "new place", "workflow.yaml"));
    const after = new DatabaseSync(join(dir, "new place", ".ferry", "state.db"));
    try {
      const rows = (sql: string) => after.prepare(sql).all().map((r) => ({ ...r as object }));
      assert.deepEqual(rows("PRAGMA user_version"), [{ user_version: 4 }]);
      // Exactly what this ferry records: keys, relative URLs, glob hashes.
      assert.deepEqual(
        rows("SELECT task_id, key, outputs FROM successes ORDER BY task_id"),
        recorded.map((r) => ({ ...r as object })),
      );
      const gather = (recorded as { task_id: string; outputs: string }[])
        .find((r) => r.task_id === "gather")!;
      assert.equal(JSON.parse(gather.outputs)[0].url, "./all%20of%20it.txt");
    } finally {
      after.close();
    }
  });
});
