/**
 * Seeded fuzz test of `ferry check`.
 *
 * Every valid workflow and site file under `examples/` is mutated, byte by
 * byte and through its parsed structure, into at least 2,000 cases per run.
 * Each case is checked in-process with `cli(["check", ...])`; the check must
 * return 0 or 2, never throw, and never print "internal error" or a stack.
 *
 * The cases run in workers of this same process (this file, loaded again as
 * a worker module), so a case that hangs is reported as a failure instead of
 * hanging the test, and both cores are used.
 *
 * Environment:
 * - `FERRY_FUZZ_SEED`: the seed (decimal or 0x hex); printed on every run.
 * - `FERRY_FUZZ_CASES`: how many cases (default 2,400).
 * - `FERRY_FUZZ_ONLY`: comma-separated case indices: run just those (to reproduce).
 * - `FERRY_FUZZ_WORKERS`: worker count (default: up to 2, one per core).
 * - `FERRY_FUZZ_KEEP=1`: keep the temporary directory of mutated files.
 *
 * A failure names the seed, the case index, the mutation and a file holding
 * the offending input (in a kept copy of the example's folder, so relative
 * data files still resolve), with the command that reproduces it. Case `i`
 * mutates example `i mod N` (examples sorted by path), so replaying by index
 * holds while examples/ is unchanged; the kept file always reproduces.
 *
 * Two more steps: one `deno run -A main.ts check --format json` subprocess
 * on 20 of the mutated workflows at once, and a replay of every recorded
 * crash in `tests/testdata/fuzz_crashes/` (see its README), which fails
 * until the crash is fixed.
 * @module
 */

import { mulberry32 } from "./_services.ts";
import assert from "node:assert/strict";
import { basename, dirname, extname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYamlText, stringify as stringifyYaml } from "../deps/yaml.ts";
import { parse as parseTomlText, stringify as stringifyToml } from "../deps/smol_toml.ts";
import { cli, type CliIO } from "../cli/mod.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const EXAMPLES = join(ROOT, "examples");
const CRASHES = join(ROOT, "tests/testdata/fuzz_crashes");
const WORKER_NAME = "ferry-fuzz-worker";
const DEFAULT_SEED = 0x5eed_f17e;
const DEFAULT_CASES = 2400;
/** A case that takes longer than this is reported as a hang. */
const HANG_MS = 20_000;
/** Stack-trace lines, as V8 prints them. */
const STACK_LINE = /\n\s+at /;

// ---------------------------------------------------------------- randomness

/** The seed of one case: every case is reproducible on its own. */
function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

class Rng {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }
  /** A float in [0, 1). */
  float(): number {
    return this.#next();
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.#next() * (hi - lo + 1));
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.#next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("pick from an empty list");
    return xs[Math.floor(this.#next() * xs.length)]!;
  }
  /** Pick by weight. */
  weighted<T>(xs: readonly (readonly [T, number])[]): T {
    const total = xs.reduce((s, [, w]) => s + w, 0);
    let r = this.#next() * total;
    for (const [x, w] of xs) if ((r -= w) < 0) return x;
    return xs[xs.length - 1]![0];
  }
}

// ---------------------------------------------------------------- targets

type Format = "yaml" | "toml";

/** One example to mutate: a workflow (with its sibling site, if any) or a site file. */
interface Target {
  readonly kind: "workflow" | "site";
  /** Path relative to the repository root, e.g. examples/frames/site.yaml. */
  readonly source: string;
  readonly format: Format;
  /** The example's folder, copied into the temporary directory. */
  readonly copyDir: string;
  /** File name of the example inside its folder. */
  readonly name: string;
  /** For a workflow: the sibling site file it is checked with. For a site: the workflow. */
  readonly partner?: string;
}

function formatOf(file: string): Format | undefined {
  const e = extname(file).toLowerCase();
  return e === ".toml" ? "toml" : e === ".yaml" || e === ".yml" ? "yaml" : undefined;
}

function parseText(text: string, format: Format): unknown {
  return format === "yaml" ? parseYamlText(text) : parseTomlText(text);
}

async function walk(dir: string, out: string[] = []): Promise<string[]> {
  const entries = [];
  for await (const e of Deno.readDir(dir)) entries.push(e);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    if (e.name === ".ferry" || e.name === "node_modules") continue;
    const p = join(dir, e.name);
    if (e.isDirectory) await walk(p, out);
    else if (e.isFile && formatOf(e.name)) out.push(p);
  }
  return out;
}

function captureIO(): CliIO & { text(): string } {
  let buf = "";
  return {
    stdout: (s) => (buf += s),
    stderr: (s) => (buf += s),
    color: false,
    text: () => buf,
  };
}

async function checkCode(args: string[]): Promise<number> {
  try {
    return await cli(args, captureIO());
  } catch {
    return -1;
  }
}

/** Find every valid example workflow and site file (a site is valid with some sibling workflow). */
async function discoverTargets(): Promise<
  { targets: Omit<Target, "copyDir">[]; skipped: string[] }
> {
  const files = await walk(EXAMPLES);
  const kinds = new Map<string, "workflow" | "site">();
  for (const f of files) {
    try {
      const v = parseText(await Deno.readTextFile(f), formatOf(f)!) as Record<string, unknown>;
      if (v && typeof v === "object" && "ferry-site" in v) kinds.set(f, "site");
      else if (v && typeof v === "object" && "ferry" in v) kinds.set(f, "workflow");
    } catch {
      // not parseable: not a valid example
    }
  }
  const targets: Omit<Target, "copyDir">[] = [];
  const skipped: string[] = [];
  const siblings = (f: string, kind: "workflow" | "site") =>
    files.filter((g) => g !== f && dirname(g) === dirname(f) && kinds.get(g) === kind);
  for (const f of files) {
    const kind = kinds.get(f);
    const rel = relative(ROOT, f);
    if (!kind) {
      skipped.push(`${rel} (neither a workflow nor a site file)`);
      continue;
    }
    const base = { kind, source: rel, format: formatOf(f)!, name: basename(f) } as const;
    if (kind === "workflow") {
      if (await checkCode(["check", f]) === 0) targets.push(base);
      else {
        const site = [];
        for (const s of siblings(f, "site")) {
          if (await checkCode(["check", "--site", s, f]) === 0) site.push(s);
        }
        if (site[0]) targets.push({ ...base, partner: basename(site[0]) });
        else skipped.push(`${rel} (not valid, even with a sibling site file)`);
      }
    } else {
      let partner: string | undefined;
      for (const w of siblings(f, "workflow")) {
        if (await checkCode(["check", "--site", f, w]) === 0) {
          partner = basename(w);
          break;
        }
      }
      if (partner) targets.push({ ...base, partner });
      else skipped.push(`${rel} (no sibling workflow is valid with it)`);
    }
  }
  return { targets, skipped };
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.name === ".ferry") continue;
    const a = join(from, e.name), b = join(to, e.name);
    if (e.isDirectory) await copyTree(a, b);
    else if (e.isFile) await Deno.copyFile(a, b);
  }
}

