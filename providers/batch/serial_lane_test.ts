import assert from "node:assert/strict";
import { SerialLane } from "./serial_lane.ts";

Deno.test("SerialLane.run() runs steps one at a time, in order", async () => {
  const lane = new SerialLane();
  const seen: string[] = [];
  const step = (name: string) => async () => {
    seen.push(`${name} starts`);
    await new Promise((r) => setTimeout(r, 5));
    seen.push(`${name} ends`);
  };
  await Promise.all([lane.run(step("a")), lane.run(step("b"))]);
  assert.deepEqual(seen, ["a starts", "a ends", "b starts", "b ends"]);
});

Deno.test("SerialLane.run() goes on after a step that throws; only that step's promise rejects", async () => {
  const lane = new SerialLane();
  const failed = lane.run(() => Promise.reject(new Error("status call threw")));
  const thrownSync = lane.run(() => {
    throw new Error("thrown before any await");
  });
  const next = lane.run(() => Promise.resolve("submitted"));
  await assert.rejects(failed, /status call threw/);
  await assert.rejects(thrownSync, /thrown before any await/);
  assert.equal(await next, "submitted");
  await lane.idle();
});
