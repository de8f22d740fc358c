/**
 * Temp outputs (`{ path, temp: true }`) as Snakemake users expect them: once
 * deleted after their readers finished, they do not make their producer run
 * again while every reader's outputs are still valid; they are made again
 * only when a reader must run, and the plan says which. A ledger outside the
 * workspace counts which tasks really ran.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, ferryRun, withTemp, writeWorkflow } from "./_run.ts";

/** a → (temp mid) → b → (temp late) → c; d reads mid too. */
function workflow(ledger: string, bCommand = "cat") {
  const log = `echo "\${FERRY_TASK_ID}" >> ${ledger}`;
  return {
    ferry: 1,
    name: "temps",
    apps: {
      a: {
        inputs: { src: "in.txt" },
        outputs: { mid: { path: "mid/a.txt", temp: true } },
        shell: `${log}; tr a-z A-Z < \${{ inputs.src }} > \${{ outputs.mid }}`,
      },
      b: {
        inputs: { mid: "${{ apps.a.outputs.mid }}" },
        outputs: { late: { path: "late/b.txt", temp: true } },
        shell: `${log}; ${bCommand} \${{ inputs.mid }} > \${{ outputs.late }}`,
      },
      c: {
        inputs: { late: "${{ apps.b.outputs.late }}" },
        outputs: { out: "c.txt" },
        shell: `${log}; cat \${{ inputs.late }} > \${{ outputs.out }}`,
      },
      d: {
        inputs: { mid: "${{ apps.a.outputs.mid }}" },
        outputs: { out: "d.txt" },
        shell: `${log}; wc -c < \${{ inputs.mid }} > \${{ outputs.out }}`,
      },
    },
  };
}

interface Setup {
  readonly ws: string;
  readonly wf: string;
  readonly ledger: string;
}

async function withWorkspace(fn: (s: Setup) => Promise<void>): Promise<void> {
  await withTemp(async (dir) => {
    const ws = join(dir, "ws");
    await Deno.mkdir(ws);
    await Deno.writeTextFile(join(ws, "in.txt"), "hello\n");
    const ledger = join(dir, "ledger");
    await fn({ ws, wf: await writeWorkflow(ws, workflow(ledger)), ledger });
  });
}

/** Each task's mark in `ferry plan`. */
async function marks(wf: string): Promise<Record<string, string>> {
  const r = await ferryRun([wf], {}, "plan");
  assert.equal(r.code, 0, r.stderr);
  const out: Record<string, string> = {};
  for (const m of r.stdout.matchAll(/^ {2}(\S+) {2}\[(.*)\]$/gm)) out[m[1]!] = m[2]!;
  return out;
}

/** Run; the tasks that ran, the summary's first line; the temp outputs must be gone after. */
async function ran(s: Setup): Promise<{ tasks: string[]; plan: string }> {
  await Deno.writeTextFile(s.ledger, "");
  const r = await ferryRun([s.wf]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await exists(join(s.ws, "mid/a.txt")), false);
  assert.equal(await exists(join(s.ws, "late/b.txt")), false);
  const tasks = (await Deno.readTextFile(s.ledger)).trim().split("\n").filter(Boolean).sort();
  return { tasks, plan: r.stderr.match(/^plan: .*$/m)![0] };
}

const NOT_NEEDED = {
  a: "cached: output mid: temp, deleted, not needed",
  b: "cached: output late: temp, deleted, not needed",
  c: "cached",
  d: "cached",
};

Deno.test("deleted temp outputs whose readers are valid run nothing again; the plan says why", async () => {
  await withWorkspace(async (s) => {
    assert.deepEqual(await ran(s), {
      tasks: ["a", "b", "c", "d"],
      plan: "plan: 4 to run, 0 cached",
    });
    assert.deepEqual(await marks(s.wf), NOT_NEEDED);
    assert.deepEqual(await ran(s), { tasks: [], plan: "plan: 0 to run, 4 cached" });
    assert.equal(await Deno.readTextFile(join(s.ws, "c.txt")), "HELLO\n");
    // A temp output made again by hand is checked like any output.
    await Deno.mkdir(join(s.ws, "mid"), { recursive: true });
    await Deno.writeTextFile(join(s.ws, "mid/a.txt"), "changed\n");
    assert.deepEqual(await marks(s.wf), {
      ...NOT_NEEDED,
      a: "run: output mid modified",
      b: "may run: a runs first",
      c: "may run: b may run first",
      d: "may run: a runs first",
    });
  });
});

Deno.test("a reader that must run makes its producer run first, up the chain of temp outputs", async () => {
  await withWorkspace(async (s) => {
    await ran(s);
    await Deno.remove(join(s.ws, "c.txt"));
    assert.deepEqual(await marks(s.wf), {
      a: "run: output mid: temp, deleted, needed by b",
      b: "run: output late: temp, deleted, needed by c",
      c: "run: output out missing",
      d: "may run: a runs first",
    });
    // a writes what it wrote before: d finds its input unchanged and is skipped.
    assert.deepEqual(await ran(s), {
      tasks: ["a", "b", "c"],
      plan: "plan: 3 to run, 1 may run, 0 cached",
    });
    assert.equal(await Deno.readTextFile(join(s.ws, "c.txt")), "HELLO\n");
    assert.deepEqual(await marks(s.wf), NOT_NEEDED);

    await Deno.remove(join(s.ws, "d.txt"));
    assert.deepEqual(await marks(s.wf), {
      ...NOT_NEEDED,
      a: "run: output mid: temp, deleted, needed by d",
      b: "may run: a runs first",
      c: "may run: b may run first",
      d: "run: output out missing",
    });
    // b may run: it does not (its input came out the same), so its deleted output stays deleted
    // and c, which may run only because b may, finds it as recorded.
    assert.deepEqual(await ran(s), {
      tasks: ["a", "d"],
      plan: "plan: 2 to run, 2 may run, 0 cached",
    });
  });
});

Deno.test("changing a reader's command re-runs its producer, then the reader", async () => {
  await withWorkspace(async (s) => {
    await ran(s);
    await writeWorkflow(s.ws, workflow(s.ledger, "cat -n"));
    assert.deepEqual(await marks(s.wf), {
      a: "run: output mid: temp, deleted, needed by b",
      b: "run: command changed",
      c: "may run: b runs first",
      d: "may run: a runs first",
    });
    assert.deepEqual(await ran(s), {
      tasks: ["a", "b", "c"],
      plan: "plan: 2 to run, 2 may run, 0 cached",
    });
    assert.equal(await Deno.readTextFile(join(s.ws, "c.txt")), "     1\tHELLO\n");
    assert.deepEqual(await marks(s.wf), NOT_NEEDED);
  });
});
