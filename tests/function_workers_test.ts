/**
 * Persistent function workers (providers/batch/function_pool.ts): submitted calls and a
 * workflow's function apps with every permission run in Deno processes that take calls one
 * after another; a worker killed mid-call is replaced and its call retried (a counted attempt
 * with its reason); a call past its walltime ends as a timeout and its worker is replaced; each
 * call's console output lands in its own logs; a module with least-privilege permissions keeps
 * them; no worker is left once the executor is closed or the run is over.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { StateStore } from "../interpreter/state.ts";
import { exists, ferry, ferryRun, ROOT, withTemp, writeWorkflow } from "./_run.ts";

const SCRIPT = (mod: string) => `
import { executor } from ${JSON.stringify(mod)};
export function talk(x: number) {
  console.log("out " + x);
  console.error("err " + x);
  return { x, pid: Deno.pid };
}
export async function victim(pidFile: string) {
  // The first attempt names its worker and waits to be killed; the retry finds the file.
  try {
    Deno.statSync(pidFile);
    return { survived: true, pid: Deno.pid };
  } catch { /* first attempt */ }
  Deno.writeTextFileSync(pidFile, String(Deno.pid));
  await new Promise((r) => setTimeout(r, 60_000));
  return { survived: false };
}
export async function nap(ms: number) { await new Promise((r) => setTimeout(r, ms)); return Deno.pid; }
export function quit(code: number) { Deno.exit(code); }

const alive = (pid: number) => { try { Deno.statSync("/proc/" + pid); return true; } catch { return false; } };

