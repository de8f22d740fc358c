/**
 * Shared by the benchmarks: run a command as a fresh process, time it from
 * spawn to exit, take its peak RSS (GNU time, else /proc's VmHWM), repeat,
 * and print a table with each case's ratio to its reference.
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (benchmarks run ferry from here). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** One timed process run. */
export interface Sample {
  readonly seconds: number;
  /** Peak resident set size in KiB, when it could be measured. */
  readonly rssKiB?: number;
  readonly code: number;
  readonly stderr: string;
}

let gnuTime: string | undefined | null = null;

/** GNU time's path, or undefined (then RSS comes from polling /proc). */
export async function findGnuTime(): Promise<string | undefined> {
  if (gnuTime !== null) return gnuTime;
  gnuTime = undefined;
  // For testing the fallback on a machine that has GNU time.
  if (Deno.env.get("FERRY_BENCH_NO_GNU_TIME") === "1") return gnuTime;
  try {
    const r = await new Deno.Command("/usr/bin/time", {
      args: ["-f", "%M", "true"],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (r.success && /^\d+\s*$/.test(new TextDecoder().decode(r.stderr))) gnuTime = "/usr/bin/time";
  } catch {
    // not installed
  }
  return gnuTime;
}

async function vmHwm(pid: number): Promise<number | undefined> {
  try {
    const s = await Deno.readTextFile(`/proc/${pid}/status`);
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(s);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Run `cmd args` once: wall time from spawn to exit, and peak RSS. The command's standard error
 * goes to a file, read once it ended: a pipe read by this process as the command writes would
 * charge the command with this process's work on the same cores (ferry's progress lines: two per
 * task).
 */
export async function measure(
  cmd: string,
  args: readonly string[],
  cwd: string = ROOT,
): Promise<Sample> {
  const time = await findGnuTime();
  const dec = new TextDecoder();
  if (time) {
    const rssFile = await Deno.makeTempFile({ prefix: "ferry-bench-rss-" });
    const errFile = await Deno.makeTempFile({ prefix: "ferry-bench-stderr-" });
    try {
      const start = performance.now();
      const r = await new Deno.Command("sh", {
        args: [
          "-c",
          'e=$1; shift; exec "$@" 2>"$e"',
          "sh",
          errFile,
          time,
          "-f",
          "%M",
          "-o",
          rssFile,
          cmd,
          ...args,
        ],
        cwd,
        stdout: "null",
        stderr: "null",
        env: { NO_COLOR: "1" },
      }).output();
      const seconds = (performance.now() - start) / 1000;
      const rss = Number((await Deno.readTextFile(rssFile)).trim().split("\n").pop());
      return {
        seconds,
        code: r.code,
        stderr: await Deno.readTextFile(errFile),
        ...(Number.isFinite(rss) ? { rssKiB: rss } : {}),
      };
    } finally {
      await Deno.remove(rssFile).catch(() => {});
      await Deno.remove(errFile).catch(() => {});
    }
  }
  // Fallback: poll /proc/<pid>/status for VmHWM (the kernel's own high-water mark).
  const start = performance.now();
  const child = new Deno.Command(cmd, {
    args: [...args],
    cwd,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let peak: number | undefined;
  let running = true;
  const poll = (async () => {
    while (running) {
      const v = await vmHwm(child.pid);
      if (v !== undefined) peak = Math.max(peak ?? 0, v);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const r = await child.output();
  const seconds = (performance.now() - start) / 1000;
  running = false;
  await poll;
  return {
    seconds,
    code: r.code,
    stderr: dec.decode(r.stderr),
    ...(peak !== undefined ? { rssKiB: peak } : {}),
  };
}

/** A row of the table. */
export interface Row {
  /** What ran. */
  readonly name: string;
  /** Median wall time, seconds. */
  readonly median: number;
  /** Fastest wall time, seconds. */
  readonly min: number;
  /** Largest peak RSS over the repetitions, MiB. */
  readonly rssMiB?: number;
  /** The row this one is compared with. */
  readonly reference?: string;
  /** Exit code of the last run. */
  readonly code: number;
}

export async function repeat(
  name: string,
  cmd: string,
  args: readonly string[],
  reps: number,
  expect: number,
  reference?: string,
): Promise<Row> {
  await measure(cmd, args); // warm the disk cache and Deno's module cache
  const samples: Sample[] = [];
  for (let i = 0; i < reps; i++) {
    const s = await measure(cmd, args);
    if (s.code !== expect) {
      throw new Error(
        `${name}: exit code ${s.code}, expected ${expect}\n${s.stderr.slice(0, 4000)}`,
      );
    }
    samples.push(s);
  }
  return rowOf(name, samples, reference);
}

/** A table row from timed samples: median and fastest time, largest peak RSS. */
export function rowOf(name: string, samples: readonly Sample[], reference?: string): Row {
  const times = samples.map((s) => s.seconds);
  const rss = samples.flatMap((s) => (s.rssKiB !== undefined ? [s.rssKiB] : []));
  return {
    name,
    median: median(times),
    min: Math.min(...times),
    code: samples.at(-1)!.code,
    ...(rss.length ? { rssMiB: Math.max(...rss) / 1024 } : {}),
    ...(reference ? { reference } : {}),
  };
}

/** The results as a Markdown table. */
export function table(rows: readonly Row[]): string {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const head = ["case", "median s", "min s", "peak RSS MiB", "ratio to reference"];
  const body = rows.map((r) => {
    const ref = r.reference ? byName.get(r.reference) : undefined;
    return [
      r.name,
      r.median.toFixed(3),
      r.min.toFixed(3),
      r.rssMiB !== undefined ? r.rssMiB.toFixed(0) : "n/a",
      ref ? `${(r.median / ref.median).toFixed(2)}× ${ref.name}` : "(reference)",
    ];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
  const line = (cells: string[]) =>
    "| " +
    cells.map((x, c) => (c === 0 || c === 4 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join(
      " | ",
    ) +
    " |";
  return [
    line(head),
    "| " +
    widths.map((w, c) => (c === 0 || c === 4 ? "-".repeat(w) : "-".repeat(w - 1) + ":")).join(
      " | ",
    ) + " |",
    ...body.map(line),
  ].join("\n");
}

/**
 * A workflow of `n` tasks, each copying `in/I.txt` to `out/I.txt`, and one reduce concatenating
 * every output to `total.txt` (the resume and report benchmarks run it).
 */
export function copyWorkflowYaml(name: string, n: number): string {
  return [
    "ferry: 1",
    `name: ${name}`,
    "params:",
    `  ids: [${Array.from({ length: n }, (_, i) => i).join(", ")}]`,
    "apps:",
    "  copy:",
    '    for_each: { i: "${{ params.ids }}" }',
    '    inputs: { src: "in/${{ i }}.txt" }',
    '    outputs: { dst: "out/${{ i }}.txt" }',
    "    command: [cp, '${{ inputs.src }}', '${{ outputs.dst }}']",
    "  reduce:",
    '    inputs: { all: "${{ apps.copy.outputs.dst }}" }',
    "    outputs: { total: total.txt }",
    "    shell: cat ${{ inputs.all }} > ${{ outputs.total }}",
    "",
  ].join("\n");
}

/** The median of some numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * A fresh working directory for a benchmark run, under `dir` (default `bench/out`: benchmarks
 * run on the repository's disk, not a tmpfs).
 */
export async function workDir(prefix: string, dir?: string): Promise<string> {
  const base = dir ?? join(ROOT, "bench/out");
  await Deno.mkdir(base, { recursive: true });
  return await Deno.makeTempDir({ dir: base, prefix });
}

/**
 * `--tasks N --reps N --keep --dir DIR`, the options of the benchmarks that make an N-task
 * workflow (`--dir`: where the work goes instead of bench/out/, e.g. a tmpfs).
 */
export function taskBenchArgs(
  name: string,
  args: readonly string[],
  defaults: { readonly n: number; readonly reps: number },
): { n: number; reps: number; keep: boolean; dir?: string } {
  const o: { n: number; reps: number; keep: boolean; dir?: string } = { ...defaults, keep: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--tasks") o.n = Number(args[++i]);
    else if (a === "--reps") o.reps = Number(args[++i]);
    else if (a === "--keep") o.keep = true;
    else if (a === "--dir" && args[i + 1] !== undefined) o.dir = args[++i]!;
    else {
      throw new Error(
        `bench ${name}: unknown option ${a} (--tasks N, --reps N, --keep, --dir DIR)`,
      );
    }
  }
  return o;
}
