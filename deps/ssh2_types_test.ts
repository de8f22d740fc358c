/**
 * The declarations in `ssh2.ts` against the real npm:ssh2 and npm:@types/ssh2: `deno check`
 * (and `deno test`) fails here when ferry's local types promise something the package does not
 * have, or call it with arguments its types refuse (the function members are properties, so
 * their parameters are compared strictly).
 */

import assert from "node:assert/strict";
// The real package, inline: deps/ssh2.ts must not name it in an import, and this is its check.
// @ts-types="npm:@types/ssh2@1.15.6"
// deno-lint-ignore no-import-prefix
import real from "npm:ssh2@1.17.0";
import { loadSsh2, type Ssh2, SSH2_SPECIFIER } from "./ssh2.ts";

// The whole point: a compile error here means ssh2.ts no longer matches the package.
const declared: Ssh2 = real;

Deno.test("loadSsh2() loads the pinned package, the module the types were checked against", async () => {
  const loaded = await loadSsh2();
  assert.equal(loaded, declared);
  assert.equal(loaded.Client, real.Client);
  assert.equal(await loadSsh2(), loaded);
  assert.equal(SSH2_SPECIFIER, "npm:ssh2@1.17.0");
});

Deno.test("loadSsh2() exposes the parts ferry calls: Client and utils.parseKey", async () => {
  const { Client, utils } = await loadSsh2();
  assert.equal(typeof new Client().connect, "function");
  const parsed = utils.parseKey(new TextEncoder().encode("not a key") as never);
  assert.ok(parsed instanceof Error);
});
