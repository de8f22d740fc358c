/**
 * HTTP stage-in against curl, on loopback: one large file (`curl -s -o` vs
 * `stageIn` with `httpStaging`), and many small ones (`xargs -P8 curl -O`
 * vs eight concurrent `stageIn` calls). The server (tests/_http_server.ts)
 * runs in its own process; both clients fetch the same files from it in the
 * same run, interleaved, each into a fresh directory.
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { median, ROOT, workDir } from "./_measure.ts";
import { httpStaging } from "../providers/staging/http.ts";
import { stageIn } from "../providers/staging/transfer.ts";

interface Options {
  reps: number;
  bigMiB: number;
  files: number;
  fileKiB: number;
  jobs: number;
  dir?: string;
  keep: boolean;
}

function parseArgs(args: readonly string[]): Options {
  const o: Options = { reps: 3, bigMiB: 1024, files: 2000, fileKiB: 16, jobs: 8, keep: false };
  const positive = (a: string, s: string | undefined) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${a} needs a positive whole number`);
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--reps") o.reps = positive(a, args[++i]);
    else if (a === "--big-mib") o.bigMiB = positive(a, args[++i]);
    else if (a === "--files") o.files = positive(a, args[++i]);
    else if (a === "--file-kib") o.fileKiB = positive(a, args[++i]);
    else if (a === "--jobs") o.jobs = positive(a, args[++i]);
    else if (a === "--dir") {
      const d = args[++i];
      if (!d) throw new Error("--dir needs a directory");
      o.dir = d;
    } else if (a === "--keep") o.keep = true;
    else {
      throw new Error(
        `unknown option ${a} (use --reps N, --big-mib N, --files N, --file-kib N, --jobs N, --dir DIR, --keep)`,
      );
    }
  }
  return o;
}

/** Pseudo-random bytes (xorshift), fast enough for a GiB and not compressible. */
function fill(buf: Uint8Array, seed: number): void {
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >> 2);
  let x = seed | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
}

async function generate(srv: string, o: Options): Promise<void> {
  const chunk = new Uint8Array(1 << 20);
  {
    using f = await Deno.open(join(srv, "big.bin"), { write: true, create: true });
    for (let i = 0; i < o.bigMiB; i++) {
      fill(chunk, i + 1);
      for (let w = 0; w < chunk.length;) w += await f.write(chunk.subarray(w));
    }
  }
  await Deno.mkdir(join(srv, "small"));
  const small = new Uint8Array(o.fileKiB << 10);
  for (let i = 0; i < o.files; i++) {
    fill(small, 0x9e3779b9 ^ i);
    await Deno.writeFile(join(srv, "small", `f${i}`), small);
  }
}

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  using f = await Deno.open(path);
  for await (const c of f.readable) h.update(c);
  return h.digest("hex");
}

/** Flush dirty pages so that one run's writeback does not slow the next. */
async function settle(): Promise<void> {
  await new Deno.Command("sync").output();
}

async function run(cmd: string, args: string[], cwd: string, stdin?: string): Promise<void> {
  const child = new Deno.Command(cmd, {
    args,
    cwd,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const r = await child.output();
  if (!r.success) {
    throw new Error(
      `${cmd} failed (${r.code}): ${new TextDecoder().decode(r.stderr).slice(0, 2000)}`,
    );
  }
}

async function timed(f: () => Promise<void>): Promise<number> {
  await settle();
  const t = performance.now();
  await f();
  return (performance.now() - t) / 1000;
}

/** Start the file server in its own process; returns its origin and a stop function. */
async function serve(srv: string): Promise<{ origin: string; stop: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "tests/_http_server.ts"), srv],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const first = await lines.read();
  const origin = (first.value ?? "").trim();
  if (!origin.startsWith("http://")) {
    child.kill();
    await child.status;
    throw new Error(`the test server did not start (said ${JSON.stringify(origin)})`);
  }
  return {
    origin,
    stop: async () => {
      child.kill();
      await lines.cancel();
      await child.status;
    },
  };
}

interface Result {
  readonly curl: number[];
  readonly ferry: number[];
}

/** Attempts ferry had to repeat (they count in its times; curl does not retry). */
let retried = 0;

async function bigCase(origin: string, srv: string, work: string, o: Options): Promise<Result> {
  const url = `${origin}/big.bin`;
  const size = o.bigMiB * 2 ** 20;
  const r: Result = { curl: [], ferry: [] };
  const check = async (path: string) => {
    const got = (await Deno.stat(path)).size;
    if (got !== size) throw new Error(`${path}: ${got} bytes, expected ${size}`);
  };
  for (let i = 0; i <= o.reps; i++) {
    const c = join(work, `big-curl-${i}`);
    const tc = await timed(() => run("curl", ["-sS", "-o", c, url], work));
    await check(c);
    await Deno.remove(c);
    const f = join(work, `big-ferry-${i}`);
    const tf = await timed(async () => {
      const r = await stageIn(httpStaging(), { url, dest: f, options: {}, cache: false });
      retried += r.attempts - 1;
    });
    await check(f);
    if (i === 0) {
      const [a, b] = await Promise.all([sha256File(f), sha256File(join(srv, "big.bin"))]);
      if (a !== b) throw new Error(`ferry's copy of big.bin differs from the source`);
    }
    await Deno.remove(f);
    if (i > 0) (r.curl.push(tc), r.ferry.push(tf)); // i = 0 warms up
  }
  return r;
}

