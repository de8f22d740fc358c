import assert from "node:assert/strict";
import { relocate } from "./remote_copy.ts";

Deno.test("relocate() moves every path of the attempt's directory, env values and Deno permissions too", () => {
  const from = "/ws/.ferry/runs/R/tasks/t/attempt-1";
  const to = "/home/me/.ferry-remote/R/t/attempt-1";
  const job = relocate(
    {
      taskId: "t",
      attempt: 1,
      root: from,
      dir: `${from}/work`,
      run: { kind: "function", module: "file:///ws/steps.ts", export: "f" },
      env: { FERRY_TASK: `${from}/task.json`, LANG: "C", NEAR: `${from}-2/x` },
      mkdirs: [`${from}/work`],
      stdout: `${from}/stdout.log`,
      stderr: `${from}/stderr.log`,
      resources: {},
      call: { args: {}, result: `${from}/result.json` },
      permissions: {
        read: [".", from, "/etc/hostname"],
        write: [".", `${from}/result.json`],
        net: [],
        env: ["LANG"],
        run: [],
        all: false,
      },
    },
    from,
    to,
  );
  assert.equal(job.root, to);
  assert.equal(job.dir, `${to}/work`);
  assert.deepEqual(job.env, { FERRY_TASK: `${to}/task.json`, LANG: "C", NEAR: `${from}-2/x` });
  assert.equal(job.call?.result, `${to}/result.json`);
  assert.deepEqual(job.permissions?.read, [".", to, "/etc/hostname"]);
  assert.deepEqual(job.permissions?.write, [".", `${to}/result.json`]);
});
