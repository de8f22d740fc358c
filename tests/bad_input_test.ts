/**
 * Input that is not what it looks like: workflow files, site files and task
 * inputs that are FIFOs, devices or far too large; Ctrl-C while a large file
 * is hashed; a misspelt `--param`; a `--workspace` that does not exist yet.
 * Each ends in a clear message, in time, and writes nothing it should not.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, ROOT, withTemp, writeWorkflow } from "./_run.ts";

const decoder = new TextDecoder();

/** Run `ferry COMMAND ARGS` in `cwd`, killed after `ms` (a regression that blocks fails, not hangs). */
async function ferryWithin(
  command: string,
  args: readonly string[],
  cwd: string,
  ms = 30_000,
): Promise<{ code: number; stderr: string; stdout: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, command, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  try {
    const out = await child.output();
    assert.notEqual(out.signal, "SIGKILL", `ferry ${command} ${args.join(" ")} took over ${ms} ms`);
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

async function mkfifo(path: string): Promise<void> {
  const r = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.equal(r.code, 0);
}

/** A sparse file of `bytes` (nothing is written to disk). */
async function sparse(path: string, bytes: number): Promise<void> {
  using f = await Deno.open(path, { write: true, create: true });
  await f.truncate(bytes);
}

/** Whether process `pid` has `path` open. */
async function holds(pid: number, path: string): Promise<boolean> {
  try {
    for await (const e of Deno.readDir(`/proc/${pid}/fd`)) {
      try {
        if (await Deno.readLink(`/proc/${pid}/fd/${e.name}`) === path) return true;
      } catch { /* closed meanwhile */ }
    }
  } catch { /* gone */ }
  return false;
}

/**
 * `ferry run ARGS` in `cwd`, sent SIGINT once it has `path` open: its exit code, stderr, and the
 * milliseconds from the signal to its end. A ferry deaf to Ctrl-C is killed after 10 s.
 */
async function interruptWhileOpen(
  args: readonly string[],
  cwd: string,
  path: string,
): Promise<{ code: number; stderr: string; ms: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, "run", ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  try {
    const t0 = performance.now();
    while (!(await holds(child.pid, path))) {
      assert.ok(performance.now() - t0 < 30_000, `ferry never opened ${path}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const sent = performance.now();
    child.kill("SIGINT");
    const deaf = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const out = await output.finally(() => clearTimeout(deaf));
    return { code: out.code, stderr: decoder.decode(out.stderr), ms: performance.now() - sent };
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await output.catch(() => {});
  }
}

const MINIMAL = { ferry: 1, name: "w", apps: { a: { command: ["true"] } } };

Deno.test("a workflow or site file that is a FIFO, a device or over 16 MiB is refused at once", async () => {
  await withTemp(async (ws) => {
    await writeWorkflow(ws, MINIMAL);
    await mkfifo(join(ws, "fifo.yaml"));
    await Deno.symlink("/dev/zero", join(ws, "zero.yaml"));
    await sparse(join(ws, "huge.yaml"), 5 * 2 ** 30);
    await sparse(join(ws, "big.site.yaml"), 16 * 2 ** 20 + 1);
    const cases: [string[], string][] = [
      [
        ["fifo.yaml"],
        'fifo.yaml:1:1: error[read-error]: Cannot read "fifo.yaml": it is a FIFO (named pipe), not a regular file',
      ],
      [
        ["zero.yaml"],
        'zero.yaml:1:1: error[read-error]: Cannot read "zero.yaml": it is a character device, not a regular file',
      ],
      [
        ["huge.yaml"],
        'huge.yaml:1:1: error[read-error]: Cannot read "huge.yaml": it is 5 GiB (ferry reads workflow and site files of at most 16 MiB)',
      ],
      [
        ["--site", "big.site.yaml", "workflow.yaml"],
        'big.site.yaml:1:1: error[read-error]: Cannot read "big.site.yaml": it is 16 MiB (ferry reads workflow and site files of at most 16 MiB)',
      ],
      [
        ["--site", "fifo.yaml", "workflow.yaml"],
        'fifo.yaml:1:1: error[read-error]: Cannot read "fifo.yaml": it is a FIFO (named pipe), not a regular file',
      ],
    ];
    for (const [args, line] of cases) {
      for (const command of ["check", "plan", "run"]) {
        const r = await ferryWithin(command, args, ws);
        assert.equal(r.code, 2, r.stderr);
        assert.equal((r.stdout + r.stderr).split("\n")[0], line, `${command} ${args.join(" ")}`);
      }
    }
    assert.equal(await exists(join(ws, ".ferry")), false);
  });
});

Deno.test("an input that is a FIFO or a device is an error at check, plan and run, which end at once", async () => {
  await withTemp(async (ws) => {
    await mkfifo(join(ws, "in.fifo"));
    await Deno.symlink("/dev/zero", join(ws, "zero.bin"));
    await writeWorkflow(ws, {
      ferry: 1,
      name: "irregular",
      apps: {
        fifo: {
          inputs: { x: "in.fifo" },
          outputs: { o: "fifo.txt" },
          shell: "cat ${{ inputs.x }} > ${{ outputs.o }}",
        },
        zero: {
          inputs: { x: "zero.bin" },
          outputs: { o: "zero.txt" },
          shell: "head -c 4 ${{ inputs.x }} > ${{ outputs.o }}",
        },
        device: {
          inputs: { x: "/dev/zero" },
          outputs: { o: "dev.txt" },
          shell: "head -c 4 ${{ inputs.x }} > ${{ outputs.o }}",
        },
      },
    });
    for (const command of ["check", "plan", "run"]) {
      const r = await ferryWithin(command, ["workflow.yaml"], ws);
      assert.equal(r.code, 2, r.stderr);
      const errors = (r.stdout + r.stderr).split("\n").filter((l) =>
        l.startsWith("workflow.yaml:")
      );
      assert.deepEqual(errors, [
        'workflow.yaml:6:10: error[irregular-input]: Cannot read input "in.fifo" of fifo: it is a FIFO (named pipe), not a regular file or directory',
        'workflow.yaml:12:10: error[irregular-input]: Cannot read input "zero.bin" of zero: it is a character device, not a regular file or directory',
        'workflow.yaml:18:10: error[irregular-input]: Cannot read input "/dev/zero" of device: it is a character device, not a regular file or directory',
      ], r.stderr);
    }
    assert.deepEqual([...Deno.readDirSync(ws)].map((e) => e.name).sort(), [
      "in.fifo",
      "workflow.yaml",
      "zero.bin",
    ]);
  });
});

Deno.test("run: Ctrl-C while a multi-GB input is hashed stops within a second, exit 130", async () => {
  await withTemp(async (ws) => {
    const big = join(ws, "big.bin");
    await sparse(big, 64 * 2 ** 30); // a minute or more of hashing
    await writeWorkflow(ws, {
      ferry: 1,
      name: "big",
      apps: {
        size: {
          inputs: { x: "big.bin" },
          outputs: { o: "size.txt" },
          shell: "stat -c %s ${{ inputs.x }} > ${{ outputs.o }}",
        },
      },
    });
    const r = await interruptWhileOpen(["workflow.yaml"], ws, big);
    assert.equal(r.code, 130, r.stderr);
    assert.ok(r.ms < 1000, `ferry ended ${r.ms} ms after SIGINT`);
    assert.equal(r.stderr, "ferry: interrupted while hashing the inputs; nothing ran\n");
    assert.equal(await exists(join(ws, "size.txt")), false);
    const status = await ferryWithin("status", ["workflow.yaml"], ws);
    assert.match(status.stdout, /^ {2}\d{8}-\d{6}-\w{6} {2}interrupted /m);
  });
});

Deno.test("run: Ctrl-C while a multi-GB output is hashed stops within a second; the task is cancelled", async () => {
  await withTemp(async (ws) => {
    await writeWorkflow(ws, {
      ferry: 1,
      name: "big",
      apps: { make: { outputs: { o: "big.bin" }, shell: "truncate -s 64G ${{ outputs.o }}" } },
    });
    const big = join(ws, "big.bin");
    const r = await interruptWhileOpen(["--progress", "lines", "workflow.yaml"], ws, big);
    assert.equal(r.code, 130, r.stderr);
    assert.ok(r.ms < 1000, `ferry ended ${r.ms} ms after SIGINT`);
    assert.match(r.stderr, /^interrupted: 0 succeeded, 0 failed, 1 cancelled in /m);
    assert.doesNotMatch(r.stderr, /internal error/);
    const status = await ferryWithin("status", ["workflow.yaml"], ws);
    assert.match(
      status.stdout,
      /^ {4}attempt 1: cancelled \(interrupted while hashing its outputs, in place but not recorded\) in /m,
    );
  });
});

Deno.test("--param naming no param of the workflow is an error, with the closest name or the names declared", async () => {
  await withTemp(async (ws) => {
    await writeWorkflow(ws, {
      ferry: 1,
      name: "p",
      params: { samples: ["a"], threads: 2 },
      apps: {
        a: {
          for_each: { s: "${{ params.samples }}" },
          command: ["echo", "${{ s }}", "${{ params.threads }}"],
        },
      },
    });
    await writeWorkflow(ws, MINIMAL, "none.yaml");
    const cases: [string[], string[]][] = [
      [["-p", "sampels=[x, y]", "workflow.yaml"], [
        'workflow.yaml:4:3: error[unknown-param]: Cannot set --param "sampels": the workflow has no such param: did you mean "samples"?',
      ]],
      [["-p", "cores=4", "-p", "threads=3", "workflow.yaml"], [
        'workflow.yaml:4:3: error[unknown-param]: Cannot set --param "cores": the workflow has no such param; it declares "samples", "threads"',
      ]],
      [["-p", "x=1", "none.yaml"], [
        'none.yaml:1:1: error[unknown-param]: Cannot set --param "x": the workflow has no such param; it declares none',
      ]],
    ];
    for (const [args, lines] of cases) {
      for (const command of ["check", "plan", "run"]) {
        const r = await ferryWithin(command, args, ws);
        assert.equal(r.code, 2, r.stderr);
        assert.deepEqual(
          (r.stdout + r.stderr).split("\n").filter((l) => /^\w+\.yaml:\d/.test(l)),
          lines,
        );
      }
    }
    assert.equal(await exists(join(ws, ".ferry")), false);
  });
});

Deno.test("--workspace: a directory not there yet is made by run, which says so; plan makes nothing", async () => {
  await withTemp(async (dir) => {
    await writeWorkflow(dir, {
      ferry: 1,
      name: "w",
      apps: { a: { outputs: { o: "a.txt" }, shell: "echo a > ${{ outputs.o }}" } },
    });
    const plan = await ferryWithin("plan", ["-w", "new/ws", "workflow.yaml"], dir);
    assert.equal(plan.code, 0, plan.stderr);
    assert.equal(await exists(join(dir, "new")), false);
    const run = await ferryWithin("run", ["-w", "new/ws", "workflow.yaml"], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr.split("\n")[0], `ferry: created the workspace ${join(dir, "new/ws")}`);
    assert.equal(await Deno.readTextFile(join(dir, "new/ws/a.txt")), "a\n");
    const again = await ferryWithin("run", ["-w", "new/ws", "workflow.yaml"], dir);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /created the workspace/);
  });
});
