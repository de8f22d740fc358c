/**
 * Benchmark of `ferry run` on the local executor, end to end, against GNU make
 * and GNU parallel running the same tasks in the same run.
 *
 * Two cases, every run in a fresh empty directory:
 *
 * - **independent N**: N tasks (N = 1,000 and 5,000 by default), each running
 *   `true` and touching its own output file. ferry: one app with `for_each`
 *   over a list param of N ints. make: a Makefile with the N targets and a
 *   pattern rule, `make -j2 -s`. parallel: `seq 0 N-1 | parallel -j2 ...`.
 * - **split → map → reduce**: a split task writes 1,000 chunk files into a
 *   directory; 1,000 map tasks (ferry: a dynamic `for_each` over
 *   `${{ apps.split.outputs.chunks }}`) each sum one chunk into a result; one
 *   reduce sums all results (ferry: `${{ apps.map.outputs.result }}`). make: a
 *   split target, 1,000 pattern targets and a reduce target. parallel: split,
 *   `ls chunks | parallel -j2 ...`, reduce.
 *
 * ferry runs as `deno run -A main.ts run --jobs 2 --progress lines WORKFLOW`
 * (standard output to /dev/null; the progress lines, on standard error, are read
 * and dropped unless the run fails). Each runner runs once to warm up, then `--reps` times,
 * interleaved (ferry, make, parallel, ferry, ...) so that a slow spell of the
 * machine does not land on one runner only. Wall time is spawn to exit; peak
 * RSS comes from GNU time. Every run is checked afterwards (all outputs there,
 * the reduce's sum right).
 *
 * The work happens under `bench/out/` (or `--dir DIR`), not under /tmp: on some
 * machines metadata operations on /tmp are much slower and would distort a
 * benchmark that creates thousands of files. Nothing is deleted until the very
 * end: on ext4 without a journal, creating a file after many were deleted in
 * the last minutes is slow (the allocator skips every recently freed inode), so
 * deleting one run's files would slow down the next run.
 *
 * `deno task bench run_local [--reps N] [--sizes 1000,5000] [--chunks N] [--dir DIR] [--keep]`
 * @module
 */

import { join } from "node:path";
import { findGnuTime, measure, median, ROOT, type Sample, workDir } from "./_measure.ts";

/** The targets (issue 15): ferry within `ratio` × `make -j2` on each case, medians compared. */
export const TARGETS: readonly { readonly case: string; readonly ratio: number }[] = [
  { case: "independent 1,000", ratio: 1.5 },
  { case: "independent 5,000", ratio: 1.3 },
  { case: "split → 1,000 maps → reduce", ratio: 1.3 },
];
/** Tasks at once, for every runner. */
const JOBS = 2;

/** Each target with the measured ratio (medians, and fastest runs), when make ran that case. */
export function judge(rows: readonly Row[]): {
  case: string;
  target: number;
  ratio?: number;
  ratioMin?: number;
  met?: boolean;
}[] {
  return TARGETS.map((t) => {
    const row = rows.find((r) => r.case === t.case && r.runner.startsWith("make"));
    if (row?.ferryRatio === undefined) return { case: t.case, target: t.ratio };
    return {
      case: t.case,
      target: t.ratio,
      ratio: row.ferryRatio,
      ratioMin: row.ferryRatioMin!,
      met: row.ferryRatio <= t.ratio,
    };
  });
}

/** Options of {@linkcode main}. */
interface Options {
  reps: number;
  sizes: number[];
  chunks: number;
  keep: boolean;
  dir?: string;
}

