/**
 * Hostile task ids and file names (line breaks, quotes, `$()`, backticks,
 * terminal escapes, bidirectional overrides), made by a seeded random
 * generator (`FERRY_TEST_SEED=N` repeats a run; the seed is printed): every
 * generated script of every dialect parses (`bash -n`), the ssh and Slurm
 * executors run them on the test sshd and Slurm, and a canary file that any
 * injected code would create never appears. What reaches the terminal shows
 * control characters as escapes.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { visible } from "../dsl/visible.ts";
import { exists, ferryRun, withTemp } from "./_run.ts";
import { haveService, mulberry32 } from "./_services.ts";
import { type SlurmCluster, startSlurm } from "./_slurm.ts";
import { type Sshd, startSshd } from "./_sshd.ts";

const SEED = Number(Deno.env.get("FERRY_TEST_SEED") ?? Math.floor(Math.random() * 2 ** 31));
console.log(`hostile_ids_test: FERRY_TEST_SEED=${SEED}`);

/** Pieces of hostile text; `C` stands for the canary's path (or `$FERRY_CANARY` in file names). */
const PIECES = [
  "\ntouch C\n#",
  "$(touch C)",
  "`touch C`",
  ";touch C;",
  "'",
  '"',
  "\\",
  "\r",
  "\t",
  "\x1b]0;pwned\x07",
  "\x1b[2J",
  "\u202e",
  "\x7f",
  "#",
  "%A",
  "$(DOLLAR)",
  "${HOME}",
  " ",
  "☃",
  "*",
  "{a,b}",
  "<!--",
  "<script>",
  "é",
];

/** `n` distinct hostile texts from the seeded generator; `canary` replaces `C`. */
function hostile(random: () => number, n: number, canary: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = `v${i}`;
    const k = 2 + Math.floor(random() * 4);
    for (let j = 0; j < k; j++) s += PIECES[Math.floor(random() * PIECES.length)]!;
    out.push(s.replaceAll("touch C", `touch ${canary}`));
  }
  return out;
}

/**
 * A workflow whose ids and file names are hostile: a fan-out over values that hold the canary's
 * absolute path, and a fan-out over the files a task wrote into a `dir:` output under hostile
 * names.
 */
function workflow(canary: string, executor: string, seed: number) {
  const random = mulberry32(seed);
  return {
    ferry: 1,
    name: "hostile",
    params: {
      vals: hostile(random, 3, canary),
      names: hostile(random, 3, "$FERRY_CANARY"),
    },
    defaults: { executor },
    apps: {
      fan: {
        for_each: { v: "${{ params.vals }}" },
        outputs: { o: "out/${{ v }}.txt" },
        shell: "printf '%s' ${{ v }} > ${{ outputs.o }}",
      },
      mk: {
        outputs: { d: { dir: "d" } },
        shell: 'mkdir -p d\nfor n in ${{ params.names }}; do printf "%s" "$n" > "d/$n"; done',
      },
      each: {
        for_each: { part: "${{ apps.mk.outputs.d }}" },
        inputs: { part: "${{ part }}" },
        outputs: { copy: "copies/${{ part.name }}" },
        shell: "cat ${{ inputs.part }} > ${{ outputs.copy }}",
      },
    },
  };
}

/**
 * Write `wf` as JSON (YAML reads it), every character `visible` would escape as `\uXXXX`: a
 * workflow file holds no raw control character (ferry refuses such a file).
 */
