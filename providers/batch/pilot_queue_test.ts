import assert from "node:assert/strict";
import { join } from "node:path";
import { bashQuote } from "../_shared/shell.ts";
import { parseClaim, parseClaimText, PilotQueue } from "./pilot_queue.ts";
import { pilotLibrary } from "./pilot_script.ts";

/** Start block `key` of `workers` bash workers on `q`, ending after `idle` idle seconds. */
function startBlock(q: PilotQueue, key: string, workers: number, idle: number): Deno.ChildProcess {
  const script = `ferry_q=${bashQuote(q.dir)}\nsource ${
    bashQuote(pilotLibrary(q.dir))
  }\nferry_pilot_block ${key} ${workers} ${idle}\n`;
  return new Deno.Command("bash", { args: ["-c", script], stdout: "null", stderr: "piped" })
    .spawn();
}

/** A stand-in attempt file: appends the task's name to `log`, then writes `status`. */
function fakeWrapper(dir: string, task: string, log: string, body = ""): string {
  const path = join(dir, `${task}.sh`);
  Deno.writeTextFileSync(
    path,
    `${body}\necho ${task} >> ${bashQuote(log)}\necho '{"exitCode":0}' > ${
      bashQuote(join(dir, task + ".exit"))
    }\n`,
  );
  return path;
}

Deno.test("parseClaim reads T.B.S names and nothing else", () => {
  assert.deepEqual(parseClaim("t12.b3.4"), { task: "t12", block: "b3", slot: 4, file: "t12.b3.4" });
  assert.equal(parseClaim("t12.b3"), undefined);
  assert.equal(parseClaim("t1.b1.1.tmp"), undefined);
  assert.deepEqual(parseClaimText("t7", "b2.3\n"), {
    task: "t7",
    block: "b2",
    slot: 3,
    file: "t7.b2.3",
  });
  assert.equal(parseClaimText("t7", "ferry\n"), undefined);
  assert.equal(parseClaimText("t7", ""), undefined);
});

const TASKS = 400;

