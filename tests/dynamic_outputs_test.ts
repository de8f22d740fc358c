/**
 * Dynamic outputs (`glob`, `dir`) across runs, found by the torture test: a
 * task with a glob output is cached like any other (it re-ran every time),
 * and a task gathering a dynamic output as a list input, without a fan-out
 * (`inputs: { x: "${{ apps.A.outputs.O }}" }`), gets the files collected
 * (it got the placeholder path), in the run and in the plan of a later run,
 * and only once every task of the app it gathers from is done.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";

function workflow(ledger: string) {
  const log = `echo "$FERRY_TASK_ID" >> ${ledger}`;
  return {
    ferry: 1,
    name: "dynamic",
    apps: {
      mk: {
        outputs: { d: { dir: "d" }, g: { glob: "g/*.txt" } },
        shell:
          `${log}\nmkdir -p d g\necho 1 > d/a\necho 2 > d/b\necho 3 > g/x.txt\necho 4 > g/y.txt\n`,
      },
      use: {
        inputs: { all: "${{ apps.mk.outputs.d }}", gs: "${{ apps.mk.outputs.g }}" },
        outputs: { o: "o.txt" },
        shell: `${log}\ncat \${{ inputs.all }} \${{ inputs.gs }} > \${{ outputs.o }}\n`,
      },
    },
  };
}

async function ran(ledger: string): Promise<string[]> {
  const text = await Deno.readTextFile(ledger).catch(() => "");
  await Deno.writeTextFile(ledger, "");
  return text.split("\n").filter((l) => l !== "");
}

Deno.test("dynamic outputs: gathered without a fan-out, cached on the next run, glob included", async () => {
  await withTemp(async (dir) => {
    const ledger = join(dir, "ledger.txt");
    const ws = join(dir, "ws");
    await Deno.mkdir(ws);
    const wf = await writeWorkflow(ws, workflow(ledger));
    const first = await ferryRun([wf]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "o.txt")), "1\n2\n3\n4\n");
    assert.deepEqual(await ran(ledger), ["mk", "use"]);

    // Nothing changed: the plan and the run agree that both are cached.
    const plan = await ferryRun([wf], {}, "plan");
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /mk {2}\[cached\]/);
    assert.match(plan.stdout, /use {2}\[cached\]/);
    assert.match(plan.stdout, /in {2}all {2}d\/a /);
    const again = await ferryRun([wf]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /plan: 0 to run, 2 cached/);
    assert.match(again.stderr, /done: 0 succeeded, 2 cached, 0 failed/);
    assert.deepEqual(await ran(ledger), []);

    // A file of the glob output deleted: its producer runs again; its content is the same, so
    // the gathering task is not.
    await Deno.remove(join(ws, "g", "y.txt"));
    const third = await ferryRun([wf]);
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual(await ran(ledger), ["mk"]);
    assert.equal(await Deno.readTextFile(join(ws, "g", "y.txt")), "4\n");
  });
});

Deno.test("dynamic outputs: a gathering task waits for every task of the app it gathers from", async () => {
  // slow[n=1] is done and slow[n=2] still running when `one` finishes (0.4 s) and `each`
  // expands over its files: that expansion must not hand `all` the files of slow[n=1] alone
  // (it did: `all` then ran at once, with half its input).
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "partial",
      executors: { local: { cores: 16 } },
      apps: {
        slow: {
          for_each: { n: [1, 2] },
          outputs: { f: { glob: "slow/${{ n }}/*.txt" } },
          shell:
            "mkdir -p slow/${{ n }}\nif [ ${{ n }} = 2 ]; then sleep 1; fi\necho ${{ n }} > slow/${{ n }}/x.txt\n",
        },
        one: {
          outputs: { f: { glob: "one/*.txt" } },
          shell: "sleep 0.4\nmkdir -p one\necho a > one/a.txt\n",
        },
        each: {
          for_each: { f: "${{ apps.one.outputs.f }}" },
          inputs: { f: "${{ f }}" },
          outputs: { o: "each/${{ f.name }}" },
          command: ["cp", "${{ inputs.f }}", "${{ outputs.o }}"],
        },
        all: {
          inputs: { f: "${{ apps.slow.outputs.f }}" },
          outputs: { o: "all.txt" },
          shell: "cat ${{ inputs.f }} > ${{ outputs.o }}",
        },
      },
    });
    const r = await ferryRun(["--jobs", "4", wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "all.txt")), "1\n2\n");
    assert.equal(await Deno.readTextFile(join(ws, "each", "a.txt")), "a\n");
  });
});

Deno.test("dynamic outputs: a run with targets stays within them when a fan-out expands", async () => {
  await withTemp(async (dir) => {
    const ledger = join(dir, "ledger.txt");
    const ws = join(dir, "ws");
    await Deno.mkdir(ws);
    const log = `echo "$FERRY_TASK_ID" >> ${ledger}`;
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "targets",
      apps: {
        split: {
          outputs: { parts: { dir: "parts" } },
          shell: `${log}\nmkdir -p parts\necho a > parts/p1\necho b > parts/p2\n`,
        },
        measure: {
          for_each: { part: "${{ apps.split.outputs.parts }}" },
          inputs: { part: "${{ part }}" },
          outputs: { size: "sizes/${{ part.name }}.txt" },
          shell: `${log}\nwc -c < \${{ inputs.part }} > \${{ outputs.size }}\n`,
        },
        other: { outputs: { o: "other.txt" }, shell: `${log}\ntouch \${{ outputs.o }}\n` },
      },
    });
    const r = await ferryRun([wf, "measure"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await ran(ledger)).sort(), [
      "measure[part=parts/p1]",
      "measure[part=parts/p2]",
      "split",
    ]);
    assert.match(r.stderr, /^done: 3 succeeded, 0 failed in /m);
    // The placeholder's id as a target means the whole fan-out, once it is known.
    await Deno.remove(join(ws, "sizes"), { recursive: true });
    const again = await ferryRun([wf, "measure[part=*]"]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((await ran(ledger)).sort(), [
      "measure[part=parts/p1]",
      "measure[part=parts/p2]",
    ]);
    assert.equal(await Deno.readTextFile(join(ws, "sizes", "p2.txt")), "2\n");
  });
});
