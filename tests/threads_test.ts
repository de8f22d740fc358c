/**
 * Threads that fit: `resources.cores` as a number (up to N), an expression or
 * a range is granted what the executor has; the plan says when a request was
 * scaled down, the command sees the granted number, and a minimum above the
 * executor's cores is a check error at its key.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";

/** A workflow on a local executor of 2 cores whose app `map` asks for `cores`. */
function threads(cores: unknown, extra: Record<string, unknown> = {}) {
  return {
    ferry: 1,
    name: "threads",
    ...(JSON.stringify(cores).includes("params") ? { params: { threads: 8 } } : {}),
    executors: { local: { cores: 2 } },
    apps: {
      map: {
        resources: { cores },
        outputs: { o: "out.txt" },
        env: { T: "${{ resources.cores }}" },
        shell: 'echo "${{ resources.cores }} $FERRY_CORES $T" > ${{ outputs.o }}',
        ...extra,
      },
    },
  };
}

Deno.test("cores: 8 on an executor of 2 runs with 2; the plan says it was scaled down", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, threads(8));
    const plan = await ferryRun([wf], {}, "plan");
    assert.equal(plan.code, 0, plan.stderr);
    assert.ok(
      plan.stdout.includes(
        '  map  [run: new]\n    cores 2 (asked 8; executor "local" has 2)\n',
      ),
      plan.stdout,
    );
    const json = await ferryRun(["--format", "json", wf], {}, "plan");
    const task = JSON.parse(json.stdout).tasks[0];
    assert.deepEqual(task.resources, { cores: 2 });
    assert.deepEqual(task.scaledDown, { cores: { asked: 8, has: 2 } });
    const run = await ferryRun([wf]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "out.txt")), "2 2 2\n");
  });
});

Deno.test("cores: { min: 4 } on an executor of 2 is a check error at the key, for check, plan and run", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, threads({ min: 4 }));
    const message =
      `${wf}:10:9: error[resources-exceed]: Cannot run "map" on executor "local": it needs at least 4 cores and it has 2`;
    const check = await ferryRun([wf], {}, "check");
    assert.equal(check.code, 2);
    assert.equal(check.stdout.split("\n")[0], message);
    assert.equal(check.stdout.split("\n")[2], "      |         ^");
    for (const command of ["plan", "run"]) {
      const r = await ferryRun([wf], {}, command);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.split("\n")[0], message);
    }
    // A range it fits in: the most it can have.
    await writeWorkflow(ws, threads({ min: 2, max: 16 }));
    const run = await ferryRun([wf]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "out.txt")), "2 2 2\n");
  });
});

Deno.test("cores from a param: used (no unused-param warning), and --param threads=1 changes the grant", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, threads("${{ params.threads }}"));
    const check = await ferryRun([wf], {}, "check");
    assert.equal(check.code, 0, check.stdout);
    assert.equal(check.stdout, `✓ ${wf}: valid, 1 task, 0 errors, 0 warnings\n`);
    const one = await ferryRun(["--format", "json", "--param", "threads=1", wf], {}, "plan");
    const task = JSON.parse(one.stdout).tasks[0];
    assert.deepEqual([task.resources, task.scaledDown], [{ cores: 1 }, undefined]);
    const run = await ferryRun(["--param", "threads=1", wf]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "out.txt")), "1 1 1\n");
    // A grant is not part of the cache key, nor an env value using it: more threads leave the
    // result cached.
    const again = await ferryRun([wf]);
    assert.match(again.stderr, /^done: 0 succeeded, 1 cached, 0 failed in /m);
    const bad = await ferryRun(["--param", "threads=many", wf], {}, "check");
    assert.equal(bad.code, 2);
    assert.equal(
      bad.stdout.split("\n")[0],
      `${wf}:4:12: error[wrong-type]: Cannot set --param "threads": it must be a whole number like its default 8, not the string "many"`,
    );
  });
});

Deno.test("cores from a for_each binding, and a memory range scaled down to the executor", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "bindings",
      executors: { local: { cores: 2, memory: "1GiB" } },
      apps: {
        map: {
          for_each: { n: [1, 3] },
          resources: { cores: "${{ n }}", memory: { min: "100MiB", max: "4GiB" } },
          outputs: { o: "out/${{ n }}.txt" },
          command: [
            "sh",
            "-c",
            'echo "$1 $2" > "$3"',
            "sh",
            "${{ resources.cores }}",
            "${{ resources.memory }}",
            "${{ outputs.o }}",
          ],
        },
      },
    });
    const plan = await ferryRun([wf], {}, "plan");
    assert.equal(plan.code, 0, plan.stderr);
    assert.ok(
      plan.stdout.includes(
        [
          "  map[n=1]  [run: new]",
          '    memory 1.0 GiB (asked 4.0 GiB; executor "local" has 1.0 GiB)',
          "    out o  out/1.txt  ⇒ shared, default → " + join(ws, "out/1.txt"),
          "  map[n=3]  [run: new]",
          '    cores 2 (asked 3; executor "local" has 2)',
          '    memory 1.0 GiB (asked 4.0 GiB; executor "local" has 1.0 GiB)',
        ].join("\n"),
      ),
      plan.stdout,
    );
    // One at a time: each holds all of the executor's memory.
    const run = await ferryRun([wf]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "out/1.txt")), `1 ${2 ** 30}\n`);
    assert.equal(await Deno.readTextFile(join(ws, "out/3.txt")), `2 ${2 ** 30}\n`);
  });
});

Deno.test("plan --show-scripts asks a scheduler for the cores granted on its declared nodes", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "hpc",
      executors: { hpc: { provider: "slurm", cores: 4 }, big: { provider: "slurm" } },
      apps: {
        a: {
          executor: "hpc",
          resources: { cores: 8 },
          outputs: { o: "a.txt" },
          command: ["touch", "${{ outputs.o }}"],
        },
        b: {
          executor: "big",
          resources: { cores: 8 },
          outputs: { o: "b.txt" },
          command: ["touch", "${{ outputs.o }}"],
        },
      },
    });
    const r = await ferryRun(["--show-scripts", wf], {}, "plan");
    assert.equal(r.code, 0, r.stderr);
    const [a, b] = r.stdout.split('# ── job script of b on executor "big"');
    assert.match(a!, /^#SBATCH --cpus-per-task=4$/m);
    assert.match(a!, /^export FERRY_CORES=4$/m);
    assert.match(b!, /^#SBATCH --cpus-per-task=8$/m);
    assert.ok(r.stdout.includes('    cores 4 (asked 8; executor "hpc" has 4)\n'), r.stdout);
  });
});

Deno.test("a cores expression that gives no whole number is a check error at it", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ...threads("${{ params.threads }}"),
      params: { threads: "auto" },
    });
    const r = await ferryRun([wf], {}, "check");
    assert.equal(r.code, 2);
    assert.equal(
      r.stdout.split("\n")[0],
      `${wf}:11:14: error[invalid-value]: Cannot use "\${{ params.threads }}" as cores: it gives the string "auto", not a whole number of 1 or more`,
    );
  });
});