// ---------------------------------------------------------------- mutations

type Data = unknown;
type Path = (string | number)[];
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Set an own property, even one named `__proto__`. */
function define(o: Obj, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
}

function allPaths(v: Data, path: Path = [], out: Path[] = []): Path[] {
  out.push(path);
  if (Array.isArray(v)) v.forEach((x, i) => allPaths(x, [...path, i], out));
  else if (isObj(v)) { for (const k of Object.keys(v)) allPaths(v[k], [...path, k], out); }
  return out;
}

function getAt(root: Data, path: Path): Data {
  let v: Data = root;
  for (const k of path) v = (v as Record<string | number, unknown>)[k];
  return v;
}

function setAt(root: Data, path: Path, value: unknown): void {
  const parent = getAt(root, path.slice(0, -1));
  const k = path[path.length - 1]!;
  if (Array.isArray(parent)) parent[k as number] = value;
  else define(parent as Obj, String(k), value);
}

const show = (p: Path) => p.map(String).join(".") || "(root)";

const TYPOS: readonly ((rng: Rng, s: string) => string)[] = [
  (r, s) => { // swap two adjacent letters
    if (s.length < 2) return s + s;
    const i = r.int(0, s.length - 2);
    return s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2);
  },
  (r, s) => { // drop a letter
    const i = r.int(0, Math.max(0, s.length - 1));
    return s.slice(0, i) + s.slice(i + 1);
  },
  (r, s) => { // double a letter
    const i = r.int(0, Math.max(0, s.length - 1));
    return s.slice(0, i) + (s[i] ?? "x") + s.slice(i);
  },
  (r, s) => { // replace a letter
    const i = r.int(0, Math.max(0, s.length - 1));
    return s.slice(0, i) + r.pick([..."aeiouxz_-"]) + s.slice(i + 1);
  },
  (_, s) => s.toUpperCase(),
  (_, s) => s.includes("_") ? s.replace(/_/g, "-") : s.replace(/-/g, "_") + "_",
  (_, s) => s + "s",
  (_, s) => ` ${s} `,
  (r) =>
    r.pick([
      "__proto__",
      "constructor",
      "toString",
      "hasOwnProperty",
      "prototype",
      "",
      " ",
      "a.b",
      "x y",
      "ünïcödé",
      "😀",
      "0",
      "-1",
      "${{ params }}",
      "valueOf",
    ]),
];

const STRINGS: readonly string[] = [
  "",
  " ",
  "x",
  "${{",
  "}}",
  "%",
  "%zz",
  "%E0%A4",
  "file:///%E0%A4/x",
  "file:///tmp/%zz",
  "file://host/x",
  "file:",
  "http://",
  "https://[::1",
  "https://exa mple.org/x",
  "ftp:x",
  "s3://",
  "chirp://h/x",
  "c:\\windows\\x",
  "~/x",
  "/etc/passwd",
  "../../escape",
  "a/../../b",
  "./",
  ".",
  "..",
  "(((",
  ":host(",
  "*://[",
  "https://*:999999/",
  "https://*/:a(\\d+",
  "{",
  "*",
  "**/*",
  "[",
  "\\",
  "4XiB",
  "-1GiB",
  "1e400GiB",
  "99999999999999999999TiB",
  "25:61:61",
  "-5m",
  "1.5.5h",
  "0",
  "NaN",
  "null",
  "true",
  "./steps.ts#run",
  "./nope.ts#",
  "npm:x#y",
  "#",
  "$(rm -rf /)",
  "'; echo pwned",
  "\u202e\u200b\ufeff",
  "line\nbreak",
  "tab\there",
  "\u2028",
  "😀",
  "İı",
];

const OTHER_VALUES: readonly (() => unknown)[] = [
  () => 42,
  () => -1,
  () => 0,
  () => 3.5,
  () => 1e300,
  () => Number.MAX_SAFE_INTEGER + 2,
  () => -0,
  () => Infinity,
  () => true,
  () => false,
  () => null,
  () => "",
  () => [],
  () => ({}),
  () => [1, "a", null, true],
  () => ({ x: 1, y: [2] }),
  () => [[[]]],
  () => ({ path: "a.txt", glob: "*.txt" }),
  () => ({ glob: "g/*" }),
  () => ({ dir: "d" }),
  () => ({ path: "t.txt", temp: true, checksum: "sha256:zz" }),
  () => ({ url: "https://x.example/f" }),
  () => "12345678901234567890",
];

function templates(data: Data, rng: Rng): string {
  const apps = isObj(data) && isObj(data.apps) ? Object.keys(data.apps) : [];
  const app = apps.length ? rng.pick(apps) : "nope";
  const a = isObj(data) && isObj(data.apps) ? data.apps[app] : undefined;
  const outs = isObj(a) && isObj(a.outputs) ? Object.keys(a.outputs) : [];
  const out = outs.length ? rng.pick(outs) : "o";
  const params = isObj(data) && isObj(data.params) ? Object.keys(data.params) : [];
  const param = params.length ? rng.pick(params) : "x";
  return rng.pick([
    "${{",
    "${{ }}",
    "${{}}",
    "${{ params.x.y[3] }}",
    "${{ apps.nope.outputs.o }}",
    `\${{ apps.${app}.outputs.${out} }}`,
    `\${{ apps.${app}.outputs.${out}[99] }}`,
    `\${{ apps.${app}.outputs.${out}.stem }}`,
    `\${{ apps.${app}.outputs.nope }}`,
    `\${{ apps.${app} }}`,
    "${{ apps }}",
    `\${{ params.${param} }}`,
    `\${{ params.${param}[0] }}`,
    `\${{ params.${param}[99999999999999999999] }}`,
    `\${{ params.${param}.stem }}`,
    "${{ params }}",
    "${{ inputs.nope }}",
    "${{ outputs.x }}",
    "${{ resources.cores }}",
    "${{ task.id }}",
    "${{ task.attempt }}",
    "${{ files.genome.path }}",
    "${{ files }}",
    "${{ frame.stem }}",
    "${{ sample }}",
    "${{ word }}",
    "${{ a..b }}",
    "${{ 0 }}",
    "${{ x[ }}",
    "${{ x[-1] }}",
    "${{ params.__proto__ }}",
    "${{ constructor }}",
    "${{ params.constructor.name }}",
    "${{ toString }}",
    "${{ __proto__.x }}",
    "${{ ${{ params }} }}",
    "$${{ params }}",
    "${{ params.}}",
    "${{ params ; rm -rf / }}",
    "${{ params.x }",
    "${ params.x }",
    "{{ params.x }}",
  ]);
}

