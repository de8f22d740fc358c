/**
 * Commit safety, end to end: what a task leaves is delivered only into its
 * declared outputs. No output may be ferry's own `.ferry/`, the workflow file
 * or the site file (`check`, and at run time for values from params and names
 * found by glob or dir); a symbolic link out of the workspace is refused; a
 * `dir:` output keeps what it replaces that ferry did not write in
 * `.ferry/trash/RUN/`; a file output over a directory fails its task; files a
 * glob output left that no task produces any more are stale, shown by
 * `status` and removed by `clean --stale`.
 * @module
 */

import assert from "node:assert/strict";

import { join } from "node:path";
import { exists, ferryRun, runDirOf, walk, withTemp, writeWorkflow } from "./_run.ts";

Deno.test("a param cannot aim an output at .ferry/ or the workflow file: check, plan and run refuse, nothing written", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "aimed",
      params: { out: "result.txt" },
      apps: { w: { outputs: { o: "${{ params.out }}" }, shell: "echo gotcha > ${{ outputs.o }}" } },
    });
    const before = await Deno.readTextFile(wf);
    for (
      const [out, why] of [
        [".ferry/state.db", "ferry keeps its own state in .ferry/"],
        ["workflow.yaml", "it is the workflow file"],
        ["./sub/../.ferry", "ferry keeps its own state in .ferry/"],
      ]
    ) {
      for (const command of ["check", "plan", "run"]) {
        const r = await ferryRun([wf, "-p", `out=${out}`], {}, command);
        assert.equal(r.code, 2, `${command} ${out}: ${r.stdout}${r.stderr}`);
        const shown = out === "./sub/../.ferry" ? ".ferry" : out;
        assert.ok(
          (r.stdout + r.stderr).includes(
            `${wf}:8:7: error[reserved-output]: Cannot write output "${shown}": ${why} ("\${{ params.out }}" evaluates to it)\n`,
          ),
          `${command} ${out}:\n${r.stdout}${r.stderr}`,
        );
      }
    }
    assert.equal(await Deno.readTextFile(wf), before);
    assert.deepEqual(await walk(ws), ["workflow.yaml"]);
  });
});

/** A workspace `ws` and a directory `outside` it holding one file, under a fresh temp dir. */
async function withOutside(fn: (ws: string, outside: string) => Promise<void>): Promise<void> {
  await withTemp(async (root) => {
    const ws = join(root, "ws"), outside = join(root, "outside");
    await Deno.mkdir(ws);
    await Deno.mkdir(outside);
    await Deno.writeTextFile(join(outside, "s"), "secret\n");
    await fn(ws, outside);
    assert.deepEqual(await walk(outside), ["s"]);
    assert.equal(await Deno.readTextFile(join(outside, "s")), "secret\n");
  });
}

/** The `✗ task: reason` lines of a run's summary. */
function failures(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("✗ ")).sort();
}

Deno.test("a symbolic link out of the workspace is refused, as a dir: output or in one; links inside stay links", async () => {
  await withOutside(async (ws, outside) => {
    await Deno.writeTextFile(join(ws, "in.txt"), "in\n");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "links",
      apps: {
        linkdir: { outputs: { d: { dir: "d" } }, shell: `ln -s ${outside} \${{ outputs.d }}` },
        dirlink: {
          outputs: { d: { dir: "d2" } },
          shell:
            `mkdir \${{ outputs.d }} && echo ok > \${{ outputs.d }}/ok && ln -s ${outside}/s \${{ outputs.d }}/p`,
        },
        filelink: { outputs: { o: "l.txt" }, shell: `ln -s ${outside}/s \${{ outputs.o }}` },
        dangling: { outputs: { o: "dangling.txt" }, shell: "ln -s nowhere ${{ outputs.o }}" },
        // After linkdir: it must not write through a link that task made.
        after: {
          after: ["linkdir"],
          outputs: { o: "d/x.txt" },
          shell: "echo x > ${{ outputs.o }}",
        },
        inside: {
          inputs: { i: "in.txt" },
          outputs: { o: "sub/l2.txt", a: "a.txt", b: "b.txt" },
          shell:
            'ln -s "$(realpath ${{ inputs.i }})" ${{ outputs.o }} && echo a > a.txt && ln -s a.txt b.txt',
        },
      },
    });
    const r = await ferryRun([wf, "--keep-going"]);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(failures(r.stderr), [
      `✗ dangling: Cannot deliver output "o" (dangling.txt): it is a symbolic link to "nowhere", which does not exist`,
      `✗ dirlink: Cannot deliver output "d" (d2/p): it is a symbolic link to "${outside}/s", outside the workspace`,
      `✗ filelink: Cannot deliver output "o" (l.txt): it is a symbolic link to "${outside}/s", outside the workspace`,
      `✗ linkdir: Cannot deliver output "d" (d): the task made it a symbolic link (to "${outside}"), not a directory`,
    ]);
    assert.match(r.stderr, /^blocked \(an input failed\): after$/m);
    assert.deepEqual(
      (await walk(ws)).filter((p) => !p.startsWith(".ferry")),
      ["a.txt", "b.txt", "in.txt", "sub", "sub/l2.txt", "workflow.yaml"],
    );
    assert.equal(Deno.readLinkSync(join(ws, "sub/l2.txt")), "../in.txt");
    assert.equal(Deno.readLinkSync(join(ws, "b.txt")), "a.txt");
    assert.equal(await Deno.readTextFile(join(ws, "sub/l2.txt")), "in\n");
  });
});