if (import.meta.main) {
  const mode = Deno.args[0];
  const pids = new Set<number>();
  if (mode === "talk") {
    {
      await using ex = executor("local", { maxWorkers: 2 });
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => ex.submit(talk, i)));
      for (const r of rs) pids.add(r.pid);
      console.log(JSON.stringify({ workers: pids.size, aliveInside: [...pids].filter(alive).length }));
    }
    console.log(JSON.stringify({ aliveAfter: [...pids].filter(alive).length }));
  } else if (mode === "kill") {
    const pidFile = Deno.args[1]!;
    {
      await using ex = executor("local", { maxWorkers: 1 });
      const t = ex.submit(victim, pidFile);
      while (true) {
        try { Deno.statSync(pidFile); break; } catch { await new Promise((r) => setTimeout(r, 50)); }
      }
      const killed = Number(Deno.readTextFileSync(pidFile));
      Deno.kill(killed, "SIGKILL");
      const r = await t;
      pids.add(killed).add(r.pid);
      console.log(JSON.stringify({ survived: r.survived, status: t.status, newWorker: r.pid !== killed, killed }));
    }
    console.log(JSON.stringify({ aliveAfter: [...pids].filter(alive).length }));
  } else if (mode === "walltime") {
    {
      await using ex = executor("local", { maxWorkers: 1 });
      const first = await ex.submit(nap, 1);
      const slow = ex.submitWith({ walltime: "1s" }, nap, 60_000);
      const t0 = Date.now();
      const message = await slow.then(() => "succeeded", (e) => (e as Error).message);
      const next = await ex.submit(nap, 2);
      pids.add(first).add(next);
      console.log(JSON.stringify({
        message, status: slow.status, fast: Date.now() - t0 < 10_000, replaced: next !== first,
      }));
    }
    console.log(JSON.stringify({ aliveAfter: [...pids].filter(alive).length }));
  } else if (mode === "hang") {
    const ex = executor("local", { maxWorkers: 1 });
    ex.submit(nap, 60_000);
    await new Promise((r) => setTimeout(r, 60_000));
  } else if (mode === "exit") {
    await using ex = executor("local", { maxWorkers: 1 });
    const t = ex.submit(quit, 3);
    console.log(JSON.stringify({ message: await t.then(() => "", (e) => (e as Error).message) }));
  }
}
`;

/** The script in `dir`, run in `cwd` (its workspace). */
async function script(dir: string, cwd = dir) {
  const path = join(dir, "calls.ts");
  await Deno.writeTextFile(path, SCRIPT(join(ROOT, "mod.ts")));
  return async (...args: string[]) => {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", path, ...args],
      cwd,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    const out = dec.decode(r.stdout);
    assert.equal(r.code, 0, out + dec.decode(r.stderr));
    return out.trim().split("\n").map((l) => JSON.parse(l));
  };
}

/** Function workers whose command line names `dir` (a worker's names its FIFOs' directory). */
async function processesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).replaceAll("\0", " ");
      if (cmd.includes(dir) && cmd.includes("function_worker.ts")) found.push(cmd);
    } catch { /* gone */ }
  }
  return found;
}

/** The attempts the state store recorded, by task id. */
function attemptsOf(ws: string): Map<string, { outcome: string; reason?: string }[]> {
  const store = StateStore.open(ws);
  try {
    const by = new Map<string, { outcome: string; reason?: string }[]>();
    for (const a of store.attempts().sort((x, y) => x.attempt - y.attempt)) {
      const list = by.get(a.taskId) ?? [];
      list.push({ outcome: a.outcome, ...(a.reason ? { reason: a.reason } : {}) });
      by.set(a.taskId, list);
    }
    return by;
  } finally {
    store.close();
  }
}

Deno.test("function workers: calls share two workers; each call's console output lands in its own logs; no worker is left after the scope", async () => {
  await withTemp(async (dir) => {
    // A workspace whose path a shell would misread: the workers' FIFOs are under it.
    const ws = join(dir, "a 'b\" $(touch PWNED) `touch PWNED`\nc\\");
    await Deno.mkdir(ws);
    const run = await script(dir, ws);
    const [inside, after] = await run("talk");
    assert.deepEqual(inside, { workers: 2, aliveInside: 2 });
    assert.deepEqual(after, { aliveAfter: 0 });
    const [runDir] = [...Deno.readDirSync(join(ws, ".ferry", "runs"))].map((e) => e.name);
    const tasks = join(ws, ".ferry", "runs", runDir!, "tasks");
    const dirs = [...Deno.readDirSync(tasks)].map((e) => e.name);
    assert.equal(dirs.length, 20);
    for (const d of dirs) {
      const root = join(tasks, d, "attempt-1");
      const out = await Deno.readTextFile(join(root, "stdout.log"));
      const x = /^out (\d+)\n$/.exec(out)?.[1];
      assert.ok(x !== undefined, `${d}: ${JSON.stringify(out)}`);
      assert.equal(await Deno.readTextFile(join(root, "stderr.log")), `err ${x}\n`);
      assert.deepEqual(JSON.parse(await Deno.readTextFile(join(root, "result.json"))).x, Number(x));
    }
    assert.deepEqual(await processesUnder(ws), []);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "a 'b\" $(touch PWNED) `touch PWNED`\nc\\",
      "calls.ts",
    ]);
  });
});

Deno.test("function workers: a worker killed mid-call is replaced and its call retried, a counted attempt with its reason", async () => {
  await withTemp(async (ws) => {
    const run = await script(ws);
    const [r, after] = await run("kill", join(ws, "victim.pid"));
    assert.deepEqual({ ...r, killed: 0 }, {
      survived: true,
      status: "succeeded",
      newWorker: true,
      killed: 0,
    });
    assert.deepEqual(after, { aliveAfter: 0 });
    const attempts = [...attemptsOf(ws).values()];
    assert.deepEqual(attempts, [[
      {
        outcome: "failed",
        reason:
          `lost with its function worker (pid ${r.killed}), killed by SIGKILL during the call`,
      },
      { outcome: "succeeded" },
    ]]);
    assert.deepEqual(await processesUnder(ws), []);
  });
});

Deno.test("function workers: a call past its walltime ends as a timeout, its worker replaced; Deno.exit fails the call with its code", async () => {
  await withTemp(async (ws) => {
    const run = await script(ws);
    const [r, after] = await run("walltime");
    assert.match(r.message, /^nap\[[0-9a-f]{12}\] failed: exceeded its walltime and was killed$/);
    assert.deepEqual({ ...r, message: "" }, {
      message: "",
      status: "failed",
      fast: true,
      replaced: true,
    });
    assert.deepEqual(after, { aliveAfter: 0 });
    const [exit] = await run("exit");
    assert.match(exit.message, /^quit\[[0-9a-f]{12}\] failed: exit code 3$/);
    const quit = [...attemptsOf(ws)].find(([id]) => id.startsWith("quit"))![1];
    assert.deepEqual(
      quit,
      [{ outcome: "failed" }],
      "an exit is the call's failure, not a lost worker",
    );
    assert.deepEqual(await processesUnder(ws), []);
  });
});

Deno.test("function workers: a kill -9 of the script leaves no worker behind", async () => {
  await withTemp(async (ws) => {
    const path = join(ws, "calls.ts");
    await Deno.writeTextFile(path, SCRIPT(join(ROOT, "mod.ts")));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", path, "hang"],
      cwd: ws,
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      // The call runs once its worker is there.
      await waitUntil(async () => (await processesUnder(ws)).length > 0, "a worker", 20_000);
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
    await waitUntil(
      async () => (await processesUnder(ws)).length === 0,
      "the workers to end",
      10_000,
    );
  });
});

Deno.test("function workers: ferry run runs function apps with every permission in shared workers; a module's least privilege still holds", async () => {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(
      join(ws, "steps.ts"),
      [
        "type Args = { bindings: Record<string, string>; outputs: Record<string, string> };",
        "export function who(args: Args) {",
        "  console.log(`task ${args.bindings.i}`);",
        "  Deno.writeTextFileSync(args.outputs.pid, String(Deno.pid));",
        "  return { pid: Deno.pid };",
        "}",
        "export function peek(args: Args) {",
        "  Deno.writeTextFileSync(args.outputs.o, Deno.readTextFileSync('/etc/hostname'));",
        "}",
        "",
      ].join("\n"),
    );
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "pooled",
      params: { is: [1, 2, 3, 4, 5, 6] },
      apps: {
        who: {
          for_each: { i: "${{ params.is }}" },
          outputs: { pid: "pids/${{ i }}.txt" },
          function: "./steps.ts#who",
          permissions: { all: true },
        },
        peek: {
          inputs: { after: "${{ apps.who.outputs.pid }}" },
          outputs: { o: "peek.txt" },
          function: "./steps.ts#peek",
          permissions: { read: ["/etc/hosts"] },
        },
      },
    });
    const r = await ferryRun([wf, "--jobs", "2", "--keep-going"]);
    assert.equal(r.code, 1, r.stderr);
    const pids = new Set<string>();
    for (const i of [1, 2, 3, 4, 5, 6]) {
      pids.add(await Deno.readTextFile(join(ws, "pids", `${i}.txt`)));
    }
    assert.ok(pids.size <= 2, `6 tasks in at most 2 workers, not ${pids.size}`);
    for (const pid of pids) assert.ok(!(await exists(`/proc/${pid}`)), `worker ${pid} is gone`);
    const runs = join(ws, ".ferry", "runs");
    const [runDir] = [...Deno.readDirSync(runs)].map((e) => e.name);
    const tasks = [...Deno.readDirSync(join(runs, runDir!, "tasks"))].map((e) => e.name);
    const peek = tasks.find((t) => t.startsWith("peek"))!;
    const log = await Deno.readTextFile(
      join(runs, runDir!, "tasks", peek, "attempt-1", "stderr.log"),
    );
    assert.match(log, /NotCapable: Requires read access to "\/etc\/hostname"/);
    // Each task's console output is in its own log (a success keeps its logs).
    const said = [];
    for (const t of tasks.filter((t) => t.startsWith("who"))) {
      said.push(
        await Deno.readTextFile(join(runs, runDir!, "tasks", t, "attempt-1", "stdout.log")),
      );
    }
    assert.deepEqual(said.sort(), [1, 2, 3, 4, 5, 6].map((i) => `task ${i}\n`));
    assert.deepEqual(await processesUnder(ws), []);
  });
});

Deno.test("function workers: least-privilege calls share one worker process, each in a Web Worker with exactly its own permissions; one that may run programs keeps a process of its own", async () => {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(
      join(ws, "steps.ts"),
      [
        "type Args = { inputs: Record<string, string>; outputs: Record<string, string> };",
        "export async function first(args: Args) {",
        "  console.log('first says');",
        "  // What a call sees of its worker does not let it end its output early, or read the next",
        "  // call's line: marks with every argument as the token, a read of standard input.",
        '  const forged = Deno.args.map((a) => `\\0ferry-worker ${a} {"ok":true,"value":1}\\n`);',
        "  Deno.stdout.writeSync(new TextEncoder().encode(forged.join('')));",
        "  console.log(`stdin: ${await Deno.stdin.read(new Uint8Array(4096))}`);",
        "  // Allowed to this call only: not for the next call to read.",
        "  Deno.env.set('LEAK', 'first');",
        "  Deno.writeTextFileSync(args.outputs.o, Deno.cwd());",
        "  return { pid: Deno.pid };",
        "}",
        "export function second(args: Args) {",
        "  const theirs = Deno.readTextFileSync(args.inputs.i);",
        "  const tries: Record<string, string> = {};",
        "  for (const p of [`${theirs}/sneak.txt`, `${theirs}/../sneak.txt`, '/etc/hostname']) {",
        "    try {",
        "      p.startsWith('/etc') ? Deno.readTextFileSync(p) : Deno.writeTextFileSync(p, 'x');",
        "      tries[p] = 'done';",
        "    } catch (e) {",
        "      tries[p] = (e as Error).name;",
        "    }",
        "  }",
        "  console.error('second says');",
        "  Deno.writeTextFileSync(args.outputs.o, JSON.stringify({ theirs, tries }));",
        "  return { pid: Deno.pid, leak: Deno.env.get('LEAK') ?? null };",
        "}",
        "export function quit() { Deno.exit(3); }",
        "export function runs() { new Deno.Command('true').outputSync(); return { pid: Deno.pid }; }",
        "",
      ].join("\n"),
    );
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "narrow",
      apps: {
        first: {
          outputs: { o: "first.txt" },
          function: "./steps.ts#first",
          permissions: { env: ["LEAK"] },
        },
        second: {
          inputs: { i: "${{ apps.first.outputs.o }}" },
          outputs: { o: "second.txt" },
          function: "./steps.ts#second",
          permissions: { env: ["LEAK"] },
        },
        quit: {
          inputs: { i: "${{ apps.second.outputs.o }}" },
          function: "./steps.ts#quit",
        },
        runs: {
          inputs: { i: "${{ apps.second.outputs.o }}" },
          function: "./steps.ts#runs",
          permissions: { run: ["true"] },
        },
      },
    });
    const r = await ferryRun([wf, "--jobs", "1", "--keep-going"]);
    assert.equal(r.code, 1, r.stderr);
    const runs = join(ws, ".ferry", "runs");
    const [runDir] = [...Deno.readDirSync(runs)].map((e) => e.name);
    const tasks = join(runs, runDir!, "tasks");
    const attempt = (app: string) =>
      join(
        tasks,
        [...Deno.readDirSync(tasks)].find((e) => e.name.startsWith(app))!.name,
        "attempt-1",
      );
    const result = (app: string) =>
      JSON.parse(Deno.readTextFileSync(join(attempt(app), "result.json")));
    const { theirs, tries } = JSON.parse(await Deno.readTextFile(join(ws, "second.txt")));
    assert.equal(theirs, join(attempt("first"), "work"));
    assert.deepEqual(tries, {
      [`${theirs}/sneak.txt`]: "NotCapable",
      [`${theirs}/../sneak.txt`]: "NotCapable",
      "/etc/hostname": "NotCapable",
    });
    assert.equal(await exists(join(theirs, "sneak.txt")), false);
    assert.equal(await exists(join(attempt("first"), "sneak.txt")), false);
    const [one, two] = [result("first"), result("second")];
    assert.equal(one.pid, two.pid, "both calls ran in one worker process");
    // A call that may start programs runs in a process of its own (what it starts ends with it).
    assert.notEqual(result("runs").pid, one.pid);
    assert.equal(two.leak, null, "what the first call set is gone");
    const said = await Deno.readTextFile(join(attempt("first"), "stdout.log"));
    assert.match(
      said,
      /^first says\n(\0ferry-worker \S+ \{"ok":true,"value":1\}\n)+stdin: null\n$/,
    );
    assert.deepEqual(Object.keys(one), ["pid"], "its own value, not a forged one");
    assert.equal(await Deno.readTextFile(join(attempt("second"), "stderr.log")), "second says\n");
    // Deno.exit in a least-privilege call fails it with its code (not a lost worker).
    assert.deepEqual(attemptsOf(ws).get("quit"), [{ outcome: "failed" }]);
    const status = await ferryRun([wf], {}, "status");
    assert.match(status.stdout, /^✗ quit: failed: exit code 3$/m);
    assert.ok(!(await exists(`/proc/${one.pid}`)), `worker ${one.pid} is gone`);
    assert.deepEqual(await processesUnder(ws), []);
  });
});

Deno.test("function workers: in ferry run, a task whose worker is killed mid-call runs again (retries: 0) and the run succeeds", async () => {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(
      join(ws, "steps.ts"),
      [
        "type Args = { outputs: Record<string, string> };",
        "export async function victim(args: Args) {",
        "  const pidFile = `${Deno.env.get('FLAGS')}/victim.pid`;",
        "  try {",
        "    Deno.statSync(pidFile);",
        "  } catch {",
        "    Deno.writeTextFileSync(pidFile, String(Deno.pid));",
        "    await new Promise((r) => setTimeout(r, 60_000));",
        "  }",
        "  Deno.writeTextFileSync(args.outputs.o, 'survived\\n');",
        "  return 'survived';",
        "}",
        "",
      ].join("\n"),
    );
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "lost",
      apps: {
        victim: {
          outputs: { o: "victim.txt" },
          function: "./steps.ts#victim",
          env: { FLAGS: ws },
          permissions: { all: true },
        },
      },
    });
    const child = ferry(["--progress", "lines", wf]).spawn();
    const pidFile = join(ws, "victim.pid");
    try {
      await waitUntil(() => exists(pidFile), "the call to start", 30_000);
    } catch (e) {
      child.kill("SIGKILL");
      await child.output();
      throw e;
    }
    const pid = Number(await Deno.readTextFile(pidFile));
    Deno.kill(pid, "SIGKILL");
    const r = await child.output();
    const stderr = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, stderr);
    assert.equal(await Deno.readTextFile(join(ws, "victim.txt")), "survived\n");
    assert.deepEqual(attemptsOf(ws).get("victim"), [
      {
        outcome: "failed",
        reason: `lost with its function worker (pid ${pid}), killed by SIGKILL during the call`,
      },
      { outcome: "succeeded" },
    ]);
    assert.deepEqual(await processesUnder(ws), []);
  });
});

Deno.test("function workers: Ctrl-C during ferry run cancels the calls in its workers and leaves none", async () => {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(
      join(ws, "steps.ts"),
      [
        "type Args = { bindings: Record<string, string>; outputs: Record<string, string> };",
        "export async function hold(args: Args) {",
        "  // The call's environment is set in its worker (FLAGS, from the app's env).",
        "  Deno.writeTextFileSync(`${Deno.env.get('FLAGS')}/started-${args.bindings.i}`, '');",
        "  await new Promise((r) => setTimeout(r, 60_000));",
        "}",
        "",
      ].join("\n"),
    );
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "held",
      params: { is: [1, 2] },
      apps: {
        hold: {
          for_each: { i: "${{ params.is }}" },
          function: "./steps.ts#hold",
          env: { FLAGS: ws },
          permissions: { all: true },
        },
      },
    });
    const child = ferry(["--jobs", "2", "--progress", "lines", wf]).spawn();
    try {
      const started = async () =>
        (await Promise.all([1, 2].map((i) => exists(join(ws, `started-${i}`))))).every(Boolean);
      await waitUntil(started, "the two calls to start", 30_000);
    } catch (e) {
      child.kill("SIGKILL");
      await child.output();
      throw e;
    }
    assert.equal((await processesUnder(ws)).length, 2, "two workers run the calls");
    const t0 = Date.now();
    child.kill("SIGINT");
    const r = await child.output();
    const stderr = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 130, stderr);
    assert.ok(Date.now() - t0 < 15_000, "cancelled at once, not after the calls' minute");
    assert.match(stderr, /cancelled/);
    assert.deepEqual(await processesUnder(ws), []);
  });
});

/** Wait until `cond` holds, at most `ms`. */
async function waitUntil(cond: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    assert.ok(Date.now() < end, `timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
