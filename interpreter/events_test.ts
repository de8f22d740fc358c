import assert from "node:assert/strict";
import { Ajv2020 } from "../deps/ajv.ts";
import eventsSchema from "../schemas/events.schema.json" with { type: "json" };
import { rememberSecret } from "../providers/_shared/secrets.ts";
import { EVENT_NAMES, isRunEvent, type NewEvent, type RunEvent } from "./events.ts";
import { readEventLog } from "./events_reader.ts";
import { EventLogWriter } from "./events_writer.ts";

/** One event of each kind, as the run writes them (every field the schema names, once). */
const SAMPLES: readonly NewEvent[] = [
  { event: "planned", workflow: "wf", tasks: ["a", "b[i=1]"] },
  { event: "graph", apps: [{ name: "a", executor: "local", deps: [], tasks: 1 }] },
  { event: "cached", task: "a" },
  { event: "started", task: "a", attempt: 1, stdoutPath: "/o", stderrPath: "/e" },
  { event: "submitted", task: "a", attempt: 1, jobId: "42_1" },
  {
    event: "finished",
    task: "a",
    attempt: 1,
    outcome: "failed",
    exitCode: 3,
    signal: "SIGKILL",
    message: "m",
    reason: "r",
    startedAt: 1,
    endedAt: 2,
    host: "h",
    retryable: false,
    jobId: "42",
    stdoutPath: "/o",
    stderrPath: "/e",
    pilot: { block: "4711", worker: "node-a/2", node: "node-a" },
  },
  { event: "retrying", task: "a", attempt: 1, delayMs: 10 },
  { event: "blocked", task: "b", by: "a" },
  { event: "expanded", task: "b", tasks: ["b[i=1]"] },
  {
    event: "transfer-started",
    kind: "started",
    id: "t1",
    direction: "in",
    url: "https://x/y",
    provider: "http",
    bytes: 0,
    total: 5,
  },
  {
    event: "transfer-finished",
    kind: "finished",
    id: "t1",
    direction: "in",
    url: "https://x/y",
    provider: "http",
    bytes: 5,
    total: 5,
    reused: false,
    attempts: 1,
    error: "e",
    ms: 3,
    fallback: "https://mirror/y",
  },
  { event: "temp-deleted", url: "file:///ws/tmp.txt" },
  {
    event: "pilot-block",
    executor: "hpc",
    block: "4711",
    state: "running",
    workers: 4,
    busy: 2,
    done: 17,
  },
  { event: "store-warning", task: "a", message: "Cannot upload a" },
  { event: "run-ended", interrupted: false },
];

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-events-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Every event of the log at `path`, and what the reader says of it. */
async function readAll(path: string, chunkBytes?: number, maxLineBytes?: number) {
  const events: RunEvent[] = [];
  const stats = await readEventLog(path, (e) => events.push(e), {
    ...(chunkBytes !== undefined ? { chunkBytes } : {}),
    ...(maxLineBytes !== undefined ? { maxLineBytes } : {}),
  });
  return { events, stats };
}

Deno.test("the event union names exactly the events the schema documents", () => {
  const documented = Object.values(eventsSchema.$defs).map((d) => d.properties.event.const);
  assert.deepEqual([...EVENT_NAMES].sort(), documented.sort());
  assert.deepEqual(SAMPLES.map((s) => s.event), EVENT_NAMES);
});

Deno.test("EventLogWriter writes lines the schema and isRunEvent both accept", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/events.jsonl`;
    const log = EventLogWriter.open(path);
    for (const s of SAMPLES) log.write(s);
    log.close();
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n").map((l) => JSON.parse(l));
    const validate = new Ajv2020({ strict: true, allowUnionTypes: true }).compile(eventsSchema);
    for (const line of lines) {
      assert.ok(validate(line), `${JSON.stringify(line)}: ${JSON.stringify(validate.errors)}`);
      assert.ok(isRunEvent(line), JSON.stringify(line));
      assert.equal(typeof line.time, "number");
    }
    assert.deepEqual(lines.map(({ time: _, ...rest }) => rest), SAMPLES);
    const { events, stats } = await readAll(path);
    assert.deepEqual(stats, { events: SAMPLES.length, damaged: 0, torn: false });
    assert.deepEqual(events, lines);
  });
});

Deno.test("EventLogWriter writes a turn's events together, redacted; closes once", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/events.jsonl`;
    rememberSecret("hunter2-events");
    const log = EventLogWriter.open(path);
    log.write({ event: "cached", task: "a" });
    log.write({ event: "blocked", task: "b", by: "hunter2-events" });
    assert.equal(Deno.readTextFileSync(path), "", "nothing before the turn ends");
    await new Promise((r) => setTimeout(r, 0));
    const text = await Deno.readTextFile(path);
    assert.equal(text.split("\n").length, 3);
    assert.ok(!text.includes("hunter2-events") && text.includes('"by":"***"'), text);
    log.close();
    log.close();
    log.write({ event: "cached", task: "late" });
    assert.equal(await Deno.readTextFile(path), text);
    assert.equal(log.error, undefined);
  });
});

