import assert from "node:assert/strict";
import { join } from "node:path";
import { Ajv2020 } from "../deps/ajv.ts";
import planSchema from "../schemas/plan.schema.json" with { type: "json" };
import { checkWorkflowFile } from "../interpreter/check.ts";
import type { Plan } from "../interpreter/plan.ts";
import { matchSnapshot, runCli } from "./_cli.ts";
import { copyExamples, EXAMPLES } from "./_examples.ts";

const validatePlan = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(
  planSchema,
);

const PLANNED: [string, string | undefined][] = [
  ["quickstart", undefined],
  ["frames", "site"],
  ["staging", "site"],
];

for (const [name, site] of PLANNED) {
  for (const format of ["text", "json", "mermaid", "markdown"]) {
    Deno.test(`ferry plan --format ${format} matches the snapshot for examples/${name}`, async () => {
      // Plans print absolute paths: the copy's location becomes <tmp> in the snapshot.
      await using ex = await copyExamples(name);
      const args = ["plan", "--format", format];
      if (site) args.push("--site", ex.path(name, `${site}.yaml`));
      const r = await runCli([...args, ex.path(name, "workflow.yaml")]);
      assert.equal(r.stderr, "");
      assert.equal(r.code, 0);
      await matchSnapshot(
        `plan_${name}.${
          format === "json"
            ? "json"
            : format === "markdown"
            ? "md"
            : format === "mermaid"
            ? "mmd"
            : "txt"
        }`,
        ex.portable(r.stdout),
      );
      if (format === "json") {
        assert.ok(validatePlan(JSON.parse(r.stdout)), JSON.stringify(validatePlan.errors));
      }
    });
  }
}

Deno.test("ferry plan gives the same plan, byte for byte, from YAML and TOML and on every run", async () => {
  await using ex = await copyExamples(...PLANNED.map(([name]) => name));
  for (const [name, site] of PLANNED) {
    const outs = new Set<string>();
    for (const ext of ["yaml", "toml", "yaml"]) {
      const args = ["plan", "--format", "json"];
      if (site) args.push("--site", ex.path(name, `${site}.${ext}`));
      outs.add((await runCli([...args, ex.path(name, `workflow.${ext}`)])).stdout);
    }
    assert.equal(outs.size, 1, name);
  }
});

Deno.test("ferry plan --format dot collapses a fan-out wider than 20 into one node", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "w.yaml");
    const items = Array.from({ length: 25 }, (_, i) => `s${i}`).join(", ");
    await Deno.writeTextFile(
      file,
      `ferry: 1\nname: wide\nparams: { s: [${items}] }\napps:\n` +
        "  map: { for_each: { s: '${{ params.s }}' }, outputs: { o: 'o/${{ s }}' }, command: [x] }\n" +
        "  reduce: { inputs: { all: '${{ apps.map.outputs.o }}' }, outputs: { r: r.txt }, command: [y] }\n",
    );
    const dot = await runCli(["plan", "--format", "dot", file]);
    assert.equal(
      dot.stdout,
      'digraph "wide" {\n  rankdir=LR;\n  node [shape=box, fontname="Helvetica"];\n' +
        '  g_map [label="map ×25", shape=box3d];\n  t25 [label="reduce"];\n  g_map -> t25;\n}\n',
    );
    const mermaid = await runCli(["plan", "--format", "mermaid", file]);
    assert.equal(
      mermaid.stdout,
      'flowchart LR\n  g_map[["map ×25"]]\n  t25["reduce"]\n  g_map --> t25\n',
    );
    const text = await runCli(["plan", file]);
    assert.ok(text.stdout.includes("\n  … 21 more tasks like these [run: new ×21]\n"), text.stdout);
    assert.match(
      text.stdout,
      /\n26 tasks \(26 to run, 0 cached\) · 0 transfers · local: 26 tasks, 0 transfers\n$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ferry plan TARGET keeps the target and what it needs, like make", async () => {
  await using ex = await copyExamples("quickstart");
  const wf = ex.path("quickstart", "workflow.yaml");
  const ids = async (...targets: string[]) => {
    const r = await runCli(["plan", "--format", "json", wf, ...targets]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as Plan).tasks.map((t) => t.id);
  };
  assert.deepEqual(await ids("total.txt"), [
    "count[word=alpha]",
    "count[word=beta]",
    "count[word=gamma]",
    "total",
  ]);
  assert.deepEqual(await ids("count[word=beta]"), ["count[word=beta]"]);
  assert.deepEqual(await ids("parts/part-00"), ["split"]);
  assert.deepEqual(await ids("report"), [
    "count[word=alpha]",
    "count[word=beta]",
    "count[word=gamma]",
    "split",
    "total",
    "measure[part=*]",
    "report",
  ]);
  const bad = await runCli(["plan", wf, "totl"]);
  assert.deepEqual(bad, {
    code: 2,
    stdout: "",
    stderr:
      'ferry: Cannot find target "totl": it is no task id, app or output; did you mean "total"?\n',
  });
});

