/**
 * `deno task bench submit`: N calls (default 2,000) of a trivial function, `inc(x) { return x + 1 }`,
 * through `executor("local").submit()`, against Python's `concurrent.futures.ProcessPoolExecutor`
 * (python3, 2 workers) making the same N calls, in the same run.
 *
 * Each side runs as a fresh process that times itself from the executor's creation to its
 * shutdown (every call awaited, workers started and stopped inside the time; the interpreter's
 * own start-up outside it) and prints the seconds. ferry's executor gets `maxWorkers: 2` and a
 * fresh workspace each time (every call runs: none is taken from the record), so each call pays
 * its attempt directory, its logs and its record in the state store. Each side runs once to warm
 * up, then `--reps` times (default 5), interleaved; the table gives the median ms per call, and
 * ferry's ratio to Python. Target (issue 18): ferry ≤ 2 ms a call.
 *
 * `deno task bench submit [--tasks N] [--reps N] [--keep]`
 * @module
 */

import { join } from "node:path";
import { median, ROOT, taskBenchArgs, workDir } from "./_measure.ts";

/** The target: ms per call. */
export const TARGET_MS_PER_CALL = 2;
/** Workers on each side. */
const WORKERS = 2;

/** The ferry side: a script that submits `n` calls and prints the seconds they took. */
export function ferryScript(mod: string): string {
  return [
    `import { executor } from ${JSON.stringify(mod)};`,
    "export function inc(x: number) { return x + 1; }",
    "if (import.meta.main) {",
    "  const n = Number(Deno.args[0]);",
    "  const t0 = performance.now();",
    "  let sum = 0;",
    "  {",
    `    await using ex = executor("local", { workspace: Deno.args[1], maxWorkers: ${WORKERS} });`,
    "    const rs = await Promise.all(Array.from({ length: n }, (_, i) => ex.submit(inc, i)));",
    "    for (const r of rs) sum += r;",
    "  }",
    "  const seconds = (performance.now() - t0) / 1000;",
    "  if (sum !== (n * (n + 1)) / 2) throw new Error(`wrong sum ${sum}`);",
    "  console.log(seconds);",
    "}",
    "",
  ].join("\n");
}

/** The Python side: the same calls through a ProcessPoolExecutor. */
export const PYTHON_SCRIPT = [
  "import sys, time",
  "from concurrent.futures import ProcessPoolExecutor",
  "def inc(x):",
  "    return x + 1",
  "if __name__ == '__main__':",
  "    n = int(sys.argv[1])",
  "    t0 = time.perf_counter()",
  `    with ProcessPoolExecutor(max_workers=${WORKERS}) as ex:`,
  "        rs = [f.result() for f in [ex.submit(inc, i) for i in range(n)]]",
  "    seconds = time.perf_counter() - t0",
  "    assert sum(rs) == n * (n + 1) // 2, sum(rs)",
  "    print(seconds)",
  "",
].join("\n");

/** Run one side once: the seconds it printed. */
async function once(cmd: string, args: readonly string[], cwd: string): Promise<number> {
  const r = await new Deno.Command(cmd, { args: [...args], cwd, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  const seconds = Number(dec.decode(r.stdout).trim().split("\n").at(-1));
  if (!r.success || !Number.isFinite(seconds)) {
    throw new Error(`${cmd} ${args.join(" ")}: exit code ${r.code}\n${dec.decode(r.stderr)}`);
  }
  return seconds;
}

/** Run the benchmark. */
export async function main(args: readonly string[] = []): Promise<void> {
  const o = taskBenchArgs("submit", args, { n: 2_000, reps: 5 });
  const work = await workDir("submit-", o.dir);
  try {
    console.log(`bench submit: ${o.n.toLocaleString("en")} calls of inc(x), ${WORKERS} workers`);
    const script = join(work, "calls.ts");
    await Deno.writeTextFile(script, ferryScript(join(ROOT, "mod.ts")));
    await Deno.writeTextFile(join(work, "calls.py"), PYTHON_SCRIPT);
    let rep = 0;
    const ferry = async () => {
      const ws = join(work, `ws-${rep++}`);
      await Deno.mkdir(ws);
      return await once(Deno.execPath(), ["run", "-A", script, String(o.n), ws], work);
    };
    const python = () => once("python3", ["calls.py", String(o.n)], work);
    await ferry();
    await python();
    const times = { ferry: [] as number[], python: [] as number[] };
    for (let i = 0; i < o.reps; i++) {
      times.ferry.push(await ferry());
      times.python.push(await python());
    }
    const ms = (xs: number[]) => (median(xs) * 1000) / o.n;
    const f = ms(times.ferry), p = ms(times.python);
    const rows = [
      ["case", "ms/call", "ratio to Python"],
      ['ferry executor("local").submit()', f.toFixed(3), (f / p).toFixed(2)],
      [`Python ProcessPoolExecutor (${WORKERS} workers)`, p.toFixed(3), "(reference)"],
    ];
    const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
    const line = (r: string[]) =>
      `| ${r[0]!.padEnd(w[0]!)} | ${r[1]!.padStart(w[1]!)} | ${r[2]!.padEnd(w[2]!)} |`;
    console.log(
      [
        line(rows[0]!),
        `| ${"-".repeat(w[0]!)} | ${"-".repeat(w[1]! - 1)}: | ${"-".repeat(w[2]!)} |`,
        ...rows.slice(1).map(line),
      ]
        .join("\n"),
    );
    const met = f <= TARGET_MS_PER_CALL;
    console.log(
      `target: ≤ ${TARGET_MS_PER_CALL} ms a call: ${met ? "met" : "NOT met"} (${
        f.toFixed(3)
      } ms, median of ${o.reps})`,
    );
  } finally {
    if (!o.keep) await Deno.remove(work, { recursive: true }).catch(() => {});
    else console.log(`kept ${work}`);
  }
}

if (import.meta.main) await main(Deno.args);
