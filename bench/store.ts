/**
 * `deno task bench store`: resuming N finished tasks (default 10,000) from a
 * `file://` result store into an empty workspace, against running them
 * there. Two workflows: no-op tasks (each writes one line) and tasks whose
 * output is 1 MiB (`--mib` sets it; distinct content per task, so no blob is
 * shared). A workspace fills the store once (not timed); then, per
 * repetition, two fresh empty workspaces: one runs every task (`ferry run`),
 * the other restores every task (`ferry run --store`), each timed as a fresh
 * process. The benchmark checks the summaries: N succeeded, then N cached.
 * Options: `--tasks N`, `--reps N` (default 3), `--mib N`, `--only noop|big`,
 * `--keep`.
 * @module
 */

import { join } from "node:path";
import { measure, ROOT, type Row, rowOf, type Sample, table, workDir } from "./_measure.ts";

interface Options {
  n: number;
  reps: number;
  mib: number;
  only?: "noop" | "big";
  keep: boolean;
}

function parseArgs(args: readonly string[]): Options {
  const o: Options = { n: 10_000, reps: 3, mib: 1, keep: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--tasks") o.n = Number(args[++i]);
    else if (a === "--reps") o.reps = Number(args[++i]);
    else if (a === "--mib") o.mib = Number(args[++i]);
    else if (a === "--only" && (args[i + 1] === "noop" || args[i + 1] === "big")) {
      o.only = args[++i] as "noop" | "big";
    } else if (a === "--keep") o.keep = true;
    else {
      throw new Error(
        `bench store: unknown option ${a} (--tasks N, --reps N, --mib N, --only noop|big, --keep)`,
      );
    }
  }
  return o;
}

/** N tasks, each writing `out/I.txt`: one line, or `mib` MiB starting with its number. */
function workflowYaml(n: number, mib: number): string {
  const write = mib === 0
    ? "echo ${{ i }} > ${{ outputs.o }}"
    : `{ echo \${{ i }}; head -c ${mib * 1024 * 1024 - 16} /dev/zero; } > \${{ outputs.o }}`;
  return [
    "ferry: 1",
    `name: store-${n}`,
    "params:",
    `  ids: [${Array.from({ length: n }, (_, i) => i).join(", ")}]`,
    "apps:",
    "  write:",
    '    for_each: { i: "${{ params.ids }}" }',
    '    outputs: { o: "out/${{ i }}.txt" }',
    `    shell: ${JSON.stringify(write)}`,
    "",
  ].join("\n");
}

/** A fresh workspace holding the workflow. */
async function workspace(dir: string, name: string, yaml: string): Promise<string> {
  const ws = join(dir, name);
  await Deno.mkdir(ws, { recursive: true });
  await Deno.writeTextFile(join(ws, "workflow.yaml"), yaml);
  return ws;
}

function ferryArgs(ws: string, store?: string): string[] {
  return [
    "run",
    "-A",
    join(ROOT, "main.ts"),
    "run",
    "--quiet",
    ...(store !== undefined ? ["--store", store] : []),
    join(ws, "workflow.yaml"),
  ];
}

/** Time `reps` runs, each in a fresh empty workspace; the summary must say `expect`. */
async function timed(
  name: string,
  dir: string,
  yaml: string,
  reps: number,
  expect: RegExp,
  store?: string,
  reference?: string,
): Promise<Row> {
  const samples: Sample[] = [];
  for (let i = 0; i < reps; i++) {
    const ws = await workspace(dir, `${store ? "restore" : "run"}-${i}`, yaml);
    const s = await measure(Deno.execPath(), ferryArgs(ws, store));
    if (s.code !== 0 || !expect.test(s.stderr)) {
      throw new Error(`${name}: exit ${s.code}, expected ${expect}\n${s.stderr.slice(0, 4000)}`);
    }
    samples.push(s);
    await Deno.remove(ws, { recursive: true });
  }
  return rowOf(name, samples, reference);
}

/** One workflow: fill the store, then time running against restoring. */
async function benchCase(work: string, label: string, mib: number, o: Options): Promise<Row[]> {
  const dir = join(work, label);
  const yaml = workflowYaml(o.n, mib);
  const store = `file://${join(dir, "store")}`;
  const fill = await workspace(dir, "fill", yaml);
  const first = await measure(Deno.execPath(), ferryArgs(fill, store));
  if (first.code !== 0) throw new Error(first.stderr.slice(0, 4000));
  await Deno.remove(fill, { recursive: true });
  const ran = `ferry run (${label}, runs ${o.n})`;
  return [
    await timed(ran, dir, yaml, o.reps, new RegExp(`done: ${o.n} succeeded, 0 failed`)),
    await timed(
      `ferry run --store (${label}, restores ${o.n})`,
      dir,
      yaml,
      o.reps,
      new RegExp(`done: 0 succeeded, ${o.n} cached, 0 failed`),
      store,
      ran,
    ),
  ];
}

/** Run the benchmark. */
export async function main(args: readonly string[] = []): Promise<void> {
  const o = parseArgs(args);
  const work = await workDir("store-");
  try {
    console.log(
      `bench store: ${
        o.n.toLocaleString("en")
      } tasks restored from a file:// store into an empty workspace, vs run there`,
    );
    const rows: Row[] = [];
    if (o.only !== "big") rows.push(...await benchCase(work, "no-op", 0, o));
    if (o.only !== "noop") rows.push(...await benchCase(work, `${o.mib} MiB outputs`, o.mib, o));
    console.log(table(rows));
    await Deno.mkdir(join(ROOT, "bench/out"), { recursive: true });
    await Deno.writeTextFile(
      join(ROOT, "bench/out/store.json"),
      JSON.stringify({ tasks: o.n, reps: o.reps, mib: o.mib, rows }, null, 2) + "\n",
    );
  } finally {
    if (o.keep) console.log(`kept ${work}`);
    else await Deno.remove(work, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
