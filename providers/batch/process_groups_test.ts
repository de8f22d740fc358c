import assert from "node:assert/strict";
import { hostname } from "node:os";
import { join } from "node:path";
import {
  endSurvivors,
  GroupRecord,
  GROUPS_FILE,
  processStart,
  recordedGroups,
} from "./process_groups.ts";

const linux = Deno.build.os === "linux";
const bootId = () => Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();

/** Start `script` in a new session, as the spawner does; its pid is its group's id. */
function session(script: string): Deno.ChildProcess {
  return new Deno.Command("setsid", {
    args: ["sh", "-c", script],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Live (not zombie) processes of group `pgid`. */
function members(pgid: number): number {
  let n = 0;
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state !== "Z" && Number(pgrp) === pgid) n++;
    } catch { /* gone */ }
  }
  return n;
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test({
  name: "GroupRecord writes what recordedGroups reads: started and not ended, this host and boot",
  ignore: !linux,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const record = GroupRecord.open(dir);
    assert.ok(record);
    record.started(Deno.pid);
    record.started(4_000_001);
    record.started(4_000_002);
    record.ended(4_000_001);
    record.close();
    const text = await Deno.readTextFile(join(dir, GROUPS_FILE));
    assert.equal(
      text,
      `ferry process groups 1 ${hostname()} ${bootId()}\n+ ${Deno.pid} ${
        processStart(Deno.pid)
      }\n+ 4000001 0\n+ 4000002 0\n- 4000001\n`,
    );
    // A line a kill cut short is skipped.
    await Deno.writeTextFile(join(dir, GROUPS_FILE), "+ 4000003 12\n+ 40", { append: true });
    assert.deepEqual(
      recordedGroups(dir),
      new Map([[Deno.pid, processStart(Deno.pid)!], [4_000_002, 0], [4_000_003, 12]]),
    );
    // A record of another boot (or host) names no process that still exists.
    await Deno.writeTextFile(
      join(dir, GROUPS_FILE),
      `ferry process groups 1 ${hostname()} 00000000-0000-0000-0000-000000000000\n+ ${Deno.pid} 1\n`,
    );
    assert.deepEqual(recordedGroups(dir), new Map());
    assert.deepEqual(recordedGroups(join(dir, "none")), new Map());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "endSurvivors ends recorded groups still alive, and leaves alone reused pids and ended tasks",
  ignore: !linux,
}, async () => {
  const dir = await Deno.makeTempDir();
  const children: Deno.ChildProcess[] = [];
  try {
    const live = session("sleep 100 & wait"); // recorded, running
    const orphaned = session("sleep 100 & exit 0"); // its leader gone, a member left in its group
    const reused = session("sleep 100 & wait"); // recorded under another start time
    const ended = session("sleep 100 & wait"); // recorded as ended
    const stubborn = session("trap '' TERM; sleep 100 & wait"); // needs SIGKILL
    children.push(live, orphaned, reused, ended, stubborn);
    await orphaned.status;
    for (const c of [live, reused, ended, stubborn]) {
      await waitFor(() => members(c.pid) === 2, `two processes in ${c.pid}`);
    }
    await waitFor(() => members(orphaned.pid) === 1, `the sleep left in ${orphaned.pid}`);
    const record = GroupRecord.open(dir)!;
    for (const c of [live, ended, stubborn]) record.started(c.pid);
    record.ended(ended.pid);
    record.close();
    await Deno.writeTextFile(
      join(dir, GROUPS_FILE),
      `+ ${orphaned.pid} 1\n+ ${reused.pid} ${processStart(reused.pid)! - 1}\n`,
      { append: true },
    );

    const t0 = Date.now();
    const ended1 = endSurvivors(dir, 300);
    assert.deepEqual(ended1, [live.pid, orphaned.pid, stubborn.pid].sort((a, b) => a - b));
    assert.ok(Date.now() - t0 >= 300, "SIGKILL came after the grace period");
    for (const c of [live, orphaned, stubborn]) assert.equal(members(c.pid), 0, `${c.pid} ended`);
    assert.equal(members(reused.pid), 2, "a reused pid's group is not touched");
    assert.equal(members(ended.pid), 2, "an ended task's group is not touched");
    assert.deepEqual((await live.status).signal, "SIGTERM");
    assert.deepEqual((await stubborn.status).signal, "SIGKILL");
    // Nothing left to end: the second call signals nothing.
    assert.deepEqual(endSurvivors(dir, 300), []);
  } finally {
    for (const c of children) {
      try {
        Deno.kill(-c.pid, "SIGKILL");
      } catch { /* gone */ }
      await c.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});
