/**
 * Staging without a network, end to end through `ferry run`: a cvmfs-style
 * `skip`, a parrot-style `rewrite`, a `scratch` copy and `shared` links on one
 * executor, each rule's pattern pointing into a fake /cvmfs, /chirp and
 * /shared made under a temporary root. The task prints the paths it was given
 * and its working directory; they must be the plan's paths.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "../deps/yaml.ts";
import { EXAMPLES } from "./_examples.ts";
import { exists, ferryRun, runDirOf, withTemp, writeWorkflow } from "./_run.ts";

interface Layout {
  readonly root: string;
  readonly ws: string;
  readonly scratch: string;
  readonly site: string;
}

async function layout(root: string, link = "symlink"): Promise<Layout> {
  const ws = join(root, "ws");
  const scratch = join(root, "scratch");
  for (
    const d of ["cvmfs/sw.example.org/tables", "chirp/models.example.org/weights", "shared/run7"]
  ) {
    await Deno.mkdir(join(root, d), { recursive: true });
  }
  await Deno.mkdir(ws);
  await Deno.mkdir(scratch);
  await Deno.writeTextFile(join(root, "cvmfs/sw.example.org/tables/v3.dat"), "table v3\n");
  await Deno.writeTextFile(join(root, "chirp/models.example.org/weights/v7.bin"), "model v7\n");
  await Deno.writeTextFile(join(root, "shared/run7/reads.fq"), "@r1\nACGT\n");
  await Deno.writeTextFile(join(root, "shared/run7/barcodes.txt"), "AAA\n");
  const site = join(root, "site.yaml");
  await Deno.writeTextFile(
    site,
    stringify({
      "ferry-site": 1,
      executors: {
        local: {
          provider: "local",
          scratch,
          staging: [
            { match: `file://${root}/cvmfs/*`, action: "skip", check: true },
            { match: "chirp://:host(.+)/*", action: "rewrite", to: `${root}/chirp/:host/:0` },
            { match: `file://${root}/shared/run7/reads.fq`, action: "scratch" },
            { match: `file://${root}/shared/*`, action: "shared", link },
          ],
        },
      },
    }),
  );
  return { root, ws, scratch, site };
}

function workflow(root: string) {
  return {
    ferry: 1,
    name: "staging-local",
    files: {
      table: `file://${root}/cvmfs/sw.example.org/tables/v3.dat`,
      model: "chirp://models.example.org/weights/v7.bin",
      reads: `file://${root}/shared/run7/reads.fq`,
      barcodes: `file://${root}/shared/run7/barcodes.txt`,
    },
    apps: {
      classify: {
        inputs: {
          table: "${{ files.table }}",
          model: "${{ files.model }}",
          reads: "${{ files.reads }}",
          barcodes: "${{ files.barcodes }}",
        },
        outputs: { seen: "results/seen.txt", labels: "results/labels.tsv" },
        shell: [
          '{ echo "cwd=$PWD"',
          "echo 'table=${{ inputs.table }}'",
          "echo 'model=${{ inputs.model }}'",
          "echo 'reads=${{ inputs.reads }}'",
          "echo 'barcodes=${{ inputs.barcodes }}'",
          "[ -L ${{ inputs.barcodes }} ] && echo barcodes-kind=symlink || echo barcodes-kind=file",
          'echo "barcodes-links=$(stat -c %h ${{ inputs.barcodes }})"',
          "} > ${{ outputs.seen }}",
          "cat ${{ inputs.table }} ${{ inputs.model }} ${{ inputs.reads }} > ${{ outputs.labels }}",
        ].join("\n"),
      },
    },
  };
}

interface PlanFileJson {
  readonly name: string;
  readonly path: string;
  readonly provider: string;
  readonly staging: string;
}

async function planOf(wf: string, site: string) {
  const r = await ferryRun(["--site", site, "--format", "json", wf], {}, "plan");
  assert.equal(r.code, 0, r.stderr);
  const task = (JSON.parse(r.stdout).tasks as { id: string }[]).find((t) =>
    t.id === "classify"
  ) as unknown as {
    inputs: PlanFileJson[];
    outputs: PlanFileJson[];
    scratch?: string;
  };
  assert.ok(task, r.stdout);
  return task;
}

function parseSeen(text: string): Record<string, string> {
  return Object.fromEntries(
    text.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

Deno.test("skip, rewrite, scratch and shared links on one executor: the task sees the plan's paths", async () => {
  await withTemp(async (dir) => {
    const { root, ws, scratch, site } = await layout(dir);
    const wf = await writeWorkflow(ws, workflow(root));
    const plan = await planOf(wf, site);
    const planned = Object.fromEntries(plan.inputs.map((f) => [f.name, f]));
    assert.deepEqual(
      Object.fromEntries(plan.inputs.map((f) => [f.name, [f.provider, f.staging, f.path]])),
      {
        table: ["skip", "in-place", `${root}/cvmfs/sw.example.org/tables/v3.dat`],
        model: ["rewrite", "in-place", `${root}/chirp/models.example.org/weights/v7.bin`],
        // Files from outside the workspace sit under _inputs/ at their absolute paths: files of
        // one folder (a .bam and its .bai) side by side.
        reads: ["scratch", "wrap", `_inputs${root}/shared/run7/reads.fq`],
        barcodes: ["shared", "none", `_inputs${root}/shared/run7/barcodes.txt`],
      },
    );
    assert.equal(plan.scratch, scratch);

    const r = await ferryRun(["--site", site, wf]);
    assert.equal(r.code, 0, r.stderr);
    const seen = parseSeen(await Deno.readTextFile(join(ws, "results/seen.txt")));
    const cwd = seen.cwd!;
    // The task ran in its directory on scratch, and relative plan paths are inside it.
    assert.ok(cwd.startsWith(`${scratch}/ferry/`), cwd);
    assert.equal(seen.table, planned.table!.path);
    assert.equal(seen.model, planned.model!.path);
    assert.equal(seen.reads, planned.reads!.path);
    assert.equal(seen.barcodes, planned.barcodes!.path);
    assert.equal(seen["barcodes-kind"], "symlink");
    assert.equal(
      await Deno.readTextFile(join(ws, "results/labels.tsv")),
      "table v3\nmodel v7\n@r1\nACGT\n",
    );
    // Scratch is cleaned once the outputs are back, with the task's and the run's directories
    // there; the shared originals are untouched.
    assert.equal(await exists(cwd), false, `${cwd} removed after success`);
    assert.deepEqual([...Deno.readDirSync(join(scratch, "ferry"))], []);
    assert.equal(await Deno.readTextFile(join(root, "shared/run7/reads.fq")), "@r1\nACGT\n");
    assert.ok(await exists(join(runDirOf(r), "events.jsonl")));
  });
});

Deno.test("shared with link: hardlink places a hard link; link: copy a copy", async () => {
  for (const [link, kind, links] of [["hardlink", "file", "2"], ["copy", "file", "1"]] as const) {
    await withTemp(async (dir) => {
      const { root, ws, site } = await layout(dir, link);
      const wf = await writeWorkflow(ws, workflow(root));
      const r = await ferryRun(["--site", site, wf]);
      assert.equal(r.code, 0, r.stderr);
      const seen = parseSeen(await Deno.readTextFile(join(ws, "results/seen.txt")));
      assert.equal(seen["barcodes-kind"], kind, link);
      assert.equal(seen["barcodes-links"], links, link);
    });
  }
});

Deno.test("skip with check: true fails the task before it starts when the path is absent on the node", async () => {
  await withTemp(async (dir) => {
    const { root, ws, scratch, site } = await layout(dir);
    await Deno.remove(join(root, "cvmfs/sw.example.org/tables/v3.dat"));
    const wf = await writeWorkflow(ws, workflow(root));
    const r = await ferryRun(["--site", site, "--progress", "lines", wf]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `✗ classify: Cannot find input "table" at ${root}/cvmfs/sw\\.example\\.org/tables/v3\\.dat on this node \\(staging rule 0 of executor "local", action skip with check: true\\)`,
      ),
    );
    assert.equal(await exists(join(ws, "results/seen.txt")), false);
    // A failed task keeps its scratch directory for inspection.
    assert.ok(await exists(join(scratch, "ferry")));
  });
});

Deno.test("the example custom provider (examples/custom_staging) fetches a tar member, then reuses it", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(join(dir, "refs"));
    await Deno.writeTextFile(join(dir, "refs/chr1.fa"), ">chr1\nACGT\nAC\n");
    const tar = await new Deno.Command("tar", {
      args: ["-cf", join(dir, "refs.tar"), "-C", join(dir, "refs"), "chr1.fa"],
    }).output();
    assert.ok(tar.success);
    // The workflow is copied; the site file stays, its provider module imports ferry's types.
    const ex = join(EXAMPLES, "custom_staging");
    await Deno.copyFile(join(ex, "workflow.yaml"), join(dir, "workflow.yaml"));
    const args = [
      "--site",
      join(ex, "site.yaml"),
      "--workspace",
      dir,
      "--param",
      `archive=${dir}/refs.tar`,
      "--progress",
      "lines",
      join(dir, "workflow.yaml"),
    ];
    const first = await ferryRun(args);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await Deno.readTextFile(join(dir, "results/chr1.counts")), "6\n");
    assert.match(
      first.stderr,
      new RegExp(`in fetched tar://${dir}/refs\\.tar!/chr1\\.fa \\(14 B in `),
    );
    assert.match(first.stderr, /transfers: 1 fetched, 14 B moved/);
    const second = await ferryRun(args);
    assert.equal(second.code, 0, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(`in reused tar://${dir}/refs\\.tar!/chr1\\.fa \\(unchanged, 14 B\\)`),
    );
    assert.match(second.stderr, /transfers: 1 reused, 0 B moved/);
    // A member that is not in the archive: the provider's message after one attempt (not retryable).
    await Deno.writeTextFile(join(dir, "refs/other.fa"), ">x\n");
    const tar2 = await new Deno.Command("tar", {
      args: ["-cf", join(dir, "refs.tar"), "-C", join(dir, "refs"), "other.fa"],
    }).output();
    assert.ok(tar2.success);
    const bad = await ferryRun(args);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(
      bad.stderr,
      new RegExp(
        `✗ count: Cannot fetch "tar://${dir}/refs\\.tar!/chr1\\.fa" with tar-member after 1 attempt\\(s\\): cannot extract chr1\\.fa from ${dir}/refs\\.tar: chr1\\.fa: Not found in archive\n`,
      ),
    );
  });
});

Deno.test("a temp output is deleted once every task reading it succeeded, and kept while one failed", async () => {
  await withTemp(async (dir) => {
    const wf = (fail: boolean) => ({
      ferry: 1,
      name: "temp",
      apps: {
        make: {
          outputs: { mid: { path: "mid/big.txt", temp: true } },
          shell: "echo intermediate > ${{ outputs.mid }}",
        },
        first: {
          inputs: { mid: "${{ apps.make.outputs.mid }}" },
          outputs: { a: "a.txt" },
          shell: "wc -c < ${{ inputs.mid }} > ${{ outputs.a }}",
        },
        second: {
          inputs: { mid: "${{ apps.make.outputs.mid }}" },
          outputs: { b: "b.txt" },
          shell: `${fail ? "exit 3; " : ""}tr a-z A-Z < \${{ inputs.mid }} > \${{ outputs.b }}`,
        },
      },
    });
    const failing = await writeWorkflow(dir, wf(true));
    const r1 = await ferryRun(["--keep-going", failing]);
    assert.equal(r1.code, 1, r1.stderr);
    assert.equal(await Deno.readTextFile(join(dir, "mid/big.txt")), "intermediate\n");
    const ok = await writeWorkflow(dir, wf(false));
    const r2 = await ferryRun([ok]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(await Deno.readTextFile(join(dir, "b.txt")), "INTERMEDIATE\n");
    assert.equal(await exists(join(dir, "mid/big.txt")), false);
    const events = await Deno.readTextFile(join(runDirOf(r2), "events.jsonl"));
    assert.match(events, /"event":"temp-deleted","url":"file:\/\/[^"]*\/mid\/big\.txt"/);
  });
});

Deno.test("after a temp output was deleted, the next run makes it again only for readers that need it", async () => {
  await withTemp(async (dir) => {
    const wf = await writeWorkflow(dir, {
      ferry: 1,
      name: "temp-again",
      apps: {
        make: {
          outputs: { mid: { path: "mid.txt", temp: true } },
          shell: "echo intermediate > ${{ outputs.mid }}",
        },
        use: {
          inputs: { mid: "${{ apps.make.outputs.mid }}" },
          outputs: { a: "a.txt" },
          shell: "tr a-z A-Z < ${{ inputs.mid }} > ${{ outputs.a }}",
        },
      },
    });
    const first = await ferryRun([wf]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await exists(join(dir, "mid.txt")), false);
    const second = await ferryRun([wf]);
    assert.equal(second.code, 0, second.stderr);
    // use is still valid: make's deleted temp output is not needed, nothing runs.
    assert.match(second.stderr, /done: 0 succeeded, 2 cached, 0 failed/);
    assert.equal(await exists(join(dir, "mid.txt")), false);
    await Deno.remove(join(dir, "a.txt"));
    const third = await ferryRun([wf]);
    assert.equal(third.code, 0, third.stderr);
    // use must run: make runs first to make its temp output again, deleted once read.
    assert.match(third.stderr, /done: 2 succeeded, 0 failed/);
    assert.equal(await exists(join(dir, "mid.txt")), false);
    assert.equal(await Deno.readTextFile(join(dir, "a.txt")), "INTERMEDIATE\n");
  });
});
