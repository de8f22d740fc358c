/**
 * Logical files and replicas end to end: a named file with several copies
 * (listed in the workflow or in a replica catalog), the replica each executor
 * picks and why (plan text and JSON), located errors for bad catalogs, and
 * at run time the fallback to the next replica when a transfer fails, against
 * two real HTTP servers.
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { runCli } from "./_cli.ts";
import { startHttpServer } from "./_http_server.ts";
import { exists, ferryRun, runDirOf, walk, withTemp, writeWorkflow } from "./_run.ts";

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

function body(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

Deno.test("replicas: the first replica dies mid-transfer on every try, the second is fetched once for every reader, and the fallback is logged", async () => {
  const data = body(256 << 10);
  const a = await startHttpServer({ files: { "/ref.bin": data } });
  const b = await startHttpServer({ files: { "/mirror/ref.bin": data } });
  try {
    await withTemp(async (ws) => {
      a.fault("/ref.bin", { kind: "drop", afterBytes: 100_000 });
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "replicas-fallback",
        executors: {
          local: { staging: [{ match: "http://*:*", action: "http", retries: 1 }] },
        },
        files: {
          ref: {
            replicas: [a.url("/ref.bin"), b.url("/mirror/ref.bin")],
            checksum: `sha256:${sha256(data)}`,
          },
        },
        apps: {
          use: {
            for_each: { n: [1, 2, 3] },
            inputs: { ref: "${{ files.ref }}" },
            outputs: { out: "out/${{ n }}.txt" },
            shell: "sha256sum < ${{ inputs.ref }} | cut -c1-64 > ${{ outputs.out }}",
          },
        },
      });
      const r = await ferryRun(["--progress", "lines", wf]);
      assert.equal(r.code, 0, r.stderr);
      for (const n of [1, 2, 3]) {
        assert.equal(await Deno.readTextFile(join(ws, `out/${n}.txt`)), `${sha256(data)}\n`);
      }
      // The first replica: its try and one retry resuming from the partial copy, both dropped.
      assert.deepEqual(
        a.requestsFor("/ref.bin").map((x) => x.range),
        [null, "bytes=100000-"],
      );
      // The second: once for three readers, from byte 0 (the first's partial copy was discarded).
      assert.deepEqual(b.requestsFor("/mirror/ref.bin").map((x) => [x.range, x.status]), [[
        null,
        200,
      ]]);
      assert.match(
        r.stderr,
        new RegExp(
          `FALLBACK Cannot fetch "${
            a.url("/ref.bin").replace(/[.]/g, "\\.")
          }" with http after 2 attempt\\(s\\): .*; falling back to ${
            b.url("/mirror/ref.bin").replace(/[.]/g, "\\.")
          }\\n`,
        ),
      );
      assert.match(r.stderr, /transfers: 1 fetched, 1 fell back to another replica, 256\.0 KiB/);
      const events = (await Deno.readTextFile(join(runDirOf(r), "events.jsonl"))).trim()
        .split("\n").map((l) => JSON.parse(l));
      const finished = events.filter((e) => e.event === "transfer-finished");
      assert.equal(finished.length, 2);
      assert.equal(finished[0].url, a.url("/ref.bin"));
      assert.equal(finished[0].fallback, b.url("/mirror/ref.bin"));
      assert.match(finished[0].error, /^Cannot fetch /);
      assert.equal(finished[1].url, b.url("/mirror/ref.bin"));
      assert.equal(finished[1].id, finished[0].id);
      assert.equal(finished[1].error, undefined);
    });
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("replicas: on an executor that fetches on the node, a failed replica falls back to the next too", async () => {
  const data = "node-side bytes\n";
  const a = await startHttpServer({ files: { "/ref.txt": data } });
  const b = await startHttpServer({ files: { "/ref.txt": data } });
  try {
    await withTemp(async (ws) => {
      a.fault("/ref.txt", { kind: "status", status: 503 });
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "replicas-node",
        executors: {
          nodes: {
            provider: "local",
            filesystem: "none",
            staging: [{ match: "http://*:*", action: "http", retries: 0 }],
          },
        },
        files: { ref: { replicas: [a.url("/ref.txt"), b.url("/ref.txt")] } },
        apps: {
          use: {
            executor: "nodes",
            inputs: { ref: "${{ files.ref }}" },
            outputs: { out: "out.txt" },
            command: ["cp", "${{ inputs.ref }}", "${{ outputs.out }}"],
          },
        },
      });
      const plan = JSON.parse((await runCli(["plan", "--format", "json", wf])).stdout);
      assert.deepEqual(plan.tasks[0].inputs[0].fallbacks, [
        { url: b.url("/ref.txt"), provider: "http", rule: 0 },
      ]);
      const r = await ferryRun(["--progress", "lines", wf]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(join(ws, "out.txt")), data);
      assert.equal(a.requestsFor("/ref.txt").length, 1);
      assert.equal(b.requestsFor("/ref.txt").length, 1);
      assert.match(
        r.stderr,
        /FALLBACK Cannot fetch .*HTTP 503.*; falling back to http:\/\/127\.0\.0\.1:\d+\/ref\.txt\n/,
      );
    });
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("replicas: every replica failing fails the readers with the last replica's error", async () => {
  const a = await startHttpServer({ files: {} });
  try {
    await withTemp(async (ws) => {
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "replicas-all-fail",
        files: { ref: { replicas: [a.url("/one.bin"), a.url("/two.bin")] } },
        apps: {
          use: {
            inputs: { ref: "${{ files.ref }}" },
            outputs: { out: "out.txt" },
            command: ["cp", "${{ inputs.ref }}", "${{ outputs.out }}"],
          },
        },
      });
      const r = await ferryRun(["--progress", "lines", wf]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `✗ use: Cannot fetch "${
            a.url("/two.bin").replace(/[.]/g, "\\.")
          }" with http after 1 attempt\\(s\\): HTTP 404 Not Found from 127\\.0\\.0\\.1:${a.port}\\n`,
        ),
      );
      assert.match(r.stderr, /transfers: 1 fell back to another replica, 1 failed/);
    });
  } finally {
    await a.close();
  }
});

/** A workspace with a local copy, a site with two executors, and a CSV catalog. */
async function catalogWorkspace(ws: string, catalog: string): Promise<string> {
  await Deno.writeTextFile(join(ws, "local.txt"), "here\n");
  await Deno.writeTextFile(join(ws, "replicas.csv"), catalog);
  return await writeWorkflow(ws, {
    ferry: 1,
    name: "replica-choice",
    executors: {
      cluster: { provider: "local", filesystem: "executor-shared", site: "hpc" },
    },
    files: {
      table: { catalog: "replicas.csv", name: "tables/v3" },
      ref: {
        replicas: [
          "absent/ref.txt",
          "https://far.example.org/ref.txt",
          { url: "https://near.example.org/ref.txt", site: "hpc" },
        ],
      },
    },
    apps: {
      here: {
        inputs: { t: "${{ files.table }}", r: "${{ files.ref }}" },
        outputs: { o: "here.txt" },
        command: ["cat", "${{ inputs.t }}", "${{ inputs.r }}"],
        stdout: "${{ outputs.o }}",
      },
      there: {
        executor: "cluster",
        inputs: { r: "${{ files.ref }}" },
        outputs: { o: "there.txt" },
        command: ["cat", "${{ inputs.r }}"],
        stdout: "${{ outputs.o }}",
      },
    },
  });
}

