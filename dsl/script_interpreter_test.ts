import assert from "node:assert/strict";
import { join } from "node:path";
import { scriptInterpreter } from "./script_interpreter.ts";

async function withFiles(
  files: Record<string, string>,
  fn: (dir: string) => void,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(join(dir, name), text);
    }
    fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("scriptInterpreter() takes the extension first, then the #! line as Linux reads it", async () => {
  await withFiles({
    "a.py": "#!/bin/sh\n",
    "b.R": "",
    "c.r": "",
    "d.SH": "",
    "e.jl": "",
    "f.mjs": "",
    "tool": "#!/usr/bin/env -S python3 -u\r\nprint(1)\n",
    "bare": "#! /usr/bin/perl",
    "spaces": "#!   \nx\n",
    "plain.txt": "x\n",
  }, (dir) => {
    const of = (name: string) => scriptInterpreter(join(dir, name));
    assert.deepEqual(of("a.py"), { ok: true, interpreter: ["python3"] });
    assert.deepEqual(of("b.R"), { ok: true, interpreter: ["Rscript"] });
    assert.deepEqual(of("c.r"), { ok: true, interpreter: ["Rscript"] });
    assert.deepEqual(of("d.SH"), { ok: true, interpreter: ["bash"] });
    assert.deepEqual(of("e.jl"), { ok: true, interpreter: ["julia"] });
    assert.deepEqual(of("f.mjs"), { ok: true, interpreter: "deno" });
    assert.deepEqual(of("tool"), { ok: true, interpreter: ["/usr/bin/env", "-S python3 -u"] });
    assert.deepEqual(of("bare"), { ok: true, interpreter: ["/usr/bin/perl"] });
    const none = {
      ok: false,
      code: "unknown-interpreter",
      why:
        "its extension names no interpreter (.py, .R, .r, .sh, .bash, .jl, .ts, .js, .mjs) and it has no #! line",
    };
    assert.deepEqual(of("spaces"), none);
    assert.deepEqual(of("plain.txt"), none);
    assert.deepEqual(of("missing.py"), {
      ok: false,
      code: "missing-script",
      why: "there is no such file",
    });
    assert.deepEqual(scriptInterpreter(dir), {
      ok: false,
      code: "missing-script",
      why: "it is not a file",
    });
  });
});
