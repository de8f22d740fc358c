/**
 * Intermediate files stay where they were made (issue 20, placement by data
 * location), against a real sshd as an ssh executor with `filesystem: none`:
 * a chain a → b → c on it reads a temp intermediate in place (linked from the
 * run's store on the host, never sent back nor uploaded again); a non-temp
 * output read there and by a task on `local` comes to the workspace by one
 * transfer of its own; a second run does nothing; a run where the host's copy
 * is gone (a new run, its maker cached) sends the workspace's copy instead.
 * A ledger outside the workspace counts which tasks really ran.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "../deps/yaml.ts";
import { runCli } from "./_cli.ts";
import { haveService } from "./_services.ts";
import { type Sshd, startSshd } from "./_sshd.ts";
import { startSlurm } from "./_slurm.ts";
import { createHash } from "node:crypto";
import { Ajv2020 } from "../deps/ajv.ts";
import eventsSchema from "../schemas/events.schema.json" with { type: "json" };
import { RemoteCopies } from "../providers/batch/remote_copy.ts";
import { executorSsh, sshRunner } from "../providers/batch/ssh_runner.ts";
import { exists, ferryRun, type Ran, runDirOf, walk, withTemp, writeWorkflow } from "./_run.ts";

const SSH_OK = haveService("sshd", ["/usr/sbin/sshd", "ssh-keygen", "ssh"]);
const SLURM_OK = haveService("Slurm", ["munged", "slurmctld", "slurmd", "sbatch", "squeue"]);

/** A temp output's name with shell syntax in it: every boundary on the host must quote it. */
const MID = "mid $(touch pwned) 'q'`x`\n.txt";
/** How ferry shows it (control characters escaped). */
const SHOWN = MID.replace("\n", "\\n");

/**
 * a → (temp MID) → b → (b.txt) → c, all on `remote`; d (two tasks) on local reads b.txt; c reads MID too.
 * `bExtra` runs at the end of b's script.
 */
function workflow(ledger: string, cCommand = "rev", bExtra = "") {
  const log = `echo "\${FERRY_TASK_ID}" >> ${ledger}`;
  return {
    ferry: 1,
    name: "kept",
    defaults: { executor: "remote" },
    apps: {
      a: {
        outputs: { mid: { path: MID, temp: true } },
        // (Made by the task: the script itself holds no copy of these bytes.)
        shell: `${log}; printf 'MID-%s-7f3a\\n' ONLY > \${{ outputs.mid }}`,
      },
      b: {
        inputs: { m: "${{ apps.a.outputs.mid }}" },
        outputs: { b: "b.txt" },
        // Where it read the file: a link into the run's store on the host.
        shell:
          `${log}; { wc -c < \${{ inputs.m }}; readlink \${{ inputs.m }}; } > \${{ outputs.b }}${bExtra}`,
      },
      c: {
        inputs: { b: "${{ apps.b.outputs.b }}", m: "${{ apps.a.outputs.mid }}" },
        outputs: { c: "c.txt" },
        shell:
          `${log}; { head -1 \${{ inputs.b }}; ${cCommand} \${{ inputs.m }}; } > \${{ outputs.c }}`,
      },
      d: {
        executor: "local",
        for_each: { n: [1, 2] },
        inputs: { b: "${{ apps.b.outputs.b }}" },
        outputs: { d: "d${{ n }}.txt" },
        shell: `${log}; cp \${{ inputs.b }} \${{ outputs.d }}`,
      },
    },
  };
}

/** How `remote` is reached: an ssh host, or a Slurm cluster through its login node. */
type Kind = "ssh" | "slurm";

