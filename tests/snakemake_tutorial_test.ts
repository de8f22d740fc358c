/**
 * examples/snakemake-tutorial end to end, in a temporary copy, with the real ferry CLI and the
 * real tools (bwa, samtools, bcftools, python3): the simulated data are the same bytes as ever,
 * the variant calls are the reference committed with the example and exactly the SNPs the
 * simulation planted, the BAMs are valid, and a second run does nothing.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { copyExamples, EXAMPLES } from "./_examples.ts";
import { exists, ferryRun, withTemp } from "./_run.ts";
import { haveService } from "./_services.ts";
import { bySample, calls, SAMPLES, tool, truth } from "./_snakemake_tutorial.ts";

const haveTools = haveService("snakemake tutorial example", [
  "bwa",
  "samtools",
  "bcftools",
  "python3",
]);

const EXAMPLE = "snakemake-tutorial";
const READS_PER_SAMPLE = 8750; // 35,000 bases at 25x in reads of 100

/**
 * sha256 of what generate_data.ts writes: its output may not change from run to run or from
 * machine to machine. (A deliberate change to the simulation updates these and
 * expected_calls.tsv together.)
 */
const DATA_SHA256: Record<string, string> = {
  "data/genome.fa": "0dece3184e70ab9d7d1057a04210c9f3b5ae0b37f77625cac87591897843a69c",
  "data/samples/A.fastq": "143623d7a3514c528f6f7e5388ba304201da57b2127801d1e2143ecd669b327b",
  "data/samples/B.fastq": "0d6546dbcb61c7ddcd835035aea6eb294389ef1f92379c83a161b0cac4aa9362",
  "data/samples/C.fastq": "460e848145562815b5bd2dc646bfa6b6859aad5850965fd94bc92b65ce7c4f1f",
  "data/truth/A.tsv": "1cb3281d756032b69f277e3479736618e5992dcd6815d2fefe816aafb9dce1a9",
  "data/truth/B.tsv": "8ae2521c72983f411bbb7f660f0c692cb778192155ab256b851bb4d8b61f269c",
  "data/truth/C.tsv": "c9859d06083cac90ad895b1ec15f15eea7125f2535075ff77906c2c2aa356e34",
};

const decoder = new TextDecoder();

/** The sha256 of a file, in hex. */
async function sha256(path: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
}

