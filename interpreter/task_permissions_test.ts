import assert from "node:assert/strict";
import { join } from "node:path";
import { toFileUrl } from "../providers/_shared/urls.ts";
import type { PlanTask } from "./plan.ts";
import { taskPermissions } from "./task_permissions.ts";

function task(run: PlanTask["run"], inputs: { name: string; path: string }[] = []): PlanTask {
  return {
    id: "t",
    app: "t",
    label: "t",
    executor: "local",
    bindings: {},
    deps: [],
    inputs: inputs.map((f) => ({
      ...f,
      url: `file://${f.path}`,
      provider: "shared",
      staging: "none",
      rule: "default",
    })),
    outputs: [],
    ...(run ? { run } : {}),
    env: {},
    resources: {},
    retries: 0,
    status: { action: "run", reason: "new" },
  };
}

Deno.test("taskPermissions() grants a function its directories, inputs used in place, module graph and env, plus what the app adds", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "lib"));
    await Deno.mkdir(join(dir, "fns"));
    await Deno.writeTextFile(join(dir, "lib", "a.ts"), "export const A = 1;\n");
    await Deno.writeTextFile(
      join(dir, "abs.ts"),
      'import { A } from "./lib/a.ts";\nexport const B = A;\n',
    );
    await Deno.writeTextFile(
      join(dir, "fns", "steps.ts"),
      `import { A } from "../lib/a.ts";\nimport { B } from ${
        JSON.stringify(join(dir, "abs.ts"))
      };\n` +
        'import { parse } from "npm:yaml@2";\nexport function f() { return A + B; }\n',
    );
    const module = toFileUrl(join(dir, "fns", "steps.ts"));
    const grant = {
      read: ["/etc/hostname"],
      write: [],
      net: ["example.org"],
      env: [],
      run: [],
      all: false,
    };
    const p = taskPermissions(
      task({ kind: "function", module, export: "f", permissions: grant }, [
        { name: "here", path: "data/x.txt" },
        { name: "there", path: "/refs/genome.fa" },
      ]),
      {
        root: "/ws/.ferry/runs/R/tasks/t/attempt-1",
        result: "/ws/.ferry/runs/R/tasks/t/attempt-1/result.json",
        env: { LANG: "C", FERRY_TASK_ID: "t" },
      },
    );
    assert.deepEqual(p, {
      read: [
        ".",
        "/ws/.ferry/runs/R/tasks/t/attempt-1",
        "/refs/genome.fa",
        join(dir, "fns", "steps.ts"),
        join(dir, "lib", "a.ts"),
        join(dir, "abs.ts"),
        "/etc/hostname",
      ],
      write: [".", "/ws/.ferry/runs/R/tasks/t/attempt-1/result.json"],
      net: ["example.org"],
      env: ["LANG", "FERRY_TASK_ID", "FERRY_FUNCTION_MODULE"],
      run: [],
      all: false,
    });
    // A command runs no Deno process: nothing to derive.
    assert.equal(
      taskPermissions(task({ kind: "command", argv: ["true"] }), {
        root: "/r",
        result: "/r/result.json",
        env: {},
      }),
      undefined,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