/** A site file with `remote` as `kind`, with `filesystem: none`, through the test's sshd. */
async function remoteSite(ws: string, kind: Kind, sshd: Sshd, remoteDir: string) {
  const login = { identity_file: sshd.identity, known_hosts: sshd.knownHosts };
  const remote = kind === "ssh"
    ? {
      provider: "ssh",
      host: `${sshd.user}@127.0.0.1:${sshd.port}`,
      options: { ...login, remote_dir: remoteDir },
    }
    : {
      provider: "slurm",
      via: `ssh://${sshd.user}@127.0.0.1:${sshd.port}`,
      options: { ...login, remote_dir: remoteDir, partition: "debug" },
    };
  const site = join(ws, "site.yaml");
  const executors = { remote: { ...remote, filesystem: "none" } };
  await Deno.writeTextFile(site, stringify({ "ferry-site": 1, executors }));
  return site;
}

/** What a test gets: a workspace, a site file for the sshd, a ledger, and the host's directory. */
interface Host {
  readonly ws: string;
  readonly site: string;
  readonly ledger: string;
  readonly sshd: Sshd;
  readonly remoteDir: string;
  /** `ferry run --progress lines --site SITE ...args`. */
  run(...args: string[]): Promise<Ran>;
}

/** Run `fn` with a real sshd (and for `slurm`, a real cluster behind it), leaving nothing behind. */
async function withHost(kind: Kind, fn: (h: Host) => Promise<void>): Promise<void> {
  const cluster = kind === "slurm" ? await startSlurm() : undefined;
  const env = cluster ? { SLURM_CONF: cluster.env.SLURM_CONF! } : undefined;
  const sshd = await startSshd(env ? { setEnv: env } : {}).catch(async (e) => {
    await cluster?.stop();
    throw e;
  });
  const remoteDir = await Deno.makeTempDir({ prefix: "ferry-kept-host-" });
  const ledgerDir = await Deno.makeTempDir({ prefix: "ferry-kept-ledger-" });
  try {
    await withTemp(async (ws) => {
      const site = await remoteSite(ws, kind, sshd, remoteDir);
      // ferry's own environment knows no cluster: only the login node's shell does.
      const poll = cluster ? ["--poll-interval", "0.2"] : [];
      const run = (...args: string[]) =>
        ferryRun(["--progress", "lines", ...poll, "--site", site, ...args], {
          SLURM_CONF: join(ws, "no-such-slurm.conf"),
        });
      await fn({ ws, site, ledger: join(ledgerDir, "ran"), sshd, remoteDir, run });
    });
  } finally {
    await sshd.stop();
    await cluster?.stop();
    await Deno.remove(remoteDir, { recursive: true });
    await Deno.remove(ledgerDir, { recursive: true });
  }
}

/** What is left on the host: attempt copies and kept files (a scheduler's job scripts aside). */
async function leftOnHost(remoteDir: string): Promise<string[]> {
  return (await walk(remoteDir)).filter((f) => !/^[^/]+(\/jobs(\/.*)?)?$/.test(f));
}

/** The tasks the ledger says ran since the last call (and empties it). */
async function ran(ledger: string): Promise<string[]> {
  const text = await Deno.readTextFile(ledger).catch(() => "");
  await Deno.writeTextFile(ledger, "");
  return text.split("\n").filter(Boolean).sort();
}

