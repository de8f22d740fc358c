import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { RunCrashed } from "./crash.ts";
import { Engine } from "./engine.ts";
import type { RunOptions } from "./options.ts";
import {
  localExecutor,
  planOf,
  planTask,
  recordingEvents,
  ScriptedProvider,
} from "./_test_tasks.ts";
import type { PlanTask } from "../plan.ts";

async function run(tasks: PlanTask[], provider: ScriptedProvider, over: Partial<RunOptions> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "ferry-engine-" });
  const runDir = join(dir, ".ferry", "runs", "r1");
  await Deno.mkdir(runDir, { recursive: true });
  const events = recordingEvents();
  const options: RunOptions = {
    workspace: dir,
    runDir,
    runId: "r1",
    executors: { local: localExecutor(1) },
    providers: new Map([["local", provider]]),
    signal: new AbortController().signal,
    events,
    retryBaseMs: 200,
    ...over,
  };
  try {
    const summary = await new Engine(planOf(tasks), options).run();
    return { summary, events: events.lines, runDir, dir, error: undefined };
  } catch (error) {
    return { summary: undefined, events: events.lines, runDir, dir, error };
  }
}

function eventLines(runDir: string): Record<string, unknown>[] {
  return Deno.readTextFileSync(join(runDir, "events.jsonl")).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
}

Deno.test("engine: a task waiting to retry gives its core back; another task runs meanwhile", async () => {
  // One core. `a` fails once and retries after 200 ms; `b` must not wait for a's retry.
  const p = new ScriptedProvider({ a: [{ outcome: "failed", exitCode: 1 }] });
  const r = await run([planTask("a", { retries: 1 }), planTask("b")], p);
  assert.deepEqual(p.log, ["a#1", "b#1", "a#2"]);
  assert.equal(r.summary?.states.get("a"), "succeeded");
  assert.equal(r.summary?.states.get("b"), "succeeded");
  assert.deepEqual(r.events, [
    "start 2",
    "started a#1",
    "retrying a#1",
    "started b#1",
    "finished b#1 succeeded",
    "started a#2",
    "finished a#2 succeeded",
  ]);
  await Deno.remove(r.dir, { recursive: true });
});

Deno.test("engine: a succeeded attempt's slot goes to the next task before its outputs are committed", async () => {
  // Two slots, b runs long: c starts as soon as a's process ended, before a is finished (committed).
  const p = new ScriptedProvider({ b: [{ outcome: "succeeded", ms: 300 }] });
  const two = { executors: { local: localExecutor(2) } };
  const r = await run([planTask("a"), planTask("b"), planTask("c")], p, two);
  assert.deepEqual(r.events.slice(0, 5), [
    "start 3",
    "started a#1",
    "started b#1",
    "started c#1",
    "finished a#1 succeeded",
  ]);
  // One at a time means one at a time: the next task starts once the previous one is done.
  const one = await run([planTask("a"), planTask("b")], new ScriptedProvider({}));
  assert.deepEqual(one.events, [
    "start 2",
    "started a#1",
    "finished a#1 succeeded",
    "started b#1",
    "finished b#1 succeeded",
  ]);
  for (const x of [r, one]) await Deno.remove(x.dir, { recursive: true });
});

Deno.test("engine: after a failure no new task starts; keep-going blocks only the dependants", async () => {
  const script = { a: [{ outcome: "failed" as const, exitCode: 3 }] };
  const tasks = () => [planTask("a"), planTask("b", { deps: ["a"] }), planTask("c")];
  const stop = await run(tasks(), new ScriptedProvider(script));
  assert.equal(stop.summary?.states.get("a"), "failed");
  assert.equal(stop.summary?.states.get("b"), "waiting");
  assert.equal(stop.summary?.states.get("c"), "waiting", "one core: c was queued behind a");
  const going = await run(tasks(), new ScriptedProvider(script), { keepGoing: true });
  assert.deepEqual(Object.fromEntries(going.summary!.states), {
    a: "failed",
    b: "blocked",
    c: "succeeded",
  });
  assert.ok(
    eventLines(going.runDir).some((e) => e.event === "blocked" && e.task === "b" && e.by === "a"),
  );
  for (const r of [stop, going]) await Deno.remove(r.dir, { recursive: true });
});