Deno.test("names a glob finds cannot reach .ferry/ or the workflow file; a FIFO, a file over a directory, a file in a folder's way fail their task", async () => {
  await withTemp(async (ws) => {
    await Deno.mkdir(join(ws, "out.txt"));
    await Deno.writeTextFile(join(ws, "out.txt/keep"), "keep\n");
    await Deno.writeTextFile(join(ws, "afile"), "afile\n");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "hostile",
      apps: {
        state: {
          outputs: { g: { glob: "**/*.db" } },
          shell: "mkdir -p .ferry && echo gotcha > .ferry/state.db",
        },
        self: { outputs: { g: { glob: "*.yaml" } }, shell: "echo gotcha > workflow.yaml" },
        fifo: { outputs: { o: "o.fifo" }, shell: "mkfifo ${{ outputs.o }}" },
        overdir: { outputs: { o: "out.txt" }, shell: "echo x > ${{ outputs.o }}" },
        infile: { outputs: { o: "afile/x.txt" }, shell: "echo x > ${{ outputs.o }}" },
      },
    });
    const before = await Deno.readTextFile(wf);
    const r = await ferryRun([wf, "--keep-going"]);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(failures(r.stderr), [
      `✗ fifo: Cannot deliver output "o" (o.fifo): it is not a regular file (a FIFO, socket or device)`,
      `✗ infile: Cannot deliver output "o" to "afile/x.txt": a file in the workspace is in the way of its folder`,
      `✗ overdir: Cannot deliver output "o" to "out.txt": a directory is there, and the output is a file`,
      `✗ self: Cannot deliver output "g" to "workflow.yaml": it is the workflow file`,
      `✗ state: Cannot deliver output "g" to ".ferry/state.db": ferry keeps its own state in .ferry/`,
    ]);
    assert.equal(await Deno.readTextFile(wf), before);
    assert.deepEqual((await walk(ws)).filter((p) => !p.startsWith(".ferry/")), [
      ".ferry",
      "afile",
      "out.txt",
      "out.txt/keep",
      "workflow.yaml",
    ]);
    assert.equal(await Deno.readTextFile(join(ws, "afile")), "afile\n");
    const status = await ferryRun(["--workspace", ws], {}, "status");
    assert.equal(status.code, 0, status.stderr); // the state is intact
  });
});

Deno.test("a dir: output keeps what it replaces that ferry did not write in .ferry/trash/RUN/, and says so", async () => {
  await withTemp(async (ws) => {
    await Deno.mkdir(join(ws, "data/sub"), { recursive: true });
    await Deno.writeTextFile(join(ws, "data/mine.txt"), "mine\n");
    await Deno.writeTextFile(join(ws, "data/sub/notes.txt"), "notes\n");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "trash",
      params: { n: 1 },
      apps: {
        fill: {
          outputs: { d: { dir: "data" } },
          shell: "mkdir ${{ outputs.d }} && echo ${{ params.n }} > ${{ outputs.d }}/new.txt",
        },
      },
    });
    const first = await ferryRun([wf]);
    assert.equal(first.code, 0, first.stderr);
    const run = runDirOf(first).split("/").at(-1)!;
    assert.deepEqual(await walk(join(ws, "data")), ["new.txt"]);
    assert.deepEqual(await walk(join(ws, ".ferry/trash")), [
      run,
      `${run}/data`,
      `${run}/data/mine.txt`,
      `${run}/data/sub`,
      `${run}/data/sub/notes.txt`,
    ]);
    assert.equal(await Deno.readTextFile(join(ws, `.ferry/trash/${run}/data/mine.txt`)), "mine\n");
    const log = await Deno.readTextFile(
      join(runDirOf(first), "tasks", taskDir(ws, run), "stderr.log"),
    );
    assert.equal(
      log,
      `ferry: kept what output "d" replaced in .ferry/trash/${run}/data: data/mine.txt, data/sub/notes.txt (ferry did not write them)\n`,
    );
    // What ferry wrote itself is replaced without a copy; a file added since is kept.
    const second = await ferryRun([wf, "-p", "n=2"]);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(await walk(join(ws, ".ferry/trash")), await walkTrash(ws, run));
    await Deno.writeTextFile(join(ws, "data/added.txt"), "added\n");
    const third = await ferryRun([wf, "-p", "n=3"]);
    assert.equal(third.code, 0, third.stderr);
    const run3 = runDirOf(third).split("/").at(-1)!;
    assert.deepEqual((await walk(join(ws, ".ferry/trash"))).filter((p) => p.startsWith(run3)), [
      run3,
      `${run3}/data`,
      `${run3}/data/added.txt`,
      `${run3}/data/new.txt`,
    ]);
    assert.equal(await Deno.readTextFile(join(ws, "data/new.txt")), "3\n");
  });
});