Deno.test({
  name:
    "kept outputs: a temp intermediate on an ssh host is read there in place and never reaches the workspace; one transfer brings a result two tasks read elsewhere; a re-run does nothing",
  ignore: !SSH_OK,
  async fn() {
    await withHost("ssh", async (h) => {
      const { ws, site, ledger } = h;
      const wf = await writeWorkflow(ws, workflow(ledger));
      const plan = await runCli(["plan", "--site", site, wf]);
      assert.equal(plan.code, 0, plan.stderr);
      assert.equal(
        plan.stdout.replaceAll(ws, "/WS"),
        `Plan for workflow "kept" in /WS

a · 1 task on remote
  a  [run: new]
    out mid  ${SHOWN} (temp)  ⇒ kept on remote for b, c, never copied to the workspace

b · 1 task on remote
  b  [run: new]
    after a
    in  m  ${SHOWN}  ⇒ in place on remote, made by task a → ${SHOWN}
    out b  b.txt  ⇒ kept on remote for c, then its transfer → /WS/b.txt

c · 1 task on remote
  c  [run: new]
    after a, b
    in  b  b.txt  ⇒ in place on remote, made by task b → b.txt
    in  m  ${SHOWN}  ⇒ in place on remote, made by task a → ${SHOWN}
    out c  c.txt  ⇒ copy on the node, default → /WS/c.txt

d · 2 tasks on local, for_each n
  d[n=1]  [run: new]
    after b
    in  b  b.txt  ⇒ shared, default, after its transfer from remote (made by task b) → b.txt
    out d  d1.txt  ⇒ shared, default → /WS/d1.txt
  d[n=2]  [run: new]
    after b
    in  b  b.txt  ⇒ shared, default, after its transfer from remote (made by task b) → b.txt
    out d  d2.txt  ⇒ shared, default → /WS/d2.txt

transfers · 1
  in  kept   b.txt on remote → /WS/b.txt  (workspace, for d[n=1], d[n=2])

5 tasks (5 to run, 0 cached) · 1 transfer · local: 2 tasks, 0 transfers · remote: 3 tasks, 1 transfer
`,
      );
      const json = JSON.parse(
        (await runCli(["plan", "--format", "json", "--site", site, wf]))
          .stdout,
      );
      const byId = (id: string) => json.tasks.find((t: { id: string }) => t.id === id);
      assert.deepEqual(byId("a").outputs[0].keep, {
        executor: "remote",
        readers: ["b", "c"],
        deliver: false,
      });
      assert.deepEqual(byId("c").inputs.map((f: { kept: unknown }) => f.kept), [
        { executor: "remote", task: "b" },
        { executor: "remote", task: "a" },
      ]);
      assert.deepEqual(byId("d[n=2]").inputs[0].transfer, `in:kept:remote:file://${ws}/b.txt`);

      await chainRuns(h, wf);
    });
  },
});

/**
 * The chain runs: b and c read on the host in place, the temp file never comes here, one
 * transfer brings b.txt for d, the host keeps nothing after; a second run does nothing; when c
 * changes, a makes the temp file again, b is skipped, and c reads b.txt sent from here.
 */
