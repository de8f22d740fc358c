import assert from "node:assert/strict";
import { RunTransfers } from "./transfers.ts";
import { keptTransferId, LOCAL_EXECUTOR, type Plan, type PlanTask } from "../plan.ts";
import type { NewEvent } from "../events.ts";

const URL_B = "file:///ws/b.txt";
const ID = keptTransferId("host", URL_B);

/** b (on host) keeps b.txt for c there; d (local) reads it after its transfer. */
function plan(): Plan {
  const out = {
    name: "b",
    url: URL_B,
    provider: "copy",
    staging: "wrap",
    path: "b.txt",
    rule: "default",
    transfer: ID,
    keep: { executor: "host", readers: ["c"], deliver: true },
  } as const;
  const task = (id: string, executor: string, extra: Partial<PlanTask>) =>
    ({ id, executor, inputs: [], outputs: [], ...extra }) as unknown as PlanTask;
  return {
    ferryPlan: 1,
    workflow: "kept",
    workspace: "file:///ws/",
    tasks: [
      task("b", "host", { outputs: [out] }),
      task("d", "local", {
        inputs: [{
          name: "b",
          url: URL_B,
          provider: "shared",
          staging: "none",
          path: "b.txt",
          rule: "default",
          transfer: ID,
          kept: { executor: "host", task: "b" },
        }],
      }),
    ],
    transfers: [{
      id: ID,
      direction: "in",
      url: URL_B,
      provider: "kept",
      executor: "host",
      rule: "default",
      storage: "workspace",
      path: "/ws/b.txt",
      consumers: ["d"],
    }],
    summary: { tasks: 2, run: 2, mayRun: 0, cached: 0, dynamic: 0, transfers: 1, executors: {} },
  } as Plan;
}

function transfers(fetch: (sha256?: string) => Promise<number>) {
  const log: NewEvent[] = [];
  const t = new RunTransfers(
    plan(),
    { executors: { local: LOCAL_EXECUTOR }, moduleBase: () => "/ws" },
    undefined,
    (e) => log.push(e),
    (_t, how) => fetch(how.sha256),
  );
  return { t, log };
}

Deno.test("kept transfers: started once by the maker's success, checked against its hash, shared by readers elsewhere", async () => {
  const asked: (string | undefined)[] = [];
  const { t, log } = transfers((sha256) => {
    asked.push(sha256);
    return Promise.resolve(12);
  });
  const [b, d] = plan().tasks;
  assert.deepEqual(t.inputsOf(d!).map((x) => x.id), [ID]);
  // The maker did not run in this run: its reader reads the workspace's copy, nothing moves.
  assert.equal(await t.wait(t.inputsOf(d!)), undefined);
  assert.deepEqual(asked, []);
  const coming = t.deliver(b!, { "b.txt": { sha256: "ab12" } });
  assert.deepEqual([...coming.keys()], [URL_B]);
  assert.equal(await t.wait(t.inputsOf(d!)), undefined);
  assert.equal(await t.wait(t.inputsOf(d!)), undefined);
  assert.deepEqual(asked, ["ab12"]);
  assert.deepEqual((await t.settleKept()).size, 0);
  assert.deepEqual(
    log.map((e) => [e.event, (e as { bytes?: number }).bytes]),
    [["transfer-started", 0], ["transfer-finished", 12]],
  );
  assert.deepEqual(t.counts.fetched, 1);
  await t.close("done");
});

Deno.test("kept transfers: a failed one fails its readers and is named at the run's end", async () => {
  const { t, log } = transfers(() => Promise.reject(new Error("Cannot fetch /h/x: gone")));
  const [b, d] = plan().tasks;
  t.deliver(b!);
  assert.equal(await t.wait(t.inputsOf(d!)), "Cannot fetch /h/x: gone");
  assert.deepEqual([...(await t.settleKept())], [[ID, "Cannot fetch /h/x: gone"]]);
  assert.equal((log.at(-1) as { error?: string }).error, "Cannot fetch /h/x: gone");
  assert.equal(t.counts.failed, 1);
  await t.close("done");
});
