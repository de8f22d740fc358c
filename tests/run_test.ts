/**
 * `ferry run` end to end, with real processes: every test writes a workflow
 * into its own temporary workspace, runs `deno run -A main.ts run ...` as a
 * subprocess, and checks exit codes, files, the progress and summary text, and
 * (with `ps`) that no process of a task outlives its run.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { copyExamples } from "./_examples.ts";
import { exists, ferry, ferryRun, runDirOf, walk, withTemp, writeWorkflow } from "./_run.ts";

const decoder = new TextDecoder();

/** The one task directory of `app` (a single-task app) in a run directory. */
async function taskDir(runDir: string, app: string): Promise<string> {
  const found: string[] = [];
  for await (const e of Deno.readDir(join(runDir, "tasks"))) {
    if (e.name.startsWith(`${app}-`)) found.push(join(runDir, "tasks", e.name));
  }
  assert.equal(found.length, 1, `one task directory for ${app} in ${runDir}`);
  return found[0]!;
}

/** Poll `cond` every 50 ms until it holds; fails after `timeoutMs`. */
async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `ps` lines (pid and args) of live processes whose arguments contain `marker`. */
async function processesWith(marker: string): Promise<string[]> {
  const out = await new Deno.Command("ps", { args: ["-eo", "pid=,stat=,args="], stdout: "piped" })
    .output();
  return decoder.decode(out.stdout).split("\n")
    .map((l) => l.trim())
    .filter((l) => l.includes(marker))
    // A zombie is dead already (and `ps` shows no arguments for it anyway).
    .filter((l) => !/^\d+\s+Z/.test(l));
}

/** Assert no process with `marker` remains (allowing a moment for SIGKILLed ones to go). */
async function assertNoSurvivors(marker: string): Promise<void> {
  const end = Date.now() + 1000;
  let left = await processesWith(marker);
  while (left.length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    left = await processesWith(marker);
  }
  assert.deepEqual(left, [], `processes of the run survived it:\n${left.join("\n")}`);
}

/** Clean up after a failed test: kill, by pid, what this test started and left behind. */
async function killLeftovers(marker: string): Promise<void> {
  for (const line of await processesWith(marker)) {
    try {
      Deno.kill(Number(line.split(/\s+/)[0]), "SIGKILL");
    } catch { /* gone already */ }
  }
}

/** A marker no other process on the machine has: `sleep 300.<tag>1` is found by `ps`. */
function uniqueTag(): string {
  return String(Math.floor(Math.random() * 1e9)).padStart(9, "0");
}

/** A local executor with more cores than tasks, so `--jobs` alone limits how many run at once,
 * on any machine. */
const WIDE = { local: { cores: 16 } };

// ---------------------------------------------------------------------------
// 1. Data order

/** A chain a → b → c and a diamond top → (left, right) → bottom; each task stamps its start and
 * end (ns) into $MARKS and writes its inputs followed by its own id to its output. */
function orderWorkflow(marks: string) {
  const step = (id: string, inputs: Record<string, string>, sleep = 0.1) => ({
    inputs,
    outputs: { o: `out/${id}.txt` },
    shell: [
      `date +%s%N > "$MARKS/${id}.start"`,
      `sleep ${sleep}`,
      ...Object.keys(inputs).map((k) => `cat \${{ inputs.${k} }} >> \${{ outputs.o }}`),
      `echo ${id} >> \${{ outputs.o }}`,
      `date +%s%N > "$MARKS/${id}.end"`,
      "",
    ].join("\n"),
  });
  return {
    ferry: 1,
    name: "order",
    executors: WIDE,
    defaults: { env: { MARKS: marks } },
    apps: {
      a: step("a", {}, 0.5),
      b: step("b", { i: "out/a.txt" }),
      c: step("c", { i: "out/b.txt" }),
      top: step("top", {}, 0.5),
      left: step("left", { i: "out/top.txt" }),
      right: step("right", { i: "out/top.txt" }),
      bottom: step("bottom", { l: "out/left.txt", r: "out/right.txt" }),
    },
  };
}