async function chainRuns(h: Host, wf: string): Promise<void> {
  const { ws, ledger, remoteDir } = h;
  const r = await h.run(wf);
  assert.equal(r.code, 0, r.stderr);
  const runId = runDirOf(r).split("/").at(-1)!;
  assert.deepEqual(await ran(ledger), ["a", "b", "c", "d[n=1]", "d[n=2]"]);
  // b read the temp file on the host, in place: a link into the run's store there.
  const [size, link] = (await Deno.readTextFile(join(ws, "b.txt"))).trim().split("\n");
  assert.equal(size, "14");
  assert.match(
    link!,
    new RegExp(`^${remoteDir}/${runId}/\\.keep/[0-9a-f]{16}/mid_touch_pwned_q_x_\\.txt$`),
  );
  assert.equal(await Deno.readTextFile(join(ws, "c.txt")), "14\na3f7-YLNO-DIM\n");
  for (const n of [1, 2]) {
    assert.equal(await Deno.readTextFile(join(ws, `d${n}.txt`)), `${size}\n${link}\n`);
  }
  // The temp file never came here: no copy of its bytes anywhere in the workspace.
  for (const f of await walk(ws)) {
    if (f.endsWith("state.db")) continue;
    const text = await Deno.readTextFile(join(ws, f)).catch(() => "");
    assert.ok(!text.includes("MID-ONLY"), f);
  }
  // One transfer: b.txt, for both d tasks (c read it on the host).
  const events = (await Deno.readTextFile(join(runDirOf(r), "events.jsonl"))).trim()
    .split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(
    events.filter((e) => e.event === "transfer-finished").map((e) => [e.id, e.bytes]),
    [[`in:kept:remote:file://${ws}/b.txt`, (await Deno.stat(join(ws, "b.txt"))).size]],
  );
  assert.match(r.stderr, /^transfers: 1 fetched, \d+ B moved$/m);
  // Every line of the event log is as its schema says (kept transfers and tasks too).
  const validate = new Ajv2020({ strict: true, allowUnionTypes: true }).compile(eventsSchema);
  for (const e of events) {
    assert.ok(validate(e), `${JSON.stringify(e)}: ${JSON.stringify(validate.errors)}`);
  }
  // The host keeps nothing once the run is over (no attempt copy, no store), and the
  // hostile name ran nothing.
  assert.deepEqual(await leftOnHost(remoteDir), []);
  assert.deepEqual(
    (await walk(ws)).filter((f) => f.includes("pwned") && !f.includes(".ferry/runs")),
    [],
  );
  assert.equal(await exists(join(Deno.env.get("HOME") ?? "/", "pwned")), false);

  const again = await h.run(wf);
  assert.equal(again.code, 0, again.stderr);
  assert.match(
    again.stderr,
    /^plan: 0 to run, 5 cached\ndone: 0 succeeded, 5 cached, 0 failed in /,
  );
  assert.deepEqual(await ran(ledger), []);

  // c changes: a makes the temp file again (c needs it), b is skipped (same input), and
  // c reads b.txt from the workspace, sent to the host (its maker did not run in this run).
  await writeWorkflow(ws, workflow(ledger, "cat"));
  const third = await h.run(wf);
  assert.equal(third.code, 0, third.stderr);
  assert.deepEqual(await ran(ledger), ["a", "c"]);
  assert.equal(await Deno.readTextFile(join(ws, "c.txt")), "14\nMID-ONLY-7f3a\n");
  assert.deepEqual(await leftOnHost(remoteDir), []);
  assert.equal(
    (await Deno.readTextFile(join(runDirOf(third), "events.jsonl"))).includes(
      '"transfer-started"',
    ),
    false,
  );
}

Deno.test({
  name:
    "kept outputs: on a Slurm cluster reached via ssh with filesystem: none, the same chain reads in place there, moves b.txt once, and a re-run does nothing",
  ignore: !SSH_OK || !SLURM_OK,
  sanitizeResources: false,
  async fn() {
    await withHost("slurm", async (h) => {
      await chainRuns(h, await writeWorkflow(h.ws, workflow(h.ledger)));
    });
  },
});

Deno.test({
  name:
    "kept outputs: a copy gone from the host fails the reader that needed it with a clear message, and the next run makes it again",
  ignore: !SSH_OK,
  async fn() {
    await withHost("ssh", async ({ ws, ledger, sshd, remoteDir, run }) => {
      // b deletes the host's copy of the temp file after reading it: c needs it too.
      const gone = `; rm -f "$(readlink \${{ inputs.m }})"`;
      const wf = await writeWorkflow(ws, workflow(ledger, "rev", gone));
      const r = await run("--keep-going", wf);
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(await ran(ledger), ["a", "b", "d[n=1]", "d[n=2]"]);
      const runId = runDirOf(r).split("/").at(-1)!;
      assert.match(
        r.stderr,
        new RegExp(
          `^✗ c: Cannot use "${remoteDir}/${runId}/\\.keep/[0-9a-f]{16}/mid_touch_pwned_q_x_\\.txt" on ${sshd.user}@127\\.0\\.0\\.1:${sshd.port}: the copy of "mid \\$\\(touch pwned\\) 'q'\`x\`\\\\n\\.txt" an earlier task of this run left there is gone$`,
          "m",
        ),
      );
      const again = await run(wf);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(await ran(ledger), ["a", "c"]);
      assert.equal(await Deno.readTextFile(join(ws, "c.txt")), "14\na3f7-YLNO-DIM\n");
    });
  },
});

