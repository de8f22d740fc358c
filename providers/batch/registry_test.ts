import assert from "node:assert/strict";
import { join } from "node:path";
import { fakeExecutor } from "./_fake_scheduler.ts";
import {
  BATCH_PROVIDERS,
  BatchProviderError,
  openBatchProvider,
  openBatchProviders,
} from "./registry.ts";
import { BUILTIN_PROVIDERS } from "../../dsl/rules/staging_rules.ts";

async function inTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-registry-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A provider module that names itself after what it was given, and counts closes in `closed`. */
const MODULE = `export const closed = [];
export default (ex, context) => ({
  name: \`\${ex.name} from \${context.baseDir}\`,
  execute: () => Promise.reject(new Error("not run in this test")),
  close: () => { closed.push(ex.name); return Promise.resolve(); },
});
`;

Deno.test("BATCH_PROVIDERS names exactly the providers ferry check knows", () => {
  assert.deepEqual(Object.keys(BATCH_PROVIDERS).sort(), [...BUILTIN_PROVIDERS].sort());
  assert.ok(Object.isFrozen(BATCH_PROVIDERS));
});

Deno.test("openBatchProvider() loads a module path relative to the declaring file's folder", async () => {
  await inTemp(async (dir) => {
    await Deno.mkdir(join(dir, "site"));
    await Deno.writeTextFile(join(dir, "site", "mine.ts"), MODULE);
    const ex = fakeExecutor({ name: "gpu", provider: "./mine.ts" });
    const p = await openBatchProvider(ex, { baseDir: join(dir, "site") });
    assert.equal(p.name, `gpu from ${join(dir, "site")}`);
  });
});

Deno.test("openBatchProvider() refuses what cannot work with the executor's name and the reason", async () => {
  const refused = async (provider: string, why: RegExp, extra = {}) => {
    const ex = fakeExecutor({ name: "x", provider, ...extra });
    await assert.rejects(openBatchProvider(ex, { baseDir: "/nowhere" }), (e) => {
      assert.ok(e instanceof BatchProviderError);
      assert.equal(e.executor, "x");
      assert.match(e.message, why);
      return true;
    });
  };
  await refused("condor9", /^its provider "condor9" is not available in this version of ferry$/);
  await refused(
    "slurm",
    /^"filesystem: none" with the slurm provider needs via: ferry copies attempts to a cluster only through its login node \(via: ssh:\/\/user@login-host\)$/,
    { filesystem: "none" },
  );
  // An SSH setting that cannot work (ssh_auth.ts's SshSetupError) is the user's to fix, too.
  await refused("ssh", /^the ssh provider needs host: user@host\[:port\] \(where its tasks run\)$/);
  await refused(
    "./gone.ts",
    /^its provider module \/nowhere\/gone\.ts does not load: Module not found/,
  );
});

Deno.test("openBatchProviders() shares one local provider; on a failure it closes what it opened", async () => {
  const locals = await openBatchProviders(
    [
      fakeExecutor({ name: "a", provider: "local" }),
      fakeExecutor({ name: "b", provider: "local" }),
    ],
    () => ({ baseDir: "/" }),
  );
  assert.equal(locals.get("a"), locals.get("b"));
  assert.equal(locals.get("a")!.name, "local");
  await locals.get("a")!.close?.();
  await inTemp(async (dir) => {
    await Deno.writeTextFile(join(dir, "mine.ts"), MODULE);
    await assert.rejects(
      openBatchProviders(
        [
          fakeExecutor({ name: "first", provider: "./mine.ts" }),
          fakeExecutor({ name: "second", provider: "./missing.ts" }),
        ],
        () => ({ baseDir: dir }),
      ),
      BatchProviderError,
    );
    const mod = await import(`file://${join(dir, "mine.ts")}`);
    assert.deepEqual(mod.closed, ["first"]);
  });
});