const EDGES: readonly [string, string][] = [
  ["a", "b"],
  ["b", "c"],
  ["top", "left"],
  ["top", "right"],
  ["left", "bottom"],
  ["right", "bottom"],
];

async function checkOrder(flags: string[], maxParallel: number): Promise<void> {
  await withTemp(async (ws) => {
    const marks = join(ws, "marks");
    await Deno.mkdir(marks);
    const wf = await writeWorkflow(ws, orderWorkflow(marks));
    const r = await ferryRun([...flags, wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^done: 7 succeeded, 0 failed in /m);
    const span = new Map<string, [bigint, bigint]>();
    for (const id of ["a", "b", "c", "top", "left", "right", "bottom"]) {
      const start = BigInt((await Deno.readTextFile(join(marks, `${id}.start`))).trim());
      const end = BigInt((await Deno.readTextFile(join(marks, `${id}.end`))).trim());
      span.set(id, [start, end]);
    }
    for (const [producer, consumer] of EDGES) {
      assert.ok(
        span.get(consumer)![0] > span.get(producer)![1],
        `${consumer} started after ${producer} finished`,
      );
    }
    // How many ran at once (a lower bound of the real overlap, so `<=` is exact).
    let most = 0;
    for (const [, [s]] of span) {
      most = Math.max(most, [...span.values()].filter(([a, b]) => a <= s && s < b).length);
    }
    assert.ok(most <= maxParallel, `at most ${maxParallel} at once, saw ${most}`);
    // a and top are both ready at once (and take 0.5 s): with two slots they overlap.
    if (maxParallel > 1) assert.equal(most, maxParallel);
    const read = (p: string) => Deno.readTextFile(join(ws, p));
    assert.equal(await read("out/c.txt"), "a\nb\nc\n");
    assert.equal(await read("out/bottom.txt"), "top\nleft\ntop\nright\nbottom\n");
  });
}

Deno.test("run: consumers start only after their producers finished, --jobs 2", async () => {
  await checkOrder(["--jobs", "2"], 2);
});

Deno.test("run: consumers start only after their producers finished, --sequential", async () => {
  await checkOrder(["--sequential"], 1);
});

// ---------------------------------------------------------------------------
// 2. Retries

function flakyWorkflow(seen: string, retries: number) {
  return {
    ferry: 1,
    name: "retries",
    apps: {
      flaky: {
        retries,
        env: { SEEN: seen },
        outputs: { o: "flaky.txt" },
        shell: [
          `if [ ! -e "$SEEN" ]; then touch "$SEEN"; echo "first attempt fails" >&2; exit 1; fi`,
          `echo "attempt $FERRY_ATTEMPT" > \${{ outputs.o }}`,
          "",
        ].join("\n"),
      },
    },
  };
}

Deno.test("run: a task that fails once succeeds with retries: 1, fails with retries: 0", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, flakyWorkflow(join(ws, "seen"), 1));
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /retry flaky: attempt 1 failed \(exit code 1\); again in (4\d|50)ms/);
    assert.match(r.stderr, /start flaky \(attempt 2\)/);
    assert.match(r.stderr, /^done: 1 succeeded, 0 failed in /m);
    assert.equal(await Deno.readTextFile(join(ws, "flaky.txt")), "attempt 2\n");
    // Both attempts are kept: the failed one with its log.
    const dir = await taskDir(runDirOf(r), "flaky");
    const first = JSON.parse(await Deno.readTextFile(join(dir, "attempt-1", "status.json")));
    assert.equal(first.outcome, "failed");
    assert.equal(first.exitCode, 1);
    assert.equal(
      await Deno.readTextFile(join(dir, "attempt-1", "stderr.log")),
      "first attempt fails\n",
    );
    const second = JSON.parse(await Deno.readTextFile(join(dir, "attempt-2", "status.json")));
    assert.equal(second.outcome, "succeeded");
  });
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, flakyWorkflow(join(ws, "seen"), 0));
    const r = await ferryRun([wf]);
    assert.equal(r.code, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /retry/);
    assert.match(r.stderr, /^✗ flaky: exit code 1$/m);
    assert.match(r.stderr, /│ first attempt fails/);
    assert.match(r.stderr, /^failed: 0 succeeded, 1 failed in /m);
    assert.equal(await exists(join(ws, "flaky.txt")), false);
    assert.equal(await exists(join(await taskDir(runDirOf(r), "flaky"), "attempt-2")), false);
  });
});