function parseArgs(args: readonly string[]): Options {
  const o: Options = { reps: 3, sizes: [1000, 5000], chunks: 1000, keep: false };
  const positive = (a: string, s: string | undefined) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${a} needs a positive whole number`);
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--reps") o.reps = positive(a, args[++i]);
    else if (a === "--chunks") o.chunks = positive(a, args[++i]);
    else if (a === "--sizes") {
      const s = args[++i] ?? "";
      o.sizes = s.split(",").map((x) => positive(a, x.trim().replaceAll("_", "")));
    } else if (a === "--dir") {
      const d = args[++i];
      if (!d) throw new Error("--dir needs a directory");
      o.dir = d;
    } else if (a === "--keep") o.keep = true;
    else {
      throw new Error(
        `unknown option ${a} (use --reps N, --sizes N,N, --chunks N, --dir DIR, --keep)`,
      );
    }
  }
  return o;
}

// ------------------------------------------------------------ the cases

/** What one runner needs to run one case in a fresh directory. */
interface Runner {
  /** "ferry", "make -j2", "parallel -j2". */
  readonly name: string;
  /** Writes the runner's files into the fresh directory `dir`. */
  prepare(dir: string): Promise<void>;
  /** The command, run with `dir` as its working directory. */
  readonly cmd: string;
  readonly args: readonly string[];
}

/** A benchmark case: the same work for every runner, and how to check it was done. */
interface Case {
  readonly name: string;
  /** Tasks in the case (what "ms per task" divides by). */
  readonly tasks: number;
  readonly runners: readonly Runner[];
  /** Throws when the run in `dir` did not produce what it should. */
  verify(dir: string): Promise<void>;
}

/** Which references can run on this machine. */
interface Tools {
  make?: string;
  parallel?: string;
}

const ferryArgs = (workflow: string) => [
  "run",
  "-A",
  join(ROOT, "main.ts"),
  "run",
  "--jobs",
  String(JOBS),
  "--progress",
  "lines",
  workflow,
];

const ferryRunner = (yaml: string): Runner => ({
  name: "ferry",
  prepare: (dir) => Deno.writeTextFile(join(dir, "workflow.yaml"), yaml),
  cmd: Deno.execPath(),
  args: ferryArgs("workflow.yaml"),
});

const makeRunner = (makefile: string): Runner => ({
  name: `make -j${JOBS}`,
  prepare: (dir) => Deno.writeTextFile(join(dir, "Makefile"), makefile),
  cmd: "make",
  args: [`-j${JOBS}`, "-s"],
});

const shellRunner = (script: string): Runner => ({
  name: `parallel -j${JOBS}`,
  prepare: () => Promise.resolve(),
  cmd: "bash",
  args: ["-c", `set -euo pipefail\n${script}`],
});

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) if (e.isFile) n++;
  return n;
}

/** Case (a): `n` independent tasks, each `true && touch out/I.done`. */
export function independentCase(n: number, tools: Tools): Case {
  const ids = Array.from({ length: n }, (_, i) => i);
  const yaml = [
    "ferry: 1",
    `name: independent-${n}`,
    `description: ${n} independent tasks, each touching its own file (bench/run_local.ts)`,
    "params:",
    `  ids: [${ids.join(", ")}]`,
    "apps:",
    "  touch:",
    '    for_each: { i: "${{ params.ids }}" }',
    '    outputs: { o: "out/${{ i }}.done" }',
    "    shell: true && touch ${{ outputs.o }}",
    "",
  ].join("\n");
  const makefile = [
    `TARGETS := ${ids.map((i) => `out/${i}.done`).join(" ")}`,
    "all: $(TARGETS)",
    ".PHONY: all",
    "out/%.done:",
    "\t@mkdir -p out && true && touch $@",
    "",
  ].join("\n");
  const runners: Runner[] = [ferryRunner(yaml)];
  if (tools.make) runners.push(makeRunner(makefile));
  if (tools.parallel) {
    runners.push(
      shellRunner(
        `mkdir -p out\nseq 0 ${n - 1} | parallel --will-cite -j${JOBS} 'true && touch out/{}.done'`,
      ),
    );
  }
  return {
    name: `independent ${n.toLocaleString("en")}`,
    tasks: n,
    runners,
    async verify(dir) {
      const got = await countFiles(join(dir, "out"));
      if (got !== n) throw new Error(`${dir}: ${got} files in out/, expected ${n}`);
    },
  };
}

/**
 * Case (b): a split writes `chunks` files of ten numbers each into chunks/,
 * one map per chunk sums it into results/, a reduce sums the results.
 */
export function splitMapReduceCase(chunks: number, tools: Tools): Case {
  const lines = chunks * 10;
  const width = Math.max(4, String(chunks - 1).length);
  const split = `mkdir -p chunks && seq 0 ${lines - 1} | split -l 10 -a ${width} -d - chunks/c-`;
  const sum = "awk '{ s += $1 } END { print s }'";
  const yaml = [
    "ferry: 1",
    "name: split-map-reduce",
    `description: split into ${chunks} chunks, map each, reduce (bench/run_local.ts)`,
    "apps:",
    "  split:",
    "    outputs: { chunks: { dir: chunks } }",
    `    shell: ${split}`,
    "  map:",
    '    for_each: { chunk: "${{ apps.split.outputs.chunks }}" }',
    '    inputs: { chunk: "${{ chunk }}" }',
    '    outputs: { result: "results/${{ chunk.name }}.txt" }',
    `    shell: ${sum} \${{ inputs.chunk }} > \${{ outputs.result }}`,
    "  reduce:",
    '    inputs: { results: "${{ apps.map.outputs.result }}" }',
    "    outputs: { total: total.txt }",
    `    shell: cat \${{ inputs.results }} | ${sum} > \${{ outputs.total }}`,
    "",
  ].join("\n");
  // make cannot discover files at run time: the chunk names are written out
  // (split's names are predictable), and every chunk is "made" by the split.
  const ids = Array.from({ length: chunks }, (_, i) => String(i).padStart(width, "0"));
  const makeSum = sum.replace("$1", () => "$$1");
  const makefile = [
    `RESULTS := ${ids.map((i) => `results/c-${i}.txt`).join(" ")}`,
    "total.txt: $(RESULTS)",
    `\t@cat $^ | ${makeSum} > $@`,
    "results/c-%.txt: chunks/c-%",
    `\t@mkdir -p results && ${makeSum} $< > $@`,
    "chunks/c-%: | chunks/.split ;",
    "chunks/.split:",
    `\t@${split} && touch $@`,
    "",
  ].join("\n");
  const runners: Runner[] = [ferryRunner(yaml)];
  if (tools.make) runners.push(makeRunner(makefile));
  if (tools.parallel) {
    runners.push(
      shellRunner(
        [
          split,
          "mkdir -p results",
          `ls chunks | parallel --will-cite -j${JOBS} "${
            sum.replace("$1", () => "\\$1")
          } chunks/{} > results/{}.txt"`,
          `cat results/*.txt | ${sum} > total.txt`,
        ].join("\n"),
      ),
    );
  }
  const expected = String((lines * (lines - 1)) / 2);
  return {
    name: `split → ${chunks.toLocaleString("en")} maps → reduce`,
    tasks: chunks + 2,
    runners,
    async verify(dir) {
      const got = (await Deno.readTextFile(join(dir, "total.txt"))).trim();
      if (got !== expected) throw new Error(`${dir}: total.txt is ${got}, expected ${expected}`);
      const results = await countFiles(join(dir, "results"));
      if (results !== chunks) throw new Error(`${dir}: ${results} results, expected ${chunks}`);
    },
  };
}

