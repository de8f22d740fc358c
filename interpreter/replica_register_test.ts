import assert from "node:assert/strict";
import { join } from "node:path";
import type { PlanTask } from "./plan.ts";
import { readCatalog } from "./replica_catalog.ts";
import { CatalogWriteError, registerOutputs } from "./replica_register.ts";

/** A task whose one output `out.txt` of workspace `ws` is registered in `catalog` at site hpc. */
function task(ws: string, catalog: string): PlanTask {
  const out = {
    name: "o",
    url: `file://${ws}/out.txt`,
    register: { catalog: join(ws, catalog), site: "hpc" },
  };
  return { outputs: [out] } as unknown as PlanTask;
}

Deno.test("registerOutputs() writes a new catalog in its file's format, then adds nothing twice", async () => {
  const ws = await Deno.makeTempDir();
  try {
    for (const name of ["c.csv", "c.yaml", "c.toml"]) {
      registerOutputs(task(ws, name), ws, new Map());
    }
    const texts = {
      "c.csv": `name,url,site\nout.txt,file://${ws}/out.txt,hpc\n`,
      "c.yaml":
        `ferry-replicas: 1\nfiles:\n  out.txt:\n    - url: file://${ws}/out.txt\n      site: hpc\n`,
      "c.toml":
        `ferry-replicas = 1\n\n[[files."out.txt"]]\nurl = "file://${ws}/out.txt"\nsite = "hpc"\n`,
    };
    for (const [name, text] of Object.entries(texts)) {
      assert.equal(await Deno.readTextFile(join(ws, name)), text);
      registerOutputs(task(ws, name), ws, new Map());
      assert.equal(await Deno.readTextFile(join(ws, name)), text);
    }
    assert.deepEqual(
      [...Deno.readDirSync(ws)].map((e) => e.name).sort(),
      Object.keys(texts).sort(),
    );
  } finally {
    await Deno.remove(ws, { recursive: true });
  }
});

Deno.test("registerOutputs() leaves a YAML or TOML file that is no catalog as it was, and says why", async () => {
  const ws = await Deno.makeTempDir();
  try {
    const cases = [
      ["a.yaml", "files: [\n", "Flow sequence in block collection must be sufficiently indented"],
      ["b.yaml", "- just a list\n", "it does not start with ferry-replicas: 1"],
      ["c.toml", "ferry-replicas = 1\n[files]\nx = 3\n", 'the replicas of "x" are no list'],
      ["d.toml", "ferry-replicas = \n", "Invalid TOML document: invalid value"],
    ];
    for (const [name, text, why] of cases) {
      await Deno.writeTextFile(join(ws, name!), text!);
      assert.throws(
        () => registerOutputs(task(ws, name!), ws, new Map()),
        (e) =>
          e instanceof CatalogWriteError &&
          e.message.startsWith(`Cannot register outputs in "${join(ws, name!)}": ${why}`),
      );
      assert.equal(await Deno.readTextFile(join(ws, name!)), text);
    }
  } finally {
    await Deno.remove(ws, { recursive: true });
  }
});

Deno.test("registerOutputs() writes hostile names (line breaks, quotes, $()) so that the catalog reads them back as they were", async () => {
  const ws = await Deno.makeTempDir();
  try {
    for (const name of ["h.yaml", "h.toml", "h.csv"]) {
      const t = task(ws, name);
      const url = `file://${ws}/a%0A%22b'$(x)%23%20%3A%20c.txt`;
      const hostile = { ...t, outputs: [{ ...t.outputs[0]!, url }] } as PlanTask;
      registerOutputs(hostile, ws, new Map());
      const c = await readCatalog(join(ws, name))!;
      assert.deepEqual(c.diagnostics, [], name);
      const key = name.endsWith(".csv") ? "a%0A\"b'$(x)# : c.txt" : "a\n\"b'$(x)# : c.txt";
      assert.deepEqual([...c.files.entries()], [[key, [{ url, site: "hpc" }]]], name);
    }
  } finally {
    await Deno.remove(ws, { recursive: true });
  }
});