interface Mutated {
  readonly text: string | Uint8Array;
  readonly mutation: string;
}

const DEEP_TOKEN = /["']?FUZZDEEP(\d+)([LM])X["']?/g;

/** Structure-aware mutations: change the parsed data. Each returns a description. */
const STRUCT: readonly (readonly [string, number, (d: Obj, r: Rng, fmt: Format) => string])[] = [
  ["delete-key", 10, (d, r) => {
    const ps = allPaths(d).filter((p) => p.length > 0 && isObj(getAt(d, p.slice(0, -1))));
    if (!ps.length) return "delete-key(none)";
    const p = r.pick(ps);
    delete (getAt(d, p.slice(0, -1)) as Obj)[String(p[p.length - 1])];
    return `delete-key(${show(p)})`;
  }],
  ["rename-key", 10, (d, r) => {
    const ps = allPaths(d).filter((p) => p.length > 0 && isObj(getAt(d, p.slice(0, -1))));
    if (!ps.length) return "rename-key(none)";
    const p = r.pick(ps);
    const parent = getAt(d, p.slice(0, -1)) as Obj;
    const old = String(p[p.length - 1]);
    let name = r.pick(TYPOS)(r, old);
    if (name === old) name = old + "_";
    const entries = Object.entries(parent);
    for (const k of Object.keys(parent)) delete parent[k];
    for (const [k, v] of entries) define(parent, k === old ? name : k, v);
    return `rename-key(${show(p)} → ${JSON.stringify(name)})`;
  }],
  ["retype", 12, (d, r) => {
    const ps = allPaths(d).filter((p) => p.length > 0);
    const p = r.pick(ps);
    const v = r.chance(0.35) ? r.pick(STRINGS) : r.pick(OTHER_VALUES)();
    setAt(d, p, v);
    return `retype(${show(p)} = ${JSON.stringify(v)})`;
  }],
  ["template", 14, (d, r) => {
    const ps = allPaths(d).filter((p) => p.length > 0);
    const strs = ps.filter((p) => typeof getAt(d, p) === "string");
    const p = strs.length && r.chance(0.8) ? r.pick(strs) : r.pick(ps);
    const t = templates(d, r);
    const old = getAt(d, p);
    const v = typeof old === "string" && r.chance(0.5)
      ? r.chance(0.5) ? old + t : t + old
      : r.chance(0.2)
      ? [t, t]
      : t;
    setAt(d, p, v);
    return `template(${show(p)} = ${JSON.stringify(v).slice(0, 120)})`;
  }],
  ["empty-list", 6, (d, r) => {
    const ps = allPaths(d).filter((p) => p.length > 0 && typeof getAt(d, p) === "object");
    if (!ps.length) return "empty-list(none)";
    const p = r.pick(ps);
    const v = getAt(d, p);
    setAt(d, p, Array.isArray(v) || r.chance(0.3) ? [] : {});
    return `empty-list(${show(p)})`;
  }],
  ["nest-deeply", 5, (d, r) => {
    const p = r.pick(allPaths(d).filter((p) => p.length > 0));
    const depth = r.pick([8, 64, 512, 3000]);
    const kind = r.chance(0.5) ? "L" : "M";
    setAt(d, p, `FUZZDEEP${depth}${kind}X`);
    return `nest-deeply(${show(p)}, ${depth} ${kind === "L" ? "lists" : "mappings"})`;
  }],
  ["huge-string", 3, (d, r) => {
    const p = r.pick(allPaths(d).filter((p) => p.length > 0));
    const n = r.pick([10_000, 100_000, 1_000_000]);
    const unit = r.pick(["x", "ab/", "${{ params }}", "${{ x }}", "é", "../"]);
    const v = unit.repeat(Math.ceil(n / unit.length));
    if (r.chance(0.2)) {
      const parent = getAt(d, p.slice(0, -1));
      if (isObj(parent)) {
        define(parent, v.slice(0, r.pick([1000, 50_000])), 1);
        return `huge-key(in ${show(p.slice(0, -1))}, ${unit}×)`;
      }
    }
    setAt(d, p, v);
    return `huge-string(${show(p)}, ${v.length} chars of ${JSON.stringify(unit)})`;
  }],
  ["dotdot", 6, (d, r) => {
    const strs = allPaths(d).filter((p) => p.length > 0 && typeof getAt(d, p) === "string");
    if (!strs.length) return "dotdot(none)";
    const p = r.pick(strs);
    const old = getAt(d, p) as string;
    const v = r.pick([
      `../${old}`,
      `../../../etc/${old}`,
      `${old}/../../..`,
      `/abs/${old}`,
      `a/../../${old}`,
      `file:///../${old}`,
      `file:///${old}`,
      `~/${old}`,
      `./././${old}`,
      `${old}/..`,
    ]);
    setAt(d, p, v);
    return `dotdot(${show(p)} = ${JSON.stringify(v).slice(0, 120)})`;
  }],
  ["version", 4, (d, r) => {
    const key = "ferry-site" in d ? "ferry-site" : "ferry";
    const v = r.pick<unknown>([2, 0, -1, 1.5, "1", null, 999999999999, [1]]);
    d[key] = v;
    return `version(${key} = ${JSON.stringify(v)})`;
  }],
  ["duplicate-app", 4, (d, r) => {
    const apps = isObj(d.apps) ? d.apps : isObj(d.executors) ? d.executors : undefined;
    if (!apps || !Object.keys(apps).length) return "duplicate-app(none)";
    const name = r.pick(Object.keys(apps));
    const copy = structuredClone(apps[name]);
    const to = r.chance(0.3) ? r.pick(TYPOS)(r, name) : `${name}_copy`;
    define(apps, to, copy);
    return `duplicate(${name} → ${JSON.stringify(to)})`;
  }],
  ["cycle", 3, (d, r) => {
    if (!isObj(d.apps)) return "cycle(none)";
    const names = Object.keys(d.apps).filter((n) => isObj((d.apps as Obj)[n]));
    if (!names.length) return "cycle(none)";
    const a = r.pick(names), b = r.pick(names);
    const A = (d.apps as Obj)[a] as Obj, B = (d.apps as Obj)[b] as Obj;
    const outOf = (x: Obj) => isObj(x.outputs) && Object.keys(x.outputs)[0] || "o";
    if (!isObj(A.inputs)) A.inputs = {};
    if (!isObj(B.inputs)) B.inputs = {};
    define(A.inputs as Obj, "cyc", `\${{ apps.${b}.outputs.${outOf(B)} }}`);
    define(B.inputs as Obj, "cyc", `\${{ apps.${a}.outputs.${outOf(A)} }}`);
    if (r.chance(0.5)) A.after = [b];
    return `cycle(${a} ⇄ ${b})`;
  }],
  ["for-each", 4, (d, r) => {
    if (!isObj(d.apps)) return "for-each(none)";
    const names = Object.keys(d.apps).filter((n) => isObj((d.apps as Obj)[n]));
    if (!names.length) return "for-each(none)";
    const a = r.pick(names);
    const vars: Obj = {};
    for (let i = r.int(1, 3); i > 0; i--) {
      const n = r.int(0, 12);
      define(
        vars,
        r.pick(["a", "b", "sample", "word", "frame", "params", "inputs", "apps", "task"]),
        r.chance(0.7)
          ? Array.from({ length: n }, (_, j) => r.chance(0.8) ? `v${j}` : j)
          : templates(d, r),
      );
    }
    ((d.apps as Obj)[a] as Obj).for_each = vars;
    return `for-each(${a} = ${JSON.stringify(vars).slice(0, 120)})`;
  }],
  ["add-key", 4, (d, r) => {
    const objs = allPaths(d).filter((p) => isObj(getAt(d, p)));
    const p = r.pick(objs);
    const k = r.pick([
      "extra",
      "x-extra",
      "__proto__",
      "constructor",
      "password",
      "token",
      "",
      "apps",
    ]);
    const v = r.chance(0.5) ? r.pick(STRINGS) : r.pick(OTHER_VALUES)();
    define(getAt(d, p) as Obj, k, v);
    return `add-key(${show([...p, k])} = ${JSON.stringify(v)})`;
  }],
  ["url-twist", 8, (d, r) => {
    const strs = allPaths(d).filter((p) => p.length > 0 && typeof getAt(d, p) === "string");
    if (!strs.length) return "url-twist(none)";
    const p = r.pick(strs);
    const old = getAt(d, p) as string;
    const v = r.pick<(s: string) => string>([
      (s) => s.replace(/([^/])$/, "$1%20%E0%A4%zz"),
      (s) => s.replace(/\/([^/]*)$/, "/%2F..%2F$1"),
      (s) => s.replace(/\/([^/]*)$/, "/ünï cödé $1"),
      (s) => `${s}?q=1&r=%00#frag`,
      (s) => s.replace(/^(\w+):\/\/([^/]*)/, "$1://user:pw@$2:65535"),
      (s) => s.replace(/^(\w+):\/\/([^/]*)/, "$1://[::1]"),
      (s) => s.replace(/^(\w+):\/\/([^/]*)/, "$1://xn--nxasmq6b.例え.テスト"),
      (s) => s.replace(/\//g, "//"),
      (s) => `${s}/`,
      (s) => s.replace(/\//g, "/./"),
      (s) => `./${s}`,
      (s) => s.replace(/^file:\/\//, "file://localhost"),
      (s) => s.toUpperCase(),
      (s) => s.replace(/\$\{\{ *([\w.]+) *\}\}/, "${{ $1 }}${{ $1 }}"),
      (s) => s.replace(/\.(\w+)$/, ".$1.$1.gz"),
    ])(old);
    setAt(d, p, v);
    return `url-twist(${show(p)} = ${JSON.stringify(v).slice(0, 120)})`;
  }],
  ["site-rule", 5, (d, r) => {
    if (!isObj(d.executors)) d.executors = {};
    const exs = d.executors as Obj;
    const names = Object.keys(exs).filter((n) => isObj(exs[n]));
    const name = names.length && r.chance(0.8) ? r.pick(names) : r.pick(["local", "cluster", "x"]);
    if (!isObj(exs[name])) define(exs, name, { provider: r.pick(["local", "slurm", "ssh"]) });
    const ex = exs[name] as Obj;
    const what = r.int(0, 3);
    if (what === 0) {
      ex.filesystem = r.pick(["shared", "executor-shared", "none", "nfs"]);
      return `site-rule(${name}.filesystem = ${ex.filesystem})`;
    }
    if (what === 1) {
      ex.scratch = r.pick(["${SLURM_TMPDIR}", "/tmp/x", "${NOPE}", "", "~", "$TMPDIR/a b"]);
      ex.bundle = r.pick(["array", "none"]);
      return `site-rule(${name}.scratch = ${ex.scratch}, bundle = ${ex.bundle})`;
    }
    const rule: Obj = {
      match: r.pick([
        "file:///*",
        "file:///cvmfs/*",
        "https://:host/*",
        "https://*",
        "chirp://:host(.+)/*",
        "*://*/:rest*",
        "file:///:dir/:name.:ext",
        "(https|http)://*",
        "https://*/a%20b/*",
        "file:///ünï/*",
        "ftp://:user@:host/*",
        "{https,http}://*",
        "file:///*/:last",
      ]),
      action: r.pick([
        "shared",
        "skip",
        "rewrite",
        "scratch",
        "http",
        "https",
        "ftp",
        "sftp",
        "rsync",
        "./x.ts",
      ]),
    };
    if (rule.action === "rewrite" || r.chance(0.2)) {
      rule.to = r.pick([
        "/mnt/:host/:0",
        "/x/:name.:ext",
        "/:rest",
        "/chirp/:0",
        "/:nope",
        "relative/:0",
      ]);
    }
    if (!Array.isArray(ex.staging)) ex.staging = [];
    const list = ex.staging as unknown[];
    list.splice(r.int(0, list.length), 0, rule);
    return `site-rule(${name}.staging += ${JSON.stringify(rule)})`;
  }],
  ["swap-values", 3, (d, r) => {
    const ps = allPaths(d).filter((p) => p.length > 0);
    const a = r.pick(ps), b = r.pick(ps);
    if (a.length >= b.length && show(a).startsWith(show(b))) return "swap-values(nested)";
    if (b.length >= a.length && show(b).startsWith(show(a))) return "swap-values(nested)";
    const va = structuredClone(getAt(d, a)), vb = structuredClone(getAt(d, b));
    setAt(d, a, vb);
    setAt(d, b, va);
    return `swap-values(${show(a)} ⇄ ${show(b)})`;
  }],
];

/** Bytes from strings, with a few of the more hostile characters. */
const UNICODE = [
  "\ufeff",
  "\u200b",
  "\u2028",
  "\u2029",
  "\u0085",
  "\u00a0",
  "\u202e",
  "😀",
  "\u0301",
  "\uffff",
  "\ud800",
  "漢字",
  "İ",
  "\u3000",
  "\ufffd",
];

const YAML_SPECIALS = [
  "a: &a [x, x, x]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n",
  "base: &base { executor: local }\nmerged:\n  <<: *base\n",
  "bin: !!binary aGVsbG8=\n",
  "set: !!set { a, b }\n",
  "om: !!omap [ a: 1 ]\n",
  "when: 2026-11-21T10:00:00Z\n",
  "tag: !custom x\n",
  "? [complex, key]\n: v\n",
  "---\nferry: 1\n",
  "...\n",
  "%YAML 1.1\n---\n",
  "x: *undefined_alias\n",
  "n: 0x1F\nm: .nan\no: -.inf\n",
  "long: >-\n  folded\n  text\n",
  "k: 'unterminated\n",
  "- list at top\n",
];

const TOML_SPECIALS = [
  "when = 2026-11-21T10:00:00Z\n",
  "d = 2026-11-21\n",
  "t = 10:00:00\n",
  "n = nan\ni = -inf\n",
  "h = 0xDEADBEEF\nb = 0b1010\no = 0o777\n",
  "big = 99999999999999999999\n",
  "[[arr]]\nx = 1\n[[arr]]\nx = 2\n",
  "[apps.count]\n",
  "'quoted key' = 1\n\"a.b\" = 2\n",
  "s = '''\nmulti\n'''\n",
  'e = "\\u0000\\uD800"\n',
  "inline = { a = { b = { c = [] } } }\n",
  "x.y.z = 1\n",
  "[a\n",
  "=\n",
];

function byteMutation(bytes: Uint8Array, r: Rng, fmt: Format): { bytes: Uint8Array; what: string } {
  const enc = new TextEncoder();
  const b = [...bytes];
  const pos = () => r.int(0, b.length);
  const lines = () => new TextDecoder().decode(new Uint8Array(b)).split("\n");
  const fromLines = (ls: string[]) => [...enc.encode(ls.join("\n"))];
  const op = r.weighted<string>([
    ["flip", 6],
    ["insert-byte", 8],
    ["delete", 8],
    ["insert-nul", 2],
    ["truncate", 6],
    ["duplicate-line", 8],
    ["swap-lines", 8],
    ["unicode", 6],
    ["indent", 10],
    ["crlf", 2],
    ["invalid-utf8", 2],
    ["special", 8],
    ["delete-line", 6],
  ]);
  let out = b;
  let what: string = op;
  switch (op) {
    case "flip": {
      const n = r.int(1, 4);
      for (let i = 0; i < n && b.length; i++) {
        const at = r.int(0, b.length - 1);
        b[at] = b[at]! ^ (1 << r.int(0, 7));
      }
      what = `flip(${n} bits)`;
      break;
    }
    case "insert-byte": {
      const at = pos();
      const c = r.chance(0.7)
        ? enc.encode(r.pick([..." \t\n:{}[],\"'#&*!|>-=$.\\%@`?"]))[0]!
        : r.int(0, 255);
      b.splice(at, 0, c);
      what = `insert-byte(${c} @${at})`;
      break;
    }
    case "delete": {
      const at = pos(), n = r.int(1, 16);
      b.splice(at, n);
      what = `delete(${n} @${at})`;
      break;
    }
    case "insert-nul": {
      const at = pos();
      b.splice(at, 0, 0);
      what = `insert-nul(@${at})`;
      break;
    }
    case "truncate": {
      const at = pos();
      out = b.slice(0, at);
      what = `truncate(@${at})`;
      break;
    }
    case "duplicate-line": {
      const ls = lines(), i = r.int(0, ls.length - 1);
      ls.splice(i, 0, ls[i]!);
      out = fromLines(ls);
      what = `duplicate-line(${i + 1})`;
      break;
    }
    case "delete-line": {
      const ls = lines(), i = r.int(0, ls.length - 1);
      ls.splice(i, 1);
      out = fromLines(ls);
      what = `delete-line(${i + 1})`;
      break;
    }
    case "swap-lines": {
      const ls = lines(), i = r.int(0, ls.length - 1), j = r.int(0, ls.length - 1);
      [ls[i], ls[j]] = [ls[j]!, ls[i]!];
      out = fromLines(ls);
      what = `swap-lines(${i + 1}, ${j + 1})`;
      break;
    }
    case "unicode": {
      const s = r.pick(UNICODE), at = pos();
      b.splice(at, 0, ...enc.encode(s));
      what = `unicode(${JSON.stringify(s)} @${at})`;
      break;
    }
    case "indent": {
      const ls = lines(), i = r.int(0, ls.length - 1);
      const how = r.pick(["+1", "+2", "+4", "-1", "-2", "tab", "none"]);
      const l = ls[i]!;
      ls[i] = how === "tab"
        ? l.replace(/^ {1,2}/, "\t")
        : how === "none"
        ? l.trimStart()
        : how.startsWith("+")
        ? " ".repeat(Number(how.slice(1))) + l
        : l.replace(new RegExp(`^ {1,${how.slice(1)}}`), "");
      out = fromLines(ls);
      what = `indent(line ${i + 1} ${how})`;
      break;
    }
    case "crlf": {
      const t = new TextDecoder().decode(new Uint8Array(b));
      const bare = r.chance(0.5);
      out = [...enc.encode(bare ? t.replace(/\n/g, "\r") : t.replace(/\n/g, "\r\n"))];
      what = bare ? "crlf(bare CR)" : "crlf(CRLF)";
      break;
    }
    case "invalid-utf8": {
      const seq = r.pick([[0xc3], [0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [
        0xf4,
        0x90,
        0x80,
        0x80,
      ]]);
      const at = pos();
      b.splice(at, 0, ...seq);
      what = `invalid-utf8(${seq.join(",")} @${at})`;
      break;
    }
    case "special": {
      const s = r.pick(fmt === "yaml" ? YAML_SPECIALS : TOML_SPECIALS);
      const ls = lines();
      const i = r.chance(0.5) ? ls.length : r.int(0, ls.length);
      const ins = s.replace(/\n$/, "").split("\n");
      ls.splice(i, 0, ...ins);
      out = fromLines(ls);
      what = `special(${JSON.stringify(s).slice(0, 60)} @line ${i + 1})`;
      break;
    }
  }
  return { bytes: new Uint8Array(out), what };
}

function deepText(depth: number, kind: string, fmt: Format): string {
  if (kind === "L") return "[".repeat(depth) + "1" + "]".repeat(depth);
  const open = fmt === "yaml" ? "{a: " : "{ a = ";
  return open.repeat(depth) + "1" + " }".repeat(depth);
}

/** TOML has no null: drop null keys, turn null list items into "". */
function tomlSafe(v: unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => x === null || x === undefined ? "" : tomlSafe(x));
  if (isObj(v)) {
    const o: Obj = {};
    for (const [k, x] of Object.entries(v)) {
      if (x !== null && x !== undefined) define(o, k, tomlSafe(x));
    }
    return o;
  }
  return v;
}

function serialise(data: Obj, fmt: Format, r: Rng): { text: string; how: string } {
  let text: string;
  let how: string;
  if (fmt === "yaml") {
    const style = r.weighted<string>([["block", 6], ["flow", 1], ["double-quoted", 1], [
      "indent-4",
      1,
    ]]);
    how = `yaml/${style}`;
    text = stringifyYaml(data, {
      aliasDuplicateObjects: false,
      lineWidth: 0,
      ...(style === "flow" ? { collectionStyle: "flow" as const } : {}),
      ...(style === "double-quoted" ? { defaultStringType: "QUOTE_DOUBLE" as const } : {}),
      ...(style === "indent-4" ? { indent: 4 } : {}),
    });
  } else {
    how = "toml";
    text = stringifyToml(tomlSafe(data) as Obj);
  }
  text = text.replace(DEEP_TOKEN, (_, n: string, k: string) => deepText(Number(n), k, fmt));
  return { text, how };
}

/** Generate case `index`: deterministic in (seed, index) and the target's text. */
function generate(seed: number, index: number, target: Target, original: string): Mutated {
  const r = new Rng(caseSeed(seed, index));
  const bytes = new TextEncoder().encode(original);
  const parts: string[] = [];
  let out: string | Uint8Array = original;
  if (r.chance(0.6)) {
    const data = parseText(original, target.format) as Obj;
    for (let n = r.weighted([[1, 6], [2, 3], [3, 1]]); n > 0; n--) {
      if (Object.keys(data).length === 0) {
        parts.push("(nothing left to mutate)");
        break;
      }
      const [, , fn] = r.weighted(STRUCT.map((m) => [m, m[1]] as const));
      parts.push(fn(data, r, target.format));
    }
    try {
      const s = serialise(data, target.format, r);
      out = s.text;
      parts.push(s.how);
    } catch (e) {
      // The serialiser refused what the mutation made (e.g. too deep): mutate bytes instead.
      parts.push(`serialise-failed(${String((e as Error).message).slice(0, 60)})`);
      out = original;
    }
    if (r.chance(0.1)) {
      const m = byteMutation(new TextEncoder().encode(out), r, target.format);
      out = m.bytes;
      parts.push(m.what);
    }
  } else {
    let b: Uint8Array = bytes;
    for (let n = r.weighted([[1, 6], [2, 3], [4, 1]]); n > 0; n--) {
      const m = byteMutation(b, r, target.format);
      b = m.bytes;
      parts.push(m.what);
    }
    out = b;
  }
  return { text: out, mutation: parts.join(" + ") };
}

// ---------------------------------------------------------------- running a case

interface CaseOutcome {
  readonly index: number;
  readonly target: string;
  readonly mutation: string;
  readonly file: string;
  readonly args: readonly string[];
  readonly code?: number;
  readonly error?: string;
  readonly problem?: string;
  readonly output?: string;
  readonly ms: number;
}

function caseArgs(index: number, seed: number, target: Target, file: string): string[] {
  const r = new Rng(caseSeed(seed ^ 0xa5a5a5a5, index));
  const args = ["check"];
  if (r.chance(0.25)) args.push("--format", r.pick(["json", "github"]));
  if (r.chance(0.15)) args.push("--assume-inputs");
  if (target.kind === "site") args.push("--site", file, join(target.copyDir, target.partner!));
  else {
    if (target.partner) args.push("--site", join(target.copyDir, target.partner));
    args.push(file);
  }
  return args;
}

function caseFile(index: number, target: Target): string {
  const ext = extname(target.name);
  return join(
    target.copyDir,
    `fuzz-${String(index).padStart(5, "0")}-${basename(target.name, ext)}${ext}`,
  );
}

async function runCase(
  seed: number,
  index: number,
  targets: readonly Target[],
  originals: string[],
): Promise<CaseOutcome> {
  const t = index % targets.length;
  const target = targets[t]!;
  const file = caseFile(index, target);
  let m: Mutated;
  try {
    m = generate(seed, index, target, originals[t]!);
  } catch (e) {
    return {
      index,
      target: target.source,
      mutation: "(generation failed)",
      file,
      args: [],
      ms: 0,
      problem: "the fuzzer could not generate this case (a bug in tests/fuzz_test.ts)",
      error: (e as Error)?.stack ?? String(e),
    };
  }
  if (typeof m.text === "string") await Deno.writeTextFile(file, m.text);
  else await Deno.writeFile(file, m.text);
  const args = caseArgs(index, seed, target, file);
  const io = captureIO();
  const start = performance.now();
  const base = { index, target: target.source, mutation: m.mutation, file, args };
  try {
    const code = await cli(args, io);
    const output = io.text();
    const ms = performance.now() - start;
    let problem: string | undefined;
    if (code !== 0 && code !== 2) problem = `exit code ${code} (expected 0 or 2)`;
    else if (/internal error/i.test(output)) problem = `output says "internal error"`;
    else if (STACK_LINE.test(output)) problem = "output contains a stack-trace line";
    return { ...base, code, ms, output, ...(problem ? { problem } : {}) };
  } catch (e) {
    return {
      ...base,
      ms: performance.now() - start,
      problem: "cli() threw",
      error: (e as Error)?.stack ?? String(e),
      output: io.text(),
    };
  }
}

// ---------------------------------------------------------------- worker side

interface StartMessage {
  readonly seed: number;
  readonly targets: readonly Target[];
  /** Case indices for this worker, in order. */
  readonly indices: readonly number[];
}

type WorkerMessage =
  | { readonly type: "begin"; readonly index: number }
  | { readonly type: "done"; readonly outcome: CaseOutcome };

interface WorkerScope {
  name?: string;
  onmessage: ((e: MessageEvent<StartMessage>) => void) | null;
  postMessage(m: WorkerMessage): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;

if (scope.name === WORKER_NAME) {
  scope.onmessage = async (e) => {
    const { seed, targets, indices } = e.data;
    const originals = await Promise.all(
      targets.map((t) => Deno.readTextFile(join(t.copyDir, t.name))),
    );
    for (const index of indices) {
      scope.postMessage({ type: "begin", index });
      const outcome = await runCase(seed, index, targets, originals);
      // Keep messages small: the output only travels when something is wrong.
      const slim = outcome.problem ? outcome : { ...outcome, output: undefined };
      scope.postMessage({ type: "done", outcome: slim as CaseOutcome });
    }
    scope.close();
  };
}

// ---------------------------------------------------------------- test side

function envInt(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  if (v === undefined || v.trim() === "") return fallback;
  const n = Number(v.trim());
  if (!Number.isFinite(n)) throw new Error(`${name}=${v} is not a number`);
  return n >>> 0;
}

/** Run the given case indices over `workers` workers; a hung case is reported and its worker replaced. */
async function runAll(
  seed: number,
  targets: readonly Target[],
  indices: readonly number[],
  workers: number,
): Promise<CaseOutcome[]> {
  const outcomes: CaseOutcome[] = [];
  const queues = Array.from(
    { length: workers },
    (_, w) => indices.filter((_, i) => i % workers === w),
  );
  const runQueue = async (queue: readonly number[]): Promise<void> => {
    let rest = [...queue];
    while (rest.length > 0) {
      const worker = new Worker(import.meta.url, { type: "module", name: WORKER_NAME });
      const hung = await new Promise<number | undefined>((done) => {
        let current: number | undefined;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const arm = () => {
          clearTimeout(timer);
          timer = setTimeout(() => done(current), HANG_MS);
        };
        worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
          const m = e.data;
          if (m.type === "begin") {
            current = m.index;
            arm();
          } else {
            outcomes.push(m.outcome);
            rest = rest.filter((i) => i !== m.outcome.index);
            if (rest.length === 0) {
              clearTimeout(timer);
              done(undefined);
            }
          }
        };
        worker.onerror = (e) => {
          e.preventDefault();
          clearTimeout(timer);
          outcomes.push({
            index: current ?? -1,
            target: "?",
            mutation: "?",
            file: "?",
            args: [],
            ms: 0,
            problem: "the worker died",
            error: e.message,
          });
          done(current);
        };
        worker.postMessage({ seed, targets, indices: rest } satisfies StartMessage);
        arm();
      });
      worker.terminate();
      if (hung !== undefined) {
        if (!outcomes.some((o) => o.index === hung)) {
          const t = targets[hung % targets.length]!;
          const file = caseFile(hung, t);
          let mutation = "(see the file)";
          try {
            const original = await Deno.readTextFile(join(t.copyDir, t.name));
            mutation = generate(seed, hung, t, original).mutation;
          } catch {
            // the description is a convenience
          }
          outcomes.push({
            index: hung,
            target: t.source,
            mutation,
            file,
            args: caseArgs(hung, seed, t, file),
            ms: HANG_MS,
            problem: `no answer within ${HANG_MS / 1000} s (a hang?)`,
          });
        }
        rest = rest.filter((i) => i !== hung);
      }
    }
  };
  await Promise.all(queues.map(runQueue));
  return outcomes.sort((a, b) => a.index - b.index);
}

async function keepFailure(
  o: CaseOutcome,
  targets: readonly Target[],
  into: string,
): Promise<string> {
  const target = targets.find((t) => t.source === o.target);
  if (!target) return o.file;
  const dir = join(into, `case-${String(o.index).padStart(5, "0")}`);
  await Deno.mkdir(dir, { recursive: true });
  // The example's own files (not the other cases), then the offending input.
  for await (const e of Deno.readDir(target.copyDir)) {
    if (e.name.startsWith("fuzz-")) continue;
    const a = join(target.copyDir, e.name);
    if (e.isDirectory) await copyTree(a, join(dir, e.name));
    else await Deno.copyFile(a, join(dir, e.name));
  }
  const kept = join(dir, basename(o.file));
  try {
    await Deno.copyFile(o.file, kept);
  } catch {
    return `${o.file} (not written)`;
  }
  return kept;
}

function describe(o: CaseOutcome, seed: number, kept: string): string {
  const hex = `0x${seed.toString(16)}`;
  const args = o.args.map((a) =>
    a === o.file ? kept : a.startsWith(dirname(o.file)) ? join(dirname(kept), basename(a)) : a
  );
  const detail = (o.error ?? o.output ?? "").split("\n").slice(0, 14)
    .map((l) => `      ${l.length > 240 ? `${l.slice(0, 240)}…` : l}`).join("\n");
  return [
    `case ${o.index} (seed ${hex}) of ${o.target}: ${o.problem}`,
    `    mutation: ${o.mutation}`,
    `    input:    ${kept}`,
    `    run:      deno run -A main.ts ${args.join(" ")}`,
    `    replay:   FERRY_FUZZ_SEED=${hex} FERRY_FUZZ_ONLY=${o.index} deno test -A tests/fuzz_test.ts`,
    detail,
  ].join("\n");
}

if (scope.name !== WORKER_NAME) {
  Deno.test({
    name: "fuzz: ferry check survives mutated examples (exit 0 or 2, no crash, no stack)",
    // Workers are terminated explicitly; their message ports confuse the sanitizers.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const seed = envInt("FERRY_FUZZ_SEED", DEFAULT_SEED);
      const count = envInt("FERRY_FUZZ_CASES", DEFAULT_CASES);
      const only = Deno.env.get("FERRY_FUZZ_ONLY")?.split(",").filter((s) => s.trim()).map(Number);
      const cores = navigator.hardwareConcurrency || 1;
      const workers = Math.max(1, envInt("FERRY_FUZZ_WORKERS", Math.min(2, cores)));
      const hex = `0x${seed.toString(16)}`;
      console.log(
        `fuzz: seed ${hex} · ${
          only ? `cases ${only.join(",")}` : `${count} cases`
        } · ${workers} workers` +
          ` (override with FERRY_FUZZ_SEED, FERRY_FUZZ_CASES, FERRY_FUZZ_ONLY)`,
      );

      const found = await discoverTargets();
      assert.ok(found.targets.length > 0, `no valid example under ${EXAMPLES}`);
      for (const s of found.skipped) console.log(`fuzz: skipping ${s}`);
      const tmp = await Deno.makeTempDir({ prefix: "ferry-fuzz-" });
      const targets: Target[] = [];
      const copies = new Map<string, string>();
      for (const tg of found.targets) {
        const dir = dirname(join(ROOT, tg.source));
        let copy = copies.get(dir);
        if (!copy) {
          copy = join(tmp, `${copies.size}-${basename(dir)}`);
          await copyTree(dir, copy);
          copies.set(dir, copy);
        }
        targets.push({ ...tg, copyDir: copy });
      }
      console.log(
        `fuzz: targets ${
          targets.map((x) => x.source + (x.partner ? ` (with ${x.partner})` : "")).join(", ")
        }`,
      );

      const started = performance.now();
      const indices = only ?? Array.from({ length: count }, (_, i) => i);
      const outcomes = await runAll(seed, targets, indices, workers);
      const secs = (performance.now() - started) / 1000;

      const inProcess = await t.step(`${indices.length} mutated cases, in-process`, async () => {
        const bad = outcomes.filter((o) => o.problem);
        const codes = new Map<string, number>();
        for (const o of outcomes) {
          codes.set(String(o.code ?? "threw"), (codes.get(String(o.code ?? "threw")) ?? 0) + 1);
        }
        const slowest = [...outcomes].sort((a, b) => b.ms - a.ms).slice(0, 5);
        console.log(
          `fuzz: ${outcomes.length} cases in ${secs.toFixed(1)} s; exit codes ${
            [...codes].map(([c, n]) => `${c}×${n}`).join(" ")
          }; slowest:\n${
            slowest.map((o) =>
              `  case ${o.index} ${o.ms.toFixed(0)} ms ${o.target}: ${o.mutation.slice(0, 100)}`
            ).join("\n")
          }`,
        );
        assert.equal(outcomes.length, indices.length, "every case has an outcome");
        if (bad.length === 0) return;
        const into = await Deno.makeTempDir({ prefix: "ferry-fuzz-failures-" });
        const lines = [];
        for (const o of bad) lines.push(describe(o, seed, await keepFailure(o, targets, into)));
        assert.fail(
          `${bad.length} of ${outcomes.length} fuzz cases failed (seed ${hex}; inputs kept in ${into}):\n\n${
            lines.join("\n\n")
          }`,
        );
      });

      const subprocess = await t.step({
        name: "subprocess sanity: 20 mutated workflows in one ferry check",
        // Replaying chosen cases (FERRY_FUZZ_ONLY) leaves too few files for it.
        ignore: only !== undefined,
        fn: async () => {
          const r = new Rng(caseSeed(seed, 0xfffffff));
          const candidates = outcomes.filter((o) =>
            !o.problem && o.args.length > 0 && !o.args.includes("--site") && o.file !== "?"
          );
          const chosen: string[] = [];
          while (chosen.length < 20 && candidates.length > 0) {
            const i = r.int(0, candidates.length - 1);
            chosen.push(candidates.splice(i, 1)[0]!.file);
          }
          assert.ok(chosen.length >= Math.min(20, indices.length / 4), "enough mutated workflows");
          const out = await new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", join(ROOT, "main.ts"), "check", "--format", "json", ...chosen],
            cwd: ROOT,
            stdout: "piped",
            stderr: "piped",
            env: { NO_COLOR: "1" },
          }).output();
          const stdout = new TextDecoder().decode(out.stdout);
          const stderr = new TextDecoder().decode(out.stderr);
          const all = stdout + stderr;
          const msg = `ferry check --format json on ${chosen.length} files exited ${out.code}:\n${
            all.slice(0, 3000)
          }\nfiles:\n${chosen.join("\n")}`;
          assert.ok(out.code === 0 || out.code === 2, msg);
          assert.ok(!/internal error/i.test(all) && !STACK_LINE.test(all), msg);
          assert.doesNotThrow(() => JSON.parse(stdout), `--format json printed JSON\n${msg}`);
        },
      });

      await t.step({
        name: "recorded crashes (tests/testdata/fuzz_crashes/) stay fixed",
        ignore: only !== undefined,
        fn: async () => {
          const bad: string[] = [];
          for (const file of await walk(CRASHES)) {
            if (/\.site\.(ya?ml|toml)$/i.test(file)) continue;
            const site = [".site.yaml", ".site.yml", ".site.toml"]
              .map((e) => file.replace(/\.(ya?ml|toml)$/i, e))
              .find((f) => {
                try {
                  return Deno.statSync(f).isFile;
                } catch {
                  return false;
                }
              });
            const args = ["check", ...(site ? ["--site", site] : []), file];
            const io = captureIO();
            let why: string | undefined;
            try {
              const code = await cli(args, io);
              if (code !== 0 && code !== 2) why = `exit code ${code}`;
              else if (/internal error/i.test(io.text()) || STACK_LINE.test(io.text())) {
                why = "a stack trace or internal error in the output";
              }
            } catch (e) {
              why = `cli() threw ${
                String((e as Error)?.stack ?? e).split("\n").slice(0, 3).join(" ")
              }`;
            }
            if (why) {
              bad.push(
                `${relative(ROOT, file)}: ${why.slice(0, 300)}\n    run: deno run -A main.ts ${
                  args.map((a) => relative(ROOT, a) || a).join(" ")
                }`,
              );
            }
          }
          assert.ok(bad.length === 0, `recorded fuzz crashes still crash:\n${bad.join("\n")}`);
        },
      });

      if (inProcess && subprocess && Deno.env.get("FERRY_FUZZ_KEEP") !== "1") {
        await Deno.remove(tmp, { recursive: true });
      } else console.log(`fuzz: mutated files kept in ${tmp}`);
    },
  });
}
