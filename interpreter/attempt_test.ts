import assert from "node:assert/strict";
import { type JobPlace, jobSpec } from "./attempt.ts";
import type { PlanTask } from "./plan.ts";
import type { Executor } from "../dsl/model.ts";

const task = { id: "t", env: {}, resources: {}, app: "a" } as unknown as PlanTask;
const ex = { env: {} } as unknown as Executor;
const place: JobPlace = {
  paths: { root: "/r", work: "/r/work", dirs: ["/r/work"] } as unknown as JobPlace["paths"],
  attempt: 1,
  runDir: "/run",
  stdout: "/r/out",
  stderr: "/r/err",
  placed: false,
};

Deno.test("jobSpec hands the run's retry base to the job (for the wrapper's node-side transfers)", () => {
  assert.equal(jobSpec(task, ex, { ...place, retryBaseMs: 250 }).retryBaseMs, 250);
  assert.equal("retryBaseMs" in jobSpec(task, ex, place), false);
});