Deno.test("replicas: each executor uses the replica it reaches most cheaply, and the plan says which and why", async () => {
  await withTemp(async (ws) => {
    const wf = await catalogWorkspace(
      ws,
      "name,url,site\n# a comment\ntables/v3,https://c.example.org/v3,hpc\ntables/v3,local.txt,\n",
    );
    const text = await runCli(["plan", wf]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.split("\n");
    const at = lines.findIndex((l) => l.includes("in  t  local.txt"));
    assert.deepEqual(lines.slice(at, at + 4), [
      "    in  t  local.txt  ⇒ shared, default → local.txt",
      "        replicas of table:",
      "            https://c.example.org/v3 @hpc  (transfer)",
      "          ✓ local.txt  (in place, used)",
    ]);
    const there = lines.findIndex((l) => l.includes("in  r  https://near"));
    assert.deepEqual(lines.slice(there + 1, there + 5), [
      "        replicas of ref:",
      "            absent/ref.txt  (unusable: not present on this host)",
      "            https://far.example.org/ref.txt  (transfer)",
      "          ✓ https://near.example.org/ref.txt @hpc  (same site, used)",
    ]);
    const transfer = lines.find((l) => l.includes("in  https  https://far.example.org/ref.txt →"));
    assert.ok(
      transfer?.endsWith(
        "(workspace, for here; if it fails, https https://near.example.org/ref.txt)",
      ),
      transfer,
    );
    const json = await runCli(["plan", "--format", "json", wf]);
    assert.equal(json.code, 0, json.stderr);
    const plan = JSON.parse(json.stdout);
    const here = plan.tasks.find((t: { id: string }) => t.id === "here");
    const r = here.inputs.find((f: { name: string }) => f.name === "r");
    assert.equal(r.logical, "ref");
    assert.equal(r.url, "https://far.example.org/ref.txt");
    assert.deepEqual(r.replicas, [
      {
        url: `file://${ws}/absent/ref.txt`,
        reach: "unusable",
        why: "not present on this host",
      },
      { url: "https://far.example.org/ref.txt", reach: "transfer", chosen: true },
      { url: "https://near.example.org/ref.txt", site: "hpc", reach: "transfer" },
    ]);
    const t = plan.transfers.find((x: { consumers: string[] }) => x.consumers.includes("here"));
    assert.deepEqual(t.fallbacks, [
      { url: "https://near.example.org/ref.txt", provider: "https", rule: "default" },
    ]);
  });
});

Deno.test("replicas: bad catalog rows and entries are located errors, and a name the catalog lacks is one in the workflow (exit 2)", async () => {
  await withTemp(async (ws) => {
    const wf = await catalogWorkspace(
      ws,
      'name,url,site\ntables/v3,https//c.example.org/v3,hpc\n,local.txt,\nx,"open\ny,a,b,c\n',
    );
    const r = await runCli(["check", wf]);
    assert.equal(r.code, 2);
    const diags = (r.stdout + r.stderr).split("\n").filter((l) => l.includes("error["))
      .map((l) => l.replace(`${ws}/`, ""));
    assert.deepEqual(diags, [
      'replicas.csv:2:11: error[replica-catalog]: Cannot use replica "https//c.example.org/v3" of "tables/v3": write it as https://c.example.org/v3 (the ":" is missing)',
      "replicas.csv:3:1: error[replica-catalog]: Cannot read row 3: its name is empty",
      "replicas.csv:4:1: error[replica-catalog]: Cannot read row 4: a quoted field is not closed",
      "replicas.csv:5:1: error[replica-catalog]: Cannot read row 5: it has 4 fields, the header 3",
    ]);
    await Deno.writeTextFile(
      join(ws, "replicas.csv"),
      "name,url\ntables/v2,local.txt\n",
    );
    const missing = await runCli(["check", wf]);
    assert.equal(missing.code, 2);
    assert.match(
      missing.stdout + missing.stderr,
      /workflow\.yaml:\d+:\d+: error\[unknown-logical-file\]: Cannot find "tables\/v3" in replica catalog "replicas\.csv": did you mean "tables\/v2"\?/,
    );
  });
});

Deno.test("replicas: name without catalog is a file-form error", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "named",
      files: { bad: { replicas: ["https://ok.example.org/x"], name: "x" } },
      apps: {
        a: {
          inputs: { b: "${{ files.bad }}" },
          outputs: { o: "o.txt" },
          command: ["cp", "${{ inputs.b }}", "${{ outputs.o }}"],
        },
      },
    });
    const r = await runCli(["check", wf]);
    assert.equal(r.code, 2);
    assert.match(
      r.stdout + r.stderr,
      /workflow\.yaml:7:5: error\[file-form\]: Cannot use "name" without "catalog": it is the file's name in a replica catalog\n/,
    );
  });
});

