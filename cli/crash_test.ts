import assert from "node:assert/strict";
import { RunCrashed } from "../interpreter/run.ts";
import { reportCrash } from "./crash.ts";

Deno.test("reportCrash: one line and the log's path, never the stack; exit 70", () => {
  let out = "";
  const code = reportCrash(new TypeError("x is undefined\nsecond line"), (t) => (out += t), [
    "run",
    "w.yaml",
  ]);
  assert.equal(code, 70);
  const m = out.match(
    /^ferry: internal error \(a bug in ferry\): x is undefined\nferry: the details are in (\S+); please report it with that file\.\n$/,
  );
  assert.ok(m, out);
  const log = Deno.readTextFileSync(m[1]!);
  assert.match(log, /command: \["ferry","run","w.yaml"\]/);
  assert.match(log, /TypeError: x is undefined\nsecond line\n\s+at /);
  Deno.removeSync(m[1]!);
});

Deno.test("reportCrash: a crashed run points at the run's own crash log; controls escaped", () => {
  let out = "";
  reportCrash(new RunCrashed("bad \x1b[31mred", "/w/.ferry/runs/r/crash-1.log"), (t) => (out += t));
  assert.equal(
    out,
    "ferry: internal error (a bug in ferry): bad \\x1b[31mred\nferry: the details are in /w/.ferry/runs/r/crash-1.log; please report it with that file.\n",
  );
});
