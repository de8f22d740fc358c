/**
 * deps/ssh2.ts declares the part of npm:ssh2 ferry uses; here they are checked against the
 * real package and npm:@types/ssh2. The check runs `deno check` on a module in a temporary
 * folder, not as an import of this file: npm:@types/ssh2 brings @types/node 18 along, which
 * would replace Deno's own Node types in the type check of every other file (no node:sqlite,
 * no process.getBuiltinModule).
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { loadSsh2, SSH2_SPECIFIER } from "../deps/ssh2.ts";
import { ROOT, withTemp } from "./_run.ts";

const dec = new TextDecoder();

/** The module `deno check` must accept: the real package is a `Ssh2`, a wrong one is not. */
const CHECK = `// @ts-types="npm:@types/ssh2@1.15.6"
import real from "${SSH2_SPECIFIER}";
import type { Client, Ssh2 } from "${join(ROOT, "deps", "ssh2.ts")}";

// The point of the file: an error here means deps/ssh2.ts no longer matches the package.
export const declared: Ssh2 = real;

// The check can fail: the package refuses a number where ferry would pass one.
type Wrong = Omit<Ssh2, "Client"> & {
  Client: new () => Omit<Client, "exec"> & { exec: (command: number) => Client };
};
// @ts-expect-error exec takes a string
export const wrong: Wrong = real;
`;

Deno.test("deps/ssh2.ts declares ssh2's API as npm:@types/ssh2 types it (deno check)", async () => {
  await withTemp(async (dir) => {
    await Deno.writeTextFile(join(dir, "check.ts"), CHECK);
    // ferry's compiler options (strict, exactOptionalPropertyTypes ...) and its lock file.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--config", join(ROOT, "deno.json"), "check.ts"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    // Nothing but the check itself (Deno may also say it fetched the package's metadata).
    const said = dec.decode(out.stderr).split("\n").filter((l) => !l.startsWith("Download "));
    assert.equal(said.join("\n"), "Check check.ts\n");
  });
});

Deno.test("loadSsh2() loads the pinned package once: Client and utils.parseKey work", async () => {
  const loaded = await loadSsh2();
  assert.equal(await loadSsh2(), loaded);
  assert.equal(typeof new loaded.Client().connect, "function");
  const parsed = loaded.utils.parseKey(Buffer.from("not a key"));
  assert.ok(parsed instanceof Error);
  assert.equal(parsed.message, "Unsupported key format");
});