Deno.test("ferry plan writes nothing, not even .ferry/", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "data"));
    await Deno.copyFile(join(EXAMPLES, "quickstart/data/poem.txt"), join(dir, "data/poem.txt"));
    await Deno.copyFile(join(EXAMPLES, "quickstart/workflow.yaml"), join(dir, "w.yaml"));
    const before = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    for (const format of ["text", "json", "dot", "mermaid", "markdown"]) {
      assert.equal((await runCli(["plan", "--format", format, join(dir, "w.yaml")])).code, 0);
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ferry plan reports a file no staging rule claims, with the rules tried", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "site.yaml"),
      "ferry-site: 1\nexecutors:\n  c: { provider: slurm, staging: [{ match: 'file:///cvmfs/*', action: skip }] }\n",
    );
    await Deno.writeTextFile(
      join(dir, "w.yaml"),
      "ferry: 1\nname: x\napps:\n  a: { executor: c, inputs: { i: 's3://bucket/key' }, command: [x] }\n",
    );
    const r = await runCli(["plan", "--site", join(dir, "site.yaml"), join(dir, "w.yaml")]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /w\.yaml:4:35: error\[no-staging-rule\]: Cannot stage "s3:\/\/bucket\/key" on executor "c": no rule matches it; tried file:\/\/\/cvmfs\/\* \(skip\), the defaults for filesystem "shared" \(file:, http:, https:, ftp:, ftps:, sftp:, rsync:, rsync\+ssh:\)\n/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("no-staging-rule says when a named host group would match if it spanned dots", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "site.yaml"),
      "ferry-site: 1\nexecutors:\n  c:\n    provider: slurm\n    staging:\n" +
        "      - { match: 'chirp://:host/*', action: rewrite, to: '/chirp/:host/:0' }\n",
    );
    await Deno.writeTextFile(
      join(dir, "w.yaml"),
      "ferry: 1\nname: x\napps:\n  a:\n    executor: c\n" +
        "    inputs: { i: 'chirp://storage1.example.org/data/x.dat', j: 'chirp://storage1/y.dat' }\n" +
        "    command: [x, '${{ inputs.i }}', '${{ inputs.j }}']\n",
    );
    const r = await runCli(["plan", "--site", join(dir, "site.yaml"), join(dir, "w.yaml")]);
    assert.equal(r.code, 2);
    assert.deepEqual(r.stderr.split("\n").filter((l) => l.includes("error[")), [
      `${
        join(dir, "w.yaml")
      }:6:19: error[no-staging-rule]: Cannot stage "chirp://storage1.example.org/data/x.dat" on executor "c": no rule matches it; tried chirp://:host/* (rewrite), the defaults for filesystem "shared" (file:, http:, https:, ftp:, ftps:, sftp:, rsync:, rsync+ssh:); the rule chirp://:host/* would match if :host spanned dots (a named group matches one label of a host name): write :host(.+)`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ferry plan --check-inputs asks the server of each remote input (HEAD) and reports the missing", async () => {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push(`${req.method} ${new URL(req.url).pathname}`);
    return new Response(null, { status: new URL(req.url).pathname === "/ok.txt" ? 200 : 404 });
  });
  const dir = await Deno.makeTempDir();
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    await Deno.writeTextFile(
      join(dir, "w.yaml"),
      `ferry: 1\nname: x\napps:\n  a: { inputs: { i: '${base}/ok.txt', j: '${base}/gone.txt' }, command: [x] }\n`,
    );
    const offline = await runCli(["plan", join(dir, "w.yaml")]);
    assert.equal(offline.code, 0);
    assert.deepEqual(seen, [], "no network without --check-inputs");
    const r = await runCli(["plan", "--check-inputs", join(dir, "w.yaml")]);
    assert.equal(r.code, 2);
    assert.deepEqual(seen.sort(), ["HEAD /gone.txt", "HEAD /ok.txt"]);
    assert.match(
      r.stderr,
      /error\[unreachable-input\]: Cannot reach input "http:\/\/127\.0\.0\.1:\d+\/gone\.txt": the server answered 404 Not Found\n/,
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("the plan of a random DAG lists tasks in a valid topological order with unique ids", async () => {
  const random = rng(42);
  const dir = await Deno.makeTempDir();
  try {
    for (let round = 0; round < 25; round++) {
      const n = 2 + Math.floor(random() * 12);
      const lines = ["ferry: 1", `name: r${round}`, "params: { s: [a, b, c] }", "apps:"];
      for (let i = 0; i < n; i++) {
        const fan = random() < 0.4;
        const inputs: string[] = [];
        for (let j = 0; j < i; j++) {
          if (random() < 0.3) inputs.push(`i${j}: '\${{ apps.a${j}.outputs.o }}'`);
        }
        const after = i > 0 && random() < 0.2 ? `, after: [a${Math.floor(random() * i)}]` : "";
        const out = fan ? "'o${{ s }}/a" + i + "'" : `o/a${i}`;
        lines.push(
          `  a${i}: { ${fan ? "for_each: { s: '${{ params.s }}' }, " : ""}inputs: { ${
            inputs.join(", ")
          } }, outputs: { o: ${out} }${after}, command: [x] }`,
        );
      }
      // Shuffle app order in the file: the plan must still order dependencies first.
      const head = lines.slice(0, 4), apps = lines.slice(4).sort(() => random() - 0.5);
      const file = join(dir, `r${round}.yaml`);
      await Deno.writeTextFile(file, [...head, ...apps].join("\n") + "\n");
      const r = await checkWorkflowFile(file);
      assert.deepEqual(
        r.diagnostics.filter((d) => d.severity === "error"),
        [],
        [...head, ...apps].join("\n"),
      );
      const plan = r.plan!;
      const pos = new Map(plan.tasks.map((t, i) => [t.id, i]));
      assert.equal(pos.size, plan.tasks.length, "ids are unique");
      for (const t of plan.tasks) {
        for (const d of t.deps) assert.ok(pos.get(d)! < pos.get(t.id)!, `${d} before ${t.id}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
