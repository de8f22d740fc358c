/**
 * `ferry` on the PATH: the README's install command, run in a copy of the checkout whose path
 * has a space and a non-ASCII letter, with a temporary `--root`, gives a `ferry` that checks
 * and runs a workflow in a folder outside the checkout (a function app included: its runner
 * starts from the installed command too).
 */

import assert from "node:assert/strict";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { ROOT, withTemp } from "./_run.ts";

/** The documented install command, run in the checkout (README, .ci/run); `--root` only here. */
export const INSTALL = [
  "install",
  "-g",
  "-A",
  "-f",
  "-n",
  "ferry",
  "--config",
  "deno.json",
  "main.ts",
];

const dec = new TextDecoder();

const WORKFLOW = `ferry: 1
name: hello
params:
  names: [a, b]
apps:
  hi:
    for_each: { n: "\${{ params.names }}" }
    outputs: { o: "hi/\${{ n }}.txt" }
    command: [echo, "hello \${{ n }}"]
    stdout: "\${{ outputs.o }}"
  shout:
    inputs: { his: "\${{ apps.hi.outputs.o }}" }
    outputs: { o: all.txt }
    function: ./steps.ts#shout
`;

const STEPS = `export function shout(args: { inputs: { his: string[] }; outputs: { o: string } }) {
  const text = args.inputs.his.map((f) => Deno.readTextFileSync(f)).join("");
  Deno.writeTextFileSync(args.outputs.o, text.toUpperCase());
}
`;

/** What is not part of ferry itself, left out of the copy. */
const NOT_COPIED = new Set([
  ".git",
  ".ferry",
  "node_modules",
  "tests",
  "bench",
  "docs",
  "examples",
]);

Deno.test("install: the documented command puts a working ferry on the PATH", async () => {
  await withTemp(async (tmp) => {
    const checkout = join(tmp, "my ferry é");
    const root = join(tmp, "root");
    const work = join(tmp, "work");
    await Deno.mkdir(work);
    await Deno.mkdir(checkout);
    for await (const e of Deno.readDir(ROOT)) {
      if (!NOT_COPIED.has(e.name)) {
        await cp(join(ROOT, e.name), join(checkout, e.name), { recursive: true });
      }
    }
    const installed = await new Deno.Command(Deno.execPath(), {
      args: [...INSTALL, "--root", root],
      cwd: checkout,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const installErr = dec.decode(installed.stderr);
    assert.equal(installed.code, 0, installErr);
    assert.ok(!installErr.includes("Ignored build scripts"), installErr);

    const ferry = async (...args: string[]) => {
      const out = await new Deno.Command("ferry", {
        args,
        cwd: work,
        env: { NO_COLOR: "1", PATH: `${join(root, "bin")}:${Deno.env.get("PATH")}` },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    const version = await ferry("--version");
    assert.deepEqual(version, { code: 0, stdout: `${denoJson.version}\n`, stderr: "" });

    await Deno.writeTextFile(join(work, "workflow.yaml"), WORKFLOW);
    await Deno.writeTextFile(join(work, "steps.ts"), STEPS);
    const check = await ferry("check", "workflow.yaml");
    assert.deepEqual(check, {
      code: 0,
      stdout: "✓ workflow.yaml: valid, 3 tasks, 0 errors, 0 warnings\n",
      stderr: "",
    });
    const run = await ferry("run", "workflow.yaml");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout + run.stderr, /^done: 3 succeeded, 0 failed in /m);
    assert.equal(await Deno.readTextFile(join(work, "all.txt")), "HELLO A\nHELLO B\n");
  });
});
