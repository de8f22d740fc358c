/**
 * A workflow script with a typo in a reference (`count.outputs.nn`), run from its own folder as
 * users run it: plain `deno run` ends with the builder's located error (exit code 2, no stack),
 * and the documented `deno run --check` stops at the type error on the same line.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, withTemp } from "./_run.ts";

const SCRIPT = `import { workflow } from ${JSON.stringify(join(ROOT, "mod.ts"))};

const wf = workflow("words", { params: { words: ["alpha", "beta"] } });
const count = wf.app("count", {
  forEach: { word: wf.param("words") },
  outputs: { n: "counts/\${{ word }}.txt" },
  shell: "echo \${{ word }} | wc -c > \${{ outputs.n }}",
});
wf.app("total", {
  inputs: { counts: count.outputs.nn },
  outputs: { sum: "total.txt" },
  shell: "cat \${{ inputs.counts }} > \${{ outputs.sum }}",
});
if (import.meta.main) await wf.main();
`;

const dec = new TextDecoder();

async function deno(dir: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: dir,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Standard error without Deno's once-per-folder notice about npm build scripts. */
function withoutNotice(stderr: string): string {
  return stderr.replace(/^╭ Warning\n(│.*\n)*╰─\n/m, "");
}

Deno.test("builder script: a typo in an output reference exits 2 naming the script's line", async () => {
  await withTemp(async (dir) => {
    await Deno.writeTextFile(join(dir, "flow.ts"), SCRIPT);
    const r = await deno(dir, "run", "-A", "flow.ts", "check");
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.equal(
      withoutNotice(r.stderr),
      `error: ${join(dir, "flow.ts")}:10:35: Cannot use output "nn" of app "count": ` +
        `did you mean "n"? (outputs of app "count": n)\n`,
    );
    assert.equal(await Deno.stat(join(dir, ".ferry")).catch(() => undefined), undefined);
  });
});

Deno.test("builder script: deno run --check stops at the same line with a type error", async () => {
  await withTemp(async (dir) => {
    await Deno.writeTextFile(join(dir, "flow.ts"), SCRIPT);
    const r = await deno(dir, "run", "--check", "-A", "flow.ts", "check");
    assert.equal(r.code, 1);
    const err = withoutNotice(r.stderr);
    assert.ok(
      err.includes(
        `TS2339 [ERROR]: Property 'nn' does not exist on type '{ readonly n: Ref; }'.\n` +
          `  inputs: { counts: count.outputs.nn },\n`,
      ),
      err,
    );
    assert.ok(err.includes(`at file://${join(dir, "flow.ts")}:10:35\n`), err);
  });
});
