/**
 * ferry's import layering, read from the module graphs `deno info --json`
 * reports for main.ts and every export in deno.json: no edge may go against
 * the rules of `_layers.ts` (cli → api → interpreter → providers → dsl →
 * schemas; staging and batch independent; shared leaves import nothing of a
 * layer).
 * @module
 */

import assert from "node:assert/strict";
import { type DenoInfo, denoInfo, type Edge, layerOf, localEdges, violations } from "./_layers.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("no import goes against the layering (main.ts and every export of deno.json)", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const exports = Object.values(config.exports as Record<string, string>);
  const entries = [...new Set(["main.ts", ...exports.map((e) => e.replace(/^\.\//, ""))])];
  assert.ok(entries.includes("mod.ts") && entries.includes("cli/mod.ts"), entries.join(" "));
  const edges = new Map<string, Edge>();
  for (const graph of await Promise.all(entries.map((e) => denoInfo(e, ROOT)))) {
    for (const e of localEdges(graph, ROOT.href)) edges.set(`${e.from}\0${e.to}`, e);
  }
  // The graphs were read: each layer is present.
  const layers = new Set([...edges.values()].flatMap((e) => [layerOf(e.from), layerOf(e.to)]));
  for (const l of ["cli", "api", "interpreter", "providers/batch", "providers/staging", "dsl"]) {
    assert.ok(layers.has(l as never), `no module of ${l} in the graphs`);
  }
  assert.ok(edges.has("main.ts\0cli/mod.ts"), "main.ts imports cli/mod.ts");
  const bad = violations(edges.values());
  assert.equal(bad.length, 0, `${bad.length} import(s) against the layering:\n${bad.join("\n")}`);
});

Deno.test("violations() names every edge against the rules and passes the allowed ones", () => {
  const edges: Edge[] = [
    { from: "main.ts", to: "cli/mod.ts" },
    { from: "cli/run.ts", to: "mod.ts" },
    { from: "mod.ts", to: "interpreter/run.ts" },
    { from: "interpreter/run.ts", to: "providers/batch/local.ts" },
    { from: "interpreter/run.ts", to: "providers/_shared/shell.ts" },
    { from: "providers/batch/ssh.ts", to: "providers/_shared/ssh_auth.ts" },
    { from: "providers/staging/rsync.ts", to: "dsl/model.ts" },
    { from: "providers/_shared/ssh_session.ts", to: "deps/ssh2.ts" },
    { from: "dsl/validate.ts", to: "schemas/validators.ts" },
    { from: "schemas/generate.ts", to: "deps/ajv.ts" },
    // Against the rules:
    { from: "providers/batch/ssh.ts", to: "interpreter/command.ts" },
    { from: "providers/batch/ssh.ts", to: "providers/staging/secrets.ts" },
    { from: "providers/staging/registry.ts", to: "interpreter/urls.ts" },
    { from: "providers/staging/sftp.ts", to: "providers/batch/types.ts" },
    { from: "providers/_shared/ssh_auth.ts", to: "dsl/model.ts" },
    { from: "dsl/builder.ts", to: "main.ts" },
    { from: "dsl/load.ts", to: "providers/_shared/urls.ts" },
    { from: "mod.ts", to: "cli/mod.ts" },
    { from: "interpreter/run.ts", to: "mod.ts" },
    { from: "schemas/x.ts", to: "dsl/model.ts" },
    { from: "deps/ajv.ts", to: "deps/yaml.ts" },
    { from: "bench/run.ts", to: "mod.ts" },
    { from: "interpreter/run.ts", to: "examples/x.ts" },
  ];
  assert.deepEqual(violations(edges), [
    "bench/run.ts imports mod.ts: bench/run.ts is in no layer",
    "deps/ajv.ts imports deps/yaml.ts: deps may not import deps",
    "dsl/builder.ts imports main.ts: dsl may not import cli",
    "dsl/load.ts imports providers/_shared/urls.ts: dsl may not import providers/_shared",
    "interpreter/run.ts imports examples/x.ts: examples/x.ts is in no layer",
    "interpreter/run.ts imports mod.ts: interpreter may not import api",
    "mod.ts imports cli/mod.ts: api may not import cli",
    "providers/_shared/ssh_auth.ts imports dsl/model.ts: providers/_shared may not import dsl",
    "providers/batch/ssh.ts imports interpreter/command.ts: providers/batch may not import interpreter",
    "providers/batch/ssh.ts imports providers/staging/secrets.ts: providers/batch may not import providers/staging",
    "providers/staging/registry.ts imports interpreter/urls.ts: providers/staging may not import interpreter",
    "providers/staging/sftp.ts imports providers/batch/types.ts: providers/staging may not import providers/batch",
    "schemas/x.ts imports dsl/model.ts: schemas may not import dsl",
  ]);
});

Deno.test("localEdges() keeps imports between local source modules only", () => {
  const root = "file:///repo/";
  const graph: DenoInfo = {
    modules: [
      {
        specifier: "file:///repo/providers/batch/wrapper.ts",
        kind: "esm",
        dependencies: [
          { code: { specifier: "node:path" } },
          { code: { specifier: "file:///repo/providers/_shared/shell.ts" } },
          { type: { specifier: "file:///repo/providers/batch/types.ts" } },
          { code: { specifier: "file:///repo/providers/batch/wrapper.sh" } },
          { code: { specifier: "file:///repo/old%20name.ts" } },
          { code: { specifier: "file:///elsewhere/x.ts" } },
          // The same module twice (code and type) is one edge.
          {
            code: { specifier: "file:///repo/providers/_shared/shell.ts" },
            type: { specifier: "file:///repo/providers/_shared/shell.ts" },
          },
        ],
      },
      { specifier: "file:///repo/providers/batch/wrapper.sh", kind: "external" },
      { specifier: "file:///repo/deno.json", kind: "asserted" },
      { specifier: "npm:/yaml@2.9.1", kind: "npm" },
      {
        specifier: "file:///repo/main.ts",
        kind: "esm",
        dependencies: [{ code: { specifier: "file:///repo/deno.json" } }, {
          code: { specifier: "file:///repo/cli.ts" },
        }],
      },
    ],
    redirects: { "file:///repo/cli.ts": "file:///repo/cli/mod.ts" },
  };
  assert.deepEqual(localEdges(graph, root), [
    { from: "providers/batch/wrapper.ts", to: "providers/_shared/shell.ts" },
    { from: "providers/batch/wrapper.ts", to: "providers/batch/types.ts" },
    { from: "providers/batch/wrapper.ts", to: "old name.ts" },
    { from: "main.ts", to: "cli/mod.ts" },
  ]);
});