Deno.test("replicas: a YAML catalog's bad entries are located in it, hostile values escaped", async () => {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(
      join(ws, "cat.yaml"),
      [
        "ferry-replicas: 1",
        "files:",
        "  ref:",
        "    - https://ok.example.org/x",
        "    - { url: 5 }",
        '    - { url: "https://x.example.org/a\\nb$(id)", site: hpc }',
        '    - { url: "https://x.example.org/y", color: red }',
        "",
      ].join("\n"),
    );
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "yaml-catalog",
      files: { ref: { catalog: "cat.yaml" } },
      apps: {
        a: {
          inputs: { r: "${{ files.ref }}" },
          outputs: { o: "o.txt" },
          command: ["cp", "${{ inputs.r }}", "${{ outputs.o }}"],
        },
      },
    });
    const r = await runCli(["check", wf]);
    assert.equal(r.code, 2);
    const diags = (r.stdout + r.stderr).split("\n").filter((l) => l.includes("error["))
      .map((l) => l.replace(`${ws}/`, ""));
    assert.deepEqual(diags, [
      'cat.yaml:5:7: error[replica-catalog]: Cannot use replica 2 of "ref": a replica is a URL or { url, site }',
      'cat.yaml:6:7: error[replica-catalog]: Cannot use replica 3 of "ref": a URL cannot contain control characters',
      'cat.yaml:7:7: error[replica-catalog]: Cannot use replica 4 of "ref": a replica has only url and site, not color',
    ]);
  });
});