/**
 * a on `remote` makes a temp file b (there) and e (on `eOn`, in a container with `image`) read;
 * s → t on `shared`.
 */
function placedWorkflow(eOn: string | string[], image?: string) {
  const host = (filesystem: string) => ({
    provider: "ssh",
    host: "you@compute.example.org",
    filesystem,
    container_runtime: "podman",
  });
  return {
    ferry: 1,
    name: "kept-plan",
    executors: { remote: host("none"), shared: host("shared") },
    apps: {
      a: {
        executor: "remote",
        outputs: { mid: { path: "mid.txt", temp: true } },
        shell: "make > ${{ outputs.mid }}",
      },
      b: {
        executor: "remote",
        inputs: { m: "${{ apps.a.outputs.mid }}" },
        outputs: { o: "b.txt" },
        shell: "use ${{ inputs.m }} > ${{ outputs.o }}",
      },
      e: {
        executor: eOn,
        ...(image ? { container: image } : {}),
        for_each: { n: [1, 2] },
        inputs: { m: "${{ apps.a.outputs.mid }}" },
        outputs: { o: "e${{ n }}.txt" },
        shell: "use ${{ inputs.m }} > ${{ outputs.o }}",
      },
      s: { executor: "shared", outputs: { o: "s.txt" }, shell: "make > ${{ outputs.o }}" },
      t: {
        executor: "shared",
        inputs: { s: "${{ apps.s.outputs.o }}" },
        outputs: { o: "t.txt" },
        shell: "use ${{ inputs.s }} > ${{ outputs.o }}",
      },
    },
  };
}

Deno.test("kept outputs in the plan: a reader free to choose goes where the file stays; one pinned elsewhere gets one transfer for all; executors sharing the workspace keep nothing", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, placedWorkflow(["local", "remote"]));
    const text = await runCli(["plan", wf]);
    assert.equal(text.code, 0, text.stderr);
    assert.ok(
      text.stdout.includes(
        "  e[n=1]  [run: new]\n    after a\n    placed on remote: its inputs are there: 0 transfers (local: 1)\n",
      ),
      text.stdout,
    );
    const plan = JSON.parse((await runCli(["plan", "--format", "json", wf])).stdout);
    const byId = (id: string) => plan.tasks.find((t: { id: string }) => t.id === id);
    assert.deepEqual(
      ["e[n=1]", "e[n=2]"].map((id) => [byId(id).executor, byId(id).inputs[0].provider]),
      [["remote", "kept"], ["remote", "kept"]],
    );
    assert.deepEqual(byId("a").outputs[0].keep, {
      executor: "remote",
      readers: ["b", "e[n=1]", "e[n=2]"],
      deliver: false,
    });
    assert.equal(byId("s").outputs[0].keep, undefined);
    assert.equal(byId("t").inputs[0].kept, undefined);
    assert.deepEqual(plan.transfers, []);

    // Pinned to local, e reads the workspace's copy: the temp file comes home by one transfer
    // for both (and goes once they read it).
    const pinned = await writeWorkflow(ws, placedWorkflow("local"), "pinned.yaml");
    const p = JSON.parse((await runCli(["plan", "--format", "json", pinned])).stdout);
    const a = p.tasks.find((t: { id: string }) => t.id === "a");
    assert.deepEqual(a.outputs[0].keep, { executor: "remote", readers: ["b"], deliver: true });
    assert.deepEqual(
      p.transfers.map((t: { id: string; consumers: string[] }) => [t.id, t.consumers]),
      [[`in:kept:remote:file://${ws}/mid.txt`, ["e[n=1]", "e[n=2]"]]],
    );
    // In a container on remote, e sees only its own directory: it reads the copy sent from here.
    const boxed = await writeWorkflow(ws, placedWorkflow("remote", "alpine"), "boxed.yaml");
    const q = JSON.parse((await runCli(["plan", "--format", "json", boxed])).stdout);
    assert.deepEqual(
      q.tasks.filter((t: { app: string }) => t.app === "e").map((
        t: { executor: string; inputs: { provider: string }[] },
      ) => [t.executor, t.inputs[0]!.provider]),
      [["remote", "copy"], ["remote", "copy"]],
    );
    assert.deepEqual(
      q.transfers.map((t: { id: string; consumers: string[] }) => [t.id, t.consumers]),
      [[`in:kept:remote:file://${ws}/mid.txt`, ["e[n=1]", "e[n=2]"]]],
    );
    // In the graph, the transfer comes after its maker and before its readers.
    const graph = (await runCli(["plan", "--format", "mermaid", pinned])).stdout;
    assert.match(graph, /^ {2}x0\[\/"fetch kept<br\/>mid\.txt"\/\]$/m);
    for (const edge of ["t0 --> x0", "x0 --> t3", "x0 --> t4"]) {
      assert.ok(graph.includes(`  ${edge}\n`), graph);
    }
  });
});