Deno.test("run: retries: 2 on a task that always fails makes exactly 3 attempts", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "always",
      apps: { bad: { retries: 2, shell: "echo no >&2; exit 4\n" } },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /retry bad: attempt 1 failed \(exit code 4\); again in (4\d|50)ms/);
    assert.match(r.stderr, /retry bad: attempt 2 failed \(exit code 4\); again in ([89]\d|100)ms/);
    assert.match(r.stderr, /FAILED bad \(attempt 3\): exit code 4/);
    const dir = await taskDir(runDirOf(r), "bad");
    assert.deepEqual(
      (await walk(dir)).filter((p) => !p.includes("/")),
      ["attempt-1", "attempt-2", "attempt-3"],
    );
  });
});

Deno.test("run: ${{ task.attempt }} is the attempt's number, in shell, command and env", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "task-attempt",
      apps: {
        sh: {
          retries: 1,
          env: { SEEN: join(ws, "seen-sh"), ATTEMPT: "${{ task.attempt }}" },
          outputs: { o: "sh.txt" },
          shell: [
            `if [ ! -e "$SEEN" ]; then touch "$SEEN"; exit 1; fi`,
            `echo "\${{ task.attempt }} $ATTEMPT $FERRY_ATTEMPT" > \${{ outputs.o }}`,
            "",
          ].join("\n"),
        },
        cmd: {
          retries: 1,
          env: { SEEN: join(ws, "seen-cmd") },
          outputs: { o: "cmd.txt" },
          command: [
            "bash",
            "-c",
            `if [ ! -e "$SEEN" ]; then touch "$SEEN"; exit 1; fi; echo "$1" > "$0"`,
            "${{ outputs.o }}",
            "${{ task.attempt }}",
          ],
        },
      },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /start sh \(attempt 2\)/);
    assert.equal(await Deno.readTextFile(join(ws, "sh.txt")), "2 2 2\n");
    assert.equal(await Deno.readTextFile(join(ws, "cmd.txt")), "2\n");
  });
});

Deno.test("run: ${{ task.id }} and ${{ task.label }} are the task's id and label", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "task-label",
      apps: {
        t: {
          for_each: { w: ["x"] },
          label: "make ${{ w }}",
          env: { LABEL: "${{ task.label }}" },
          outputs: { o: "t.txt" },
          shell:
            `printf '%s|%s|%s\\n' \${{ task.id }} \${{ task.label }} "$LABEL" > \${{ outputs.o }}\n`,
        },
      },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "t.txt")), "t[w=x]|make x|make x\n");
  });
});

// ---------------------------------------------------------------------------
// 3. Keep-going and blocked dependants

/** `bad` fails after 0.3 s, `dependant` needs it and `grand` comes after that; `slow` (1 s) →
 * `later` is independent, and `queued` is ready from the start but waits for a slot (--jobs 2). */