Deno.test("replicas: outputs are registered in a catalog as they land (once, hostile names encoded), and another workflow reads them by name", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "register",
      apps: {
        make: {
          outputs: {
            table: { path: "results/a,b.txt", register: "outputs.csv" },
            parts: { glob: "parts/*.txt", register: "outputs.csv" },
          },
          shell:
            "mkdir -p parts results && echo table > 'results/a,b.txt' && echo one > parts/1.txt && echo two > parts/2.txt",
        },
      },
    });
    const first = await ferryRun(["--progress", "lines", wf]);
    assert.equal(first.code, 0, first.stderr);
    const expected = [
      "name,url,site",
      `"results/a,b.txt","file://${ws}/results/a,b.txt",local`,
      `parts/1.txt,file://${ws}/parts/1.txt,local`,
      `parts/2.txt,file://${ws}/parts/2.txt,local`,
      "",
    ].join("\n");
    assert.equal(await Deno.readTextFile(join(ws, "outputs.csv")), expected);
    // Run again, from scratch: the rows are there already and are not added twice.
    const again = await ferryRun(["--no-cache", "--progress", "lines", wf]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "outputs.csv")), expected);

    const reader = await writeWorkflow(ws, {
      ferry: 1,
      name: "reader",
      files: { t: { catalog: "outputs.csv", name: "parts/2.txt" } },
      apps: {
        use: {
          inputs: { t: "${{ files.t }}" },
          outputs: { o: "used.txt" },
          command: ["cp", "${{ inputs.t }}", "${{ outputs.o }}"],
        },
      },
    }, "reader.yaml");
    const r = await ferryRun(["--progress", "lines", reader]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(join(ws, "used.txt")), "two\n");

    const bad = await writeWorkflow(ws, {
      ferry: 1,
      name: "bad-register",
      apps: {
        a: {
          inputs: { i: { path: "x.txt", register: "in.csv" } },
          outputs: {
            o: { path: "o.txt", register: "out.json" },
            p: { path: "p.txt", register: "../elsewhere.csv" },
          },
          command: ["cp", "${{ inputs.i }}", "${{ outputs.o }}"],
        },
      },
    }, "bad.yaml");
    const c = await runCli(["check", bad]);
    assert.equal(c.code, 2);
    const diags = (c.stdout + c.stderr).split("\n").filter((l) => l.includes("error["))
      .map((l) => l.replace(`${ws}/`, ""));
    assert.deepEqual(diags, [
      "bad.yaml:8:9: error[file-form]: Cannot register an input in a replica catalog: only outputs are registered",
      'bad.yaml:12:19: error[file-form]: Cannot register in "out.json": name the replica catalog .csv, .yaml, .yml or .toml',
      'bad.yaml:15:19: error[file-form]: Cannot register in "../elsewhere.csv": it climbs out with ".."; ferry writes only in the workspace',
    ]);
  });
});

/** A workflow whose one task registers `results/a,b.txt` and a glob's files in `catalog`. */
function registering(ws: string, catalog: string): Promise<string> {
  return writeWorkflow(ws, {
    ferry: 1,
    name: "register",
    apps: {
      make: {
        outputs: {
          table: { path: "results/a,b.txt", register: catalog },
          parts: { glob: "parts/*.txt", register: catalog },
        },
        shell:
          "mkdir -p parts results && echo table > 'results/a,b.txt' && echo one > parts/1.txt && echo two > parts/2.txt",
      },
    },
  }, `register-${catalog}.yaml`);
}

