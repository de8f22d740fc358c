/**
 * What a finished task leaves in the workspace, end to end: its outputs
 * arrive all together or not at all (a missing one, wherever it is declared,
 * keeps every other from being delivered), and a recorded output is judged by
 * its content, so an edit that keeps its size still makes the task run again.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";

Deno.test("a task missing its last declared output delivers none of the others", async () => {
  await withTemp(async (ws) => {
    // An earlier version of the first output: the failed attempt must not replace it.
    await Deno.mkdir(join(ws, "out"));
    await Deno.writeTextFile(join(ws, "out/first.txt"), "old\n");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "partial",
      apps: {
        two: {
          outputs: { first: "out/first.txt", dir: { dir: "out/dir" }, second: "out/second.txt" },
          shell: [
            "echo new > ${{ outputs.first }}",
            "mkdir -p ${{ outputs.dir }} && echo in-dir > ${{ outputs.dir }}/f.txt",
          ].join("\n"),
        },
      },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /^✗ two: the task did not write its output "second" \(out\/second\.txt\)$/m,
    );
    assert.equal(await Deno.readTextFile(join(ws, "out/first.txt")), "old\n");
    assert.deepEqual([...Deno.readDirSync(join(ws, "out"))].map((e) => e.name), ["first.txt"]);
  });
});

Deno.test("an edited output of the same size makes its task run again, in plan and run", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "edited",
      apps: {
        make: { outputs: { o: "o.txt" }, shell: "echo aaaa > ${{ outputs.o }}" },
        read: {
          inputs: { i: "${{ apps.make.outputs.o }}" },
          outputs: { o: "copy.txt" },
          shell: "cp ${{ inputs.i }} ${{ outputs.o }}",
        },
      },
    });
    const first = await ferryRun([wf]);
    assert.equal(first.code, 0, first.stderr);
    // Same size, same name, other bytes (and a later mtime, as any edit has).
    await Deno.writeTextFile(join(ws, "o.txt"), "bbbb\n");
    const plan = await ferryRun([wf], {}, "plan");
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /^ {2}make {2}\[run: output o modified\]$/m);
    assert.match(plan.stdout, /^ {2}read {2}\[may run: make runs first\]$/m);
    const again = await ferryRun([wf]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^done: 1 succeeded, 1 cached, 0 failed in /m);
    assert.equal(await Deno.readTextFile(join(ws, "o.txt")), "aaaa\n");
  });
});