async function smallCase(origin: string, work: string, o: Options): Promise<Result> {
  const urls = Array.from({ length: o.files }, (_, i) => `${origin}/small/f${i}`);
  const r: Result = { curl: [], ferry: [] };
  const check = async (dir: string) => {
    let n = 0;
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith("f") && !e.name.includes(".")) n++;
    }
    if (n !== o.files) throw new Error(`${dir}: ${n} files, expected ${o.files}`);
  };
  for (let i = 0; i <= o.reps; i++) {
    const c = join(work, `small-curl-${i}`);
    await Deno.mkdir(c);
    const tc = await timed(() =>
      run("xargs", ["-P", String(o.jobs), "-n", "1", "curl", "-sS", "-O"], c, urls.join("\n"))
    );
    await check(c);
    const f = join(work, `small-ferry-${i}`);
    await Deno.mkdir(f);
    const tf = await timed(async () => {
      const http = httpStaging();
      let next = 0;
      const worker = async () => {
        while (next < urls.length) {
          const k = next++;
          const r = await stageIn(http, { url: urls[k]!, dest: join(f, `f${k}`), options: {} });
          retried += r.attempts - 1;
        }
      };
      await Promise.all(Array.from({ length: o.jobs }, worker));
    });
    await check(f);
    if (i > 0) (r.curl.push(tc), r.ferry.push(tf));
  }
  return r;
}

/** Run the benchmark; `args` are the options after the benchmark's name. */
export async function main(args: readonly string[] = []): Promise<void> {
  const o = parseArgs(args);
  const out = join(ROOT, "bench/out");
  await Deno.mkdir(out, { recursive: true });
  const work = await workDir("staging-http-", o.dir);
  const srv = join(work, "srv");
  await Deno.mkdir(srv);
  const curl = await new Deno.Command("curl", { args: ["--version"], stdout: "piped" }).output();
  const curlVersion = new TextDecoder().decode(curl.stdout).split("\n")[0]!;
  console.log(
    `bench staging_http: ${o.bigMiB} MiB file, ${o.files} files of ${o.fileKiB} KiB, ${o.jobs} at once;` +
      ` ${o.reps} repetitions after a warm-up; ${navigator.hardwareConcurrency} cores,` +
      ` deno ${Deno.version.deno}, ${curlVersion}; work in ${work}`,
  );
  let server: Awaited<ReturnType<typeof serve>> | undefined;
  try {
    await generate(srv, o);
    server = await serve(srv);
    const big = await bigCase(server.origin, srv, work, o);
    const small = await smallCase(server.origin, work, o);
    const row = (name: string, unit: string, amount: number, t: Result) => ({
      case: name,
      unit,
      curl: amount / median(t.curl),
      ferry: amount / median(t.ferry),
      curlBest: amount / Math.min(...t.curl),
      ferryBest: amount / Math.min(...t.ferry),
      seconds: t,
    });
    const rows = [
      row(`1 file of ${o.bigMiB} MiB`, "MiB/s", o.bigMiB, big),
      row(`${o.files} files of ${o.fileKiB} KiB, ${o.jobs} at once`, "files/s", o.files, small),
    ];
    const head = ["case", "curl (best)", "ferry (best)", "ferry ÷ curl (best)"];
    const body = rows.map((r) => [
      r.case,
      `${r.curl.toFixed(0)} (${r.curlBest.toFixed(0)}) ${r.unit}`,
      `${r.ferry.toFixed(0)} (${r.ferryBest.toFixed(0)}) ${r.unit}`,
      `${(r.ferry / r.curl).toFixed(2)}× (${(r.ferryBest / r.curlBest).toFixed(2)}×)`,
    ]);
    const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
    const line = (cells: string[]) =>
      "| " + cells.map((x, c) => (c === 0 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!)))
        .join(" | ") +
      " |";
    console.log(
      "\n" + [
        line(head),
        "| " + widths.map((w, c) => c === 0 ? "-".repeat(w) : "-".repeat(w - 1) + ":").join(" | ") +
        " |",
        ...body.map(line),
      ].join("\n") + "\n",
    );
    if (retried > 0) {
      console.log(`note: ferry retried ${retried} transfer(s); the times include that`);
    }
    const ratio = rows[0]!.ferry / rows[0]!.curl;
    console.log(
      `${ratio >= 0.8 ? "✓" : "✗"} large file: ferry at ${
        ratio.toFixed(2)
      }× curl's throughput, medians of ${o.reps} (target ≥ 0.8×)`,
    );
    await Deno.writeTextFile(
      join(out, "staging_http.json"),
      JSON.stringify(
        {
          date: new Date().toISOString(),
          cores: navigator.hardwareConcurrency,
          deno: Deno.version.deno,
          curl: curlVersion,
          options: o,
          retried,
          rows,
        },
        null,
        2,
      ) + "\n",
    );
    console.log(`results: bench/out/staging_http.json${o.keep ? `; files kept in ${work}` : ""}`);
  } finally {
    await server?.stop();
    if (!o.keep) await Deno.remove(work, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