function keepGoingWorkflow() {
  return {
    ferry: 1,
    name: "keep-going",
    executors: WIDE,
    apps: {
      bad: { outputs: { o: "bad.txt" }, shell: "sleep 0.3\necho boom >&2\nexit 1\n" },
      slow: { outputs: { o: "slow.txt" }, shell: "sleep 1\necho slow > ${{ outputs.o }}\n" },
      queued: { outputs: { o: "queued.txt" }, command: ["touch", "${{ outputs.o }}"] },
      dependant: {
        inputs: { i: "bad.txt" },
        outputs: { o: "dependant.txt" },
        command: ["cp", "${{ inputs.i }}", "${{ outputs.o }}"],
      },
      grand: { after: ["dependant"], command: ["touch", "grand.txt"] },
      later: {
        inputs: { i: "slow.txt" },
        outputs: { o: "later.txt" },
        command: ["cp", "${{ inputs.i }}", "${{ outputs.o }}"],
      },
    },
  };
}

Deno.test("run: after a failure no new task starts, running ones finish; exit 1", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, keepGoingWorkflow());
    const r = await ferryRun(["--jobs", "2", wf]);
    assert.equal(r.code, 1, r.stderr);
    const started = [...r.stderr.matchAll(/start (\S+)/g)].map((m) => m[1]).sort();
    assert.deepEqual(started, ["bad", "slow"]);
    assert.match(r.stderr, /FAILED bad: exit code 1/);
    assert.match(r.stderr, /done {2}slow /); // the running task finished
    assert.match(r.stderr, /^✗ bad: exit code 1$/m);
    assert.match(r.stderr, /│ boom/);
    assert.match(r.stderr, /^failed: 1 succeeded, 1 failed, 4 not run in /m);
    assert.equal(await Deno.readTextFile(join(ws, "slow.txt")), "slow\n");
    for (const f of ["bad.txt", "queued.txt", "dependant.txt", "later.txt"]) {
      assert.equal(await exists(join(ws, f)), false, f);
    }
  });
});

Deno.test("run: --keep-going runs the independent branch and blocks the dependant; exit 1", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, keepGoingWorkflow());
    const r = await ferryRun(["--jobs", "2", "--keep-going", wf]);
    assert.equal(r.code, 1, r.stderr);
    const started = [...r.stderr.matchAll(/start (\S+)/g)].map((m) => m[1]).sort();
    assert.deepEqual(started, ["bad", "later", "queued", "slow"]);
    assert.match(r.stderr, /^✗ bad: exit code 1$/m);
    assert.match(r.stderr, /^failed: 3 succeeded, 1 failed, 2 blocked in /m);
    assert.equal(await Deno.readTextFile(join(ws, "later.txt")), "slow\n");
    assert.equal(await exists(join(ws, "queued.txt")), true);
    assert.equal(await exists(join(ws, "dependant.txt")), false);
    assert.equal(await exists(join(ws, "bad.txt")), false);
  });
});

// ---------------------------------------------------------------------------
// 4. Walltime

Deno.test("run: walltime kills the whole task (and its background children); exit 1", async () => {
  await withTemp(async (ws) => {
    const tag = uniqueTag();
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "walltime",
      executors: WIDE,
      apps: {
        sleeper: { resources: { walltime: "2s" }, command: ["sleep", `30.${tag}1`] },
        children: {
          resources: { walltime: "2s" },
          shell: `sleep 300.${tag}2 & sleep 300.${tag}3 & wait\n`,
        },
        // Succeeds at once but leaves a child behind: it goes with the task.
        leaver: {
          outputs: { o: "leaver.txt" },
          shell: `sleep 300.${tag}4 >/dev/null 2>&1 &\necho ok > \${{ outputs.o }}\n`,
        },
      },
    });
    const child = ferry(["--jobs", "3", wf]).spawn();
    const output = child.output();
    try {
      // The ps check below means something only if the processes were there.
      await waitFor(async () => {
        const ps = (await processesWith(tag)).join("\n");
        return ["1", "2", "3"].every((n) => ps.includes(`.${tag}${n}`));
      }, "the task processes");
      const t0 = performance.now();
      const out = await output;
      const ms = performance.now() - t0;
      const stderr = decoder.decode(out.stderr);
      assert.equal(out.code, 1, stderr);
      assert.ok(ms < 6000, `the run ended ${ms} ms after its tasks started`);
      assert.match(stderr, /timeout sleeper: exceeded its walltime and was killed/);
      assert.match(stderr, /timeout children: exceeded its walltime and was killed/);
      assert.match(stderr, /^✗ sleeper: exceeded its walltime and was killed$/m);
      assert.match(stderr, /^✗ children: exceeded its walltime and was killed$/m);
      assert.match(stderr, /done {2}leaver /);
      assert.match(stderr, /^failed: 1 succeeded, 2 failed in /m);
      assert.equal(await Deno.readTextFile(join(ws, "leaver.txt")), "ok\n");
      await assertNoSurvivors(tag);
    } finally {
      await output.catch(() => {}); // the walltime ends it in any case
      await killLeftovers(tag);
    }
  });
});