// ------------------------------------------------------------ measuring

/** The figures of one runner on one case. */
export interface Row {
  readonly case: string;
  readonly runner: string;
  readonly tasks: number;
  /** Median wall time, seconds. */
  readonly median: number;
  /** Fastest wall time, seconds. */
  readonly min: number;
  /** Every timed repetition, seconds, in run order. */
  readonly times: readonly number[];
  /** Median milliseconds per task. */
  readonly msPerTask: number;
  /** Largest peak RSS over the repetitions, MiB. */
  readonly rssMiB?: number;
  /** ferry's median divided by this runner's (absent on ferry's own row). */
  readonly ferryRatio?: number;
  /** The same with the fastest times. */
  readonly ferryRatioMin?: number;
}

/** Runs every runner of `c` once to warm up, then `reps` rounds of all runners. */
async function runCase(c: Case, reps: number, work: string): Promise<Row[]> {
  let seq = 0;
  const once = async (r: Runner) => {
    const dir = join(
      work,
      `${c.name.replace(/[^A-Za-z0-9]+/g, "-")}-${r.name.split(" ")[0]}-${seq++}`,
    );
    await Deno.mkdir(dir);
    await r.prepare(dir);
    const s = await measure(r.cmd, r.args, dir);
    if (s.code !== 0) {
      throw new Error(`${c.name}, ${r.name}: exit code ${s.code}\n${s.stderr.slice(0, 4000)}`);
    }
    await c.verify(dir);
    return s;
  };
  for (const r of c.runners) await once(r); // warm the disk cache and Deno's module cache
  const samples = new Map<string, Sample[]>(c.runners.map((r) => [r.name, []]));
  for (let i = 0; i < reps; i++) {
    for (const r of c.runners) samples.get(r.name)!.push(await once(r));
  }
  const rows = c.runners.map((r) => {
    const ss = samples.get(r.name)!;
    const times = ss.map((s) => s.seconds);
    const rss = ss.flatMap((s) => (s.rssKiB !== undefined ? [s.rssKiB] : []));
    const med = median(times);
    return {
      case: c.name,
      runner: r.name,
      tasks: c.tasks,
      median: med,
      min: Math.min(...times),
      times,
      msPerTask: (1000 * med) / c.tasks,
      ...(rss.length ? { rssMiB: Math.max(...rss) / 1024 } : {}),
    };
  });
  const ferry = rows[0]!;
  return rows.map((r, i) =>
    i === 0 ? r : {
      ...r,
      ferryRatio: ferry.median / r.median,
      ferryRatioMin: ferry.min / r.min,
    }
  );
}

