import assert from "node:assert/strict";
import { join } from "node:path";
import { readWrapperStatus, wrapperFiles, wrapperScript } from "./wrapper.ts";
import type { JobSpec } from "./types.ts";

/** Write an attempt's wrapper files under `root` and run the wrapper with bash, as a node would. */
async function runWrapper(job: JobSpec & { root: string }, env: Record<string, string> = {}) {
  for (const [path, text] of wrapperScript(job)) {
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
  const child = new Deno.Command("bash", {
    args: [wrapperFiles(job.root).script],
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  return child;
}

function job(root: string, over: Partial<JobSpec> = {}): JobSpec & { root: string } {
  const dir = join(root, "work");
  return {
    taskId: "t",
    attempt: 1,
    dir,
    run: { kind: "command", argv: ["true"] },
    env: {},
    mkdirs: [dir],
    stdout: join(root, "stdout.log"),
    stderr: join(root, "stderr.log"),
    resources: {},
    root,
    ...over,
  };
}

Deno.test("wrapper: runs a command without a shell, arguments byte for byte, and writes exit.json last", async () => {
  const root = await Deno.makeTempDir();
  try {
    const hostile = `a b 'q' "d" $(touch PWNED) \`touch PWNED\`; *`;
    const j = job(root, {
      run: { kind: "command", argv: ["printf", "%s|", hostile, "$HOME"] },
      env: { FERRY_X: "it's $x" },
      mkdirs: [join(root, "work"), join(root, "work", "sub", "dir")],
    });
    const status = await (await runWrapper(j)).status;
    assert.equal(status.code, 0);
    assert.equal(await Deno.readTextFile(join(root, "stdout.log")), `${hostile}|$HOME|`);
    assert.ok((await Deno.stat(join(root, "work", "sub", "dir"))).isDirectory);
    const st = readWrapperStatus(wrapperFiles(root).status)!;
    assert.equal(st.exitCode, 0);
    assert.equal(st.signal, null);
    assert.equal(st.timedOut, false);
    assert.ok(st.endedAt >= st.startedAt && st.startedAt > Date.now() - 60_000);
    assert.equal(st.host, Deno.hostname());
    assert.deepEqual([...Deno.readDirSync(join(root, "work"))].map((e) => e.name), ["sub"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("wrapper: a shell task runs with strict mode and its env; the exit code is recorded", async () => {
  const root = await Deno.makeTempDir();
  try {
    const j = job(root, {
      run: { kind: "shell", script: 'echo "$FERRY_X"\nfalse\necho never' },
      env: { FERRY_X: "it's $x" },
      workerInit: "echo init-ran",
    });
    const status = await (await runWrapper(j)).status;
    assert.equal(status.code, 1);
    assert.equal(await Deno.readTextFile(join(root, "stdout.log")), "it's $x\n");
    assert.equal(await Deno.readTextFile(wrapperFiles(root).log), "init-ran\n");
    assert.equal(readWrapperStatus(wrapperFiles(root).status)!.exitCode, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("wrapper: the walltime kills the task's whole process group to the second", async () => {
  const root = await Deno.makeTempDir();
  try {
    const tag = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
    const j = job(root, {
      run: { kind: "shell", script: `sleep 300.${tag} &\nsleep 301.${tag}\n` },
      resources: { walltime: 1 },
    });
    const t0 = performance.now();
    await (await runWrapper(j)).status;
    assert.ok(performance.now() - t0 < 8000, "killed soon after the walltime");
    const st = readWrapperStatus(wrapperFiles(root).status)!;
    assert.equal(st.timedOut, true);
    assert.equal(st.signal, "SIGTERM");
    const ps = new TextDecoder().decode(
      (await new Deno.Command("ps", { args: ["-eo", "args"] }).output()).stdout,
    );
    assert.doesNotMatch(ps, new RegExp(`sleep 30[01]\\.${tag}`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("wrapper: SIGTERM (scancel) reaches the task's group and is recorded", async () => {
  const root = await Deno.makeTempDir();
  try {
    const tag = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
    const j = job(root, {
      run: { kind: "shell", script: `sleep 302.${tag} &\nsleep 303.${tag}\n` },
    });
    const child = await runWrapper(j);
    const ps = async () =>
      new TextDecoder().decode(
        (await new Deno.Command("ps", { args: ["-eo", "args"] }).output()).stdout,
      );
    for (let i = 0; i < 100 && !(await ps()).includes(`sleep 303.${tag}`); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 143);
    const st = readWrapperStatus(wrapperFiles(root).status)!;
    assert.equal(st.exitCode, 143);
    assert.equal(st.signal, "SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    assert.doesNotMatch(await ps(), new RegExp(`sleep 30[23]\\.${tag}`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("wrapper: scratch on the node: inputs copied in, results copied back, the copy removed after success", async () => {
  const root = await Deno.makeTempDir();
  const scratch = await Deno.makeTempDir();
  try {
    const work = join(root, "work");
    await Deno.mkdir(work, { recursive: true });
    await Deno.writeTextFile(join(root, "input.txt"), "data\n");
    await Deno.symlink(join(root, "input.txt"), join(work, "input.txt"));
    const j = job(root, {
      run: {
        kind: "shell",
        script: "cat input.txt > out.txt; pwd > where.txt; test ! -L input.txt",
      },
      scratch: "${NODE_SCRATCH}/x",
    });
    const status = await (await runWrapper(j, { NODE_SCRATCH: scratch })).status;
    assert.equal(status.code, 0, await Deno.readTextFile(wrapperFiles(root).log));
    assert.equal(await Deno.readTextFile(join(work, "out.txt")), "data\n");
    assert.match(
      await Deno.readTextFile(join(work, "where.txt")),
      new RegExp(`^${scratch}/x/ferry-`),
    );
    assert.deepEqual([...Deno.readDirSync(join(scratch, "x"))], []);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(scratch, { recursive: true });
  }
});
