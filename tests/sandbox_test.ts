/**
 * The task sandbox with real tools: every task runs in its attempt directory, where its inputs
 * appear at their workspace-relative paths, so the Snakemake tutorial's commands (bwa, samtools,
 * bcftools) work as written, companion files (a .bai, a .fai) land in the attempt directory, and
 * the same workflow in two workspaces writes the same bytes.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, ferryRun, runDirOf, walk, withTemp, writeWorkflow } from "./_run.ts";
import { haveService } from "./_services.ts";
import { startHttpServer } from "./_http_server.ts";

const haveTools = haveService("sandbox (real tools)", ["bwa", "samtools", "bcftools"]);

/** A small genome and two samples' reads (B with one SNP), the same bytes on every run. */
function fixtures(): Record<string, string> {
  let x = 12345; // xorshift32
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  let genome = "";
  for (let i = 0; i < 3000; i++) genome += "ACGT"[(next() >>> 7) % 4];
  const snp = 1500;
  const mutated = genome.slice(0, snp) + (genome[snp] === "A" ? "G" : "A") + genome.slice(snp + 1);
  const reads = (seq: string, name: string) => {
    let fq = "";
    for (let start = 0, n = 0; start + 100 <= seq.length; start += 15, n++) {
      fq += `@${name}${n}\n${seq.slice(start, start + 100)}\n+\n${"I".repeat(100)}\n`;
    }
    return fq;
  };
  return {
    "data/genome.fa": `>chr1\n${genome.replace(/(.{60})/g, "$1\n")}\n`,
    "data/samples/A.fastq": reads(genome, "a"),
    "data/samples/B.fastq": reads(mutated, "b"),
  };
}

const INDEX = ["amb", "ann", "bwt", "pac", "sa"];

/** The Snakemake tutorial's workflow, ported as a new user would: its commands as written. */
function tutorial() {
  const index = Object.fromEntries(INDEX.map((e) => [e, `data/genome.fa.${e}`]));
  return {
    ferry: 1,
    name: "tutorial",
    params: { samples: ["A", "B"] },
    apps: {
      // bwa index writes its files beside its input: declared, they are collected.
      bwa_index: {
        inputs: { fa: "data/genome.fa" },
        outputs: index,
        shell: "bwa index ${{ inputs.fa }} 2>/dev/null",
      },
      bwa_map: {
        for_each: { s: "${{ params.samples }}" },
        inputs: {
          fa: "data/genome.fa",
          ...Object.fromEntries(INDEX.map((e) => [e, `\${{ apps.bwa_index.outputs.${e} }}`])),
          fq: "data/samples/${{ s }}.fastq",
        },
        outputs: { bam: "mapped_reads/${{ s }}.bam" },
        shell: "bwa mem ${{ inputs.fa }} ${{ inputs.fq }} 2>/dev/null | " +
          "samtools view -Sb - > ${{ outputs.bam }}",
      },
      samtools_sort: {
        for_each: { s: "${{ params.samples }}" },
        inputs: { bam: "mapped_reads/${{ s }}.bam" },
        outputs: { bam: "sorted_reads/${{ s }}.bam" },
        shell:
          "samtools sort -T sorted_reads/${{ s }} -O bam ${{ inputs.bam }} > ${{ outputs.bam }}",
      },
      samtools_index: {
        for_each: { s: "${{ params.samples }}" },
        inputs: { bam: "sorted_reads/${{ s }}.bam" },
        outputs: { bai: "sorted_reads/${{ s }}.bam.bai" },
        shell: "samtools index ${{ inputs.bam }}",
      },
      // bcftools makes data/genome.fa.fai beside the reference: no output, it is discarded.
      bcftools_call: {
        inputs: {
          fa: "data/genome.fa",
          bam: "${{ apps.samtools_sort.outputs.bam }}",
          bai: "${{ apps.samtools_index.outputs.bai }}",
        },
        outputs: { vcf: "calls/all.vcf" },
        shell: "bcftools mpileup -f ${{ inputs.fa }} ${{ inputs.bam }} 2>/dev/null | " +
          "bcftools call -mv - > ${{ outputs.vcf }}",
      },
    },
  };
}

async function workspace(dir: string): Promise<string> {
  for (const [path, text] of Object.entries(fixtures())) {
    await Deno.mkdir(join(dir, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, path), text);
  }
  return await writeWorkflow(dir, tutorial());
}

const decoder = new TextDecoder();
const header = (bam: string) =>
  decoder.decode(
    new Deno.Command("samtools", { args: ["view", "-H", "--no-PG", bam] }).outputSync().stdout,
  );

