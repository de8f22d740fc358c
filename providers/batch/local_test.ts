import assert from "node:assert/strict";
import { join } from "node:path";
import { localProvider } from "./local.ts";
import { GROUPS_FILE, recordedGroups } from "./process_groups.ts";
import type { JobSpec } from "./types.ts";

/** A command job in `runDir`, writing its logs there. */
function job(runDir: string, name: string, argv: string[]): JobSpec {
  const dir = join(runDir, name);
  return {
    taskId: name,
    attempt: 1,
    dir,
    run: { kind: "command", argv },
    env: {},
    mkdirs: [dir],
    stdout: join(runDir, `${name}.out`),
    stderr: join(runDir, `${name}.err`),
    resources: {},
    runDir,
  };
}

/** The `+`/`-` lines of a run's record of process groups. */
async function recordLines(runDir: string): Promise<string[]> {
  return (await Deno.readTextFile(join(runDir, GROUPS_FILE))).split("\n").slice(1, -1);
}

for (const spawner of [true, false]) {
  Deno.test({
    name: `localProvider (${
      spawner ? "spawner" : "no spawner"
    }) records each task's group while it runs`,
    ignore: Deno.build.os !== "linux",
  }, async () => {
    const runDir = await Deno.makeTempDir();
    const provider = localProvider({ spawner, killGraceSeconds: 1 });
    try {
      const ok = await provider.execute(
        job(runDir, "ok", ["sh", "-c", "echo hi"]),
        new AbortController().signal,
      );
      assert.equal(ok.outcome, "succeeded");
      assert.equal(await Deno.readTextFile(join(runDir, "ok.out")), "hi\n");
      // A task cancelled while it runs: recorded as running, then as ended.
      const abort = new AbortController();
      const held = provider.execute(
        job(runDir, "held", ["sh", "-c", "sleep 100 & touch started; wait"]),
        abort.signal,
      );
      const started = join(runDir, "held", "started");
      for (let i = 0; i < 500 && !(await Deno.stat(started).catch(() => false)); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const running = [...recordedGroups(runDir).keys()];
      assert.equal(running.length, 1, "the held task is recorded as running");
      abort.abort();
      assert.equal((await held).outcome, "cancelled");
      const lines = await recordLines(runDir);
      assert.equal(lines.length, 4, lines.join("\n"));
      assert.match(lines[0]!, /^\+ \d+ [1-9]\d*$/);
      assert.equal(lines[1], `- ${lines[0]!.split(" ")[1]}`);
      assert.deepEqual(lines.slice(2), [
        `+ ${running[0]} ${lines[2]!.split(" ")[2]}`,
        `- ${running[0]}`,
      ]);
      assert.deepEqual(recordedGroups(runDir), new Map());
    } finally {
      await provider.close?.();
      await Deno.remove(runDir, { recursive: true });
    }
  });
}

for (const spawner of [true, false]) {
  Deno.test({
    name: `localProvider (${
      spawner ? "spawner" : "no spawner"
    }) runs function tasks, their call in a file`,
    ignore: Deno.build.os !== "linux",
  }, async () => {
    const runDir = await Deno.makeTempDir();
    const provider = localProvider({ spawner });
    try {
      const module = join(runDir, "fn.ts");
      await Deno.writeTextFile(
        module,
        "export function echo(a: unknown) { return a; }\n",
      );
      const result = join(runDir, "result.json");
      const spec: JobSpec = {
        ...job(runDir, "fn", []),
        run: { kind: "function", module, export: "echo" },
        call: { args: { word: "ferry" }, result },
      };
      const out = await provider.execute(spec, new AbortController().signal);
      assert.equal(out.outcome, "succeeded", await Deno.readTextFile(spec.stderr));
      assert.deepEqual(JSON.parse(await Deno.readTextFile(result)), { word: "ferry" });
    } finally {
      await provider.close?.();
      await Deno.remove(runDir, { recursive: true });
    }
  });
}

for (const spawner of [true, false]) {
  Deno.test({
    name: `localProvider (${
      spawner ? "spawner" : "no spawner"
    }) runs function calls with every permission one after another in one worker, gone after close`,
    ignore: Deno.build.os !== "linux",
  }, async () => {
    const runDir = await Deno.makeTempDir();
    const provider = localProvider({ spawner });
    let pids: number[] = [];
    try {
      const module = join(runDir, "fn.ts");
      await Deno.writeTextFile(
        module,
        "export function pid(n: number) { return [n, Deno.pid]; }\n",
      );
      for (const n of [1, 2, 3]) {
        const result = join(runDir, `result-${n}.json`);
        const spec: JobSpec = {
          ...job(runDir, `fn-${n}`, []),
          run: { kind: "function", module, export: "pid" },
          call: { argv: [n], result },
        };
        const out = await provider.execute(spec, new AbortController().signal);
        assert.equal(out.outcome, "succeeded", await Deno.readTextFile(spec.stderr));
        const [m, pid] = JSON.parse(await Deno.readTextFile(result));
        assert.equal(m, n);
        pids.push(pid);
      }
      pids = [...new Set(pids)];
      assert.equal(pids.length, 1, "one worker took the three calls");
    } finally {
      await provider.close?.();
      await Deno.remove(runDir, { recursive: true });
    }
    for (const pid of pids) {
      assert.equal(await Deno.stat(`/proc/${pid}`).then(() => true, () => false), false);
    }
  });
}

for (const spawner of [true, false]) {
  Deno.test({
    name: `localProvider (${
      spawner ? "spawner" : "no spawner"
    }): one redirected command replaces bash; functions from worker_init or the environment still run`,
    ignore: Deno.build.os !== "linux",
  }, async () => {
    const runDir = await Deno.makeTempDir();
    const provider = localProvider({ spawner, killGraceSeconds: 1 });
    const shell = (name: string, script: string, more: Partial<JobSpec> = {}): JobSpec => ({
      ...job(runDir, name, []),
      run: { kind: "shell", script },
      ...more,
    });
    const signal = new AbortController().signal;
    try {
      // Its process leads the task's group: it is the process ferry started (no fork of bash).
      const pgid =
        `sh -c 'read -r pid comm state ppid pgrp rest </proc/$$/stat; echo "$$ $pgrp"' > ${
          join(runDir, "ids")
        }`;
      assert.equal((await provider.execute(shell("lead", pgid), signal)).outcome, "succeeded");
      const [pid, group] = (await Deno.readTextFile(join(runDir, "ids"))).trim().split(" ");
      assert.equal(pid, group);
      // A function of the same name, from worker_init or exported, is what runs (exec would skip it).
      const out = join(runDir, "sorted");
      const fromInit = shell("init", `sort x > ${out}`, { workerInit: "sort() { echo init; }" });
      assert.equal((await provider.execute(fromInit, signal)).outcome, "succeeded");
      assert.equal(await Deno.readTextFile(out), "init\n");
      const exported = shell("exported", `sort x > ${out}`, {
        env: { "BASH_FUNC_sort%%": "() { echo exported; }" },
      });
      assert.equal((await provider.execute(exported, signal)).outcome, "succeeded");
      assert.equal(await Deno.readTextFile(out), "exported\n");
    } finally {
      await provider.close?.();
      await Deno.remove(runDir, { recursive: true });
    }
  });
}