// ---------------------------------------------------------------------------
// 5. Ctrl-C and SIGTERM

async function checkInterrupt(signal: Deno.Signal): Promise<string> {
  let progress = "";
  await withTemp(async (ws) => {
    const tag = uniqueTag();
    const marks = join(ws, "marks");
    await Deno.mkdir(marks);
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "interrupt",
      executors: WIDE,
      defaults: { env: { MARKS: marks } },
      apps: {
        one: {
          outputs: { o: "one.txt" },
          shell: `sleep 300.${tag}1 &\nsleep 300.${tag}2 &\ntouch "$MARKS/one"\nwait\n`,
        },
        two: {
          command: ["bash", "-c", `sleep 300.${tag}3 & touch "$MARKS/two"; exec sleep 300.${tag}4`],
        },
        three: { after: ["one"], command: ["touch", join(marks, "three")] },
      },
    });
    const child = ferry(["--jobs", "2", wf]).spawn();
    const output = child.output();
    try {
      await waitFor(async () => {
        if (!(await exists(join(marks, "one"))) || !(await exists(join(marks, "two")))) {
          return false;
        }
        const ps = (await processesWith(tag)).join("\n");
        return ["1", "2", "3", "4"].every((n) => ps.includes(`sleep 300.${tag}${n}`));
      }, "both tasks to be running");
      const t0 = performance.now();
      child.kill(signal);
      const out = await output;
      const ms = performance.now() - t0;
      const stderr = decoder.decode(out.stderr);
      assert.equal(out.code, 130, stderr);
      assert.ok(ms < 4000, `ferry returned ${ms} ms after ${signal}`);
      assert.match(stderr, /^interrupted: 0 succeeded, 0 failed, 2 cancelled, 1 not run in /m);
      assert.doesNotMatch(stderr, /internal error|^\s+at /m);
      assert.equal(await exists(join(marks, "three")), false);
      assert.equal(await exists(join(ws, "one.txt")), false);
      await assertNoSurvivors(tag);
      progress = stderr;
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await output.catch(() => {});
      await killLeftovers(tag);
    }
  });
  return progress;
}

Deno.test("run: SIGINT (Ctrl-C) cancels running tasks, kills their children, exits 130", async () => {
  await checkInterrupt("SIGINT");
});

Deno.test("run: SIGTERM cancels running tasks, kills their children, exits 130", async () => {
  await checkInterrupt("SIGTERM");
});

Deno.test("run: progress reports tasks cancelled by Ctrl-C as cancelled, not FAILED", async () => {
  const progress = await checkInterrupt("SIGINT");
  // The summary counts them as cancelled (0 failed); the per-task lines must agree.
  assert.doesNotMatch(progress, /FAILED/, `cancelled tasks reported as FAILED:\n${progress}`);
});

// ---------------------------------------------------------------------------
// 6. Hostile names

const HOSTILE = `sp ace 'sq' "dq" $(touch PWNED) \`touch PWNED\` ; touch PWNED && touch PWNED\n` +
  `nl * ünï€😀 \\ $HOME`;
const HOSTILE2 = `-x $(touch PWNED)\t'"\`touch PWNED\`;&& *?[a] 日本`;