Deno.test("engine: a provider that throws stops the run: other jobs cancelled, run-ended says why, RunCrashed names a log with the stack", async () => {
  const p = new ScriptedProvider({
    slow: [{ outcome: "succeeded", ms: 30_000 }],
    bad: [{ throws: "provider bug: lost the job table", ms: 50 }],
  });
  const t0 = Date.now();
  const r = await run(
    [planTask("slow"), planTask("bad"), planTask("later", { deps: ["slow"] })],
    p,
    {
      executors: { local: localExecutor(2) },
    },
  );
  assert.ok(Date.now() - t0 < 10_000, "the 30 s job was cancelled, not waited for");
  assert.ok(r.error instanceof RunCrashed, String(r.error));
  const crash = r.error as RunCrashed;
  assert.equal(crash.message, "provider bug: lost the job table");
  assert.ok(crash.logPath.startsWith(r.runDir + "/crash-"), crash.logPath);
  const text = Deno.readTextFileSync(crash.logPath);
  assert.match(text, /^time: /);
  assert.match(text, /run: r1/);
  assert.match(text, /Error: provider bug: lost the job table\n\s+at /);
  assert.deepEqual(p.log, ["slow#1", "bad#1", "slow#1 aborted"]);
  const last = eventLines(r.runDir).at(-1)!;
  assert.deepEqual({ ...last, time: 0 }, {
    time: 0,
    event: "run-ended",
    interrupted: false,
    error: "provider bug: lost the job table",
  });
  await Deno.remove(r.dir, { recursive: true });
});

Deno.test("engine: Ctrl-C while a task waits to retry ends it cancelled, at once", async () => {
  const ac = new AbortController();
  const p = new ScriptedProvider({ a: [{ outcome: "failed", exitCode: 1 }] });
  setTimeout(() => ac.abort(), 100);
  const t0 = Date.now();
  const r = await run([planTask("a", { retries: 3 })], p, {
    signal: ac.signal,
    retryBaseMs: 20_000,
  });
  assert.ok(Date.now() - t0 < 5_000);
  assert.equal(r.summary?.interrupted, true);
  assert.equal(r.summary?.states.get("a"), "cancelled");
  assert.deepEqual(p.log, ["a#1"]);
  await Deno.remove(r.dir, { recursive: true });
});

Deno.test("engine: a task too big for its executor fails before starting; a re-plan that cannot be made fails its task", async () => {
  const p = new ScriptedProvider();
  const r = await run(
    [
      planTask("huge", { resources: { cores: 4 } }),
      planTask("fan", { expandsAfter: { app: "src", output: "files" } }),
      planTask("after", { deps: ["fan"] }),
    ],
    p,
    { keepGoing: true },
  );
  assert.deepEqual(p.log, []);
  assert.deepEqual(Object.fromEntries(r.summary!.states), {
    huge: "failed",
    fan: "failed",
    after: "blocked",
  });
  assert.equal(
    r.summary?.outcomes.get("huge")?.reason,
    'Cannot run huge: it needs 4 cores and executor "local" has 1',
  );
  assert.equal(
    r.summary?.outcomes.get("fan")?.reason,
    "Cannot expand fan: this run cannot expand dynamic fan-outs",
  );
  assert.ok(!existsSync(join(r.runDir, "tasks")), "nothing started, no task directory");
  await Deno.remove(r.dir, { recursive: true });
});

Deno.test("engine: a task that could never start, though nothing failed, is an internal error, not a done run", async () => {
  // A dependency no task of the plan provides: the engine would wait for it forever.
  const p = new ScriptedProvider();
  const r = await run([planTask("a"), planTask("b", { deps: ["ghost"] })], p);
  assert.ok(r.error instanceof RunCrashed, String(r.error));
  assert.equal(
    (r.error as RunCrashed).message,
    "the run ended with 1 task(s) that never started, though nothing failed (first: b, waiting)",
  );
  assert.deepEqual(p.log, ["a#1"]);
  await Deno.remove(r.dir, { recursive: true });
});
