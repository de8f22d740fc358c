import assert from "node:assert/strict";
import { join } from "node:path";
import { localProvider } from "./local.ts";
import type { JobSpec } from "./types.ts";

/** A submitted call of `fn(...argv)` in `module`, its files under `runDir/name`. */
function call(runDir: string, name: string, module: string, fn: string, argv: unknown[]): JobSpec {
  const root = join(runDir, name);
  return {
    taskId: name,
    attempt: 1,
    dir: join(root, "work"),
    run: { kind: "function", module, export: fn },
    env: { FERRY_TASK_ID: name },
    mkdirs: [join(root, "work")],
    stdout: join(root, "stdout.log"),
    stderr: join(root, "stderr.log"),
    resources: {},
    call: { argv, result: join(root, "result.json") },
    root,
    runDir,
  };
}

Deno.test({
  name: "function pool: each call's output reaches its logs byte for byte (NUL bytes, " +
    "a mark without the token, output longer than one read), and its environment is its own",
  ignore: Deno.build.os !== "linux",
}, async () => {
  const runDir = await Deno.makeTempDir();
  const provider = localProvider({ killGraceSeconds: 1 });
  try {
    const module = join(runDir, "fn.ts");
    await Deno.writeTextFile(
      module,
      [
        "const enc = new TextEncoder();",
        "export function noisy(n: number, text: string) {",
        "  const big = text.repeat(n);",
        "  Deno.stdout.writeSync(enc.encode(big));",
        "  Deno.stderr.writeSync(enc.encode(text));",
        "  return { id: Deno.env.get('FERRY_TASK_ID'), length: big.length };",
        "}",
        "",
      ].join("\n"),
    );
    const text = 'a\0b \0ferry-worker not-the-token {"ok":false}\n\0';
    const jobs = [1, 5_000, 3].map((n, i) => call(runDir, `c${i}`, module, "noisy", [n, text]));
    const results = await Promise.all(
      jobs.map((j) => provider.execute(j, new AbortController().signal)),
    );
    for (const [i, r] of results.entries()) {
      const j = jobs[i]!;
      assert.equal(r.outcome, "succeeded", await Deno.readTextFile(j.stderr));
      const n = (j.call!.argv as [number])[0];
      assert.equal(await Deno.readTextFile(j.stdout), text.repeat(n));
      assert.equal(await Deno.readTextFile(j.stderr), text);
      assert.deepEqual(JSON.parse(await Deno.readTextFile(j.call!.result)), {
        id: `c${i}`,
        length: text.length * n,
      });
    }
  } finally {
    await provider.close?.();
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test({
  name: "function pool: each call's CPU time and peak memory are its own, measured by its worker",
  ignore: Deno.build.os !== "linux",
}, async () => {
  const runDir = await Deno.makeTempDir();
  const provider = localProvider({ killGraceSeconds: 1, functionWorkers: 1 });
  try {
    const module = join(runDir, "fn.ts");
    await Deno.writeTextFile(
      module,
      [
        "export function heavy(mib: number, ms: number) {",
        "  const keep = new Uint8Array(mib * 2 ** 20).fill(1);",
        "  const end = performance.now() + ms;",
        "  let x = 0;",
        "  while (performance.now() < end) x++;",
        "  return keep.length + (x > 0 ? 0 : 1);",
        "}",
        "export const light = () => Deno.pid;",
        "",
      ].join("\n"),
    );
    const run = (id: string, fn: string, args: unknown[]) =>
      provider.execute(call(runDir, id, module, fn, args), new AbortController().signal);
    // The light call first: after the heavy one its peak could still hold the heavy call's buffer,
    // resident until V8 collects it (the peak is reset to what is resident when a call starts).
    const light = await run("l", "light", []);
    const heavy = await run("h", "heavy", [200, 300]);
    assert.equal(heavy.outcome, "succeeded", heavy.message);
    assert.equal(light.outcome, "succeeded", light.message);
    const [h, l] = [heavy.usage!, light.usage!];
    assert.equal(h.measuredBy, "worker");
    assert.equal(l.measuredBy, "worker");
    // 300 ms of a busy loop: at least a share of it on a loaded machine.
    assert.ok(h.userSeconds! + h.systemSeconds! >= 0.1, JSON.stringify(h));
    assert.ok(h.maxRssBytes! >= 200 * 2 ** 20, JSON.stringify(h));
    // The same worker: each call's figures are its own.
    assert.ok(l.maxRssBytes! < h.maxRssBytes! - 100 * 2 ** 20, `${JSON.stringify(l)}`);
    assert.ok(l.userSeconds! + l.systemSeconds! < 0.1, JSON.stringify(l));
  } finally {
    await provider.close?.();
    await Deno.remove(runDir, { recursive: true });
  }
});
