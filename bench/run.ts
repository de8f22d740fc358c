/**
 * `deno task bench [NAME] [OPTIONS]`: run every benchmark module in bench/
 * that exports `main` (files starting with `_` are helpers), or only the one
 * named, e.g. `deno task bench check --apps 2000`. Options after the name go
 * to that benchmark's `main`.
 * @module
 */

import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const DIR = dirname(fileURLToPath(import.meta.url));

/** A benchmark module. */
interface Bench {
  main(args: readonly string[]): Promise<void> | void;
}

/** The names of the benchmark modules in bench/. */
export async function benchNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(DIR)) {
    if (!e.isFile || !e.name.endsWith(".ts") || e.name.startsWith("_")) continue;
    if (e.name === "run.ts" || e.name.endsWith("_test.ts")) continue;
    names.push(basename(e.name, ".ts"));
  }
  return names.sort();
}

async function load(name: string): Promise<Bench | undefined> {
  const mod = await import(pathToFileURL(join(DIR, `${name}.ts`)).href);
  return typeof mod.main === "function" ? mod as Bench : undefined;
}

if (import.meta.main) {
  const [first, ...rest] = Deno.args;
  const names = await benchNames();
  if (first === "-h" || first === "--help") {
    console.log(`usage: deno task bench [NAME [OPTIONS]]\nbenchmarks: ${names.join(", ")}`);
  } else if (first !== undefined && !first.startsWith("-")) {
    if (!names.includes(first)) {
      console.error(`no benchmark "${first}" in bench/: use one of ${names.join(", ")}`);
      Deno.exit(2);
    }
    const bench = await load(first);
    if (!bench) {
      console.error(`bench/${first}.ts does not export main`);
      Deno.exit(2);
    }
    await bench.main(rest);
  } else {
    let ran = 0;
    for (const name of names) {
      const bench = await load(name);
      if (!bench) continue;
      console.log(`\n=== bench/${name}.ts`);
      await bench.main(Deno.args);
      ran++;
    }
    if (ran === 0) console.log("no benchmark in bench/ exports main");
  }
}
