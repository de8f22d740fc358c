import assert from "node:assert/strict";
import { join } from "node:path";
import { StatCache } from "./stat_cache.ts";
import { checkWorkflowFile } from "./check.ts";
import { StateStore } from "./state.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-stat-cache-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("StatCache remembers a lookup until told to forget it; another cache looks again", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "late.txt");
    const stats = new StatCache();
    assert.equal(stats.stat(path), null);
    await Deno.writeTextFile(path, "now here\n");
    assert.equal(stats.stat(path), null, "remembered");
    assert.equal(new StatCache().stat(path)?.size, 9);
    stats.forget(path);
    assert.equal(stats.stat(path)?.size, 9);
  });
});

Deno.test("checkWorkflowFile() in a long-lived process sees an input made after an earlier check", async () => {
  await withDir(async (dir) => {
    const wf = join(dir, "workflow.yaml");
    await Deno.writeTextFile(
      wf,
      [
        "ferry: 1",
        "name: late",
        "apps:",
        "  count:",
        "    inputs: { data: data.txt }",
        "    outputs: { n: n.txt }",
        '    shell: "wc -l < ${{ inputs.data }} > ${{ outputs.n }}"',
        "",
      ].join("\n"),
    );
    const before = await checkWorkflowFile(wf);
    assert.deepEqual(before.diagnostics.map((d) => d.code), ["missing-input"]);
    await Deno.writeTextFile(join(dir, "data.txt"), "1\n2\n");
    const after = await checkWorkflowFile(wf);
    assert.deepEqual(after.diagnostics, []);
    assert.ok(after.plan);
  });
});

Deno.test("a state store opened later hashes a file made after an earlier store looked for it", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "out.txt");
    const first = StateStore.open(dir);
    try {
      assert.equal(first.hashPath(path), undefined);
    } finally {
      first.close();
    }
    await Deno.writeTextFile(path, "made\n");
    const second = StateStore.open(dir);
    try {
      assert.equal(second.hashPath(path)?.size, 5);
    } finally {
      second.close();
    }
  });
});
