/**
 * Every process a run starts dies with it: `kill -9` of ferry ends its local
 * tasks within seconds (the spawner sees ferry go), and when the spawner was
 * killed too, the next run ends the survivors before it starts the same
 * tasks again. Task processes are found by a marker in their environment.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferry, ferryRun, withTemp, writeWorkflow } from "./_run.ts";

const TASK_COMMANDS = new Set(["sh", "bash", "sleep"]);

/** Live (not zombie) processes whose environment holds `marker`, with their command names. */
function marked(marker: string): { pid: number; comm: string; ppid: number }[] {
  const needle = new TextEncoder().encode(marker);
  const found: { pid: number; comm: string; ppid: number }[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z" || !contains(Deno.readFileSync(`/proc/${e.name}/environ`), needle)) {
        continue;
      }
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      found.push({ pid: Number(e.name), comm, ppid: Number(ppid) });
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

/** The task processes (shells and sleeps) among the marked ones. */
function tasks(marker: string): number[] {
  return marked(marker).filter((p) => TASK_COMMANDS.has(p.comm)).map((p) => p.pid);
}

function sleeps(marker: string): number {
  return marked(marker).filter((p) => p.comm === "sleep").length;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** SIGKILL every marked process and its group: the clean-up that runs even when a test failed. */
async function killMarked(marker: string): Promise<void> {
  for (let round = 0; round < 100; round++) {
    const left = marked(marker);
    if (left.length === 0) return;
    for (const { pid } of left) {
      for (const target of [-pid, pid]) {
        try {
          Deno.kill(target, "SIGKILL");
        } catch { /* not a group leader, or gone */ }
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Three tasks that each hold a `sleep` as `sh -c 'sleep N & wait'`, N read from `hold`. */
function holdingWorkflow(ledger: string, hold: string) {
  return {
    ferry: 1,
    name: "lifetime",
    executors: { local: { cores: 16 } },
    apps: {
      hold: {
        for_each: { n: [1, 2, 3] },
        env: { LEDGER: ledger, HOLD: hold },
        outputs: { o: "out/${{ n }}.txt" },
        // A copy of this task still alive from an earlier run is written down as an overlap.
        shell: [
          'pidfile="$LEDGER/${{ n }}.pid"',
          // Alive means a process that is not a zombie: a killed copy whose new parent has not
          // collected it yet is no copy running (kill -0 would still find it).
          'old=$(cat "$pidfile" 2>/dev/null || true)',
          'state=$( { [ -n "$old" ] && sed "s/.*) //" "/proc/$old/stat" | cut -d" " -f1; } 2>/dev/null || true)',
          'if [ -n "$state" ] && [ "$state" != Z ]; then',
          '  echo "${{ n }}" >> "$LEDGER/overlaps"',
          "fi",
          'echo $$ > "$pidfile"',
          'echo "${{ n }}" >> "$LEDGER/starts"',
          `sh -c 'sleep "$(cat "$HOLD")" & wait'`,
          "echo done > ${{ outputs.o }}",
          "",
        ].join("\n"),
      },
    },
  };
}

/** Start `ferry run` on a workflow of holding tasks; resolves once all three sleeps run. */
async function startHolding(
  ws: string,
  marker: string,
): Promise<{ child: Deno.ChildProcess; ledger: string; hold: string; wf: string }> {
  const ledger = join(ws, "ledger");
  const hold = join(ws, "hold");
  await Deno.mkdir(ledger);
  await Deno.writeTextFile(hold, "100");
  const wf = await writeWorkflow(ws, holdingWorkflow(ledger, hold));
  const [name, value] = marker.split("=") as [string, string];
  const child = ferry(["--progress", "lines", wf], { [name]: value }).spawn();
  await waitFor(() => sleeps(marker) === 3, "three running tasks", 60_000);
  return { child, ledger, hold, wf };
}

Deno.test({
  name: "kill -9 of ferry ends its local tasks within a few seconds",
  ignore: Deno.build.os !== "linux",
}, async () => {
  const marker = `FERRY_LIFETIME_MARK=${crypto.randomUUID()}`;
  await withTemp(async (ws) => {
    let child: Deno.ChildProcess | undefined;
    try {
      const started = await startHolding(ws, marker);
      child = started.child;
      assert.equal(tasks(marker).length, 9, "three tasks: bash, sh and sleep each");
      child.kill("SIGKILL");
      await child.status; // not its output: the spawner shares ferry's stderr until it exits
      const killedAt = Date.now();
      await waitFor(() => tasks(marker).length === 0, "the tasks to end", 5_000);
      console.log(`tasks ended ${Date.now() - killedAt} ms after ferry was killed`);
      // The spawner, its work done, is gone too.
      await waitFor(() => marked(marker).length === 0, "the spawner to exit", 5_000);
      await child.output();
    } finally {
      try {
        child?.kill("SIGKILL");
      } catch { /* dead already */ }
      await killMarked(marker); // first: a live spawner holds ferry's stderr open
      await child?.output().catch(() => {});
    }
  });
});

Deno.test({
  name: "the next run ends the tasks a dead run and its spawner left, before starting them again",
  ignore: Deno.build.os !== "linux",
}, async () => {
  const marker = `FERRY_LIFETIME_MARK=${crypto.randomUUID()}`;
  await withTemp(async (ws) => {
    let child: Deno.ChildProcess | undefined;
    try {
      const started = await startHolding(ws, marker);
      child = started.child;
      const ferryPid = child.pid;
      const spawner = marked(marker).find((p) => p.ppid === ferryPid && !TASK_COMMANDS.has(p.comm));
      assert.ok(spawner, "ferry's spawner runs");
      // The watchdog must not fire: stopped, it cannot see ferry go; then both are killed.
      Deno.kill(spawner.pid, "SIGSTOP");
      child.kill("SIGKILL");
      await child.status;
      Deno.kill(spawner.pid, "SIGKILL");
      await child.output(); // ends once the spawner, which shares ferry's stderr, is gone
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal(sleeps(marker), 3, "the tasks outlived ferry and its spawner");
      const survivors = tasks(marker);

      await Deno.writeTextFile(started.hold, "0");
      const [name, value] = marker.split("=") as [string, string];
      const again = await ferryRun(["--progress", "lines", started.wf], { [name]: value });
      assert.equal(again.code, 0, again.stderr);
      // Each task ran once in each run, never beside a copy of itself.
      const starts = (await Deno.readTextFile(join(started.ledger, "starts"))).trim().split("\n");
      assert.deepEqual(starts.sort(), ["1", "1", "2", "2", "3", "3"]);
      await assert.rejects(
        Deno.readTextFile(join(started.ledger, "overlaps")),
        Deno.errors.NotFound,
        "no task started while a copy of it was running",
      );
      assert.match(
        again.stderr,
        /^ferry: warning: took over a stale lock: pid \d+ on host .* is no longer running; ended 3 process group\(s\) of its tasks that were still running: \d+ \d+ \d+$/m,
      );
      assert.match(again.stderr, /^done: 3 succeeded, 0 failed in /m);
      assert.deepEqual(survivors.filter((pid) => tasks(marker).includes(pid)), []);
      assert.deepEqual(marked(marker), []);
    } finally {
      try {
        child?.kill("SIGKILL");
      } catch { /* dead already */ }
      await killMarked(marker); // first: a live spawner holds ferry's stderr open
      await child?.output().catch(() => {});
    }
  });
});