Deno.test("EventLogWriter keeps a full disk's error instead of throwing", () => {
  const log = EventLogWriter.open("/dev/full");
  log.write({ event: "cached", task: "a" });
  log.flush();
  assert.ok(log.error, "an error");
  assert.match(log.error.message, /No space left on device/i);
  log.write({ event: "cached", task: "b" });
  log.close();
});

Deno.test("readEventLog skips and counts damaged lines: null, garbage, torn, zeros, wrong shape", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/events.jsonl`;
    const good = (task: string) => JSON.stringify({ time: 1, event: "cached", task });
    await Deno.writeTextFile(
      path,
      [
        good("a"),
        "null",
        "42",
        "[]",
        '{"time":1,"event":"fini',
        "garbage",
        "\0".repeat(8192),
        JSON.stringify({ time: 1, event: "no-such-event", task: "x" }),
        JSON.stringify({ time: 1, event: "started", task: "x", attempt: "1" }),
        JSON.stringify({ event: "cached", task: "x" }),
        "",
        good("b"),
      ].join("\n") + "\n",
    );
    const { events, stats } = await readAll(path);
    assert.deepEqual(events.map((e) => e.event === "cached" && e.task), ["a", "b"]);
    assert.deepEqual(stats, { events: 2, damaged: 9, torn: false });
  });
});

Deno.test("readEventLog: lines across chunks, multi-byte characters, a torn or whole last line", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/events.jsonl`;
    const ids = Array.from({ length: 50 }, (_, i) => `tâche-✓-${i}`);
    const lines = ids.map((task, i) => JSON.stringify({ time: i, event: "cached", task }));
    await Deno.writeTextFile(path, lines.join("\n") + '\n{"time":9,"event":"cac');
    // Seven-byte chunks cut lines and characters everywhere.
    const torn = await readAll(path, 7);
    assert.deepEqual(torn.events.map((e) => e.event === "cached" && e.task), ids);
    assert.deepEqual(torn.stats, { events: 50, damaged: 0, torn: true });
    // A last line that is whole but has no newline is an event.
    await Deno.writeTextFile(path, lines.join("\n"));
    assert.deepEqual((await readAll(path, 7)).stats, { events: 50, damaged: 0, torn: false });
  });
});

Deno.test("readEventLog skips a line longer than the limit without holding it", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/events.jsonl`;
    const ok = JSON.stringify({ time: 1, event: "cached", task: "a" });
    const long = JSON.stringify({ time: 1, event: "cached", task: "x".repeat(5000) });
    await Deno.writeTextFile(path, `${ok}\n${long}\n${ok}\n${long}`);
    const { events, stats } = await readAll(path, 64, 1000);
    assert.equal(events.length, 2);
    assert.deepEqual(stats, { events: 2, damaged: 2, torn: false });
  });
});

Deno.test("readEventLog: no log (a run that died first) has no events; a directory throws", async () => {
  await withDir(async (dir) => {
    assert.deepEqual((await readAll(`${dir}/none.jsonl`)).stats, {
      events: 0,
      damaged: 0,
      torn: false,
    });
    await assert.rejects(readAll(dir), Deno.errors.IsADirectory);
  });
});

Deno.test("isRunEvent: a finished event without a pilot place (older logs) is read; a malformed place or block state is damage", () => {
  const finished = {
    time: 1,
    event: "finished",
    task: "a",
    attempt: 1,
    outcome: "succeeded",
    startedAt: 1,
    endedAt: 2,
    host: "h",
    stdoutPath: "/o",
    stderrPath: "/e",
  };
  assert.equal(isRunEvent(finished), true);
  assert.equal(isRunEvent({ ...finished, pilot: { block: "7", worker: "n/1" } }), true);
  assert.equal(isRunEvent({ ...finished, pilot: { block: 7, worker: "n/1" } }), false);
  assert.equal(isRunEvent({ ...finished, pilot: { block: "7", worker: "n/1", node: 3 } }), false);
  assert.equal(isRunEvent({ ...finished, pilot: "7" }), false);
  const block = {
    time: 1,
    event: "pilot-block",
    executor: "hpc",
    block: "7",
    state: "gone",
    workers: 2,
    busy: 0,
    done: 5,
  };
  assert.equal(isRunEvent(block), true);
  assert.equal(isRunEvent({ ...block, state: "lost" }), false);
  assert.equal(isRunEvent({ ...block, done: undefined }), false);
});
