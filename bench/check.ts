/**
 * Benchmark of `ferry check` on a 10,000-app workflow.
 *
 * Generates (in a temporary directory) a realistic workflow of N apps in
 * YAML and the same in TOML: chains of steps linked by their files, fan-outs
 * (`for_each` over small param lists) and fan-ins (`apps.X.outputs.Y`),
 * shell and command apps, labels, resources and app dependencies. Then it
 * times `deno run -A main.ts check FILE` as a fresh process, several times,
 * with wall time and peak RSS, next to references measured in the same run:
 * parsing the same file with npm:yaml (or npm:smol-toml) in a fresh
 * `deno run` (`bench/_parse_only.ts`), and PyYAML when Python has it.
 *
 * `--profile` adds one run of each check under `deno run --cpu-prof` and prints
 * where the time goes: the functions with the most self time, and ferry's
 * phases (functions of ferry's own modules) by inclusive time.
 *
 * `deno task bench check [--apps N] [--reps N] [--keep] [--profile]`
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify as stringifyYaml } from "../deps/yaml.ts";
import { stringify as stringifyToml } from "../deps/smol_toml.ts";
import { findGnuTime, repeat, type Row, table } from "./_measure.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** The target of the issue: check of 10,000 apps in under this many seconds. */
export const TARGET_SECONDS = 1.5;

/** Options of {@linkcode main}. */
interface Options {
  apps: number;
  reps: number;
  keep: boolean;
  profile: boolean;
}

