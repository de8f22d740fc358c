import assert from "node:assert/strict";
import type { Executor, StagingRule } from "../dsl/model.ts";
import { decide, inputRel, rewritePath, stagedPath } from "./staging.ts";

function executor(
  filesystem: Executor["filesystem"],
  rules: StagingRule[] = [],
  extra: Partial<Executor> = {},
): Executor {
  return {
    name: "c",
    provider: "slurm",
    options: {},
    filesystem,
    bundle: "none",
    env: {},
    staging: rules,
    ...extra,
  };
}
const rule = (match: string, action: string, more: Partial<StagingRule> = {}): StagingRule => ({
  match,
  action,
  options: {},
  ...more,
});
const O = { workspace: "/ws", slot: "x" };

Deno.test("decide() shows the task workspace files at their workspace-relative paths on a shared filesystem, other files where they are", () => {
  assert.deepEqual(decide(executor("shared"), "file:///ws/d/a.txt", "input", O), {
    kind: "none",
    action: "shared",
    path: "d/a.txt",
    rule: "default",
  });
  assert.deepEqual(decide(executor("shared"), "file:///ref/g.fa", "input", O), {
    kind: "none",
    action: "shared",
    path: "/ref/g.fa",
    rule: "default",
  });
  const shared = executor("shared", [rule("file:///*", "shared")]);
  assert.deepEqual(decide(shared, "file:///ws/d/a.txt", "input", O), {
    kind: "none",
    action: "shared",
    path: "d/a.txt",
    rule: 0,
  });
  assert.deepEqual(decide(executor("shared"), "file:///ws/o/b.txt", "output", O), {
    kind: "none",
    action: "shared",
    path: "o/b.txt",
    rule: "default",
  });
});

Deno.test("decide() skips cvmfs and rewrites parrot paths without a transfer", () => {
  const ex = executor("shared", [
    rule("file:///cvmfs/*", "skip"),
    rule("chirp://:host(.+)/*", "rewrite", { to: "/chirp/:host/:0" }),
  ]);
  assert.deepEqual(decide(ex, "file:///cvmfs/sw.org/t.dat", "input", O), {
    kind: "in-place",
    action: "skip",
    path: "/cvmfs/sw.org/t.dat",
    rule: 0,
  });
  assert.deepEqual(decide(ex, "chirp://srv.example.org/data/x.bin", "input", O), {
    kind: "in-place",
    action: "rewrite",
    path: "/chirp/srv.example.org/data/x.bin",
    rule: 1,
  });
});

Deno.test("decide() copies scratch files into the task directory on the node", () => {
  const ex = executor("shared", [rule("file:///shared/*", "scratch")], {
    scratch: "${SLURM_TMPDIR}",
  });
  assert.deepEqual(decide(ex, "file:///shared/big.h5", "input", O), {
    kind: "wrap",
    action: "scratch",
    path: "_inputs/shared/big.h5",
    rule: 0,
  });
});

Deno.test("decide() makes remote inputs a transfer step on shared storage, and a node-side fetch without it", () => {
  const url = "https://h.org/r/a.fq";
  assert.deepEqual(decide(executor("shared"), url, "input", O), {
    kind: "transfer",
    action: "https",
    path: stagedPath("/ws", url),
    rule: "default",
    storage: "workspace",
  });
  assert.deepEqual(decide(executor("executor-shared"), url, "input", O), {
    kind: "transfer",
    action: "https",
    path: stagedPath("/ws", url),
    rule: "default",
    storage: "executor:c",
  });
  assert.deepEqual(decide(executor("none"), url, "input", O), {
    kind: "wrap",
    action: "https",
    path: "_inputs/h.org/r/a.fq",
    rule: "default",
  });
  assert.deepEqual(decide(executor("none"), "file:///ws/a.txt", "input", O), {
    kind: "wrap",
    action: "copy",
    path: "a.txt",
    rule: "default",
  });
});

Deno.test("decide() stages outputs to URLs out after the task, and places shared links in the task directory", () => {
  assert.deepEqual(decide(executor("shared"), "sftp://h/up/r.txt", "output", O), {
    kind: "transfer",
    action: "sftp",
    path: "_outputs/x/r.txt",
    rule: "default",
    storage: "workspace",
  });
  const linked = executor("shared", [
    rule("file:///*", "shared", { options: { link: "symlink" } }),
  ]);
  assert.deepEqual(decide(linked, "file:///ws/a.txt", "input", O), {
    kind: "none",
    action: "shared",
    path: "a.txt",
    rule: 0,
    link: "symlink",
  });
});

Deno.test("inputRel() keeps files that belong together side by side, whatever their slots", () => {
  assert.equal(inputRel("file:///ws/sorted/A.bam", O), "sorted/A.bam");
  assert.equal(inputRel("file:///ws/sorted/A.bam.bai", { ...O, slot: "bai" }), "sorted/A.bam.bai");
  assert.equal(inputRel("file:///ref/g.fa", O), "_inputs/ref/g.fa");
  assert.equal(inputRel("file:///ref/g.fa.fai", { ...O, slot: "y" }), "_inputs/ref/g.fa.fai");
  assert.equal(inputRel("https://h.org:8443/d/a%20b.bam", O), "_inputs/h.org:8443/d/a b.bam");
  assert.equal(inputRel("https://h.org/d/..%2Fx/y", O), "_inputs/h.org/d/..%2Fx/y");
  assert.match(inputRel("https://h.org/get?id=1", O), /^_inputs\/h\.org\/[0-9a-f]{8}\/get$/);
  assert.notEqual(inputRel("https://h.org/get?id=1", O), inputRel("https://h.org/get?id=2", O));
});

Deno.test("decide() names the rules it tried when none claims a file", () => {
  const ex = executor("shared", [rule("file:///cvmfs/*", "skip")]);
  assert.deepEqual(decide(ex, "s3://bucket/k", "input", O), {
    unclaimed: true,
    tried: [
      "file:///cvmfs/* (skip)",
      'the defaults for filesystem "shared" (file:, http:, https:, ftp:, ftps:, sftp:, rsync:, rsync+ssh:)',
    ],
  });
});

Deno.test("rewritePath() fills named and numbered groups", () => {
  assert.equal(rewritePath("/chirp/:host/:0", { host: "h", "0": "a/b" }), "/chirp/h/a/b");
});