async function writeJson(dir: string, wf: unknown, name = "workflow.yaml"): Promise<string> {
  const path = join(dir, name);
  const text = [...JSON.stringify(wf, null, 2)].map((c) =>
    c !== "\n" && visible(c) !== c ? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}` : c
  ).join("");
  await Deno.writeTextFile(path, text + "\n");
  return path;
}

/** Raw control characters other than line feed and tab. */
function rawControls(text: string): string[] {
  return [...text].filter((c) => c !== "\n" && c !== "\t" && visible(c) !== c);
}

/** The scripts `plan --show-scripts` printed: one per `# ── ` heading. */
function scripts(stdout: string): string[] {
  return stdout.split(/^(?=# ── )/m).slice(1);
}

async function bashN(text: string): Promise<string> {
  const child = new Deno.Command("bash", { args: ["-n"], stdin: "piped", stderr: "piped" }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  return out.code === 0 ? "" : new TextDecoder().decode(out.stderr);
}

for (const dialect of ["slurm", "pbs", "lsf", "htcondor"]) {
  Deno.test(`hostile ids: plan --show-scripts for ${dialect} parses, every id a comment or a quoted word`, async () => {
    await withTemp(async (ws) => {
      const canary = join(ws, "canary");
      const wf = workflow(canary, "hpc", SEED);
      const file = await writeJson(ws, {
        ...wf,
        executors: { hpc: { provider: dialect, env: { FERRY_CANARY: canary } } },
      });
      const r = await ferryRun(["--show-scripts", file], {}, "plan");
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(rawControls(r.stdout), []);
      const all = scripts(r.stdout);
      // fan × 3 and mk: a job script and a wrapper (and a task script) each.
      assert.equal(r.stdout.match(/^# ferry job wrapper: task /gm)?.length, 4);
      for (const v of wf.params.vals) {
        assert.ok(
          r.stdout.includes(`\n# ferry job wrapper: task fan[v=${visible(v)}], attempt 1.`),
          visible(v),
        );
      }
      for (const s of all) assert.equal(await bashN(s), "", s);
      assert.equal(await exists(canary), false);
    });
  });
}

Deno.test("hostile ids: a local run (workspace with a space and ☃), its progress lines, summary and status show escapes", async () => {
  await withTemp(async (tmp) => {
    const ws = join(tmp, "my ws ☃");
    await Deno.mkdir(ws);
    const canary = join(ws, "canary");
    const wf = workflow(canary, "local", SEED + 1);
    await addFunctionApp(ws, wf);
    const file = await writeJson(ws, wf);
    const r = await ferryRun(["--progress", "lines", file], { FERRY_CANARY: canary });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(rawControls(r.stderr), []);
    for (const v of wf.params.vals) {
      assert.match(
        r.stderr,
        new RegExp(`^\\[\\d/\\d\\] done  ${escape(`fan[v=${visible(v)}]`)} `, "m"),
      );
      assert.equal(await Deno.readTextFile(join(ws, "out", `${v}.txt`)), v);
    }
    for (const n of wf.params.names) {
      assert.equal(await Deno.readTextFile(join(ws, "copies", n)), n);
    }
    assert.equal(await Deno.readTextFile(join(ws, "fn ☃.txt")), "fn ran\n");
    const status = await ferryRun([file], {}, "status");
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(rawControls(status.stdout), []);
    assert.equal(await exists(canary), false);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const HAVE_SSHD = haveService("sshd", ["/usr/sbin/sshd", "ssh-keygen", "ps", "pgrep"]);
const HAVE_SLURM = haveService("Slurm", ["munged", "slurmctld", "slurmd", "sbatch", "squeue"]);

let sshd: Sshd | undefined;
let slurm: SlurmCluster | undefined;

/** Run the hostile workflow on executor `ex` from a site file; assert its outputs and the canary. */
async function runOn(
  ws: string,
  ex: Record<string, unknown>,
  env: Record<string, string>,
  withFunction = false,
) {
  const canary = join(ws, "canary");
  const wf = workflow(canary, "remote", SEED + 2);
  if (withFunction) await addFunctionApp(ws, wf);
  const file = await writeJson(ws, wf);
  const site = await writeJson(
    ws,
    {
      "ferry-site": 1,
      executors: { remote: { ...ex, env: { FERRY_CANARY: canary } } },
    },
    "site.yaml",
  );
  const r = await ferryRun(["--site", site, "--progress", "lines", file], env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(rawControls(r.stderr), []);
  for (const v of wf.params.vals) {
    assert.equal(await Deno.readTextFile(join(ws, "out", `${v}.txt`)), v);
  }
  for (const n of wf.params.names) {
    assert.equal(await Deno.readTextFile(join(ws, "copies", n)), n);
  }
  if (withFunction) assert.equal(await Deno.readTextFile(join(ws, "fn ☃.txt")), "fn ran\n");
  assert.equal(await exists(canary), false);
}

/** A `function:` app: its module is found in a workspace whose path holds a space and ☃. */
async function addFunctionApp(ws: string, wf: ReturnType<typeof workflow>): Promise<void> {
  await Deno.writeTextFile(
    join(ws, "steps ☃.ts"),
    "export function fn(a: { outputs: { out: string } }) {\n" +
      '  Deno.writeTextFileSync(a.outputs.out, "fn ran\\n");\n}\n',
  );
  (wf.apps as Record<string, unknown>).fn = {
    outputs: { out: "fn ☃.txt" },
    function: "./steps ☃.ts#fn",
  };
}

Deno.test({
  name: "hostile ids: the ssh executor runs them on the test sshd; the canary never appears",
  ignore: !HAVE_SSHD,
  sanitizeResources: false,
  async fn() {
    sshd ??= await startSshd();
    const srv = sshd;
    await withTemp(async (ws) => {
      await runOn(ws, {
        provider: "ssh",
        host: `${srv.user}@127.0.0.1:${srv.port}`,
        options: { identity_file: srv.identity, known_hosts: srv.knownHosts },
      }, {});
    });
  },
});

Deno.test({
  name: "hostile ids: Slurm runs them (a workspace with a space and ☃); the canary never appears",
  ignore: !HAVE_SLURM,
  sanitizeResources: false,
  async fn() {
    slurm ??= await startSlurm();
    const c = slurm;
    await withTemp(async (tmp) => {
      const ws = join(tmp, "my ws ☃");
      await Deno.mkdir(ws);
      await runOn(ws, { provider: "slurm", options: { partition: "debug" } }, c.env, true);
    });
  },
});