Deno.test(`pilot queue: ${TASKS} tasks through 3 blocks of 4 concurrent bash workers, each run exactly once`, async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-pilotq-" });
  try {
    const q = new PilotQueue(join(dir, "q"));
    const log = join(dir, "ran.log");
    const names = Array.from({ length: TASKS }, (_, i) => `t${i + 1}`);
    // Half offered before the workers start, half while they race for them.
    for (const t of names.slice(0, TASKS / 2)) q.offer(t, fakeWrapper(dir, t, log));
    const t0 = performance.now();
    const blocks = ["b1", "b2", "b3"].map((b) => startBlock(q, b, 4, 1));
    for (const t of names.slice(TASKS / 2)) q.offer(t, fakeWrapper(dir, t, log));
    const ended = await Promise.all(blocks.map((b) => b.output()));
    const ms = performance.now() - t0;
    for (const e of ended) assert.equal(e.code, 0, new TextDecoder().decode(e.stderr));
    const ran = Deno.readTextFileSync(log).trim().split("\n").sort();
    assert.deepEqual(ran, [...names].sort());
    const done = q.done().map((c) => c.task).sort();
    assert.deepEqual(done, [...names].sort());
    // The claims stay beside the done marks until ferry releases them; each names its runner.
    assert.deepEqual(q.claimed().sort(), done);
    for (const c of q.done()) assert.deepEqual(q.claimOf(c.task), c);
    for (const c of q.done()) q.release(c);
    assert.deepEqual([q.claimed(), q.done()], [[], []]);
    assert.deepEqual([...Deno.readDirSync(join(q.dir, "new"))], []);
    // Every worker removed its files as it ended.
    assert.deepEqual([...Deno.readDirSync(join(q.dir, "workers"))].map((e) => e.name), []);
    console.log(`${TASKS} tasks, 12 workers: ${(ms - 1000).toFixed(0)} ms (less the 1 s idle end)`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pilot queue: a withdrawn task is not run; a cancelled one is stopped by its worker's heartbeat", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-pilotq-" });
  try {
    const q = new PilotQueue(join(dir, "q"));
    const log = join(dir, "ran.log");
    q.offer("t1", fakeWrapper(dir, "t1", log, "exec sleep 30"));
    q.offer("t2", fakeWrapper(dir, "t2", log));
    assert.equal(q.withdraw("t2"), true);
    const block = startBlock(q, "b1", 1, 1);
    while (q.claimed().length === 0) await new Promise((r) => setTimeout(r, 20));
    assert.equal(q.withdraw("t1"), false);
    q.cancel("t1");
    const t0 = performance.now();
    const out = await block.output();
    assert.equal(out.code, 0);
    assert.ok(performance.now() - t0 < 10_000);
    // Killed before it logged; handed back as done.
    assert.throws(() => Deno.readTextFileSync(log));
    assert.deepEqual(q.done().map((c) => c.file), ["t1.b1.1"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pilot queue: a claim is an exclusive create; a worker's claim of a task ferry took back or released runs nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-pilotq-" });
  try {
    const q = new PilotQueue(join(dir, "q"));
    const log = join(dir, "ran.log");
    for (const t of ["t1", "t2", "t3"]) q.offer(t, fakeWrapper(dir, t, log));
    assert.equal(q.withdraw("t1"), true);
    // A worker that listed new/ before ferry took t1 back (or released t2) claims it too late;
    // t3 it claims in time, and then ferry cannot take it back.
    q.release({ task: "t2", block: "b9", slot: 9, file: "t2.b9.9" });
    const claim = async (task: string) =>
      (await new Deno.Command("bash", {
        args: [
          "-c",
          `ferry_q=${bashQuote(q.dir)}; source ${bashQuote(pilotLibrary(q.dir))}
ferry_pilot_claim ${task} b1.1 && echo won || echo lost`,
        ],
      }).output()).stdout;
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    assert.deepEqual(
      [text(await claim("t1")), text(await claim("t2")), text(await claim("t3"))],
      ["lost\n", "lost\n", "won\n"],
    );
    assert.equal(text(await claim("t3")), "lost\n");
    assert.equal(q.withdraw("t3"), false);
    assert.deepEqual(q.claimOf("t3"), { task: "t3", block: "b1", slot: 1, file: "t3.b1.1" });
    // The late claims stay until ferry forgets them; the one whose offer is there stays.
    assert.deepEqual(q.claimed().sort(), ["t1", "t2", "t3"]);
    for (const t of ["t1", "t2", "t3"]) q.forget(t);
    assert.deepEqual(q.claimed(), ["t3"]);
    assert.throws(() => Deno.readTextFileSync(log));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const SHM = (() => {
  try {
    return Deno.statSync("/dev/shm").isDirectory ? "/dev/shm" : undefined;
  } catch {
    return undefined;
  }
})();

Deno.test({
  name: "pilot queue: an attempt's file on another filesystem (no hard link) is offered as a copy",
  ignore: SHM === undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ferry-pilotq-" });
    const other = await Deno.makeTempDir({ dir: SHM!, prefix: "ferry-pilotq-" });
    try {
      const q = new PilotQueue(join(dir, "q"));
      // Two filesystems, or this test would not take the copy's path.
      assert.notEqual(Deno.statSync(other).dev, Deno.statSync(q.dir).dev);
      const file = join(other, "task.sh");
      Deno.writeTextFileSync(file, "echo hi\n");
      q.offer("t1", file);
      assert.equal(Deno.readTextFileSync(join(q.dir, "new", "t1")), "echo hi\n");
      assert.deepEqual([...Deno.readDirSync(join(q.dir, "tmp"))], []);
      // The same name twice is ferry's mistake, not a copy.
      assert.throws(() => q.offer("t1", file), Deno.errors.AlreadyExists);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(other, { recursive: true });
    }
  },
});
