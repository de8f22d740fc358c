import assert from "node:assert/strict";
import { narrowed } from "./function_worker.ts";

Deno.test("function worker: a least-privilege call's Web Worker gets its lists, paths absolute against its directory, and nothing else", () => {
  const p = {
    read: [".", "../in,put", "/etc/hostname", "."],
    write: ["./out"],
    net: ["example.com:443"],
    env: ["HOME"],
    run: [],
    all: false,
  };
  assert.deepEqual(narrowed(p, "/w/a b/work"), {
    read: ["/w/a b/work", "/w/a b/in,put", "/etc/hostname"],
    write: ["/w/a b/work/out"],
    net: ["example.com:443"],
    env: ["HOME"],
    run: false,
    sys: false,
    ffi: false,
    import: false,
  });
});
