import assert from "node:assert/strict";
import { join } from "node:path";
import { type ExitStatus, Spawner, type SpawnerKind } from "./spawner.ts";
import { builtSpawnerPath, compileSpawner } from "./spawner_build.ts";
import { haveService } from "../../tests/_services.ts";
import { signalGroup } from "./local.ts";
import { GroupRecord, recordedGroups } from "./process_groups.ts";

/**
 * The spawners: the compiled one (built here, for these tests; skipped loudly without a C
 * compiler, failed under CI=true), the Python and the Perl one.
 */
const KINDS: readonly SpawnerKind[] = haveService("compiled spawner", [Deno.env.get("CC") ?? "cc"])
  ? ["c", "python", "perl"]
  : ["python", "perl"];

for (const kind of KINDS) {
  Deno.test(`Spawner (${kind}) starts tasks in their own session, with env, directories and exit status`, async () => {
    const spawner = await startSpawner(kind);
    const dir = await Deno.makeTempDir();
    try {
      const work = join(dir, "a b", "deep ☃");
      const ok = spawner.spawn(
        ["sh", "-c", 'printf "%s|%s" "$X" "$(pwd)" > out.txt; ps -o sid= -p $$ > sid.txt'],
        work,
        { env: { X: "va=lue\nz" }, mkdirs: [work] },
      );
      const pid = await ok.pid;
      assert.deepEqual(ended(await ok.status), { code: 0 });
      assert.equal(await Deno.readTextFile(join(work, "out.txt")), `va=lue\nz|${work}`);
      assert.equal(
        (await Deno.readTextFile(join(work, "sid.txt"))).trim(),
        String(pid),
        "the task leads its own session",
      );
      assert.deepEqual(ended(await spawner.spawn(["sh", "-c", "exit 7"], dir).status), { code: 7 });
      const slow = spawner.spawn(["sleep", "30"], dir);
      signalGroup(await slow.pid, "SIGTERM");
      assert.deepEqual(ended(await slow.status), { code: 143, signal: "SIGTERM" });
      const missing = spawner.spawn(["/no/such/program"], dir);
      assert.equal((await missing.status).code, 127);
      if (kind === "c") {
        // What could not start is named: the program, or the working directory.
        await assert.rejects(missing.pid, {
          message: "No such file or directory: '/no/such/program'",
        });
        const gone = spawner.spawn(["true"], join(dir, "gone 'q'"));
        await assert.rejects(gone.pid, {
          message:
            `Cannot change to the working directory '${dir}/gone 'q'': No such file or directory`,
        });
        assert.equal((await gone.status).code, 127);
      }
    } finally {
      await spawner.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

for (const kind of KINDS) {
  Deno.test(`Spawner (${kind}) makes a task's input links after its directories, and says which one it could not make`, async () => {
    const spawner = await startSpawner(kind);
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(join(dir, "in ☃.txt"), "data\n");
      const work = join(dir, "work");
      const link = join(work, "d e", "in ☃.txt");
      const ok = spawner.spawn(["sh", "-c", 'cat "d e/in ☃.txt" > out.txt'], work, {
        mkdirs: [work, join(work, "d e")],
        links: [[join(dir, "in ☃.txt"), link]],
      });
      assert.deepEqual(ended(await ok.status), { code: 0 });
      assert.equal(await Deno.readLink(link), join(dir, "in ☃.txt"));
      assert.equal(await Deno.readTextFile(join(work, "out.txt")), "data\n");
      // The same link again: it exists, so the task does not start.
      const again = spawner.spawn(["sh", "-c", "touch ran"], work, {
        links: [[join(dir, "in ☃.txt"), link]],
      });
      await assert.rejects(
        again.pid,
        new Error(`Cannot place input "${link}" in the task directory: File exists`),
      );
      assert.deepEqual(ended(await again.status), { code: 127 });
      assert.equal(await Deno.stat(join(work, "ran")).catch(() => undefined), undefined);
    } finally {
      await spawner.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** Live (not zombie) processes of process group `pgid`. */
function groupMembers(pgid: number): number[] {
  const found: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state !== "Z" && Number(pgrp) === pgid) found.push(Number(e.name));
    } catch { /* gone */ }
  }
  return found;
}

async function gone(pgid: number, withinMs: number): Promise<boolean> {
  const end = Date.now() + withinMs;
  while (groupMembers(pgid).length > 0) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

for (const kind of KINDS) {
  Deno.test({
    name:
      `Spawner (${kind}) ends a task's group when the task ends, and every running group on close`,
    ignore: Deno.build.os !== "linux",
  }, async () => {
    const spawner = await startSpawner(kind);
    const dir = await Deno.makeTempDir();
    const groups: number[] = [];
    try {
      // A task that leaves a process behind in its group: it goes when the task ends.
      const record = GroupRecord.open(dir)!;
      const left = spawner.spawn(["sh", "-c", "sleep 100 & echo $! > bg"], dir, {
        record: record.path,
      });
      groups.push(await left.pid);
      assert.deepEqual(ended(await left.status), { code: 0 });
      assert.ok(await gone(groups[0]!, 2_000), "the task's background sleep was killed");
      // Tasks still running when the spawner is closed end with SIGTERM.
      const held = [0, 1].map(() =>
        spawner.spawn(["sh", "-c", "sleep 100 & wait"], dir, { record: record.path })
      );
      for (const h of held) groups.push(await h.pid);
      const end = Date.now() + 5_000;
      while (groups.slice(1).some((g) => groupMembers(g).length < 2) && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(groupMembers(groups[1]!).length, 2, "sh and its sleep run");
      assert.deepEqual([...recordedGroups(dir).keys()], groups.slice(1), "the running ones");
      await spawner.close();
      record.close();
      for (const h of held) {
        assert.deepEqual(ended(await h.status), { code: 143, signal: "SIGTERM" });
      }
      for (const g of groups) assert.deepEqual(groupMembers(g), []);
      // The spawner recorded each group as it started and once it was gone.
      const lines = (await Deno.readTextFile(record.path)).split("\n").slice(1, -1);
      assert.equal(lines.length, 6, lines.join("\n"));
      assert.match(lines[0]!, new RegExp(`^\\+ ${groups[0]} [1-9]\\d*$`));
      assert.equal(lines[1], `- ${groups[0]}`);
      assert.deepEqual(recordedGroups(dir), new Map());
    } finally {
      await spawner.close();
      for (const g of groups) signalGroup(g, "SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test({
    name: `Spawner (${kind}) ends its tasks' groups within seconds when ferry dies by SIGKILL`,
    ignore: Deno.build.os !== "linux",
  }, async () => {
    const dir = await Deno.makeTempDir();
    const groups: number[] = [];
    const holder = join(dir, "holder.ts");
    // Stands for ferry: starts two tasks through the spawner, prints their pids, and waits.
    await Deno.writeTextFile(
      holder,
      [
        `import { Spawner } from ${JSON.stringify(new URL("./spawner.ts", import.meta.url).href)};`,
        `const s = Spawner.start(${JSON.stringify(kind)}, 2, ${
          JSON.stringify(kind === "c" ? await compiled() : undefined)
        });`,
        `const a = s.spawn(["sh", "-c", "sleep 100 & wait"], ${JSON.stringify(dir)});`,
        `const b = s.spawn(["sh", "-c", "trap '' TERM; sleep 100 & wait"], ${
          JSON.stringify(dir)
        });`,
        `console.log(await a.pid, await b.pid);`,
        `setInterval(() => {}, 1000);`,
      ].join("\n"),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", holder],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      const reader = child.stdout.getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      groups.push(...text.trim().split(" ").map(Number));
      assert.equal(groups.length, 2, `two pids: ${text}`);
      // Both sh processes and their sleeps run.
      const end = Date.now() + 5_000;
      while (groups.some((g) => groupMembers(g).length < 2) && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(groups.map((g) => groupMembers(g).length), [2, 2]);
      const killedAt = Date.now();
      child.kill("SIGKILL");
      await child.status;
      // SIGTERM ends the first at once; the second ignores it and goes with SIGKILL after 2 s.
      assert.ok(await gone(groups[0]!, 1_500), "the first task's group ended on SIGTERM");
      assert.ok(await gone(groups[1]!, 5_000), "the second task's group ended on SIGKILL");
      const ms = Date.now() - killedAt;
      assert.ok(ms >= 1_500, `SIGKILL came after the grace period, not at once (${ms} ms)`);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* dead already */ }
      await child.stdout.cancel().catch(() => {});
      await child.status;
      for (const g of groups) signalGroup(g, "SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("spawner.py without posix_spawn hands over to spawner.pl (same process, same pipes)", async () => {
  const py = new URL("./spawner.py", import.meta.url).pathname;
  const pl = new URL("./spawner.pl", import.meta.url).pathname;
  // An interpreter without os.posix_spawnp, as Python before 3.8 is.
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      "import os, sys; del os.posix_spawnp; sys.argv = sys.argv[1:]; exec(compile(open(sys.argv[0]).read(), sys.argv[0], 'exec'))",
      py,
      "2",
      pl,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let cmdline = "";
  for (let i = 0; i < 400 && !cmdline.startsWith("perl "); i++) {
    await new Promise((r) => setTimeout(r, 50));
    cmdline = (await Deno.readTextFile(`/proc/${child.pid}/cmdline`).catch(() => "")).replaceAll(
      "\0",
      " ",
    );
  }
  assert.equal(cmdline.trim(), `perl ${pl} 2`);
  await child.stdin.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
});

Deno.test("spawner.py told to use Python only exits 3 without posix_spawn", async () => {
  const py = new URL("./spawner.py", import.meta.url).pathname;
  const out = await new Deno.Command("python3", {
    args: [
      "-c",
      "import os, sys; del os.posix_spawnp; sys.argv = sys.argv[1:]; exec(compile(open(sys.argv[0]).read(), sys.argv[0], 'exec'))",
      py,
      "2",
      "",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  assert.equal(out.code, 3);
});

Deno.test("Spawner (python) runs under the system's python3, isolated and without site, when there is one", async () => {
  // A version manager's python3 shim on PATH (pyenv here) costs 0.1 s or more before the first task.
  const system = await Deno.stat("/usr/bin/python3").then((s) => s.isFile, () => false);
  const spawner = Spawner.start("python");
  assert.ok(spawner, "python3 is needed for this test");
  const dir = await Deno.makeTempDir();
  try {
    const cmd = "tr '\\0' ' ' < /proc/$PPID/cmdline > parent.txt";
    assert.deepEqual(ended(await spawner.spawn(["sh", "-c", cmd], dir).status), { code: 0 });
    const parent = (await Deno.readTextFile(join(dir, "parent.txt"))).trim().split(" ");
    const script = new URL("./spawner.py", import.meta.url).pathname;
    assert.deepEqual(parent.slice(1, 4), ["-I", "-S", script]);
    if (system) assert.equal(parent[0], "/usr/bin/python3");
  } finally {
    await spawner.close();
    await Deno.remove(dir, { recursive: true });
  }
});

for (const kind of KINDS) {
  Deno.test(`Spawner (${kind}) reports what a task's process tree used${kind === "perl" ? " (CPU only)" : ""}`, async () => {
    const spawner = await startSpawner(kind);
    try {
      // A shell whose child holds 200 MiB and burns 1 s of CPU: the reaped shell's figures
      // include the child it waited for.
      const hog = "import time\nb = b'x' * (200 * 1024 * 1024)\n" +
        "t = time.process_time()\nwhile time.process_time() - t < 1: pass";
      const { status } = spawner.spawn(["sh", "-c", 'python3 -c "$1"; exit 4', "sh", hog], "/");
      const { code, usage } = await status;
      assert.equal(code, 4);
      const cpu = usage!.userSeconds! + usage!.systemSeconds!;
      assert.ok(cpu >= 0.9 && cpu < 3, `CPU ${cpu} s`);
      assert.ok(
        usage!.wallSeconds >= cpu * 0.9 && usage!.wallSeconds < 10,
        `wall ${usage!.wallSeconds}`,
      );
      if (kind !== "perl") {
        assert.equal(usage!.measuredBy, "wait4");
        const mib = usage!.maxRssBytes! / 2 ** 20;
        assert.ok(mib >= 200 && mib < 240, `peak RSS ${mib} MiB`);
      } else {
        assert.equal(usage!.measuredBy, "times");
        assert.equal(usage!.maxRssBytes, undefined);
      }
    } finally {
      await spawner.close();
    }
  });
}

let built: Promise<string> | undefined;

if (KINDS.includes("c")) {
  Deno.test("Spawner (c) opens a task's logs itself when asked: each its own, one for both, none; says which it cannot open", async () => {
    const dir = await Deno.makeTempDir();
    const child = new Deno.Command(await compiled(), {
      args: ["2"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const writer = child.stdin.getWriter();
    const reader = child.stdout.getReader();
    let pending = "";
    /** The next reply's fields (S: 3, E: 4, F: 3). */
    const next = async (): Promise<string[]> => {
      for (;;) {
        const fields = pending.split("\0");
        const n = fields[0] === "E" ? 4 : 3;
        if (fields.length > n) {
          pending = fields.slice(n).join("\0");
          return fields.slice(0, n);
        }
        const r = await reader.read();
        assert.ok(!r.done, "the spawner ended");
        pending += new TextDecoder().decode(r.value);
      }
    };
    /** Run argv with logs out and err: the kinds of its replies, the last one's value. */
    const run = async (id: string, out: string, err: string, argv: string[]) => {
      const fields = [id, dir, "0", "0", "0", String(argv.length), ...argv, "", out, err];
      const body = new TextEncoder().encode(fields.map((f) => f + "\0").join(""));
      await writer.write(new TextEncoder().encode(`${body.length}\n`));
      await writer.write(body);
      const first = await next();
      if (first[0] !== "S") return { kinds: [first[0]], value: first[2] };
      const end = await next();
      return { kinds: [first[0], end[0]], value: end[2] };
    };
    try {
      const both = 'echo out; echo err >&2; echo "$0|$1"';
      const a = join(dir, "a.out"), b = join(dir, "b err 'q'.log");
      Deno.writeTextFileSync(a, "old text, longer than what replaces it\n");
      assert.deepEqual(await run("1", a, b, ["sh", "-c", both, "x\ny", "$(touch PWNED)"]), {
        kinds: ["S", "E"],
        value: "0",
      });
      assert.equal(
        Deno.readTextFileSync(a),
        "out\nx\ny|$(touch PWNED)\n",
        "truncated, then written",
      );
      assert.equal(Deno.readTextFileSync(b), "err\n");
      // The same path twice: one file for both, as >FILE 2>&1 (the order kept).
      const c = join(dir, "c.log");
      assert.deepEqual(await run("2", c, c, ["sh", "-c", both, "z"]), {
        kinds: ["S", "E"],
        value: "0",
      });
      assert.equal(Deno.readTextFileSync(c), "out\nerr\nz|\n");
      // No logs: /dev/null, as before these fields (the task still runs, its status is its own).
      assert.deepEqual(await run("3", "", "", ["sh", "-c", "echo lost; exit 3"]), {
        kinds: ["S", "E"],
        value: String(3 << 8),
      });
      // A log it cannot open: nothing runs, and the reply names the log.
      const bad = join(dir, "no dir", "x.log");
      assert.deepEqual(await run("4", a, bad, ["sh", "-c", "touch ran"]), {
        kinds: ["F"],
        value: `Cannot open the log '${bad}': No such file or directory`,
      });
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
        ["a.out", "b err 'q'.log", "c.log"],
      );
    } finally {
      await writer.close();
      reader.releaseLock();
      await child.stdout.cancel();
      assert.equal((await child.status).code, 0);
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** spawner.c compiled into a temporary directory (once per test process, removed at its end). */
function compiled(): Promise<string> {
  built ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "ferry-spawner-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const source = new URL("./spawner.c", import.meta.url).pathname;
    const out = join(dir, "ferry-spawner");
    const problem = await compileSpawner(source, out);
    assert.equal(problem, undefined, "a C compiler (cc) is needed for this test");
    return out;
  })();
  return built;
}

/** A spawner of `kind`, which must start. */
async function startSpawner(kind: SpawnerKind): Promise<Spawner> {
  const spawner = Spawner.start(kind, 2, kind === "c" ? await compiled() : undefined);
  assert.ok(spawner, `${kind} is needed for this test`);
  return spawner;
}

Deno.test("the compiled spawner's name holds its source's hash, beside the source in .bin/", () => {
  const a = builtSpawnerPath(
    "int main(void) { return 0; }",
    "/src/ferry/providers/batch/spawner.c",
  );
  assert.match(a, /^\/src\/ferry\/providers\/batch\/\.bin\/ferry-spawner-[0-9a-f]{16}$/);
  assert.notEqual(
    a,
    builtSpawnerPath("int main(void) { return 1; }", "/src/ferry/providers/batch/spawner.c"),
  );
});

/** An exit status without its usage (checked by a test of its own). */
function ended(s: ExitStatus): ExitStatus {
  const { usage: _, ...rest } = s;
  return rest;
}