Deno.test({
  name:
    "kept outputs: a kept file comes home streamed (3 MiB, many pieces) and checked against its hash; a wrong hash or a cancel leaves nothing behind",
  ignore: !SSH_OK,
  async fn() {
    await withHost("ssh", async ({ ws, sshd, remoteDir }) => {
      const ex = {
        name: "remote",
        provider: "ssh",
        host: `${sshd.user}@127.0.0.1:${sshd.port}`,
        options: { identity_file: sshd.identity, known_hosts: sshd.knownHosts },
        filesystem: "none",
        bundle: "none",
        env: {},
        staging: [],
      } as const;
      const { endpoint, auth } = executorSsh(ex, "host", ws);
      const runner = sshRunner(endpoint, auth);
      try {
        const copies = new RemoteCopies(runner, remoteDir);
        const bytes = new Uint8Array(3 << 20).map((_, i) => (i * 7919) % 251);
        const sha = createHash("sha256").update(bytes).digest("hex");
        await Deno.mkdir(join(remoteDir, "R", ".keep", "0123456789abcdef"), { recursive: true });
        await Deno.writeFile(join(remoteDir, "R", ".keep", "0123456789abcdef", "big.bin"), bytes);
        const dest = join(ws, "out", "big.bin");
        assert.equal(
          await copies.fetchKept("R", "0123456789abcdef/big.bin", dest, { sha256: sha }),
          3 << 20,
        );
        assert.deepEqual(await Deno.readFile(dest), bytes);
        await Deno.remove(dest);
        await assert.rejects(
          copies.fetchKept("R", "0123456789abcdef/big.bin", dest, { sha256: "0".repeat(64) }),
          new Error(
            `Cannot fetch ${remoteDir}/R/.keep/0123456789abcdef/big.bin from ${sshd.user}@127.0.0.1:${sshd.port}: its sha256 is ${sha}, not ${
              "0".repeat(64)
            } as hashed there after its task`,
          ),
        );
        assert.deepEqual(await walk(join(ws, "out")), []);
        // Cancelled (Ctrl-C) while it comes: cut off, nothing left.
        const stop = new AbortController();
        const cut = copies.fetchKept("R", "0123456789abcdef/big.bin", dest, {
          signal: stop.signal,
        });
        stop.abort();
        await assert.rejects(
          cut,
          new Error(
            `Cannot fetch ${remoteDir}/R/.keep/0123456789abcdef/big.bin from ${sshd.user}@127.0.0.1:${sshd.port}: interrupted`,
          ),
        );
        assert.deepEqual(await walk(join(ws, "out")), []);
        await copies.dropKept("R", ["0123456789abcdef/big.bin"]);
        assert.deepEqual(await walk(remoteDir), []);
      } finally {
        await runner.close();
      }
    });
  },
});