Deno.test({
  name:
    "sandbox: the Snakemake tutorial's commands work as written, and two workspaces write the same bytes",
  ignore: !haveTools,
  fn: () =>
    withTemp(async (dir) => {
      const spaces = [join(dir, "one"), join(dir, "two ünï 'q'")];
      const runs = [];
      for (const ws of spaces) {
        await Deno.mkdir(ws);
        const wf = await workspace(ws);
        const r = await ferryRun([wf]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /^done: 8 succeeded, 0 failed in /m);
        runs.push(runDirOf(r));
      }
      const [one, two] = spaces as [string, string];
      const made = [
        ...INDEX.map((e) => `data/genome.fa.${e}`),
        "mapped_reads/A.bam",
        "mapped_reads/B.bam",
        "sorted_reads/A.bam",
        "sorted_reads/A.bam.bai",
        "sorted_reads/B.bam",
        "sorted_reads/B.bam.bai",
        "calls/all.vcf",
      ];
      for (const f of made.filter((f) => !f.endsWith(".vcf"))) {
        assert.deepEqual(
          await Deno.readFile(join(one, f)),
          await Deno.readFile(join(two, f)),
          `${f} differs between the workspaces`,
        );
      }
      // bcftools dates its header lines: the rest is the same.
      const undated = async (ws: string) =>
        (await Deno.readTextFile(join(ws, "calls/all.vcf"))).replace(/; Date=[^\n]*/g, "");
      assert.equal(await undated(one), await undated(two));
      // Nothing carries a workspace's location: @PG lines, sample names, ##reference.
      const vcf = await Deno.readTextFile(join(one, "calls/all.vcf"));
      assert.match(vcf, /^##reference=file:\/\/data\/genome\.fa$/m);
      assert.match(vcf, /^#CHROM.*\tsorted_reads\/A\.bam\tsorted_reads\/B\.bam$/m);
      assert.match(vcf, /^chr1\t1501\t/m);
      assert.ok(!vcf.includes(dir), vcf);
      const pg = header(join(one, "sorted_reads/B.bam"));
      assert.match(
        pg,
        /^@PG\tID:bwa\tPN:bwa\tVN:[^\t]+\tCL:bwa mem data\/genome\.fa data\/samples\/B\.fastq$/m,
      );
      assert.ok(!pg.includes(dir), pg);
      // The workspace holds the inputs and the declared outputs, nothing a tool wrote beside its
      // input: bcftools' data/genome.fa.fai stayed in the attempt directory, which went after
      // success, and its stderr.log says so.
      const files = (await walk(one)).filter((p) => !p.startsWith(".ferry"));
      assert.deepEqual(files, [
        "calls",
        "calls/all.vcf",
        "data",
        "data/genome.fa",
        ...INDEX.map((e) => `data/genome.fa.${e}`),
        "data/samples",
        "data/samples/A.fastq",
        "data/samples/B.fastq",
        "mapped_reads",
        "mapped_reads/A.bam",
        "mapped_reads/B.bam",
        "sorted_reads",
        "sorted_reads/A.bam",
        "sorted_reads/A.bam.bai",
        "sorted_reads/B.bam",
        "sorted_reads/B.bam.bai",
        "workflow.yaml",
      ]);
      const call = join(runs[0]!, "tasks", await taskDir(runs[0]!, "bcftools_call"), "attempt-1");
      assert.equal(
        await Deno.readTextFile(join(call, "stderr.log")),
        "Note: none of --samples-file, --ploidy or --ploidy-file given, assuming all sites are diploid\n" +
          'ferry: discarded 1 file the task left in its directory that is no declared output: "data/genome.fa.fai"\n',
      );
      assert.deepEqual(JSON.parse(await Deno.readTextFile(join(call, "status.json"))).discarded, [
        "data/genome.fa.fai",
      ]);
      // Its input links and what the tool left went; empty folders stay with the logs.
      const kept = [];
      for (const p of await walk(join(call, "work"))) {
        if (!(await Deno.lstat(join(call, "work", p))).isDirectory) kept.push(p);
      }
      assert.deepEqual(kept, []);
      // A finished workspace moved elsewhere is finished there too: nothing runs again.
      const moved = join(dir, "moved ☃");
      await Deno.rename(one, moved);
      const again = await ferryRun([join(moved, "workflow.yaml")]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /^plan: 0 to run, 8 cached$/m);
      assert.match(again.stderr, /^done: 0 succeeded, 8 cached, 0 failed in /m);
    }),
});

/** The directory name of task `id` in a run. */
async function taskDir(run: string, id: string): Promise<string> {
  for await (const e of Deno.readDir(join(run, "tasks"))) {
    if (e.name.startsWith(`${id}-`)) return e.name;
  }
  throw new Error(`no directory for task ${id} in ${run}`);
}

Deno.test("sandbox: a task writing beside or over its input link never changes the workspace input", async () => {
  await withTemp(async (ws) => {
    await Deno.mkdir(join(ws, "data"));
    await Deno.writeTextFile(join(ws, "data/in.txt"), "original\n");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "links",
      apps: {
        touch: {
          inputs: { x: "data/in.txt" },
          outputs: {
            parts: { glob: "data/part*.txt" },
            side: "data/in.txt.idx",
            seen: "seen/link",
          },
          shell: [
            // What the task sees: a link to the workspace file at its relative path.
            "readlink ${{ inputs.x }} > ${{ outputs.seen }}",
            "cat ${{ inputs.x }} > data/part.txt",
            "echo index > ${{ inputs.x }}.idx",
            // A tool that replaces its input with a file of its own (sed -i does).
            "rm ${{ inputs.x }} && echo replaced > ${{ inputs.x }}",
          ].join("\n"),
        },
      },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "data/in.txt")), "original\n");
    assert.equal((await Deno.lstat(join(ws, "data/in.txt"))).isSymlink, false);
    assert.equal(await Deno.readTextFile(join(ws, "data/part.txt")), "original\n");
    assert.equal(await Deno.readTextFile(join(ws, "data/in.txt.idx")), "index\n");
    assert.equal(await Deno.readTextFile(join(ws, "seen/link")), `${join(ws, "data/in.txt")}\n`);
    const plan = await ferryRun(["--format", "json", wf], {}, "plan");
    const task = JSON.parse(plan.stdout).tasks[0];
    assert.equal(task.status.action, "cached", plan.stdout);
  });
});

