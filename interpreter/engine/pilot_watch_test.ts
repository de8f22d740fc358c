import assert from "node:assert/strict";
import type { BatchProvider, PilotBlock } from "../../providers/batch/types.ts";
import { blockChanges, PilotWatch } from "./pilot_watch.ts";
import type { PilotBlockChange } from "./types.ts";

const b = (id: string, state: PilotBlock["state"], busy = 0, done = 0): PilotBlock => ({
  id,
  state,
  workers: 2,
  busy,
  done,
});

/** A provider holding what `held` says now (it never runs a job here). */
function holding(held: { blocks: PilotBlock[] | undefined }): BatchProvider {
  return {
    name: "pilots",
    execute: () => Promise.reject(new Error("not used")),
    pilotBlocks: () => held.blocks,
  };
}

Deno.test("blockChanges(): new blocks and changed states, then blocks no longer held as gone", () => {
  const before = new Map([["1", b("1", "pending")], ["2", b("2", "running", 2, 5)]]);
  assert.deepEqual(blockChanges(before, [b("1", "idle"), b("3", "pending")]), [
    b("1", "idle"),
    b("3", "pending"),
    { ...b("2", "running", 2, 5), state: "gone" },
  ]);
  assert.deepEqual(blockChanges(before, [b("1", "pending", 0, 0), b("2", "running", 1, 9)]), []);
});

Deno.test("PilotWatch tells an executor's blocks when anything shown changed, once per provider, and looks once more at stop()", () => {
  const held = { blocks: [b("1", "pending")] as PilotBlock[] | undefined };
  const shared = holding(held);
  const plain: BatchProvider = { name: "local", execute: () => Promise.reject(new Error("")) };
  const told: [string, PilotBlock[], PilotBlockChange[]][] = [];
  const watch = new PilotWatch(
    new Map([["hpc", shared], ["hpc-too", shared], ["local", plain]]),
    (ex, blocks, changes) => told.push([ex, [...blocks], [...changes]]),
    (e) => {
      throw e;
    },
  );
  watch.poll();
  watch.poll(); // nothing changed: nothing told
  held.blocks = [b("1", "running", 1, 0)];
  watch.poll();
  held.blocks = [b("1", "running", 2, 3)]; // counts only: told, no change of state
  watch.poll();
  held.blocks = undefined; // no blocks any more
  watch.poll();
  assert.deepEqual(told, [
    ["hpc", [b("1", "pending")], [b("1", "pending")]],
    ["hpc", [b("1", "running", 1, 0)], [b("1", "running", 1, 0)]],
    ["hpc", [b("1", "running", 2, 3)], []],
    ["hpc", [], [{ ...b("1", "running", 2, 3), state: "gone" }]],
  ]);
  // start() looks at once; stop() clears the timer after a last look.
  told.length = 0;
  held.blocks = [b("4", "pending")];
  watch.start(60_000);
  held.blocks = [b("4", "idle")];
  watch.stop();
  assert.deepEqual(told.map(([, , c]) => c.map((x) => `${x.id} ${x.state}`)), [
    ["4 pending"],
    ["4 idle"],
  ]);
});

Deno.test("PilotWatch: a provider whose pilotBlocks() throws is handed to onError; no provider with blocks starts no timer", () => {
  const errors: unknown[] = [];
  const bug = new TypeError("no blocks here");
  const broken: BatchProvider = {
    name: "broken",
    execute: () => Promise.reject(new Error("not used")),
    pilotBlocks: () => {
      throw bug;
    },
  };
  new PilotWatch(new Map([["hpc", broken]]), () => {}, (e) => errors.push(e)).poll();
  assert.deepEqual(errors, [bug]);
  const idle = new PilotWatch(new Map(), () => assert.fail("told"), (e) => assert.fail(String(e)));
  // No stop(): a timer left running would fail this test (Deno's sanitizer of leaked timers).
  idle.start(1);
});