Deno.test("run: hostile params, file names and output paths reach tasks byte for byte", async () => {
  await withTemp(async (tmp) => {
    // The workspace itself has a hostile name, so every absolute path is hostile too.
    const ws = join(tmp, `ws ${HOSTILE}`);
    await Deno.mkdir(join(ws, "data"), { recursive: true });
    const input = `data/${HOSTILE}.txt`;
    const content = `content: ${HOSTILE}\n`;
    await Deno.writeTextFile(join(ws, input), content);
    const names = [HOSTILE, "plain", "*", "$(touch PWNED)", "a;b&&c`d`"];
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "hostile",
      params: { p: HOSTILE, q: "replaced on the command line", names },
      apps: {
        sh: {
          inputs: { i: input },
          outputs: { param: "got/sh-param", input: "got/sh-input", copy: `out/sh ${HOSTILE}.txt` },
          shell: [
            "printf '%s' ${{ params.p }} > ${{ outputs.param }}",
            "printf '%s' ${{ inputs.i }} > ${{ outputs.input }}",
            "cat ${{ inputs.i }} > ${{ outputs.copy }}",
            "echo ${{ params.p }} ${{ params.q }} ${{ inputs.i.name }} > /dev/null",
            "",
          ].join("\n"),
        },
        cmd: {
          inputs: { i: input },
          outputs: { argv: "got/cmd-argv", copy: `out/cmd ${HOSTILE}.txt` },
          command: [
            "bash",
            "-c",
            `printf '%s\\0' "$@" > "$0"; cp "$3" "$4"`,
            "${{ outputs.argv }}",
            "${{ params.p }}",
            "${{ params.q }}",
            "${{ inputs.i }}",
            "${{ outputs.copy }}",
          ],
        },
        redirected: {
          outputs: { o: `out/stdout ${HOSTILE}.txt` },
          command: ["printf", "%s", "${{ params.q }}"],
          stdout: "${{ outputs.o }}",
        },
        each: {
          for_each: { n: "${{ params.names }}" },
          label: "each ${{ n }}",
          outputs: { o: "each/${{ n }}.txt" },
          shell: "printf '%s' ${{ n }} > ${{ outputs.o }}\n",
        },
        gather: {
          inputs: { all: "${{ apps.each.outputs.o }}", copy: `out/sh ${HOSTILE}.txt` },
          outputs: { o: `out/gather ${HOSTILE}.txt` },
          command: ["cat", "${{ inputs.all }}", "${{ inputs.copy }}"],
          stdout: "${{ outputs.o }}",
        },
      },
    });
    // A --param value arrives as YAML: a JSON string is a YAML double-quoted scalar.
    const r = await ferryRun(["--param", `q=${JSON.stringify(HOSTILE2)}`, wf]);
    assert.equal(r.code, 0, r.stderr);
    const read = (p: string) => Deno.readTextFile(join(ws, p));
    assert.equal(await read("got/sh-param"), HOSTILE);
    // Inputs arrive at their workspace-relative paths, as outputs do.
    assert.equal(await read("got/sh-input"), input);
    assert.equal(await read(`out/sh ${HOSTILE}.txt`), content);
    assert.equal(
      await read("got/cmd-argv"),
      [HOSTILE, HOSTILE2, input, `out/cmd ${HOSTILE}.txt`].map((a) => `${a}\0`).join(""),
    );
    assert.equal(await read(`out/cmd ${HOSTILE}.txt`), content);
    assert.equal(await read(`out/stdout ${HOSTILE}.txt`), HOSTILE2);
    for (const n of names) assert.equal(await read(`each/${n}.txt`), n);
    assert.equal(await read(`out/gather ${HOSTILE}.txt`), names.join("") + content);
    // Exactly the intended files, nothing from an injection.
    const made = (await walk(ws)).filter((p) => !p.startsWith(".ferry"));
    assert.deepEqual(
      made,
      [
        "data",
        input,
        "each",
        ...names.map((n) => `each/${n}.txt`),
        "got",
        "got/cmd-argv",
        "got/sh-input",
        "got/sh-param",
        "out",
        `out/cmd ${HOSTILE}.txt`,
        `out/gather ${HOSTILE}.txt`,
        `out/sh ${HOSTILE}.txt`,
        `out/stdout ${HOSTILE}.txt`,
        "workflow.yaml",
      ].sort(),
    );
    assert.deepEqual((await walk(tmp)).filter((p) => p.split("/").pop() === "PWNED"), []);
  });
});