Deno.test("sandbox: a failed attempt keeps its directory with the input links for inspection", async () => {
  await withTemp(async (ws) => {
    await Deno.mkdir(join(ws, "data"));
    await Deno.writeTextFile(join(ws, "data/in.txt"), "x\n");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "fails",
      apps: {
        bad: {
          inputs: { x: "data/in.txt" },
          outputs: { o: "out.txt" },
          retries: 0,
          shell: "echo note > ${{ inputs.x }}.note; exit 3",
        },
      },
    });
    const r = await ferryRun([wf]);
    assert.equal(r.code, 1, r.stderr);
    const work = join(runDirOf(r), "tasks", await taskDir(runDirOf(r), "bad"), "attempt-1", "work");
    assert.equal(await Deno.readLink(join(work, "data/in.txt")), join(ws, "data/in.txt"));
    assert.equal(await Deno.readTextFile(join(work, "data/in.txt.note")), "note\n");
    assert.equal(await exists(join(ws, "data/in.txt.note")), false);
  });
});

Deno.test("sandbox: an input fetched over HTTP appears in the task's directory at a path the same in every workspace", async () => {
  const server = await startHttpServer({ files: { "/ref/genome.fa": ">chr1\nACGT\n" } });
  try {
    await withTemp(async (dir) => {
      const lines: string[] = [];
      for (const ws of [join(dir, "a"), join(dir, "b c")]) {
        await Deno.mkdir(ws);
        const wf = await writeWorkflow(ws, {
          ferry: 1,
          name: "fetched",
          apps: {
            a: {
              inputs: { ref: server.url("/ref/genome.fa") },
              outputs: { o: "o.txt" },
              shell: "{ echo ${{ inputs.ref }}; cat ${{ inputs.ref }}; } > ${{ outputs.o }}",
            },
          },
        });
        const r = await ferryRun([wf]);
        assert.equal(r.code, 0, r.stderr);
        lines.push(await Deno.readTextFile(join(ws, "o.txt")));
        // The run's copy stays in .ferry/staged; the task saw it through a link in its directory.
        const staged = (await walk(join(ws, ".ferry", "staged"))).filter((p) =>
          p.endsWith("genome.fa")
        );
        assert.equal(staged.length, 1);
      }
      assert.equal(lines[0], lines[1]);
      assert.match(lines[0]!, /^_inputs\/[0-9a-f]{16}\/genome\.fa\n>chr1\nACGT\n$/);
    });
  } finally {
    await server.close();
  }
});
