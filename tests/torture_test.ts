/**
 * The crash-safety torture test of issue 6. A 200-task workflow (a file input
 * staged over HTTP from a server that trickles its first answers and drops
 * one, a fan-out over 60 items, chains, fan-ins, a dynamic `glob` output
 * fanned out over by another app, a dynamic `dir` output gathered as a list)
 * runs once uninterrupted in workspace A. In workspace B the same workflow is
 * started again and again as `deno run -A main.ts run`, killed with SIGKILL
 * at a seeded random moment (after a delay; just after its run directory
 * appeared; or once a few more tasks started), every process it left behind
 * (found by a marker in their environment) killed too, and resumed; then run
 * to completion.
 *
 * At the end B's files are A's, byte for byte; no half-written file sits at a
 * final path; no process is left; and a ledger outside the workspace, which
 * every task appends `<task id> <pid> <attempt> <working dir>` to when it
 * starts, proves against the state store that no task ran in a run started
 * after its success had been committed, and that the final run ran exactly
 * what no earlier run had committed.
 *
 * `FERRY_TORTURE_SEED=N` replays a seed (it is printed; timing still varies),
 * `FERRY_TORTURE_KILLS=N` changes the number of kills (default 20).
 * @module
 */

import { mulberry32 } from "./_services.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ferry, ferryRun, walk, withTemp, writeWorkflow } from "./_run.ts";
import { startHttpServer } from "./_http_server.ts";
import { StateStore } from "../interpreter/state.ts";

const SEED = Number(Deno.env.get("FERRY_TORTURE_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const KILLS = Number(Deno.env.get("FERRY_TORTURE_KILLS") ?? 20);
/** Tasks at once: sleeping tasks leave the two cores of a small machine room for more. */
const JOBS = 6;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ITEMS = Array.from({ length: 60 }, (_, i) => `i${String(i).padStart(2, "0")}`);
const DIRECT = ITEMS.slice(0, 29);
const LINES_PER_PART = 20;
const PARTS = 45;

/**
 * The served file: PARTS × LINES_PER_PART lines of seeded text, about 2 MB: more than the
 * 1 MiB a download holds in memory before it writes, so a killed transfer leaves a partial
 * file that the next run resumes from.
 */
function sourceText(seed: number): string {
  const rnd = mulberry32(seed ^ 0x5eed);
  const words = ["alpha", "beta", "gamma", "delta", "i07", "i13", "i21", "omega", "ferry", "kill"];
  const lines: string[] = [];
  for (let i = 0; i < PARTS * LINES_PER_PART; i++) {
    const n = 300 + Math.floor(rnd() * 200);
    lines.push(Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]).join(" "));
  }
  return lines.join("\n") + "\n";
}

/**
 * Every task first appends its line to the ledger, then sleeps 0.01 to 0.20 s
 * (a hash of the seed and its id), then computes its outputs from its inputs.
 */
function script(...body: string[]): string {
  return [
    'echo "$FERRY_TASK_ID $$ $FERRY_ATTEMPT $PWD" >> ${{ params.ledger }}',
    'h=$(printf %s "$SALT$FERRY_TASK_ID" | cksum)',
    'sleep "0.$(printf %03d $(( ${h%% *} % 191 + 10 )))"',
    ...body,
    "",
  ].join("\n");
}

/**
 * 200 tasks: gen ×60 → chain ×60 → fanin; gen ×60 → shards (a dir output); prep (the HTTP
 * input) → split (a glob output) → measure ×45 (a fan-out over it) → gather; direct ×29 (the HTTP
 * input again); final (a fan-in of fanin, shards, gather and every direct).
 */