function table(rows: readonly Row[]): string {
  const head = [
    "case",
    "runner",
    "tasks",
    "median s",
    "min s",
    "ms/task",
    "peak RSS MiB",
    "ferry ÷ runner",
  ];
  const body = rows.map((r) => [
    r.case,
    r.runner,
    r.tasks.toLocaleString("en"),
    r.median.toFixed(3),
    r.min.toFixed(3),
    r.msPerTask.toFixed(2),
    r.rssMiB !== undefined ? r.rssMiB.toFixed(0) : "n/a",
    r.ferryRatio !== undefined
      ? `${r.ferryRatio.toFixed(2)}× (min ${r.ferryRatioMin!.toFixed(2)}×)`
      : "—",
  ]);
  const left = (c: number) => c <= 1 || c === 7;
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
  const line = (cells: string[]) =>
    "| " +
    cells.map((x, c) => (left(c) ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join(" | ") +
    " |";
  return [
    line(head),
    "| " +
    widths.map((w, c) => (left(c) ? "-".repeat(w) : "-".repeat(w - 1) + ":")).join(" | ") +
    " |",
    ...body.map(line),
  ].join("\n");
}

async function version(cmd: string, args: readonly string[]): Promise<string | undefined> {
  try {
    const r = await new Deno.Command(cmd, { args: [...args], stdout: "piped", stderr: "null" })
      .output();
    return r.success ? new TextDecoder().decode(r.stdout).split("\n")[0]!.trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Finds make and GNU parallel (not moreutils' parallel, which takes other options). */
async function findTools(): Promise<Tools> {
  const tools: Tools = {};
  const make = await version("make", ["--version"]);
  if (make) tools.make = make;
  else console.log("note: make is not installed; skipping the make reference");
  const parallel = await version("parallel", ["--will-cite", "--version"]);
  if (parallel?.startsWith("GNU parallel")) tools.parallel = parallel;
  else {
    console.log(
      "note: GNU parallel is not installed; skipping the parallel reference" +
        " (install it with `apt-get install parallel`)",
    );
  }
  return tools;
}

/** Run the benchmark; `args` are the options after the benchmark's name. */
export async function main(args: readonly string[] = []): Promise<void> {
  const o = parseArgs(args);
  const out = join(ROOT, "bench/out");
  await Deno.mkdir(out, { recursive: true });
  const work = await workDir("run-local-", o.dir);
  const cores = navigator.hardwareConcurrency;
  try {
    console.log(
      `bench run_local: ferry run vs make and GNU parallel, -j${JOBS}; sizes ${
        o.sizes.join(", ")
      }, ${o.chunks} chunks; ${o.reps} repetitions (after one warm-up) on ${cores} cores;` +
        ` ${Deno.build.os}/${Deno.build.arch}, deno ${Deno.version.deno}; work in ${work}`,
    );
    if (!(await findGnuTime())) {
      console.log(
        "note: GNU time (/usr/bin/time) is missing, so peak RSS is read by polling /proc/<pid>/status" +
          " VmHWM (of the top process only); install it with `apt-get install time`",
      );
    }
    const tools = await findTools();
    const cases = [
      ...o.sizes.map((n) => independentCase(n, tools)),
      splitMapReduceCase(o.chunks, tools),
    ];
    const rows: Row[] = [];
    for (const c of cases) {
      const t0 = performance.now();
      const r = await runCase(c, o.reps, work);
      rows.push(...r);
      console.log(`  ${c.name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    console.log("\n" + table(rows) + "\n");
    const judged = judge(rows);
    for (const j of judged) {
      console.log(
        j.ratio === undefined
          ? `note: ${j.case} is not judged: no make -j${JOBS} row for it in this run`
          : `${j.met ? "✓" : "✗"} ${j.case}: ferry ${j.ratio.toFixed(2)}× make -j${JOBS} (min ${
            j.ratioMin!.toFixed(2)
          }×); target ≤ ${j.target}×`,
      );
    }
    await Deno.writeTextFile(
      join(out, "run_local.json"),
      JSON.stringify(
        {
          date: new Date().toISOString(),
          cores,
          os: `${Deno.build.os}/${Deno.build.arch}`,
          deno: Deno.version.deno,
          make: tools.make ?? null,
          parallel: tools.parallel ?? null,
          jobs: JOBS,
          reps: o.reps,
          sizes: o.sizes,
          chunks: o.chunks,
          targets: judged,
          rows,
        },
        null,
        2,
      ) + "\n",
    );
    console.log(`results: bench/out/run_local.json${o.keep ? `; runs kept in ${work}` : ""}`);
  } finally {
    if (!o.keep) await Deno.remove(work, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
