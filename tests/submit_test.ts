/**
 * executor().submit(fn, ...args): calls of exported functions run as tasks in their own Deno
 * processes, recorded in the workspace's state (a second run of the script takes the recorded
 * results), nested submits, failures and walltimes as TaskError, `await using` waiting for work
 * that was never awaited, and shutdown({ cancel: true }).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { EXAMPLES } from "./_examples.ts";
import { exists, ferryRun, ROOT, withTemp } from "./_run.ts";

const SCRIPT = (mod: string) => `
import { executor, TaskError } from ${JSON.stringify(mod)};
export function square(x: number) { return x * x; }
export async function sumOfSquares(n: number) {
  await using ex = executor("local");
  const parts = await Promise.all(Array.from({ length: n }, (_, i) => ex.submit(square, i + 1)));
  return parts.reduce((a, b) => a + b, 0);
}
export function boom(why: string) { console.error("about to fail: " + why); throw new Error(why); }
export async function nap(ms: number) { await new Promise((r) => setTimeout(r, ms)); return ms; }
export function note(path: string, text: string) { Deno.writeTextFileSync(path, text); return text.length; }

if (import.meta.main) {
  const mode = Deno.args[0];
  if (mode === "calc") {
    await using ex = executor("local", { requirements: { cores: 1 } });
    const t = ex.submit(square, 7);
    t.label = "seven squared";
    const s = ex.submit(sumOfSquares, 3);
    console.log(JSON.stringify({ id: t.id, label: t.label, t: await t, ts: t.status, s: await s, ss: s.status }));
  } else if (mode === "fail") {
    await using ex = executor("local");
    const t = ex.submit(boom, "no luck");
    t.label = "the failing one";
    try { await t; } catch (e) {
      console.log(JSON.stringify({ name: (e as Error).name, message: (e as Error).message, status: t.status, isTaskError: e instanceof TaskError }));
    }
    const slow = ex.submitWith({ walltime: "1s" }, nap, 60_000);
    try { await slow; } catch (e) { console.log(JSON.stringify({ message: (e as Error).message, status: slow.status })); }
  } else if (mode === "scope") {
    {
      await using ex = executor("local");
      ex.submit(note, Deno.args[1]!, "written after the scope was left");
    }
    console.log("scope left");
  } else if (mode === "cancel") {
    const ex = executor("local");
    const t = ex.submit(nap, 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    await ex.shutdown({ cancel: true });
    console.log(JSON.stringify({ status: t.status, fast: Date.now() - t0 < 10_000 }));
  } else if (mode === "anonymous") {
    await using ex = executor("local");
    try { ex.submit((x: number) => x, 1); } catch (e) { console.log((e as Error).message); }
  }
}
`;

async function script(
  dir: string,
): Promise<(...args: string[]) => Promise<{ code: number; out: string; err: string }>> {
  const path = join(dir, "calc.ts");
  await Deno.writeTextFile(path, SCRIPT(join(ROOT, "mod.ts")));
  return async (...args) => {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", path, ...args],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
  };
}

/** Each run of the workspace as `ferry status` lists it: its status and its tasks' counts. */
async function listedRuns(
  dir: string,
): Promise<{ status: string; failed: number; succeeded: number; cancelled: number }[]> {
  const r = await ferryRun(["-w", dir, "--format", "json"], {}, "status");
  assert.equal(r.code, 0, r.stderr);
  const runs = JSON.parse(r.stdout).runs as {
    status: string;
    counts: Record<string, number>;
  }[];
  return runs.map(({ status, counts }) => ({
    status,
    failed: counts.failed!,
    succeeded: counts.succeeded!,
    cancelled: counts.cancelled!,
  }));
}

