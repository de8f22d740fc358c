/**
 * Function apps (`function: ./steps.ts#name`): each runs in its own Deno process with its
 * arguments as JSON; its return value is recorded in the state store and handed to the function
 * tasks that depend on it (`args.results`), from this run or a recorded one; its cache key covers
 * its module and every local module that imports.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { StateStore } from "../interpreter/state.ts";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";

async function setUp(ws: string): Promise<string> {
  await Deno.writeTextFile(join(ws, "helper.ts"), "export const WEIGHT = 10;\n");
  await Deno.writeTextFile(
    join(ws, "steps.ts"),
    [
      'import { WEIGHT } from "./helper.ts";',
      "type Args = {",
      "  bindings: Record<string, string>;",
      "  outputs: Record<string, string>;",
      "  results: Record<string, { score: number }>;",
      "  task: { id: string };",
      "};",
      "export function score(args: Args) {",
      "  const n = Number(args.bindings.n) * WEIGHT;",
      "  Deno.writeTextFileSync(args.outputs.out, `${n}\\n`);",
      "  return { score: n };",
      "}",
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(
    join(ws, "report.ts"),
    [
      "type Args = { outputs: Record<string, string>; results: Record<string, { score: number }> };",
      "export function report(args: Args) {",
      "  const total = Object.values(args.results).reduce((s, r) => s + r.score, 0);",
      "  const names = Object.keys(args.results).sort().join(' ');",
      "  Deno.writeTextFileSync(args.outputs.out, `${names} = ${total}\\n`);",
      "  return { total };",
      "}",
      "",
    ].join("\n"),
  );
  return await writeWorkflow(ws, {
    ferry: 1,
    name: "functions",
    params: { ns: [1, 2, 3] },
    apps: {
      score: {
        for_each: { n: "${{ params.ns }}" },
        outputs: { out: "scores/${{ n }}.txt" },
        function: "./steps.ts#score",
      },
      report: {
        inputs: { scores: "${{ apps.score.outputs.out }}" },
        outputs: { out: "report.txt" },
        function: "./report.ts#report",
      },
    },
  });
}

Deno.test("function apps: return values are recorded and feed the function tasks that depend on them", async () => {
  await withTemp(async (ws) => {
    const wf = await setUp(ws);
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "scores", "2.txt")), "20\n");
    assert.equal(
      await Deno.readTextFile(join(ws, "report.txt")),
      "score[n=1] score[n=2] score[n=3] = 60\n",
    );
    const store = StateStore.open(ws);
    try {
      assert.deepEqual(store.successes().get("score[n=3]")?.result, { score: 30 });
      assert.deepEqual(store.successes().get("report")?.result, { total: 60 });
    } finally {
      store.close();
    }
    // Recorded results feed a later run: only report runs again, with scores it did not make.
    await Deno.writeTextFile(
      join(ws, "report.ts"),
      (await Deno.readTextFile(join(ws, "report.ts"))).replace(" = ${total}", " => ${total}"),
    );
    const again = await ferryRun([wf]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^plan: 1 to run, 3 cached$/m);
    assert.equal(
      await Deno.readTextFile(join(ws, "report.txt")),
      "score[n=1] score[n=2] score[n=3] => 60\n",
    );
  });
});

Deno.test("function apps: a change to a module the function imports re-runs its tasks and their readers", async () => {
  await withTemp(async (ws) => {
    const wf = await setUp(ws);
    assert.equal((await ferryRun([wf])).code, 0);
    const same = await ferryRun([wf], {}, "plan");
    assert.match(same.stdout, /^4 tasks \(0 to run, 4 cached\)/m);
    await Deno.writeTextFile(join(ws, "helper.ts"), "export const WEIGHT = 100;\n");
    const plan = await ferryRun([wf], {}, "plan");
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /^ {2}score\[n=1\] {2}\[run: command changed\]$/m);
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "scores", "3.txt")), "300\n");
    assert.equal(
      await Deno.readTextFile(join(ws, "report.txt")),
      "score[n=1] score[n=2] score[n=3] = 600\n",
    );
  });
});

Deno.test("function apps: a shell task finds the results of the function tasks it depends on in FERRY_RESULTS", async () => {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(
      join(ws, "steps.ts"),
      "export function answer() { return { value: 42, note: 'it\\'s \"quoted\"' }; }\n",
    );
    const flow = await writeWorkflow(ws, {
      ferry: 1,
      name: "results-env",
      apps: {
        answer: { function: "./steps.ts#answer" },
        use: {
          after: ["answer"],
          outputs: { o: "use.txt" },
          shell: 'cat "$FERRY_RESULTS" > ${{ outputs.o }}',
        },
      },
    });
    const r = await ferryRun([flow]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(ws, "use.txt"))), {
      answer: { value: 42, note: `it's "quoted"` },
    });
    // A different result re-runs the task that reads it, though no file of its changed.
    await Deno.writeTextFile(
      join(ws, "steps.ts"),
      (await Deno.readTextFile(join(ws, "steps.ts"))).replace("value: 42", "value: 43"),
    );
    const again = await ferryRun([flow]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(await Deno.readTextFile(join(ws, "use.txt"))).answer.value, 43);
    // The same result again: the reader stays cached.
    const plan = await ferryRun([flow], {}, "plan");
    assert.match(plan.stdout, /^ {2}use {2}\[cached\]$/m);
  });
});
