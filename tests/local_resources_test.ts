/**
 * The local executor's accounting of cores and memory, end to end: an MPI
 * task holds ranks × cores, an executor's `memory` bounds what runs at once,
 * and a task needing exactly all of either runs (more is refused by the
 * check, with both numbers). Tasks that must not overlap take one directory
 * with `mkdir` (atomic): the second of two running at once finds it taken
 * and fails, saying so.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferry, withTemp, writeWorkflow } from "./_run.ts";

const decoder = new TextDecoder();

/** A task that fails if another such task runs at the same time. */
function exclusive(name: string, resources: Record<string, unknown>) {
  return {
    resources,
    outputs: { o: `${name}.txt` },
    shell: [
      'mkdir "$PROBE/held" 2>/dev/null || { echo "ran beside another task" >&2; exit 9; }',
      "sleep 0.5",
      'rmdir "$PROBE/held"',
      "echo ok > ${{ outputs.o }}",
    ].join("\n"),
  };
}

/** `ferry run --keep-going` of `wf` in `ws`, killed (and failing the test) after 60 s. */
async function run(ws: string, wf: unknown): Promise<{ code: number; stderr: string }> {
  await Deno.mkdir(join(ws, "probe"));
  const path = await writeWorkflow(ws, {
    ferry: 1,
    name: "resources",
    defaults: { env: { PROBE: join(ws, "probe") } },
    ...wf as Record<string, unknown>,
  });
  const child = ferry(["--keep-going", path]).spawn();
  // A task that fits but is never started would leave the run waiting for ever.
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const out = await child.output();
  clearTimeout(timer);
  assert.equal(out.signal, null, "the run was still going after 60 s");
  return { code: out.code, stderr: decoder.decode(out.stderr) };
}

Deno.test("local run: an MPI task holds ranks × cores; one needing more than the executor has is a check error", async () => {
  await withTemp(async (ws) => {
    // Two tasks of 2 ranks on 2 cores: one at a time.
    const r = await run(ws, {
      executors: { local: { cores: 2 } },
      apps: { a: exclusive("a", { ranks: 2 }), b: exclusive("b", { ranks: 2 }) },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^done: 2 succeeded, 0 failed in /m);
  });
  await withTemp(async (ws) => {
    const r = await run(ws, {
      executors: { local: { cores: 2 } },
      apps: { big: exclusive("big", { ranks: 3, cores: 1 }) },
    });
    // Refused by the check, before anything runs, at the key that asks.
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr.split("\n")[0],
      `${ws}/workflow.yaml:13:7: error[resources-exceed]: Cannot run "big" on executor "local": it needs at least 3 cores (3 ranks × 1) and it has 2`,
    );
  });
});

Deno.test("local run: an executor's memory bounds the tasks running at once; more than it has is a check error", async () => {
  await withTemp(async (ws) => {
    // 600 MiB each in 1 GiB: one at a time, however much memory the machine has.
    const r = await run(ws, {
      executors: { local: { cores: 4, memory: "1GiB" } },
      apps: { a: exclusive("a", { memory: "600MiB" }), b: exclusive("b", { memory: "600MiB" }) },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^done: 2 succeeded, 0 failed in /m);
  });
  await withTemp(async (ws) => {
    const r = await run(ws, {
      executors: { local: { cores: 4, memory: "1GiB" } },
      apps: { big: exclusive("big", { memory: "1536MiB" }) },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr.split("\n")[0],
      `${ws}/workflow.yaml:13:7: error[resources-exceed]: Cannot run "big" on executor "local": it needs at least 1.5 GiB of memory and it has 1.0 GiB`,
    );
  });
});

Deno.test("local run: a task needing exactly all of an executor's cores and memory runs", async () => {
  await withTemp(async (ws) => {
    const r = await run(ws, {
      executors: { local: { cores: 2, memory: "1GiB" } },
      apps: {
        cores: exclusive("cores", { cores: 2 }),
        ranks: exclusive("ranks", { ranks: 2, cores: 1 }),
        memory: exclusive("memory", { memory: "1GiB" }),
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^done: 3 succeeded, 0 failed in /m);
    for (const app of ["cores", "ranks", "memory"]) {
      assert.equal(await Deno.readTextFile(join(ws, `${app}.txt`)), "ok\n");
    }
  });
});
