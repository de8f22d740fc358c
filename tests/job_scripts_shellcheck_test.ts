/**
 * The shell that ferry writes is checked by shellcheck: the wrapper library
 * (providers/batch/wrapper.sh) and every job script and job wrapper that
 * `ferry plan --show-scripts` prints for each scheduler dialect, with the
 * features that change them (arrays, walltime, MPI ranks, scratch,
 * worker_init, function tasks, script tasks, node-side transfers with secrets).
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { haveService } from "./_services.ts";
import { ferryRun, ROOT, withTemp, writeWorkflow } from "./_run.ts";
import { shellcheck } from "./_shellcheck.ts";

const have = haveService("shellcheck", ["shellcheck"]);

/**
 * The scripts of `--show-scripts` output, by the header naming each one:
 * job scripts and wrappers (`.sh`), not the array's task list, a shell task's
 * own script (the user's text) or a function's call.
 */
function scriptsOf(output: string): Map<string, string> {
  const scripts = new Map<string, string>();
  const sections = output.split(/^(?=# ── )/m).slice(1);
  for (const s of sections) {
    const header = s.slice(0, s.indexOf("\n"));
    const path = header.slice(header.lastIndexOf(" ") + 1);
    if (!path.endsWith(".sh") || path.endsWith("task-script.sh")) continue;
    // An array's section goes on with its task list, which is no script.
    const body = s.slice(header.length + 1).split(/^# \S+: element i runs line i\+1$/m)[0]!;
    scripts.set(header, body);
  }
  return scripts;
}

function workflow(provider: string) {
  return {
    ferry: 1,
    name: `scripts-${provider}`,
    params: { ids: ["a", "b"] },
    executors: {
      hpc: {
        provider,
        bundle: "array",
        max_jobs: 2,
        scratch: "${TMPDIR}/ferry",
        worker_init: "export OMP_NUM_THREADS=1",
        env: { LANG: "C.UTF-8" },
        staging: [{ match: "file:///*", action: "scratch" }],
      },
      far: {
        provider,
        filesystem: "none",
        via: "ssh://me@login.example.org",
        staging: [
          { match: "ftp://*:*", action: "ftp", user: "me", password_env: "FTP_PW", retries: 0 },
          { match: "https://*:*", action: "https", token_env: "TOKEN" },
          { match: "rsync://*:*", action: "rsync" },
        ],
      },
    },
    defaults: { executor: "hpc" },
    apps: {
      align: {
        for_each: { s: "${{ params.ids }}" },
        inputs: { ref: "ref.txt" },
        resources: { cores: 2, memory: "3GiB", walltime: "1h" },
        outputs: { bam: "bam/${{ s }}.bam" },
        command: ["touch", "${{ outputs.bam }}"],
      },
      mpi: {
        resources: { ranks: 4, cores: 1, walltime: "10m" },
        outputs: { o: "mpi.txt" },
        shell: "hostname > ${{ outputs.o }}",
      },
      fn: { outputs: { o: "fn.txt" }, function: "./fns.ts#write" },
      plot: { outputs: { o: "plot.txt" }, script: "plot.py" },
      remote: {
        executor: "far",
        inputs: {
          a: "https://example.org:443/data/a.csv",
          b: "rsync://example.org:873/mod/b.txt",
        },
        outputs: { out: "ftp://example.org:21/up/out.txt" },
        shell: "cat ${{ inputs.a }} ${{ inputs.b }} > ${{ outputs.out }}",
      },
    },
  };
}

Deno.test({
  name: "the wrapper library and the container launcher are clean under shellcheck",
  ignore: !have,
  async fn() {
    for (const lib of ["wrapper.sh", "container.sh"]) {
      const text = await Deno.readTextFile(join(ROOT, "providers/batch", lib));
      assert.equal(await shellcheck(text), "", lib);
    }
    // And the check sees what it should: an unquoted variable is reported.
    assert.match(await shellcheck("rm $1\n"), /SC2086/);
  },
});

for (const provider of ["slurm", "pbs", "lsf", "htcondor"]) {
  Deno.test({
    name:
      `${provider}: every job script and job wrapper of plan --show-scripts is clean under shellcheck`,
    ignore: !have,
    async fn() {
      await withTemp(async (ws) => {
        await Deno.writeTextFile(join(ws, "ref.txt"), "ref\n");
        await Deno.writeTextFile(
          join(ws, "fns.ts"),
          "export function write() { Deno.writeTextFileSync('fn.txt', 'x'); }\n",
        );
        await Deno.writeTextFile(join(ws, "plot.py"), "open('plot.txt', 'w').write('x')\n");
        const wf = await writeWorkflow(ws, workflow(provider));
        const r = await ferryRun(["--show-scripts", wf], {}, "plan");
        assert.equal(r.code, 0, r.stderr);
        const scripts = scriptsOf(r.stdout);
        // The array of align, the single jobs of mpi, fn and remote, and the four tasks' wrappers.
        const kinds = [...scripts.keys()].map((h) =>
          h.includes("job array") ? "array" : h.includes("job script") ? "job" : "wrapper"
        );
        assert.deepEqual(
          [kinds.filter((k) => k === "array").length, kinds.filter((k) => k === "job").length],
          [1, 4],
          [...scripts.keys()].join("\n"),
        );
        assert.equal(kinds.filter((k) => k === "wrapper").length, 6);
        for (const [header, text] of scripts) {
          assert.equal(await shellcheck(text), "", `${header}\n${text}`);
        }
        // The wrappers hold what the features put there.
        const all = r.stdout;
        for (
          const needle of [
            "ferry_watchdog 3600 5 ",
            "ferry_scratch=",
            "export FERRY_LAUNCH=",
            "run --allow-read=.,",
            "--allow-env=LANG,FERRY_TASK_ID,FERRY_ATTEMPT,FERRY_FUNCTION_MODULE --no-prompt",
            "export FERRY_TASK=",
            'exec "${ferry_timer[@]}" $FERRY_LAUNCH python3 ',
            "ferry_transfer fetch curl url=https://example.org/data/a.csv",
            "ferry_transfer fetch rsync url=rsync://example.org:873/mod/b.txt",
            "ferry_transfer put curl url=ftp://example.org/up/.out.txt.ferry-part",
          ]
        ) {
          assert.ok(all.includes(needle), needle);
        }
        // The function's module as the run gives it: absolute, and readable by the task.
        assert.ok(all.includes(` file://${join(ws, "fns.ts")} write <`), all);
        assert.ok(all.includes(`,${join(ws, "fns.ts")} --allow-write=.,`), all);
      });
    },
  });
}
