/**
 * A transfer follows the staging rule of the task that reads the file: tasks
 * on executors whose rules for a URL differ (other retries, another login)
 * get a transfer and a copy each; tasks whose rules agree share one.
 * @module
 */

import assert from "node:assert/strict";
import { freePort } from "./_services.ts";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";

function workflow(url: string, otherRule: Record<string, unknown>) {
  const read = (out: string) => ({
    inputs: { x: url },
    outputs: { y: out },
    shell: "wc -c < ${{ inputs.x }} > ${{ outputs.y }}",
  });
  return {
    ferry: 1,
    name: "rules",
    executors: { other: { staging: [{ match: "ftp://*:*", action: "ftp", ...otherRule }] } },
    apps: { a: read("a.txt"), b: { executor: "other", ...read("b.txt") } },
  };
}

Deno.test("plan: readers of one URL share its transfer only when their rules agree", async () => {
  await withTemp(async (ws) => {
    const url = "ftp://127.0.0.1:2121/pub/x.bin";
    const plan = async (rule: Record<string, unknown>) => {
      const wf = await writeWorkflow(ws, workflow(url, rule));
      const r = await ferryRun(["--format", "json", wf], {}, "plan");
      assert.equal(r.code, 0, r.stderr);
      const p = JSON.parse(r.stdout);
      return {
        transfers: p.transfers.map((t: { id: string; rule: unknown; consumers: string[] }) => [
          t.id.replace(/#[0-9a-f]{8}$/, "#VARIANT"),
          t.rule,
          t.consumers,
        ]),
        paths: p.tasks.map((t: { inputs: { path: string }[] }) => t.inputs[0]!.path),
      };
    };
    const differ = await plan({ retries: 0 });
    assert.deepEqual(differ.transfers, [
      [`in:workspace:${url}`, "default", ["a"]],
      [`in:workspace:${url}#VARIANT`, 0, ["b"]],
    ]);
    assert.notEqual(differ.paths[0], differ.paths[1]);
    const agree = await plan({});
    assert.deepEqual(agree.transfers, [[`in:workspace:${url}`, "default", ["a", "b"]]]);
    assert.equal(agree.paths[0], agree.paths[1]);
  });
});

Deno.test("run: an FTP rule with retries: 0 makes one attempt, beside a default rule's four", async () => {
  await withTemp(async (ws) => {
    const url = `ftp://127.0.0.1:${freePort()}/pub/x.bin`; // nothing listens there
    const wf = await writeWorkflow(ws, workflow(url, { retries: 0 }));
    const r = await ferryRun(["--keep-going", "--retry-base", "0.01", wf]);
    assert.equal(r.code, 1, r.stderr);
    const why = (n: number) =>
      `Cannot fetch "${url}" with ftp after ${n} attempt(s): FTP connection failed: connection refused (127.0.0.1:${
        new URL(url).port
      }, /pub/x.bin)`;
    assert.ok(r.stderr.includes(`✗ a: ${why(4)}\n`), r.stderr);
    assert.ok(r.stderr.includes(`✗ b: ${why(1)}\n`), r.stderr);
  });
});