function workflow(url: string, seed: number) {
  return {
    ferry: 1,
    name: "torture",
    params: { items: ITEMS, direct: DIRECT, ledger: "/dev/null", lines: LINES_PER_PART },
    files: { src: url },
    defaults: { env: { SALT: String(seed) } },
    executors: { local: { cores: 16 } },
    apps: {
      gen: {
        for_each: { item: "${{ params.items }}" },
        outputs: { o: "gen/${{ item }}.txt" },
        shell: script(
          "for i in $(seq 1 40); do echo ${{ item }} $i; done | sha256sum > ${{ outputs.o }}",
          "echo ${{ item }} >> ${{ outputs.o }}",
        ),
      },
      chain: {
        for_each: { item: "${{ params.items }}" },
        inputs: { i: "gen/${{ item }}.txt" },
        outputs: { o: "chain/${{ item }}.txt" },
        shell: script(
          "tr a-f A-F < ${{ inputs.i }} > ${{ outputs.o }}",
          "wc -c < ${{ inputs.i }} >> ${{ outputs.o }}",
        ),
      },
      fanin: {
        inputs: { all: "${{ apps.chain.outputs.o }}" },
        outputs: { o: "fanin.txt" },
        shell: script("cat ${{ inputs.all }} | sha256sum > ${{ outputs.o }}"),
      },
      prep: {
        inputs: { src: "${{ files.src }}" },
        outputs: { o: "clean.txt" },
        shell: script("tr a-z A-Z < ${{ inputs.src }} > ${{ outputs.o }}"),
      },
      split: {
        inputs: { text: "clean.txt" },
        outputs: { parts: { glob: "parts/part-*.txt" } },
        shell: script(
          "mkdir -p parts",
          "split -l ${{ params.lines }} -d --additional-suffix=.txt ${{ inputs.text }} parts/part-",
        ),
      },
      measure: {
        for_each: { part: "${{ apps.split.outputs.parts }}" },
        inputs: { part: "${{ part }}" },
        outputs: { size: "sizes/${{ part.stem }}.txt" },
        shell: script(
          "{ wc -c < ${{ inputs.part }}; sha256sum < ${{ inputs.part }}; } > ${{ outputs.size }}",
        ),
      },
      gather: {
        inputs: { sizes: "${{ apps.measure.outputs.size }}" },
        outputs: { o: "gathered.txt" },
        shell: script("cat ${{ inputs.sizes }} > ${{ outputs.o }}"),
      },
      shards: {
        inputs: { all: "${{ apps.gen.outputs.o }}" },
        outputs: { d: { dir: "shards" } },
        shell: script(
          "mkdir -p shards/a shards/b",
          "cat ${{ inputs.all }} | split -l 8 -d - shards/a/s-",
          "cat ${{ inputs.all }} | sha256sum > shards/b/sum",
        ),
      },
      direct: {
        for_each: { item: "${{ params.direct }}" },
        inputs: { src: "${{ files.src }}" },
        outputs: { o: "direct/${{ item }}.txt" },
        shell: script(
          "{ echo ${{ item }}; grep -c -w ${{ item }} ${{ inputs.src }} || true; } > ${{ outputs.o }}",
        ),
      },
      final: {
        inputs: {
          fanin: "fanin.txt",
          shards: "${{ apps.shards.outputs.d }}",
          gathered: "gathered.txt",
          direct: "${{ apps.direct.outputs.o }}",
        },
        outputs: { o: "final.txt" },
        shell: script(
          "cat ${{ inputs.fanin }} ${{ inputs.shards }} ${{ inputs.gathered }} ${{ inputs.direct }} | sha256sum > ${{ outputs.o }}",
        ),
      },
    },
  };
}

const TASKS = 60 + 60 + 1 + 1 + 1 + PARTS + 1 + 1 + DIRECT.length + 1;

/** Every file under `ws` except `.ferry/`, with its bytes. */
async function snapshot(ws: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const rel of await walk(ws)) {
    if (rel === ".ferry" || rel.startsWith(".ferry/")) continue;
    const p = join(ws, rel);
    if ((await Deno.lstat(p)).isFile) out.set(rel, await Deno.readFile(p));
  }
  return out;
}