Deno.test({
  name:
    "snakemake tutorial: the example calls the planted SNPs, as its reference says, a second run does nothing and a path of sample D runs its chain",
  ignore: !haveTools,
  fn: async () => {
    await using ex = await copyExamples(EXAMPLE);
    const ws = ex.path(EXAMPLE);
    const r = await ferryRun([join(ws, "workflow.yaml")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^plan: 16 to run, 0 cached$/m);
    assert.match(r.stderr, /^done: 16 succeeded, 0 failed in /m);

    for (const [path, digest] of Object.entries(DATA_SHA256)) {
      assert.equal(await sha256(join(ws, path)), digest, `${path} is not the bytes it was`);
    }

    // The calls are the reference's, and exactly the planted SNPs with their genotypes.
    const table = await calls(ws);
    assert.equal(table, await Deno.readTextFile(join(ws, "expected_calls.tsv")));
    const planted = await truth(ws);
    assert.deepEqual(bySample(table), planted);
    // The simulation is what the README says: shared and private, hom- and heterozygous SNPs.
    const all = Object.values(planted).flat();
    assert.ok(all.some((l) => l.endsWith("\t0/1")) && all.some((l) => l.endsWith("\t1/1")));
    assert.ok(planted.A!.some((l) => planted.B!.includes(l) && planted.C!.includes(l)));
    assert.ok(planted.A!.some((l) => !planted.B!.includes(l) && !planted.C!.includes(l)));

    // Valid BAMs, sorted and indexed, every read mapped.
    const bams = SAMPLES.flatMap((s) => [`mapped_reads/${s}.bam`, `sorted_reads/${s}.bam`]);
    const quick = await tool(ws, "samtools", "quickcheck", "-v", ...bams);
    assert.deepEqual([quick.code, quick.stdout, quick.stderr], [0, "", ""]);
    for (const s of SAMPLES) {
      const head = await tool(ws, "samtools", "view", "-H", `sorted_reads/${s}.bam`);
      assert.match(head.stdout, /^@HD\tVN:[\d.]+\tSO:coordinate$/m);
      const mapped = await tool(
        ws,
        "samtools",
        "view",
        "-c",
        "-F",
        "0x904",
        `sorted_reads/${s}.bam`,
        "chr1",
        "chr2",
      );
      assert.equal(mapped.stdout, `${READS_PER_SAMPLE}\n`, mapped.stderr);
    }

    // The plot: a histogram of the 8 calls' QUALs.
    const svg = await Deno.readTextFile(join(ws, "plots/quals.svg"));
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" /);
    assert.equal(svg.match(/<rect /g)?.length, 10);
    assert.match(svg, />QUAL \(8 records\)<\/text>\n<\/svg>\n$/);

    // Nothing changed: nothing runs again.
    const again = await ferryRun([join(ws, "workflow.yaml")]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^plan: 0 to run, 16 cached$/m);
    assert.match(again.stderr, /^done: 0 succeeded, 16 cached, 0 failed in /m);

    // A sample in no param: its sorted BAM as a target runs exactly its chain, inferred from the
    // output templates, its reads simulated too.
    const d = await ferryRun([join(ws, "workflow.yaml"), "sorted_reads/D.bam"]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stderr, /^plan: 3 to run, 2 cached$/m);
    assert.deepEqual(started(d.stderr), [
      "reads[sample=D]",
      "bwa_map[sample=D]",
      "samtools_sort[sample=D]",
    ]);
    const dBam = await tool(ws, "samtools", "quickcheck", "sorted_reads/D.bam");
    assert.equal(dBam.code, 0, dBam.stderr);
  },
});

Deno.test("snakemake tutorial: generate_data.ts run by hand writes the files the workflow's apps write", async () => {
  await withTemp(async (dir) => {
    const script = join(EXAMPLES, EXAMPLE, "generate_data.ts");
    const gen = (...args: string[]) =>
      tool(dir, Deno.execPath(), "run", "--allow-write=.", script, ...args);
    const ok = await gen("--out", "out");
    assert.deepEqual([ok.code, ok.stdout, ok.stderr], [0, "", ""]);
    for (const [path, digest] of Object.entries(DATA_SHA256)) {
      assert.equal(await sha256(join(dir, "out", path)), digest, path);
    }
    // A sample named on the command line: its own reads, its SNPs drawn from its name.
    const d = await gen("--out", "d", "D");
    assert.equal(d.code, 0, d.stderr);
    const rows = (await Deno.readTextFile(join(dir, "d/data/truth/D.tsv"))).trimEnd().split("\n");
    assert.equal(rows[0], "CHROM\tPOS\tREF\tALT\tGT");
    for (const row of rows.slice(1)) {
      assert.match(row, /^chr[12]\t\d+\t[ACGT]\t[ACGT]\t(0\/1|1\/1)$/);
    }
    assert.equal(await sha256(join(dir, "d/data/genome.fa")), DATA_SHA256["data/genome.fa"]);
    // A name that would break the FASTQ records is refused, and nothing is written.
    const bad = await gen("--out", "bad", "A", "x\ny");
    assert.deepEqual([bad.code, bad.stdout, bad.stderr], [
      2,
      "",
      `Cannot simulate reads for sample "x\\ny": a sample name is letters, digits, '_', '.' or '-'\n`,
    ]);
    assert.equal((await tool(dir, "ls")).stdout, "d\nout\n");
  });
});

Deno.test({
  name:
    "snakemake tutorial: plot-quals.py escapes the file name in the SVG, draws an empty VCF, reads its paths from FERRY_TASK and refuses a bad VCF",
  ignore: !haveTools,
  fn: () =>
    withTemp(async (dir) => {
      const script = join(EXAMPLES, EXAMPLE, "scripts", "plot-quals.py");
      const plot = (vcf: string) => tool(dir, "python3", script, vcf, "out.svg");
      const hostile = `<b>&"$(x)".vcf`;
      await Deno.writeTextFile(join(dir, hostile), "##fileformat=VCFv4.2\n");
      const empty = await plot(hostile);
      assert.deepEqual([empty.code, empty.stdout, empty.stderr], [0, "", ""]);
      const svg = await Deno.readTextFile(join(dir, "out.svg"));
      assert.ok(
        svg.includes(">QUAL of the calls in &lt;b&gt;&amp;&quot;$(x)&quot;.vcf</text>"),
        svg,
      );
      assert.match(svg, />no records<\/text>\n.*>QUAL \(0 records\)<\/text>\n<\/svg>\n$/);
      await Deno.writeTextFile(join(dir, "bad.vcf"), "#h\nchr1\t5\t.\tA\tG\tlow\n");
      const bad = await plot("bad.vcf");
      assert.deepEqual([bad.code, bad.stdout, bad.stderr], [
        2,
        "",
        'Cannot read "bad.vcf": line 2: QUAL "low" is no number\n',
      ]);
      // Without arguments it reads the paths from the task file FERRY_TASK names (script: apps).
      await Deno.writeTextFile(
        join(dir, "task.json"),
        JSON.stringify({ inputs: { vcf: hostile }, outputs: { svg: "from-task.svg" } }),
      );
      const fromTask = await new Deno.Command("python3", {
        args: [script],
        cwd: dir,
        env: { FERRY_TASK: join(dir, "task.json") },
        stdin: "null",
      }).output();
      assert.deepEqual([fromTask.code, decoder.decode(fromTask.stderr)], [0, ""]);
      assert.equal(await Deno.readTextFile(join(dir, "from-task.svg")), svg);
      const missing = await plot("none.vcf");
      assert.deepEqual([missing.code, missing.stderr], [
        2,
        'Cannot read "none.vcf": No such file or directory\n',
      ]);
    }),
});

/** The tasks a run started, in the order of its progress lines. */
function started(stderr: string): string[] {
  return [...stderr.matchAll(/^\[\d+\/\d+\] start (\S+)$/gm)].map((m) => m[1]!);
}

Deno.test({
  name:
    "snakemake tutorial: the advanced version, driven by config.yaml, calls the same SNPs with records, scaled cores, logs, benchmarks and a temp BAM",
  ignore: !haveTools,
  fn: async () => {
    await using ex = await copyExamples(EXAMPLE);
    const ws = ex.path(EXAMPLE);
    const wf = join(ws, "advanced.yaml");
    const config = join(ws, "config.yaml");

    // bwa asks for 8 cores; this machine's local executor grants what it has, and the plan says so.
    const cores = navigator.hardwareConcurrency;
    const plan = await ferryRun([wf, "--params", config], {}, "plan");
    assert.equal(plan.code, 0, plan.stderr);
    const granted = cores >= 8
      ? "cores 8"
      : `cores ${cores} (asked 8; executor "local" has ${cores})`;
    assert.equal(plan.stdout.split(`\n    ${granted}\n`).length - 1, 3, plan.stdout);

    const r = await ferryRun([wf, "--params", config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^plan: 16 to run, 0 cached$/m);
    assert.deepEqual(started(r.stderr).filter((t) => t.startsWith("bwa_map")).sort(), [
      "bwa_map[A]",
      "bwa_map[B]",
      "bwa_map[C]",
    ]);
    for (const [path, digest] of Object.entries(DATA_SHA256)) {
      assert.equal(await sha256(join(ws, path)), digest, `${path} is not the bytes it was`);
    }

    // The calls are the reference's; only the header differs: the read groups name the samples.
    const [header, ...rows] = (await calls(ws)).split("\n");
    const [refHeader, ...refRows] = (await Deno.readTextFile(join(ws, "expected_calls.tsv")))
      .split("\n");
    assert.deepEqual(rows, refRows);
    assert.equal(header, refHeader!.replace(/sorted_reads\/(\w)\.bam:GT/g, "$1:GT"));
    assert.equal(header, "# [1]CHROM\t[2]POS\t[3]REF\t[4]ALT\t[5]A:GT\t[6]B:GT\t[7]C:GT");
    for (const s of SAMPLES) {
      const head = await tool(ws, "samtools", "view", "-H", `sorted_reads/${s}.bam`);
      assert.match(head.stdout, new RegExp(`^@RG\\tID:${s}\\tSM:${s}$`, "m"));
      assert.match(head.stdout, new RegExp(`CL:bwa mem -K 10000000 -t ${Math.min(cores, 8)} `));
      // bwa's messages went to the log, each mapping's figures to its benchmark file.
      const log = await Deno.readTextFile(join(ws, `logs/bwa_mem/${s}.log`));
      assert.match(
        log,
        new RegExp(`^\\[M::mem_process_seqs\\] Processed ${READS_PER_SAMPLE} reads`, "m"),
      );
      const bench = (await Deno.readTextFile(join(ws, `benchmarks/${s}.bwa.benchmark.txt`)))
        .split("\n");
      assert.equal(bench[0], "s\th:m:s\tmax_rss\tmean_load\tcpu_time");
      assert.match(bench[1]!, /^\d+\.\d{4}\t\d+:\d\d:\d\d\t\d+\.\d\d\t\d+\.\d\d\t\d+\.\d\d$/);
      assert.equal(bench[2], "");
    }
    // The unsorted BAMs were temp: gone once sorted.
    assert.deepEqual([...Deno.readDirSync(join(ws, "mapped_reads"))], []);
    // The script app drew the plot from its FERRY_TASK file.
    const svg = await Deno.readTextFile(join(ws, "plots/quals.svg"));
    assert.match(svg, />QUAL of the calls in calls\/all\.vcf<\/text>\n/);
    assert.match(svg, />QUAL \(8 records\)<\/text>\n<\/svg>\n$/);

    // ferry status: short ids, and what each task used.
    const st = await ferryRun([wf], {}, "status");
    assert.equal(st.code, 0, st.stderr);
    for (const s of SAMPLES) {
      for (const app of ["reads", "bwa_map", "samtools_sort", "samtools_index"]) {
        assert.ok(st.stdout.includes(`✓ ${app}[${s}]: succeeded\n`), `${app}[${s}]\n${st.stdout}`);
      }
    }
    assert.ok(!st.stdout.includes("sample="), st.stdout);
    const used = [...st.stdout.matchAll(
      /^ {6}used: {3}wall \d+(?:\.\d)?m?s, CPU \d+(?:\.\d)?m?s, peak memory \d+\.\d [KMG]iB$/gm,
    )];
    assert.equal(used.length, 16, st.stdout);
    // The report plots wall time, CPU time and peak memory, a dot per task.
    const out = join(ws, "report.html");
    const rep = await ferryRun(["--workspace", ws, "-o", out], {}, "report");
    assert.equal(rep.code, 0, rep.stderr);
    const html = await Deno.readTextFile(out);
    assert.deepEqual(
      [...html.matchAll(/<svg class="usage-plot" data-metric="([^"]+)"/g)].map((x) => x[1]),
      ["wall time", "CPU time", "peak memory"],
    );
    assert.equal(html.split('<circle class="usage-dot"').length - 1, 3 * 16);
    assert.ok(html.includes("<title>bwa_map[A]: "));

    // Nothing changed (the temp BAMs being gone included): nothing runs again.
    const again = await ferryRun([wf, "--params", config]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^plan: 0 to run, 16 cached$/m);

    // A sample that is not in the mapping cannot be inferred from a path: its file comes from
    // the record's value, which no path gives.
    const target = await ferryRun([wf, "--params", config, "sorted_reads/D.bam"]);
    assert.deepEqual([target.code, target.stderr], [
      2,
      'ferry: Cannot find target "sorted_reads/D.bam": it is no task id, app or output, and no output template can make it ("${{ sample.value }}" of app reads uses "${{ sample.value }}", not a plain for_each variable; "sorted_reads/${{ sample.key }}.bam" of app samtools_sort uses "${{ sample.key }}", not a plain for_each variable)\n',
    ]);
    // Added to the samples by a second params file, D's sorted BAM runs exactly D's chain.
    const more = join(ws, "more-samples.yaml");
    await Deno.writeTextFile(
      more,
      "samples:\n" + ["A", "B", "C", "D"].map((s) => `  ${s}: data/samples/${s}.fastq\n`).join(""),
    );
    const d = await ferryRun([wf, "--params", config, "--params", more, "sorted_reads/D.bam"]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stderr, /^plan: 3 to run, 2 cached$/m);
    assert.deepEqual(started(d.stderr), ["reads[D]", "bwa_map[D]", "samtools_sort[D]"]);
    const quick = await tool(ws, "samtools", "quickcheck", "sorted_reads/D.bam");
    assert.equal(quick.code, 0, quick.stderr);
    assert.deepEqual([...Deno.readDirSync(join(ws, "mapped_reads"))], []);
    assert.ok(!(await exists(join(ws, "sorted_reads/D.bam.bai"))));
  },
});