function parseArgs(args: readonly string[]): Options {
  const o: Options = { apps: 10_000, reps: 5, keep: false, profile: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${a} needs a positive whole number`);
      return v;
    };
    if (a === "--apps") o.apps = value();
    else if (a === "--reps") o.reps = value();
    else if (a === "--keep") o.keep = true;
    else if (a === "--profile") o.profile = true;
    else throw new Error(`unknown option ${a} (use --apps N, --reps N, --keep, --profile)`);
  }
  return o;
}

// ------------------------------------------------------------ the workflow

/**
 * A workflow of `n` apps in groups of ten. In each group: a fetch of a remote
 * file, a fan-out over the samples, a chain of steps linked by file paths, a
 * fan-in over the fan-out, a second fan-out over chunks × samples, and a
 * summary. Every tenth group ends with a collector gathering the summaries of
 * the ten groups before it (by path), so groups link into a wider graph.
 */
export function generateWorkflow(n: number): Record<string, unknown> {
  const apps: Record<string, Record<string, unknown>> = {};
  const res = (i: number) => ({ cores: 1 + (i % 4), memory: `${1 + (i % 8)}GiB`, walltime: "30m" });
  let i = 0;
  const add = (name: string, app: Record<string, unknown>) => {
    if (i < n) apps[name] = app;
    i++;
  };
  for (let g = 0; i < n; g++) {
    const p = `g${g}`;
    add(`${p}_fetch`, {
      label: `fetch group ${g}`,
      inputs: { ref: "${{ files.reference }}" },
      outputs: { raw: `${p}/raw.fa` },
      command: ["gunzip", "-c", "${{ inputs.ref }}"],
      stdout: "${{ outputs.raw }}",
    });
    add(`${p}_align`, {
      for_each: { sample: "${{ params.samples }}" },
      label: `align ${g} \${{ sample }}`,
      resources: res(g),
      inputs: {
        ref: `${p}/raw.fa`,
        reads: "https://data.example.org/reads/${{ sample }}.fq",
      },
      outputs: { bam: `${p}/aligned/\${{ sample }}.bam` },
      shell:
        "aligner -t ${{ params.threads }} ${{ inputs.ref }} ${{ inputs.reads }} > ${{ outputs.bam }}",
    });
    add(`${p}_merge`, {
      inputs: { bams: `\${{ apps.${p}_align.outputs.bam }}` },
      outputs: { merged: `${p}/merged.bam` },
      command: ["samtools", "merge", "${{ outputs.merged }}", "${{ inputs.bams }}"],
    });
    for (let s = 1; s <= 3; s++) {
      const from = s === 1 ? `${p}/merged.bam` : `${p}/step${s - 1}.dat`;
      add(`${p}_step${s}`, {
        inputs: { data: from },
        outputs: { out: `${p}/step${s}.dat` },
        ...(s % 2 === 1
          ? { shell: `filter --level ${s} \${{ inputs.data }} > \${{ outputs.out }}` }
          : {
            command: [
              "transform",
              "--level",
              String(s),
              "${{ inputs.data }}",
              "${{ outputs.out }}",
            ],
          }),
      });
    }
    add(`${p}_call`, {
      for_each: { chunk: "${{ params.chunks }}", sample: "${{ params.samples }}" },
      label: `call ${g} \${{ chunk }} \${{ sample }}`,
      inputs: { data: `${p}/step3.dat`, bam: `${p}/aligned/\${{ sample }}.bam` },
      outputs: { vcf: `${p}/calls/\${{ chunk }}-\${{ sample }}.vcf` },
      command: [
        "caller",
        "--region",
        "${{ chunk }}",
        "--model",
        "${{ inputs.data }}",
        "${{ inputs.bam }}",
        "-o",
        "${{ outputs.vcf }}",
      ],
    });
    add(`${p}_gather`, {
      inputs: { vcfs: `\${{ apps.${p}_call.outputs.vcf }}` },
      outputs: { table: `${p}/calls.tsv` },
      shell: "cat ${{ inputs.vcfs }} | tabulate > ${{ outputs.table }}",
    });
    add(`${p}_summary`, {
      after: [`${p}_step3`],
      inputs: { table: `${p}/calls.tsv`, table_db: "${{ files.table }}" },
      outputs: { report: `${p}/summary.txt` },
      cache: g % 5 === 0 ? false : true,
      command: ["summarise", "${{ inputs.table }}", "${{ inputs.table_db }}"],
      stdout: "${{ outputs.report }}",
    });
    if (g % 10 === 9) {
      const groups = Array.from({ length: 10 }, (_, k) => `g${g - 9 + k}/summary.txt`);
      add(`${p}_collect`, {
        inputs: { reports: groups },
        outputs: { all: `collected/${g - 9}-${g}.txt` },
        shell: "cat ${{ inputs.reports }} > ${{ outputs.all }}",
      });
    } else {
      add(`${p}_qc`, {
        inputs: { raw: `${p}/raw.fa` },
        outputs: { qc: `${p}/qc.json` },
        command: ["qc", "--json", "${{ inputs.raw }}"],
        stdout: "${{ outputs.qc }}",
      });
    }
  }
  return {
    ferry: 1,
    name: "bench-check",
    description: `A generated workflow of ${n} apps for bench/check.ts`,
    params: { samples: ["s1", "s2", "s3"], chunks: ["chr1", "chr2"], threads: 4 },
    files: {
      reference: "https://data.example.org/ref/genome.fa.gz",
      table: "https://data.example.org/tables/v3.dat",
    },
    defaults: { executor: "local", retries: 1 },
    apps,
  };
}

async function pythonYaml(): Promise<string | undefined> {
  try {
    const r = await new Deno.Command("python3", {
      args: [
        "-c",
        "import yaml; print('CSafeLoader' if getattr(yaml, '__with_libyaml__', False) else 'SafeLoader')",
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    return r.success ? new TextDecoder().decode(r.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** A V8 CPU profile, as `deno run --cpu-prof` writes it. */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

/** Run `ferry check FILE` once under the CPU profiler and summarise where the time went. */
async function profile(deno: string, file: string, dir: string): Promise<string> {
  const out = await Deno.makeTempDir({ dir, prefix: "cpuprof-" });
  const r = await new Deno.Command(deno, {
    args: [
      "run",
      "-A",
      "--cpu-prof",
      `--cpu-prof-dir=${out}`,
      join(ROOT, "main.ts"),
      "check",
      file,
    ],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).output();
  const name = [...Deno.readDirSync(out)].find((e) => e.name.endsWith(".cpuprofile"))?.name;
  if (!name) return `profile of ${file}: no profile written (exit ${r.code})`;
  const p = JSON.parse(await Deno.readTextFile(join(out, name))) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const root = `file://${ROOT}/`;
  const label = (id: number) => {
    const f = byId.get(id)!.callFrame;
    const where = f.url.startsWith(root)
      ? f.url.slice(root.length)
      : f.url.replace(/^.*\/registry\.npmjs\.org\//, "npm:");
    return `${f.functionName || "(anonymous)"}${where ? ` ${where}:${f.lineNumber + 1}` : ""}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    self.set(label(id), (self.get(label(id)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const l = label(x);
      if (!seen.has(l)) inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
      seen.add(l);
    }
  });
  const top = (m: Map<string, number>, n: number, keep: (l: string) => boolean) =>
    [...m].filter(([l]) => keep(l)).sort((a, b) => b[1] - a[1]).slice(0, n)
      .map(([l, t]) =>
        `  ${(t / 1e6).toFixed(3).padStart(7)} s ${(100 * t / total).toFixed(1).padStart(5)}%  ${l}`
      ).join("\n");
  const ours = (l: string) =>
    / (dsl|interpreter|providers|main\.ts)[/:]/.test(l) && !/_test\.ts/.test(l);
  return [
    `profile of ferry check ${file.split("/").pop()}: ${(total / 1e6).toFixed(2)} s sampled`,
    "most self time:",
    top(self, 12, () => true),
    "ferry's functions by inclusive time (phases):",
    top(inclusive, 16, ours),
  ].join("\n");
}

/**
 * The generated workflow must check without a single diagnostic: one warning makes ferry parse the
 * YAML again for positions (a new lint once did, and the figures doubled unnoticed).
 */
async function assertClean(deno: string, file: string): Promise<void> {
  const r = await new Deno.Command(deno, {
    args: ["run", "-A", join(ROOT, "main.ts"), "check", file],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout);
  if (!r.success || !/ 0 errors, 0 warnings$/m.test(out)) {
    throw new Error(
      `the generated workflow is not clean:\n${out.split("\n").slice(0, 6).join("\n")}`,
    );
  }
}

/** Run the benchmark; `args` are the options after the benchmark's name. */
export async function main(args: readonly string[] = []): Promise<void> {
  const o = parseArgs(args);
  const deno = Deno.execPath();
  const dir = await Deno.makeTempDir({ prefix: "ferry-bench-check-" });
  try {
    const data = generateWorkflow(o.apps);
    const yamlFile = join(dir, "workflow.yaml");
    const tomlFile = join(dir, "workflow.toml");
    await Deno.writeTextFile(yamlFile, stringifyYaml(data, { lineWidth: 0 }));
    await Deno.writeTextFile(tomlFile, stringifyToml(data));
    await assertClean(deno, yamlFile);
    const size = async (f: string) => ((await Deno.stat(f)).size / 2 ** 20).toFixed(1);
    const cores = navigator.hardwareConcurrency;
    console.log(
      `bench check: ${o.apps} apps; workflow.yaml ${await size(
        yamlFile,
      )} MiB, workflow.toml ${await size(
        tomlFile,
      )} MiB; ${o.reps} repetitions (after one warm-up) on ${cores} cores; ${Deno.build.os}/${Deno.build.arch}, deno ${Deno.version.deno}`,
    );
    if (!(await findGnuTime())) {
      console.log(
        "note: GNU time (/usr/bin/time) is missing, so peak RSS is read by polling /proc/<pid>/status VmHWM;" +
          " install it with `apt-get install time` for exact figures",
      );
    }
    const rows: Row[] = [];
    rows.push(await repeat("deno startup (empty script)", deno, ["eval", "0"], o.reps, 0));
    const yamlRef = "npm:yaml parse (deno run)";
    rows.push(
      await repeat(
        yamlRef,
        deno,
        ["run", "-A", join(ROOT, "bench/_parse_only.ts"), yamlFile],
        o.reps,
        0,
      ),
    );
    rows.push(
      await repeat(
        "npm:js-yaml parse (deno run)",
        deno,
        ["run", "-A", join(ROOT, "bench/_parse_only.ts"), "--js-yaml", yamlFile],
        o.reps,
        0,
        yamlRef,
      ),
    );
    const py = await pythonYaml();
    if (py) {
      rows.push(
        await repeat(
          `PyYAML ${py} (python3)`,
          "python3",
          ["-c", `import sys, yaml; yaml.load(open(sys.argv[1]), Loader=yaml.${py})`, yamlFile],
          o.reps,
          0,
          yamlRef,
        ),
      );
    } else {
      console.log("note: python3 with PyYAML is not available; skipping the PyYAML reference");
    }
    rows.push(
      await repeat(
        "ferry check workflow.yaml",
        deno,
        ["run", "-A", join(ROOT, "main.ts"), "check", yamlFile],
        o.reps,
        0,
        yamlRef,
      ),
    );
    const tomlRef = "npm:smol-toml parse (deno run)";
    rows.push(
      await repeat(
        tomlRef,
        deno,
        ["run", "-A", join(ROOT, "bench/_parse_only.ts"), tomlFile],
        o.reps,
        0,
      ),
    );
    rows.push(
      await repeat(
        "ferry check workflow.toml",
        deno,
        ["run", "-A", join(ROOT, "main.ts"), "check", tomlFile],
        o.reps,
        0,
        tomlRef,
      ),
    );
    console.log("\n" + table(rows) + "\n");
    for (const name of ["ferry check workflow.yaml", "ferry check workflow.toml"]) {
      const r = rows.find((x) => x.name === name)!;
      const ok = r.median < TARGET_SECONDS;
      console.log(
        `${ok ? "✓" : "✗"} ${name}: median ${r.median.toFixed(3)} s ${
          ok ? "<" : "≥"
        } target ${TARGET_SECONDS} s for ${o.apps} apps`,
      );
    }
    const out = join(ROOT, "bench/out");
    await Deno.mkdir(out, { recursive: true });
    await Deno.writeTextFile(
      join(out, "check.json"),
      JSON.stringify(
        { date: new Date().toISOString(), apps: o.apps, reps: o.reps, cores, rows },
        null,
        2,
      ) + "\n",
    );
    console.log(`results: bench/out/check.json${o.keep ? `; files kept in ${dir}` : ""}`);
    if (o.profile) {
      for (const f of [yamlFile, tomlFile]) console.log("\n" + await profile(deno, f, dir));
    }
  } finally {
    if (!o.keep) await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