/** The trash after the first run of the trash test: that run's folder only. */
function walkTrash(ws: string, run: string): Promise<string[]> {
  return walk(join(ws, ".ferry/trash")).then((all) => {
    assert.ok(all.every((p) => p.startsWith(run)), all.join("\n"));
    return all;
  });
}

/** The attempt directory (relative to the run's `tasks/`) of the only task of a run. */
function taskDir(ws: string, run: string): string {
  const tasks = join(ws, ".ferry/runs", run, "tasks");
  const [task] = [...Deno.readDirSync(tasks)].map((e) => e.name);
  return `${task}/attempt-1`;
}

Deno.test("files a glob output no longer collects are stale: status lists them, clean --stale removes them, clean empties the trash", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "stale",
      params: { n: 3 },
      apps: {
        make: {
          outputs: { g: { glob: "out/*.txt" } },
          shell: "for i in $(seq ${{ params.n }}); do echo $i > out/$i.txt; done",
        },
      },
    });
    assert.equal((await ferryRun([wf])).code, 0);
    const none = await ferryRun([wf], {}, "status");
    assert.doesNotMatch(none.stdout, /stale/);
    assert.equal((await ferryRun([wf, "-p", "n=1"])).code, 0);
    const status = await ferryRun([wf], {}, "status");
    assert.ok(
      status.stdout.endsWith(
        "\nstale: 2 files that earlier glob or dir outputs left and no task produces any more (ferry clean --stale removes them):\n  out/2.txt\n  out/3.txt\n",
      ),
      status.stdout,
    );
    const json = JSON.parse((await ferryRun([wf, "--format", "json"], {}, "status")).stdout);
    assert.deepEqual(json.stale, ["out/2.txt", "out/3.txt"]);
    const dry = await ferryRun(["--stale", "--dry-run", "-w", ws], {}, "clean");
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^would remove out\/2\.txt \(.+\)\nwould remove out\/3\.txt \(.+\)\n/);
    assert.deepEqual(await walk(join(ws, "out")), ["1.txt", "2.txt", "3.txt"]);
    const both = await ferryRun(["--stale", "--all", "-w", ws], {}, "clean");
    assert.equal(both.code, 2);
    assert.equal(
      both.stderr,
      'ferry: Cannot use "--stale" with "--all": --all removes the whole .ferry/, and with it what tells which outputs are stale\n',
    );
    const clean = await ferryRun(["--stale", "-w", ws], {}, "clean");
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stdout, /; kept \.ferry\/\n$/);
    assert.deepEqual(await walk(join(ws, "out")), ["1.txt"]);
    assert.doesNotMatch((await ferryRun([wf], {}, "status")).stdout, /stale/);
    assert.equal(
      (await ferryRun(["--stale", "-w", ws], {}, "clean")).stdout,
      `no stale outputs in ${ws}\n`,
    );
    // The trash goes with the attempt directories.
    await Deno.mkdir(join(ws, ".ferry/trash/r1/data"), { recursive: true });
    await Deno.writeTextFile(join(ws, ".ferry/trash/r1/data/mine.txt"), "mine\n");
    const trash = await ferryRun(["-w", ws], {}, "clean");
    assert.match(
      trash.stdout,
      /^removed \.ferry\/trash \(.+: what dir: outputs replaced that ferry had not written\)$/m,
    );
    assert.equal(await exists(join(ws, ".ferry/trash")), false);
  });
});
