import assert from "node:assert/strict";
import type { Executor } from "../dsl/model.ts";
import { keepsOutputs } from "./plan.ts";

const ex = (e: Partial<Executor>) => ({ filesystem: "shared", bundle: "none", ...e }) as Executor;

Deno.test("keepsOutputs: only executors whose attempts ferry copies over keep outputs there, pilot blocks excepted", () => {
  assert.equal(keepsOutputs(ex({ provider: "ssh", filesystem: "none" })), true);
  assert.equal(
    keepsOutputs(ex({ provider: "slurm", filesystem: "none", via: "ssh://login" })),
    true,
  );
  // A pilot block's queue sync brings every output back: nothing stays on the cluster.
  assert.equal(
    keepsOutputs(
      ex({ provider: "slurm", filesystem: "none", via: "ssh://login", bundle: "pilot" }),
    ),
    false,
  );
  assert.equal(keepsOutputs(ex({ provider: "slurm", filesystem: "none" })), false);
  assert.equal(keepsOutputs(ex({ provider: "ssh", filesystem: "shared" })), false);
  assert.equal(keepsOutputs(ex({ provider: "local" })), false);
  assert.equal(keepsOutputs(undefined), false);
});
