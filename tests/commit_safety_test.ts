/**
 * Commit safety, end to end: what a task leaves is delivered only into its
 * declared outputs. No output may be ferry's own `.ferry/`, the workflow file
 * or the site file (`check`, and at run time for values from params and names
 * found by glob or dir); a symbolic link out of the workspace is refused; a
 * `dir:` output keeps what it replaces that ferry did not write in
 * `.ferry/trash/RUN/`; a file output over a directory fails its task; files a
 * glob output left that no task produces any more are stale, shown by
 * `status` and removed by `clean --stale`.
 * @module
 */

import assert from "node:assert/strict";

import { ferryRun, walk, withTemp, writeWorkflow } from "./_run.ts";

Deno.test("a param cannot aim an output at .ferry/ or the workflow file: check, plan and run refuse, nothing written", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "aimed",
      params: { out: "result.txt" },
      apps: { w: { outputs: { o: "${{ params.out }}" }, shell: "echo gotcha > ${{ outputs.o }}" } },
    });
    const before = await Deno.readTextFile(wf);
    for (
      const [out, why] of [
        [".ferry/state.db", "ferry keeps its own state in .ferry/"],
        ["workflow.yaml", "it is the workflow file"],
        ["./sub/../.ferry", "ferry keeps its own state in .ferry/"],
      ]
    ) {
      for (const command of ["check", "plan", "run"]) {
        const r = await ferryRun([wf, "-p", `out=${out}`], {}, command);
        assert.equal(r.code, 2, `${command} ${out}: ${r.stdout}${r.stderr}`);
        const shown = out === "./sub/../.ferry" ? ".ferry" : out;
        assert.ok(
          (r.stdout + r.stderr).includes(
            `${wf}:8:7: error[reserved-output]: Cannot write output "${shown}": ${why} ("\${{ params.out }}" evaluates to it)\n`,
          ),
          `${command} ${out}:\n${r.stdout}${r.stderr}`,
        );
      }
    }
    assert.equal(await Deno.readTextFile(wf), before);
    assert.deepEqual(await walk(ws), ["workflow.yaml"]);
  });
});
