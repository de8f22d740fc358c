/**
 * examples/snakemake-tutorial with its tools in a podman container: in a
 * temporary copy, a variant of workflow.yaml (the example's files stay as
 * they are) runs bwa, samtools, bcftools and the Python plot in an image the
 * test builds from busybox-static and the host's own programs, libraries and
 * Python standard library (no registry is reachable here), and removes. The
 * data apps are functions (Deno), which run outside (`container: false`). The
 * calls are the example's reference and the planted SNPs; a second run does
 * nothing. Under CI=true a missing podman or tool fails; elsewhere this test
 * skips, loudly.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "../deps/yaml.ts";
import { copyExamples } from "./_examples.ts";
import { ferryRun, writeWorkflow } from "./_run.ts";
import { haveService } from "./_services.ts";
import { makeImage, PODMAN_RUNTIME } from "./_podman.ts";
import { bySample, calls, truth } from "./_snakemake_tutorial.ts";

const TOOLS = ["/usr/bin/bwa", "/usr/bin/samtools", "/usr/bin/bcftools", "/usr/bin/python3"];
const HAVE = haveService("snakemake tutorial in podman", [
  "podman",
  "runc",
  "busybox",
  "tar",
  "ldd",
  ...TOOLS,
]);

/** The standard library of the host's /usr/bin/python3 (`/usr/lib/python3.X`; not PATH's). */
async function pythonStdlib(): Promise<string> {
  const out = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", "import os, sysconfig; print(os.path.realpath(sysconfig.get_path('stdlib')))"],
    stdout: "piped",
  }).output();
  assert.ok(out.success);
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * The example's workflow with every app in `image` but the data functions, and
 * one more app that shows where the shell apps run: in a container (podman's
 * /run/.containerenv), on the image's root (no Debian release file), with the
 * image's tools.
 */
async function containerWorkflow(ws: string, image: string): Promise<string> {
  const wf = parse(await Deno.readTextFile(join(ws, "workflow.yaml")));
  wf.defaults = { ...wf.defaults, container: image };
  for (const fn of ["genome", "reads"]) wf.apps[fn].container = false;
  wf.apps.where = {
    outputs: { o: "where.txt" },
    shell: [
      "test -f /run/.containerenv",
      "test ! -e /etc/debian_version",
      'for t in bwa samtools bcftools python3; do command -v "$t"; done > ${{ outputs.o }}',
    ].join("\n"),
  };
  return await writeWorkflow(ws, wf, "container.yaml");
}

Deno.test({
  name:
    "snakemake tutorial in podman: the tools in a container call the example's SNPs, and a second run does nothing",
  ignore: !HAVE,
  sanitizeResources: false,
  fn: async () => {
    await using ex = await copyExamples("snakemake-tutorial");
    const ws = ex.path("snakemake-tutorial");
    const image = await makeImage(ex.tmp, { programs: TOOLS, trees: [await pythonStdlib()] });
    try {
      const site = await writeWorkflow(ex.tmp, {
        "ferry-site": 1,
        executors: { local: { provider: "local", container_runtime: PODMAN_RUNTIME } },
      }, "site.yaml");
      const wf = await containerWorkflow(ws, image.tag);
      const r = await ferryRun(["--site", site, wf]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^plan: 17 to run, 0 cached$/m);
      assert.match(r.stderr, /^done: 17 succeeded, 0 failed in /m);
      assert.equal(
        await Deno.readTextFile(join(ws, "where.txt")),
        TOOLS.map((t) => `${t}\n`).join(""),
      );

      const table = await calls(ws);
      assert.equal(table, await Deno.readTextFile(join(ws, "expected_calls.tsv")));
      assert.deepEqual(bySample(table), await truth(ws));
      // The plot, by the image's Python: a histogram of the 8 calls' QUALs.
      const svg = await Deno.readTextFile(join(ws, "plots/quals.svg"));
      assert.match(svg, />QUAL \(8 records\)<\/text>\n<\/svg>\n$/);

      const again = await ferryRun(["--site", site, wf]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /^plan: 0 to run, 17 cached$/m);
      assert.match(again.stderr, /^done: 0 succeeded, 17 cached, 0 failed in /m);
      // Every container went with its task.
      assert.deepEqual(await image.containers(), []);
    } finally {
      await image.remove();
    }
  },
});