// ---------------------------------------------------------------------------
// 7. Atomic outputs

Deno.test("run: a failed task leaves no output at its final path; the attempt keeps it", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "atomic",
      apps: {
        half: {
          outputs: { o: "res/half.txt", other: "res/other.txt" },
          shell: [
            "echo complete > ${{ outputs.other }}",
            `for i in $(seq 1 15); do echo "err-line-$i" >&2; done`,
            "echo partial > ${{ outputs.o }}",
            "exit 3",
            "",
          ].join("\n"),
        },
        lazy: {
          outputs: { o: "lazy/missing.txt", p: "lazy/written.txt" },
          shell: "echo written > ${{ outputs.p }}\n",
        },
      },
    });
    const r = await ferryRun(["--keep-going", wf]);
    assert.equal(r.code, 1, r.stderr);
    // Nothing at the final paths (not even the output that was complete).
    assert.deepEqual((await walk(ws)).filter((p) => !p.startsWith(".ferry")), ["workflow.yaml"]);
    const runDir = runDirOf(r);
    const half = join(await taskDir(runDir, "half"), "attempt-1");
    assert.equal(await Deno.readTextFile(join(half, "work", "res", "half.txt")), "partial\n");
    assert.equal(await Deno.readTextFile(join(half, "work", "res", "other.txt")), "complete\n");
    const status = JSON.parse(await Deno.readTextFile(join(half, "status.json")));
    assert.equal(status.outcome, "failed");
    assert.equal(status.exitCode, 3);
    // The summary: the exit code, the last lines of stderr, the full log's path.
    const log = join(half, "stderr.log");
    const summary = r.stderr.slice(r.stderr.indexOf("✗ half"));
    assert.match(summary, /^✗ half: exit code 3$/m);
    assert.match(summary, /│ err-line-14\n.*│ err-line-15\n/);
    assert.ok(summary.includes(`    full log: ${log}\n`), summary);
    assert.equal(
      await Deno.readTextFile(log),
      Array.from({ length: 15 }, (_, i) => `err-line-${i + 1}\n`).join(""),
    );
    // Exit 0 without a declared output is a failure with a clear message.
    assert.match(
      r.stderr,
      /^✗ lazy: the task did not write its output "o" \(lazy\/missing\.txt\)$/m,
    );
    assert.match(r.stderr, /^failed: 0 succeeded, 2 failed in /m);
    const lazy = join(await taskDir(runDir, "lazy"), "attempt-1");
    assert.equal(await Deno.readTextFile(join(lazy, "work", "lazy", "written.txt")), "written\n");
  });
});

// ---------------------------------------------------------------------------
// 8. Dynamic outputs: the quickstart