/** Live processes (not zombies) whose environment holds `marker`. */
function marked(marker: string): number[] {
  const found: number[] = [];
  const needle = new TextEncoder().encode(marker);
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const env = Deno.readFileSync(`/proc/${e.name}/environ`);
      if (contains(env, needle)) found.push(Number(e.name));
    } catch { /* gone, or not ours */ }
  }
  return found;
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** SIGKILL every process carrying `marker` (and its group), until none is left. */
async function killMarked(marker: string): Promise<number> {
  let killed = 0;
  for (let round = 0; round < 200; round++) {
    const pids = marked(marker);
    if (pids.length === 0) return killed;
    for (const pid of pids) {
      for (const target of [-pid, pid]) {
        try {
          Deno.kill(target, "SIGKILL");
        } catch { /* not a group leader, or gone */ }
      }
      killed++;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`processes marked ${marker} would not die: ${marked(marker).join(", ")}`);
}

interface LedgerLine {
  readonly task: string;
  readonly pid: number;
  readonly attempt: number;
  readonly run: string;
}

async function readLedger(path: string): Promise<LedgerLine[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  // Read while tasks write (and are killed): a last line without its newline is being written, or
  // was cut short by the kill; it is no task's line yet.
  const whole = text.slice(0, text.lastIndexOf("\n") + 1);
  return whole.split("\n").filter((l) => l !== "").map((l) => {
    const m = /^(\S+) (\d+) (\d+) (.*)$/.exec(l);
    assert.ok(m, `a ledger line: ${l}`);
    const run = /\/\.ferry\/runs\/([^/]+)\/tasks\//.exec(m[4]!);
    assert.ok(run, `a run id in the working directory of: ${l}`);
    return { task: m[1]!, pid: Number(m[2]), attempt: Number(m[3]), run: run[1]! };
  });
}

/** The run directories under `.ferry/runs/` of a workspace. */
function runDirs(ws: string): Set<string> {
  try {
    return new Set([...Deno.readDirSync(join(ws, ".ferry", "runs"))].map((e) => e.name));
  } catch {
    return new Set();
  }
}

/** Where a killed run was, from its run directory and event log. */
function phaseOf(ws: string, run: string | undefined): string {
  if (run === undefined) return "start-up"; // deno, check, compile, lock: no run directory yet
  let events: { event: string }[];
  try {
    events = Deno.readTextFileSync(join(ws, ".ferry", "runs", run, "events.jsonl"))
      .split("\n").filter((l) => l !== "").flatMap((l) => {
        try {
          return [JSON.parse(l)];
        } catch {
          return []; // the line being written when the kill came
        }
      });
  } catch {
    return "planning"; // the state, cache decisions, dynamic expansions from the state
  }
  const n = (e: string) => events.filter((x) => x.event === e).length;
  const transfer = n("transfer-started") > n("transfer-finished") ? ", a transfer" : "";
  if (n("started") === 0) return `scheduling${transfer}`;
  return `tasks (${n("started")} started, ${n("finished")} ended${transfer})`;
}

/** Forbidden at a final path: ferry's temporary names. */
const TEMP_NAME = /\.ferry-(part|tmp|old)/;

Deno.test({
  name: `torture: ${TASKS} tasks killed with SIGKILL ${KILLS} times and resumed (seed ${SEED})`,
  // Processes are found through /proc.
  ignore: Deno.build.os !== "linux",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  console.log(
    `torture: FERRY_TORTURE_SEED=${SEED} FERRY_TORTURE_KILLS=${KILLS} (${TASKS} tasks)`,
  );
  const src = sourceText(SEED);
  const server = await startHttpServer({ files: { "/src.txt": src } });
  const marker = `FERRY_TORTURE_MARK=${SEED}-${crypto.randomUUID()}`;
  const [markName, markValue] = marker.split("=") as [string, string];
  const env = { [markName]: markValue };
  // The first three answers trickle (at 2 MB/s: about a second each) and the first drops at
  // 60 %: kills land mid-transfer, and the next attempt (or run) resumes from the partial file.
  const faults = () =>
    server.fault(
      "/src.txt",
      { kind: "trickle", bytesPerSecond: 2_000_000, chunk: 64 << 10, times: 3 },
      { kind: "drop", afterBytes: Math.floor(src.length * 0.6), times: 1 },
    );
  try {
    await withTemp(async (tmp) => {
      const wsA = join(tmp, "a");
      const wsB = join(tmp, "b");
      await Deno.mkdir(wsA);
      await Deno.mkdir(wsB);
      const wf = workflow(server.url("/src.txt"), SEED);
      const wfA = await writeWorkflow(wsA, wf);
      const wfB = await writeWorkflow(wsB, wf);
      const ledgerA = join(tmp, "ledger-a.txt");
      const ledgerB = join(tmp, "ledger-b.txt");
      const args = (wfPath: string, ledger: string) => [
        "--progress",
        "lines",
        "--jobs",
        String(JOBS),
        "--param",
        `ledger=${ledger}`,
        wfPath,
      ];

      // The reference: one uninterrupted run.
      faults();
      const ref = await ferryRun(args(wfA, ledgerA), env);
      assert.equal(ref.code, 0, ref.stderr);
      assert.match(ref.stderr, new RegExp(`done: ${TASKS} succeeded, 0 failed`), ref.stderr);
      const want = await snapshot(wsA);
      assert.equal((await readLedger(ledgerA)).length, TASKS);
      console.log(`reference run: ${TASKS} tasks in ${(ref.ms / 1000).toFixed(1)} s`);
      // The dropped download was resumed where it stopped.
      assert.deepEqual(server.requestsFor("/src.txt").map((r) => r.status), [200, 206]);
      await killMarked(marker);

      // The torture.
      server.reset();
      faults();
      const rnd = mulberry32(SEED);
      const t0 = performance.now();
      const kills: { when: string; outcome: string; phase: string; ms: number }[] = [];
      let killed = 0;
      let complete = false; // a run ended with everything done: from then on all is cached
      // A run that ends before its kill does not count as one.
      for (let k = 0; killed < KILLS; k++) {
        assert.ok(k < KILLS * 3, `${KILLS} kills in ${k} runs`);
        // Kills come at one of three kinds of moments. 15 %: after a delay, mostly before the
        // first task starts (ferry takes about 0.7 s to start, check and plan). 15 %: up to 60 ms
        // after the run's directory appeared (reading the state, deciding what is cached,
        // expanding fan-outs from it, the first transfer). 70 %: once the ledger grew by 1 to
        // 20 lines, plus up to 150 ms, so that they land while tasks run, end, are delivered and
        // committed, wherever the work is.
        const [r1, r2, r3, r4] = [rnd(), rnd(), rnd(), rnd()];
        const trigger = complete || r1 < 0.15 ? "time" : r1 < 0.3 ? "run" : "ledger";
        const delay = complete ? 50 + r2 * 550 : 50 + r2 * 950;
        const lines = 1 + Math.floor(r3 * 20);
        const extra = trigger === "run" ? r4 * 60 : r4 * 150;
        const before = (await readLedger(ledgerB)).length;
        const dirsBefore = runDirs(wsB);
        const started = performance.now();
        const child = ferry(args(wfB, ledgerB), env).spawn();
        let ended = false;
        const done = child.output().finally(() => (ended = true));
        const killer = (async () => {
          if (trigger === "time") await sleep(delay);
          else if (trigger === "run") {
            while (!ended && runDirs(wsB).size === dirsBefore.size) await sleep(5);
            await sleep(extra);
          } else {
            while (!ended && (await readLedger(ledgerB)).length < before + lines) await sleep(10);
            await sleep(extra);
          }
          if (ended) return;
          try {
            child.kill("SIGKILL");
          } catch { /* it ended */ }
        })();
        const out = await done;
        const ms = performance.now() - started;
        await killer;
        await killMarked(marker);
        if (out.signal === "SIGKILL") killed++;
        else {
          assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
          complete = true;
        }
        const run = [...runDirs(wsB)].find((d) => !dirsBefore.has(d));
        kills.push({
          when: trigger === "time"
            ? `${Math.round(delay)} ms`
            : trigger === "run"
            ? `run dir + ${Math.round(extra)} ms`
            : `${lines} started + ${Math.round(extra)} ms`,
          outcome: out.signal ?? `exit ${out.code}`,
          phase: phaseOf(wsB, run),
          ms,
        });
      }
      const tortureMs = performance.now() - t0;
      const requests = server.requestsFor("/src.txt");

      // What was committed before the final run.
      const committed = new Set((() => {
        const s = StateStore.open(wsB);
        try {
          return [...s.successes().keys()];
        } finally {
          s.close();
        }
      })());
      const last = await ferryRun(args(wfB, ledgerB), env);
      assert.equal(last.code, 0, last.stderr);
      console.log(
        `runs (kill after: outcome after ms, where it was):\n${
          kills.map((k) => `  ${k.when}: ${k.outcome} after ${Math.round(k.ms)}, ${k.phase}`)
            .join("\n")
        }`,
      );
      console.log(
        `torture: ${killed} kills in ${kills.length} runs, ${
          (tortureMs / 1000).toFixed(1)
        } s; final run ${(last.ms / 1000).toFixed(1)} s:\n${
          last.stdout.split("\n").concat(last.stderr.split("\n")).filter((l) =>
            /^(plan|done|transfers|failed|interrupted):/.test(l)
          ).join("\n")
        }`,
      );

      // Byte for byte.
      const got = await snapshot(wsB);
      assert.deepEqual([...got.keys()], [...want.keys()], "the same files");
      for (const [rel, bytes] of want) {
        assert.deepEqual(got.get(rel), bytes, `${rel} is byte for byte the reference's`);
      }
      const outside = async (ws: string) =>
        (await walk(ws)).filter((rel) => rel !== ".ferry" && !rel.startsWith(".ferry/"));
      const pathsB = await outside(wsB);
      assert.deepEqual(pathsB, await outside(wsA), "the same files and folders");
      for (const rel of pathsB) assert.doesNotMatch(rel, TEMP_NAME, rel);

      // No task ran in a run that started after its success was committed.
      const ledger = await readLedger(ledgerB);
      const store = StateStore.open(wsB);
      try {
        const runs = new Map(store.runs().map((r) => [r.id, r]));
        const successes = store.successes();
        const attempts = store.attempts();
        assert.equal(successes.size, TASKS, "every task has its success");
        const finalRun = store.runs()[0]!;
        assert.equal(finalRun.status, "succeeded");
        const problems: string[] = [];
        for (const [task, s] of successes) {
          const ok = attempts.filter((a) => a.taskId === task && a.outcome === "succeeded");
          if (ok.length !== 1) {
            problems.push(
              `${task}: ${ok.length} committed successes (${
                ok.map((a) => `${a.runId}#${a.attempt}`).join(", ")
              })`,
            );
          }
          const mine = ledger.filter((l) => l.task === task);
          if (!mine.some((l) => l.run === s.runId && l.attempt === s.attempt)) {
            problems.push(`${task}: no ledger line for its success ${s.runId}#${s.attempt}`);
          }
          for (const l of mine) {
            const r = runs.get(l.run);
            if (!r) problems.push(`${task}: ran in ${l.run}, which the state does not know`);
            else if (l.run !== s.runId && r.startedAt > s.finishedAt) {
              problems.push(
                `${task}: ran again (pid ${l.pid}, attempt ${l.attempt}) in run ${l.run} started ${
                  r.startedAt - s.finishedAt
                } ms after its success in run ${s.runId} was committed`,
              );
            } else if (l.run === s.runId && l.attempt > s.attempt) {
              problems.push(`${task}: attempt ${l.attempt} after its success #${s.attempt}`);
            }
          }
        }
        // The final run ran exactly what no earlier run had committed; the rest was cached.
        const ranLast = new Set(ledger.filter((l) => l.run === finalRun.id).map((l) => l.task));
        for (const t of ranLast) {
          if (committed.has(t)) problems.push(`${t}: committed, yet ran in the final run`);
        }
        for (const t of successes.keys()) {
          if (!committed.has(t) && !ranLast.has(t)) {
            problems.push(`${t}: not committed before the final run, yet not run by it`);
          }
        }
        assert.match(
          last.stderr,
          new RegExp(`done: ${ranLast.size} succeeded, ${TASKS - ranLast.size} cached, 0 failed`),
        );
        assert.deepEqual(problems, [], problems.join("\n"));
        console.log(
          `ledger: ${ledger.length} lines for ${TASKS} tasks over ${
            new Set(ledger.map((l) => l.run)).size
          } runs; ${committed.size} committed before the final run, which ran ${ranLast.size}`,
        );
        console.log(
          `http: ${requests.length} requests for the input during the torture (${
            requests.map((r) => `${r.status}${r.range ? ` ${r.range}` : ""}`).join(", ")
          })`,
        );
      } finally {
        store.close();
      }
      assert.deepEqual(marked(marker), [], "no process is left");
    });
  } finally {
    await server.close();
  }
});