/** Register into `catalog` (holding `before`), run again, read `parts/2.txt` back by name. */
async function registerTwiceAndRead(ws: string, catalog: string, before: string): Promise<string> {
  await Deno.mkdir(join(ws, "ref"));
  await Deno.writeTextFile(join(ws, "ref/genome.fa"), ">chr1\n");
  await Deno.writeTextFile(join(ws, catalog), before);
  const wf = await registering(ws, catalog);
  const first = await ferryRun(["--progress", "lines", wf]);
  assert.equal(first.code, 0, first.stderr);
  const after = await Deno.readTextFile(join(ws, catalog));
  const again = await ferryRun(["--no-cache", "--progress", "lines", wf]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(await Deno.readTextFile(join(ws, catalog)), after, "a re-run adds nothing");
  assert.deepEqual((await walk(ws)).filter((f) => f.includes("ferry-tmp")), []);
  const reader = await writeWorkflow(ws, {
    ferry: 1,
    name: "reader",
    files: { t: { catalog, name: "parts/2.txt" }, old: { catalog, name: "ref/genome.fa" } },
    apps: {
      use: {
        inputs: { t: "${{ files.t }}", old: "${{ files.old }}" },
        outputs: { o: "used.txt" },
        command: ["cat", "${{ inputs.t }}", "${{ inputs.old }}"],
        stdout: "${{ outputs.o }}",
      },
    },
  }, "reader.yaml");
  const r = await ferryRun(["--progress", "lines", reader]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await Deno.readTextFile(join(ws, "used.txt")), "two\n>chr1\n");
  return after;
}

Deno.test("replicas: outputs are registered in a YAML catalog, its entries and comments kept", async () => {
  await withTemp(async (ws) => {
    const after = await registerTwiceAndRead(
      ws,
      "catalog.yaml",
      [
        "# Our replicas.",
        "ferry-replicas: 1",
        "files:",
        "  ref/genome.fa:",
        "    - ref/genome.fa # beside the catalog",
        "  parts/2.txt:",
        '    - { url: "https://mirror.example.org/parts/2.txt", site: far }',
        "",
      ].join("\n"),
    );
    assert.equal(
      after,
      [
        "# Our replicas.",
        "ferry-replicas: 1",
        "files:",
        "  ref/genome.fa:",
        "    - ref/genome.fa # beside the catalog",
        "  parts/2.txt:",
        '    - { url: "https://mirror.example.org/parts/2.txt", site: far }',
        `    - url: file://${ws}/parts/2.txt`,
        "      site: local",
        "  results/a,b.txt:",
        `    - url: file://${ws}/results/a,b.txt`,
        "      site: local",
        "  parts/1.txt:",
        `    - url: file://${ws}/parts/1.txt`,
        "      site: local",
        "",
      ].join("\n"),
    );
  });
});

Deno.test("replicas: outputs are registered in a TOML catalog, its entries kept", async () => {
  await withTemp(async (ws) => {
    const after = await registerTwiceAndRead(
      ws,
      "catalog.toml",
      [
        "ferry-replicas = 1",
        "[files]",
        '"ref/genome.fa" = ["ref/genome.fa"]',
        '"parts/2.txt" = [{ url = "https://mirror.example.org/parts/2.txt", site = "far" }]',
        "",
      ].join("\n"),
    );
    const { parse } = await import("../deps/smol_toml.ts");
    assert.deepEqual(JSON.parse(JSON.stringify(parse(after))), {
      "ferry-replicas": 1,
      files: {
        "ref/genome.fa": ["ref/genome.fa"],
        "parts/2.txt": [
          { url: "https://mirror.example.org/parts/2.txt", site: "far" },
          { url: `file://${ws}/parts/2.txt`, site: "local" },
        ],
        "results/a,b.txt": [{ url: `file://${ws}/results/a,b.txt`, site: "local" }],
        "parts/1.txt": [{ url: `file://${ws}/parts/1.txt`, site: "local" }],
      },
    });
  });
});

Deno.test("replicas: a YAML or TOML catalog to register in that is none stops the run before it starts, located", async () => {
  await withTemp(async (ws) => {
    await Deno.writeTextFile(join(ws, "bad.yaml"), "ferry-replicas: 2\nfiles: {}\n");
    await Deno.writeTextFile(join(ws, "bad.toml"), 'ferry-replicas = 1\nfiles = "x"\n');
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "bad-catalogs",
      apps: {
        make: {
          outputs: {
            t: { path: "t.txt", register: "bad.yaml" },
            u: { path: "u.txt", register: "bad.toml" },
          },
          shell: "echo > t.txt && echo > u.txt",
        },
      },
    });
    const r = await ferryRun(["--progress", "lines", wf]);
    assert.equal(r.code, 2, r.stderr);
    const diags = (r.stdout + r.stderr).split("\n").filter((l) => l.includes("error["));
    assert.deepEqual(diags, [
      `${ws}/bad.toml:2:10: error[replica-catalog]: Cannot read replica catalog "${ws}/bad.toml": files must map each logical name to a list of replicas`,
      `${ws}/bad.yaml:1:17: error[replica-catalog]: Cannot read replica catalog "${ws}/bad.yaml": it must start with ferry-replicas: 1`,
    ]);
    assert.equal(await Deno.readTextFile(join(ws, "bad.yaml")), "ferry-replicas: 2\nfiles: {}\n");
    assert.equal(await exists(join(ws, "t.txt")), false, "the task did not run");
  });
});