Deno.test("run: the quickstart runs end to end, fanning out over its dynamic output", async () => {
  await using ex = await copyExamples("quickstart");
  const ws = ex.path("quickstart");
  const r = await ferryRun([join(ws, "workflow.yaml")]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^done: 9 succeeded, 0 failed in /m);
  const read = (p: string) => Deno.readTextFile(join(ws, p));
  for (const w of ["alpha", "beta", "gamma"]) assert.equal(await read(`counts/${w}.txt`), "3\n");
  assert.equal(await read("total.txt"), "9\n");
  assert.equal(await read("report.txt"), "words counted: 9\n");
  // split -l 2 of a 6-line poem: three parts, one size file each.
  const poem = await read("data/poem.txt");
  const lines = poem.split(/(?<=\n)/);
  const parts = ["part-00", "part-01", "part-02"];
  assert.deepEqual((await walk(join(ws, "parts"))).sort(), parts);
  assert.deepEqual((await walk(join(ws, "sizes"))).sort(), parts.map((p) => `${p}.txt`));
  for (const [i, p] of parts.entries()) {
    const text = lines.slice(2 * i, 2 * i + 2).join("");
    assert.equal(await read(`parts/${p}`), text);
    const bytes = new TextEncoder().encode(text).length;
    assert.match(await read(`sizes/${p}.txt`), new RegExp(`^${bytes} (.*/)?parts/${p}\\n$`));
  }
  // The fan-out grew the run once split had finished.
  assert.match(r.stderr, /start measure\[part=parts\/part-02\]/);
});

// ---------------------------------------------------------------------------
// 9. stdout/stderr, env, a missing program, invalid input

Deno.test("run: stdout and stderr redirected to outputs; env from defaults and the app", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "redirect",
      params: { greeting: "hello world" },
      defaults: { env: { FROM_DEFAULTS: "d", OVERRIDDEN: "defaults" } },
      apps: {
        r: {
          outputs: { out: "logs/out.txt", err: "logs/err.txt" },
          stdout: "${{ outputs.out }}",
          stderr: "${{ outputs.err }}",
          env: { GREETING: "${{ params.greeting }}", NUM: 42, FLAG: true, OVERRIDDEN: "app" },
          command: [
            "bash",
            "-c",
            `echo "$GREETING|$NUM|$FLAG|$FROM_DEFAULTS|$OVERRIDDEN|$FERRY_TASK_ID"; echo oops >&2`,
          ],
        },
      },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await Deno.readTextFile(join(ws, "logs/out.txt")),
      "hello world|42|true|d|app|r\n",
    );
    assert.equal(await Deno.readTextFile(join(ws, "logs/err.txt")), "oops\n");
    assert.equal(r.stdout, "");
  });
});

Deno.test("run: a program that does not exist fails cleanly with a message; exit 1", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "missing",
      apps: { nobin: { command: ["no-such-binary-xyz", "arg"] } },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^✗ nobin: /m);
    const summary = r.stderr.slice(r.stderr.indexOf("✗ nobin"));
    assert.match(summary, /no-such-binary-xyz.*(not found|No such file)/i);
    assert.match(r.stderr, /^failed: 0 succeeded, 1 failed in /m);
    assert.doesNotMatch(r.stderr, /internal error|^\s+at |Uncaught|error: /m);
  });
});

Deno.test("run: an invalid workflow or usage exits 2 and runs nothing", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "invalid",
      apps: {
        a: { inputs: { i: "b.txt" }, outputs: { o: "a.txt" }, command: ["touch", "ran-a"] },
        b: { inputs: { i: "a.txt" }, outputs: { o: "b.txt" }, command: ["touch", "ran-b"] },
      },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /error\[/);
    assert.deepEqual(await walk(ws), ["workflow.yaml"]);
    const usage = await ferryRun(["--jobs", "0", wf]);
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /^ferry: Cannot use "0" as a count/m);
    assert.deepEqual(await walk(ws), ["workflow.yaml"]);
  });
});

Deno.test("run: a shell script longer than one argument may be (128 KiB) still runs", async () => {
  await withTemp(async (dir) => {
    const words = Array.from({ length: 20_000 }, (_, i) => `word-${i}`);
    const wf = await writeWorkflow(dir, {
      ferry: 1,
      name: "long-script",
      params: { words },
      apps: {
        count: {
          outputs: { n: "n.txt" },
          shell: "printf '%s\\n' ${{ params.words }} | wc -l > ${{ outputs.n }}",
        },
      },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(dir, "n.txt")), "20000\n");
  });
});
