/**
 * What the executor changes of what a task sees is part of its cache key:
 * the executor's `env` (from the workflow's `executors:` block or a site
 * file, and dropping the site file), its `worker_init`, and the paths its
 * staging rules give files. The re-run reason names each; `cache: { ignore }`
 * can leave them out.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";

interface Options {
  readonly env?: Record<string, string>;
  readonly appEnv?: Record<string, string>;
  readonly workerInit?: string;
  readonly staging?: unknown[];
  readonly cache?: unknown;
}

function workflow(o: Options = {}) {
  return {
    ferry: 1,
    name: "executor-key",
    executors: {
      here: {
        provider: "local",
        env: o.env ?? { EXECVAR: "one" },
        ...(o.workerInit !== undefined ? { worker_init: o.workerInit } : {}),
        ...(o.staging ? { staging: o.staging } : {}),
      },
    },
    apps: {
      a: {
        executor: "here",
        inputs: { i: "in.txt" },
        outputs: { o: "o.txt" },
        ...(o.appEnv ? { env: o.appEnv } : {}),
        ...(o.cache !== undefined ? { cache: o.cache } : {}),
        shell: 'echo "${EXECVAR:-} ${INIT:-} ${{ inputs.i }}" > ${{ outputs.o }}',
      },
    },
  };
}

/** `ferry plan` (with ARGS): the mark of task a. */
async function mark(wf: string, args: string[] = []): Promise<string> {
  const r = await ferryRun([...args, wf], {}, "plan");
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.match(/^ {2}a {2}\[(.*)\]$/m)![1]!;
}

/** `ferry run` (with ARGS): what task a wrote. */
async function run(wf: string, args: string[] = []): Promise<string> {
  const r = await ferryRun([...args, wf]);
  assert.equal(r.code, 0, r.stderr);
  return await Deno.readTextFile(join(wf, "..", "o.txt"));
}

async function withWorkspace(fn: (ws: string) => Promise<void>): Promise<void> {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(join(ws, "in.txt"), "x\n");
    await fn(ws);
  });
}

Deno.test("the executor's env, from the workflow or a site file, is in the key; dropping the site file too", async () => {
  await withWorkspace(async (ws) => {
    const wf = await writeWorkflow(ws, workflow());
    assert.equal(await run(wf), `one  in.txt\n`);
    assert.equal(await mark(wf), "cached");
    await writeWorkflow(ws, workflow({ env: { EXECVAR: "two" } }));
    assert.equal(await mark(wf), "run: executor env EXECVAR changed");
    assert.equal(await run(wf), `two  in.txt\n`);
    await writeWorkflow(ws, workflow({ env: { EXECVAR: "two", MORE: "1" } }));
    assert.equal(await mark(wf), "run: executor env MORE changed");
    await writeWorkflow(ws, workflow({ env: { EXECVAR: "two" } }));
    assert.equal(await mark(wf), "cached");

    const site = join(ws, "site.yaml");
    await Deno.writeTextFile(
      site,
      'ferry-site: 1\nexecutors:\n  here:\n    provider: local\n    env: { EXECVAR: "from $site" }\n',
    );
    assert.equal(await mark(wf, ["--site", site]), "run: executor env EXECVAR changed");
    assert.equal(await run(wf, ["--site", site]), `from $site  in.txt\n`);
    assert.equal(await mark(wf, ["--site", site]), "cached");
    assert.equal(await mark(wf), "run: executor env EXECVAR changed");
    assert.equal(await run(wf), `two  in.txt\n`);
    assert.equal(await mark(wf), "cached");
  });
});

Deno.test("a variable the app's env sets is the app's: the executor's value of it changes nothing", async () => {
  await withWorkspace(async (ws) => {
    const wf = await writeWorkflow(ws, workflow({ appEnv: { EXECVAR: "app" } }));
    assert.equal(await run(wf), `app  in.txt\n`);
    await writeWorkflow(ws, workflow({ appEnv: { EXECVAR: "app" }, env: { EXECVAR: "other" } }));
    assert.equal(await mark(wf), "cached");
  });
});

Deno.test("worker_init and the paths staging rules give files are in the key; ignore leaves them out", async () => {
  await withWorkspace(async (ws) => {
    const wf = await writeWorkflow(ws, workflow());
    await run(wf);
    await writeWorkflow(ws, workflow({ workerInit: "export INIT=1" }));
    assert.equal(await mark(wf), "run: worker_init changed");
    assert.equal(await run(wf), `one 1 in.txt\n`);
    assert.equal(await mark(wf), "cached");

    // A scratch rule gives the task a copy at the same relative path: nothing it sees changed.
    const scratch = [{ match: `file://${ws}/in.txt`, action: "scratch" }];
    await writeWorkflow(ws, workflow({ workerInit: "export INIT=1", staging: scratch }));
    assert.equal(await mark(wf), "cached");
    // A rewrite rule (a mount on the nodes) changes the path the task is given.
    const staging = [{ match: `file://${ws}/in.txt`, action: "rewrite", to: "/mnt/ws/in.txt" }];
    await writeWorkflow(ws, workflow({ workerInit: "export INIT=1", staging }));
    assert.equal(await mark(wf), "run: path of input i changed");
    assert.equal(await run(wf), "one 1 /mnt/ws/in.txt\n");
    assert.equal(await mark(wf), "cached");

    const ignore = { ignore: ["executor_env", "worker_init", "paths"] };
    await writeWorkflow(ws, workflow({ cache: ignore, staging }));
    // What was recorded had them: leaving them out of the key is a change, once.
    assert.equal(await mark(wf), "run: executor env EXECVAR changed");
    await run(wf);
    await writeWorkflow(ws, workflow({ cache: ignore, env: { EXECVAR: "x" } }));
    assert.equal(await mark(wf), "cached");
    await writeWorkflow(
      ws,
      workflow({ cache: { ignore: ["executor_env.EXECVAR"] }, env: { EXECVAR: "y" } }),
    );
    assert.equal(await mark(wf), "cached");
  });
});
