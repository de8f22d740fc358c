import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { bashQuote } from "../_shared/shell.ts";
import { RemotePilotQueue, SYNC_FAILURES } from "./pilot_remote.ts";
import { pilotLibrary } from "./pilot_script.ts";
import type { ExecOptions, RemoteExit, SshRunner } from "./ssh_runner.ts";

const RUN = "20260101-000000-abcdef";

/**
 * An {@linkcode SshRunner} whose commands run here, with bash (as sshd runs them with the user's
 * shell): the far side is another directory of this machine.
 */
function bashRunner(): SshRunner & { commands: string[] } {
  const commands: string[] = [];
  const exec = async (command: string, o: ExecOptions = {}): Promise<RemoteExit> => {
    commands.push(command);
    const child = new Deno.Command("bash", {
      args: ["-c", command],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(o.stdinBytes ?? new TextEncoder().encode(o.stdin ?? "")).catch(() => {});
    await w.close().catch(() => {});
    const out = await child.output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: o.binary ? "" : dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
      ...(o.binary ? { stdoutBytes: out.stdout } : {}),
    };
  };
  return {
    endpoint: { host: "here", port: 22, user: "me" },
    where: "me@here:22",
    commands,
    exec,
    run: () => Promise.reject(new Error("not in these tests")),
    close: () => Promise.resolve(),
  };
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** An attempt directory here whose lines write a status and an output in its copy there. */
function attempt(runDir: string, q: RemotePilotQueue, i: number): string {
  const root = join(runDir, "tasks", `task${i}`, "attempt-1");
  const far = q.farRoot(root);
  Deno.mkdirSync(join(root, "work"), { recursive: true });
  Deno.writeTextFileSync(join(root, "work", "in.txt"), `input ${i}\n`);
  Deno.writeTextFileSync(
    join(root, "task.sh"),
    `echo out-${i} > ${bashQuote(`${far}/work/out.txt`)}\n` +
      `printf '%s\\n' '{"exitCode":0}' > ${bashQuote(`${far}/exit.json`)}\n`,
  );
  return join(root, "task.sh");
}

Deno.test("remote pilot queue: offers go over in one sync, real workers run them there, their files come back, and every trace goes at the end", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ferry-pilot-remote-" });
  try {
    const runDir = join(tmp, "ws", ".ferry", "runs", RUN);
    // The far side's directory: every command line and script must quote it.
    const base = join(tmp, "far side's $(touch pwned) `id`");
    const runner = bashRunner();
    const q = new RemotePilotQueue(runner, runDir, "cluster", base);
    assert.equal(q.farDir, join(base, RUN, "pilot", "cluster"));
    assert.equal(q.dir, join(runDir, "pilot", "cluster"));
    const files = [1, 2, 3].map((i) => attempt(runDir, q, i));
    files.forEach((f, i) => q.offer(`t${i + 1}`, f));
    q.withdraw("t3"); // taken back before it went over: never offered there
    await q.sync();
    assert.equal(runner.commands.length, 1);
    assert.deepEqual([...Deno.readDirSync(join(q.farDir, "new"))].map((e) => e.name).sort(), [
      "t1",
      "t2",
    ]);
    const far1 = q.farRoot(dirname(files[0]!));
    assert.equal(far1, join(base, RUN, "task1", "attempt-1"));
    assert.equal(Deno.readTextFileSync(join(far1, "work", "in.txt")), "input 1\n");
    assert.ok(!exists(join(base, RUN, "task3")));

    // A block of two real workers there (pilot.sh, written by the first sync), idle after 1 s.
    const block = new Deno.Command("bash", {
      args: [
        "-c",
        `ferry_q=${bashQuote(q.farDir)}\nsource ${
          bashQuote(pilotLibrary(q.farDir))
        }\nferry_pilot_block b1 2 1\n`,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const ended = await block.output();
    assert.equal(ended.code, 0, new TextDecoder().decode(ended.stderr));
    await q.sync();
    const done = q.done().sort((a, b) => a.task.localeCompare(b.task));
    assert.deepEqual(done.map((c) => [c.task, c.block]), [["t1", "b1"], ["t2", "b1"]]);
    assert.ok(done.every((c) => q.isDone(c)));
    for (const i of [1, 2]) {
      const root = dirname(files[i - 1]!);
      // Back here, beside what went over.
      assert.equal(Deno.readTextFileSync(join(root, "work", "out.txt")), `out-${i}\n`);
      assert.equal(Deno.readTextFileSync(join(root, "work", "in.txt")), `input ${i}\n`);
      assert.equal(Deno.readTextFileSync(join(root, "exit.json")), '{"exitCode":0}\n');
    }
    for (const c of done) q.release(c);
    assert.deepEqual(q.done(), []);
    await q.sync();
    assert.deepEqual(q.claimed(), []);
    // Succeeded: their copies went, with their task directories.
    assert.deepEqual([...Deno.readDirSync(join(base, RUN))].map((e) => e.name), ["pilot"]);
    assert.deepEqual([...Deno.readDirSync(join(q.farDir, "done"))], []);
    assert.deepEqual([...Deno.readDirSync(join(q.farDir, "new"))], []);
    await q.end();
    assert.deepEqual([...Deno.readDirSync(base)], []);
    assert.equal(runner.commands.length, 4);
    assert.ok(!exists(join(tmp, "pwned")));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("remote pilot queue: a sync that failed is sent again with the next; one that cannot work throws", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ferry-pilot-remote-" });
  try {
    const runDir = join(tmp, "ws", ".ferry", "runs", RUN);
    const base = join(tmp, "far");
    const real = bashRunner();
    let fail: RemoteExit["failure"] | undefined = {
      message: "ssh: the connection to me@here:22 closed before the command ended",
      retryable: true,
      started: true,
    };
    const runner = {
      ...real,
      exec: (command: string, o?: ExecOptions) =>
        fail ? Promise.resolve({ stdout: "", stderr: "", failure: fail }) : real.exec(command, o),
    };
    const q = new RemotePilotQueue(runner, runDir, "cluster", base);
    q.offer("t1", attempt(runDir, q, 1));
    await q.sync(); // failed: nothing there yet, the offer waits
    assert.ok(!exists(base));
    fail = undefined;
    q.offer("t2", attempt(runDir, q, 2));
    await q.sync();
    assert.deepEqual([...Deno.readDirSync(join(q.farDir, "new"))].map((e) => e.name).sort(), [
      "t1",
      "t2",
    ]);
    fail = {
      message: "ssh: cannot connect to me@here:22: connection refused",
      retryable: true,
      started: false,
    };
    for (let i = 1; i < SYNC_FAILURES; i++) await q.sync();
    await assert.rejects(
      q.sync(),
      new Error(
        `${q.farDir} on me@here:22 cannot be reached: ssh: cannot connect to me@here:22: connection refused`,
      ),
    );
    fail = {
      message: "ssh: the host key of here:22 is not known",
      retryable: false,
      started: false,
    };
    await assert.rejects(
      q.sync(),
      new Error(
        `${q.farDir} on me@here:22 cannot be reached: ssh: the host key of here:22 is not known`,
      ),
    );
    fail = undefined;
    await q.end();
    // The queue went; the copies of the two attempts, never run, stay (as a failed attempt's do).
    assert.deepEqual([...Deno.readDirSync(join(base, RUN))].map((e) => e.name).sort(), [
      "task1",
      "task2",
    ]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