Deno.test("submit: calls run as tasks (nested too); a second run of the script takes the recorded results", async () => {
  await withTemp(async (dir) => {
    const run = await script(dir);
    const first = await run("calc");
    assert.equal(first.code, 0, first.err);
    const a = JSON.parse(first.out);
    assert.deepEqual(
      { ...a, id: a.id.replace(/[0-9a-f]{12}/, "H") },
      { id: "square[H]", label: "seven squared", t: 49, ts: "succeeded", s: 14, ss: "succeeded" },
    );
    // Every call was a task with its own attempt directory: 1 + 1 + the 3 nested squares
    // (square of 1..3; 7 squared is another).
    const runs = [...Deno.readDirSync(join(dir, ".ferry", "runs"))].map((e) => e.name);
    assert.equal(runs.length, 2, "the script's run and the nested one");
    const again = await run("calc");
    assert.equal(again.code, 0, again.err);
    const b = JSON.parse(again.out);
    assert.equal(b.ts, "cached");
    assert.equal(b.ss, "cached");
    assert.equal(b.s, 14);
    assert.deepEqual(
      (await listedRuns(dir)).map((r) => r.status),
      ["succeeded", "succeeded", "succeeded"],
      "the script's two sessions and the nested one (the second run's is cached: never opened)",
    );
  });
});

Deno.test("submit: failures and walltimes reject with TaskError; the label names the task", async () => {
  await withTemp(async (dir) => {
    const run = await script(dir);
    const r = await run("fail");
    assert.equal(r.code, 0, r.err);
    const [failed, slow] = r.out.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(failed.name, "TaskError");
    assert.equal(failed.isTaskError, true);
    assert.equal(failed.status, "failed");
    assert.equal(
      failed.message,
      "the failing one failed: exit code 1\nferry: boom threw Error: no luck",
    );
    assert.match(slow.message, /^nap\[[0-9a-f]{12}\] failed: exceeded its walltime and was killed/);
    assert.equal(slow.status, "failed");
    // The session is listed as failed, like a `ferry run` in which a task failed.
    assert.deepEqual(await listedRuns(dir), [
      { status: "failed", failed: 2, succeeded: 0, cancelled: 0 },
    ]);
  });
});

Deno.test("submit: leaving the scope waits for submitted work; shutdown({ cancel }) stops it", async () => {
  await withTemp(async (dir) => {
    const run = await script(dir);
    const target = join(dir, "note.txt");
    const r = await run("scope", target);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "scope left\n");
    assert.equal(await Deno.readTextFile(target), "written after the scope was left");
    const c = await run("cancel");
    assert.equal(c.code, 0, c.err);
    assert.deepEqual(JSON.parse(c.out), { status: "cancelled", fast: true });
    // Newest first: the cancelled session was interrupted; the scope's succeeded.
    assert.deepEqual((await listedRuns(dir)).map((r) => r.status), ["interrupted", "succeeded"]);
    const anon = await run("anonymous");
    assert.match(anon.out, /^Cannot submit an anonymous function: export it from the main script/);
  });
});

Deno.test("submit: examples/typescript/submit.ts runs, and a second run takes every result from the record", async () => {
  await withTemp(async (dir) => {
    // A copy keeps the record out of examples/; it imports ferry from the checkout instead.
    const source = await Deno.readTextFile(join(EXAMPLES, "typescript", "submit.ts"));
    const from = 'from "../../mod.ts";';
    assert.equal(source.split(from).length, 2, `submit.ts imports ${from} once`);
    const example = join(dir, "submit.ts");
    await Deno.writeTextFile(
      example,
      source.replace(from, `from ${JSON.stringify(join(ROOT, "mod.ts"))};`),
    );
    const run = () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", example],
        cwd: dir,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const dec = new TextDecoder();
    const first = await run();
    assert.equal(first.code, 0, dec.decode(first.stderr));
    assert.equal(
      dec.decode(first.stdout),
      "a quick estimate: 3.1437 (succeeded)\nmean of 4 estimates: 3.1450 (succeeded)\n",
    );
    const second = await run();
    assert.equal(
      dec.decode(second.stdout),
      "a quick estimate: 3.1437 (cached)\nmean of 4 estimates: 3.1450 (cached)\n",
    );
    assert.ok(await exists(join(dir, ".ferry")), "the record is in the copy's folder");
  });
});
