/**
 * The result store end to end (issue 19): workspaces in different temporary
 * directories, standing in for different machines, share a store. Every task
 * appends its id to a ledger (the LEDGER variable, outside the key), so a
 * test counts what really ran. The store is a directory (`file://`) or the
 * test sshd (`sftp://`).
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferry, ferryRun, walk, writeWorkflow } from "./_run.ts";
import { haveService } from "./_services.ts";
import { certificates, startHttpServer } from "./_http_server.ts";
import { type Sshd, startSshd } from "./_sshd.ts";
import { StateStore } from "../interpreter/state.ts";

/** A workflow of `n` gen tasks and `n` tasks reading them, each writing the ledger first. */
function workflow(n: number, sleep = "0") {
  const ledger = 'echo "$FERRY_TASK_ID" >> "$LEDGER"';
  return {
    ferry: 1,
    name: "stored",
    params: { items: Array.from({ length: n }, (_, i) => i) },
    executors: { local: { cores: 4 } },
    apps: {
      gen: {
        for_each: { i: "${{ params.items }}" },
        outputs: { o: "gen/${{ i }}.txt" },
        shell: `${ledger}\nsleep ${sleep}\nseq 1 \${{ i }} | sha256sum > \${{ outputs.o }}\n`,
      },
      sq: {
        for_each: { i: "${{ params.items }}" },
        inputs: { g: "gen/${{ i }}.txt" },
        outputs: { o: "sq/${{ i }}.txt" },
        shell:
          `${ledger}\nsleep ${sleep}\n{ cat \${{ inputs.g }}; echo \${{ i }}; } > \${{ outputs.o }}\n`,
      },
    },
  };
}

interface Workspace {
  readonly dir: string;
  readonly file: string;
  readonly ledger: string;
}

async function workspace(root: string, name: string, wf: unknown): Promise<Workspace> {
  const dir = join(root, name);
  await Deno.mkdir(dir);
  return { dir, file: await writeWorkflow(dir, wf), ledger: join(root, `${name}.ledger`) };
}

async function ledger(ws: Workspace): Promise<string[]> {
  const text = await Deno.readTextFile(ws.ledger).catch(() => "");
  return text.split("\n").filter((l) => l !== "").sort();
}

/** Every file of a workspace but `.ferry/`, with its text. */
async function outputs(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const rel of await walk(dir)) {
    if (rel.startsWith(".ferry") || rel === "workflow.yaml") continue;
    const p = join(dir, rel);
    if ((await Deno.lstat(p)).isFile) out.set(rel, await Deno.readTextFile(p));
  }
  return out;
}

/** Workspaces `a` and `b` of an `n`-item workflow, run at the same time with `args`; both succeed. */
async function runTogether(
  root: string,
  n: number,
  args: string[],
): Promise<[Workspace, Workspace]> {
  const both: [Workspace, Workspace] = [
    await workspace(root, "a", workflow(n)),
    await workspace(root, "b", workflow(n)),
  ];
  const runs = await Promise.all(
    both.map((w) => ferryRun([...args, w.file], { LEDGER: w.ledger })),
  );
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  return both;
}

async function run(ws: Workspace, ...args: string[]) {
  const r = await ferryRun([...args, ws.file], { LEDGER: ws.ledger });
  assert.equal(r.code, 0, r.stderr);
  return r;
}

/** `fn` with a temporary directory and the test sshd, both gone afterwards. */
async function withSshd(fn: (root: string, sshd: Sshd) => Promise<void>): Promise<void> {
  const sshd = await startSshd();
  try {
    await withRoot((root) => fn(root, sshd));
  } finally {
    await sshd.stop();
  }
}

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "ferry-store-test-" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("store: a workspace elsewhere restores what another ran, runs nothing, and ends identical", async () => {
  await withRoot(async (root) => {
    const store = `file://${root}/store`;
    const a = await workspace(root, "a", workflow(5));
    await run(a, "--store", store);
    assert.equal((await ledger(a)).length, 10);

    const b = await workspace(root, "b", workflow(5));
    const plan = await ferryRun(["--store", store, b.file], {}, "plan");
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, new RegExp(`^  sq\\[i=3\\]  \\[cached: store ${store}\\]$`, "m"));
    assert.match(plan.stdout, /^10 tasks \(0 to run, 10 cached\)/m);
    // plan downloads nothing.
    assert.deepEqual([...(await outputs(b.dir)).keys()], []);

    const r = await run(b, "--store", store);
    assert.match(r.stderr, /^done: 0 succeeded, 10 cached, 0 failed/m);
    assert.deepEqual(await ledger(b), []);
    assert.deepEqual(await outputs(b.dir), await outputs(a.dir));
    const status = await ferryRun(["-w", b.dir], {}, "status");
    assert.match(status.stdout, new RegExp(`^✓ gen\\[i=0\\]: cached: store ${store}$`, "m"));
    const html = join(root, "report.html");
    const report = await ferryRun(["-w", b.dir, "-o", html], {}, "report");
    assert.equal(report.code, 0, report.stderr);
    assert.ok((await Deno.readTextFile(html)).includes(`"store ${store}"`));

    // pull fills a workspace and runs nothing: what the store lacks is left, and what needs it.
    const c = await workspace(root, "c", workflow(6));
    const pull = await ferryRun(["pull", "--store", store, c.file], { LEDGER: c.ledger }, "store");
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(
      pull.stderr,
      /^blocked \(not in the store, or after a task that is not\): gen\[i=5\], sq\[i=5\]$/m,
    );
    assert.match(pull.stderr, /^done: 0 succeeded, 10 cached, 0 failed, 2 blocked/m);
    assert.deepEqual(await ledger(c), []);
    assert.equal(
      await Deno.readTextFile(join(c.dir, "sq/4.txt")),
      await Deno.readTextFile(join(a.dir, "sq/4.txt")),
    );

    // The next run in B finds its own state: nothing asked of the store, nothing run.
    const again = await run(b, "--store", store);
    assert.match(again.stderr, /^done: 0 succeeded, 10 cached, 0 failed/m);
    assert.deepEqual(await ledger(b), []);
  });
});

Deno.test("store: a flipped byte in a stored blob is detected, that task runs again and its entry is replaced", async () => {
  await withRoot(async (root) => {
    const storeDir = join(root, "store");
    const store = `file://${storeDir}`;
    const a = await workspace(root, "a", workflow(3));
    await run(a, "--store", store);
    const text = await Deno.readTextFile(join(a.dir, "gen/2.txt"));
    const sha = await sha256Hex(text);
    const blob = join(storeDir, "blobs/sha256", sha.slice(0, 2), sha.slice(2));
    const bytes = await Deno.readFile(blob);
    bytes[0] = bytes[0]! ^ 1;
    await Deno.writeFile(blob, bytes);
    const verify = await ferryRun(["verify", "--store", store], {}, "store");
    assert.equal(verify.code, 1);
    assert.match(
      verify.stdout,
      new RegExp(
        `^  blobs/sha256/${sha.slice(0, 2)}/${
          sha.slice(2)
        }: blobs/sha256/\\S+ holds content with sha256 [0-9a-f]{64}$`,
        "m",
      ),
    );

    const b = await workspace(root, "b", workflow(3));
    const r = await run(b, "--store", store);
    assert.match(r.stderr, /^done: 1 succeeded, 5 cached, 0 failed/m);
    // Only gen[i=2] ran; sq[i=2] reads the same content again and is restored.
    assert.deepEqual(await ledger(b), ["gen[i=2]"]);
    assert.deepEqual(await outputs(b.dir), await outputs(a.dir));
    const events = await Deno.readTextFile(join(runDirOf(r.stderr), "events.jsonl"));
    const warning = events.split("\n").filter((l) => l.includes('"store-warning"'))
      .map((l) => JSON.parse(l));
    assert.equal(warning.length, 1);
    assert.equal(warning[0].task, "gen[i=2]");
    assert.match(
      warning[0].message,
      new RegExp(
        `^Cannot restore gen\\[i=2\\] from the store "${store}": blobs/sha256/\\S+ holds content with sha256 [0-9a-f]{64}: the task runs$`,
      ),
    );
    // The rerun's upload put the blob back whole: the store verifies clean.
    const clean = await ferryRun(["verify", "--store", store], {}, "store");
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.equal(clean.stdout, "checked 6 blobs and 6 entries: all intact\n");
    assert.equal(await sha256Hex(await Deno.readTextFile(blob)), sha);
  });
});

Deno.test("store: two workspaces writing the same keys at the same time leave a valid store", async () => {
  await withRoot(async (root) => {
    const store = `file://${root}/store`;
    const [a] = await runTogether(root, 20, ["--store", store]);
    const verify = await ferryRun(["verify", "--store", store], {}, "store");
    assert.equal(verify.code, 0, verify.stdout);
    assert.equal(verify.stdout, "checked 40 blobs and 40 entries: all intact\n");
    // No writer's temporary file is left behind.
    const left = (await walk(join(root, "store"))).filter((p) =>
      p.split("/").at(-1)!.startsWith(".")
    );
    assert.deepEqual(left, []);
    // And a third workspace restores everything from it.
    const c = await workspace(root, "c", workflow(20));
    const r = await run(c, "--store", store);
    assert.match(r.stderr, /^done: 0 succeeded, 40 cached, 0 failed/m);
    assert.deepEqual(await ledger(c), []);
    assert.deepEqual(await outputs(c.dir), await outputs(a.dir));
  });
});

Deno.test("store: glob and dir outputs, a function's result and a temp output come back from the store", async () => {
  await withRoot(async (root) => {
    const store = `file://${root}/store`;
    const line = 'echo "$FERRY_TASK_ID" >> "$LEDGER"\n';
    const wf = {
      ferry: 1,
      name: "kinds",
      apps: {
        split: {
          outputs: { parts: { glob: "parts/p-*.txt" } },
          shell: `${line}mkdir -p parts && for i in 1 2 3; do echo $i > parts/p-$i.txt; done\n`,
        },
        measure: {
          for_each: { part: "${{ apps.split.outputs.parts }}" },
          inputs: { part: "${{ part }}" },
          outputs: { size: "sizes/${{ part.name }}" },
          shell: `${line}wc -c < \${{ inputs.part }} > \${{ outputs.size }}\n`,
        },
        tree: {
          outputs: { d: { dir: "tree" } },
          shell: `${line}mkdir -p tree/a tree/b && echo x > tree/a/x && echo y > tree/b/y\n`,
        },
        answer: { outputs: { o: "answer.txt" }, function: "./steps.ts#answer" },
        use: {
          after: ["answer"],
          outputs: { o: "use.txt" },
          shell: `${line}cat "$FERRY_RESULTS" > \${{ outputs.o }}\n`,
        },
        mk: {
          outputs: { t: { path: "t.txt", temp: true } },
          shell: `${line}echo temp > t.txt\n`,
        },
        rd: {
          inputs: { t: "t.txt" },
          outputs: { o: "rd.txt" },
          shell: `${line}tr a-z A-Z < \${{ inputs.t }} > \${{ outputs.o }}\n`,
        },
      },
    };
    const steps = [
      "export function answer(args: { outputs: Record<string, string> }) {",
      '  Deno.writeTextFileSync(args.outputs.o, "42\\n");',
      "  return { value: 42 };",
      "}",
      "",
    ].join("\n");
    const a = await workspace(root, "a", wf);
    await Deno.writeTextFile(join(a.dir, "steps.ts"), steps);
    await run(a, "--store", store);
    assert.equal((await ledger(a)).length, 8);
    const b = await workspace(root, "b", wf);
    await Deno.writeTextFile(join(b.dir, "steps.ts"), steps);
    const r = await run(b, "--store", store);
    // mk's temp output is deleted once rd succeeded: when that came before its upload, mk has no
    // entry and runs again (rd's is stored); otherwise nothing runs.
    const ran = await ledger(b);
    assert.ok(ran.length === 0 || (ran.length === 1 && ran[0] === "mk"), `ran ${ran}`);
    assert.match(
      r.stderr,
      new RegExp(`^done: ${ran.length} succeeded, ${9 - ran.length} cached`, "m"),
    );
    assert.deepEqual(await outputs(b.dir), await outputs(a.dir));
    assert.equal(await Deno.readTextFile(join(b.dir, "use.txt")), '{"answer":{"value":42}}\n');
    assert.deepEqual(await walk(join(b.dir, "tree")), ["a", "a/x", "b", "b/y"]);
    const state = StateStore.open(b.dir);
    try {
      assert.deepEqual(state.successes().get("answer")?.result, { value: 42 });
      assert.deepEqual(state.successes().get("split")?.outputs[0]?.files?.length, 3);
    } finally {
      state.close();
    }
  });
});

Deno.test("store: a store that cannot be written never fails a task; store push sends the entries later", async () => {
  await withRoot(async (root) => {
    const a = await workspace(root, "a", workflow(2));
    await Deno.writeTextFile(join(root, "file"), "not a directory\n");
    const bad = `file://${root}/file/store`;
    const r = await run(a, "--store", bad);
    assert.match(r.stderr, /^done: 4 succeeded, 0 failed/m);
    assert.equal(
      r.stderr.trim().split("\n").at(-1),
      `ferry: warning: 4 task(s) could not be uploaded to the store ${bad} (see the store-warning events); ferry store push sends them later`,
    );
    const events = (await Deno.readTextFile(join(runDirOf(r.stderr), "events.jsonl")))
      .split("\n").filter((l) => l.includes('"store-warning"')).map((l) => JSON.parse(l));
    const upload = events.find((e) =>
      e.task === "sq[i=1]" && e.message.startsWith("Cannot upload")
    );
    assert.ok(upload, JSON.stringify(events));
    assert.match(
      upload.message,
      new RegExp(`^Cannot upload sq\\[i=1\\] to the store "${escape(bad)}": `),
    );
    const good = `file://${root}/store`;
    const push = await ferryRun(["push", "--store", good, a.file], {}, "store");
    assert.equal(push.code, 0, push.stderr);
    assert.equal(push.stdout, "pushed 4 entries, 0 already in the store\n");
    const again = await ferryRun(["push", "--store", good, a.file], {}, "store");
    assert.equal(again.stdout, "pushed 0 entries, 4 already in the store\n");
    const b = await workspace(root, "b", workflow(2));
    const rb = await run(b, "--store", good);
    assert.match(rb.stderr, /^done: 0 succeeded, 4 cached, 0 failed/m);
  });
});

Deno.test("store: bad store URLs are refused with their source, exit 2", async () => {
  await withRoot(async (root) => {
    const a = await workspace(root, "a", workflow(1));
    const cases: [string, string][] = [
      [
        "ftp://h/x",
        'Cannot use store "ftp://h/x" (--store): the scheme ftp: is not one of a store; write file:///absolute/dir, sftp://[user@]host[:port]/dir, rsync+ssh://[user@]host[:port]/dir or https://host/dir',
      ],
      [
        "relative/dir",
        'Cannot use store "relative/dir" (--store): not a URL; write file:///absolute/dir, sftp://[user@]host[:port]/dir, rsync+ssh://[user@]host[:port]/dir or https://host/dir',
      ],
      [
        "sftp://u:secret@h/x",
        'Cannot use store "sftp://u:secret@h/x" (--store): a password has no place in the URL; use the site file',
      ],
      [
        "file://host/x",
        'Cannot use store "file://host/x" (--store): a file: URL names no host (file:///absolute/dir)',
      ],
    ];
    for (const [url, message] of cases) {
      const r = await ferryRun(["--store", url, a.file], { LEDGER: a.ledger });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split("\n").at(-1), `ferry: ${message}`);
      const p = await ferryRun(["--store", url, a.file], {}, "plan");
      assert.equal(p.code, 2, p.stderr);
      assert.match(p.stderr, new RegExp(`^ferry: ${escape(message)}$`, "m"));
    }
    assert.deepEqual(await ledger(a), []);
    // In a site file: the shape check locates it.
    const site = join(a.dir, "site.yaml");
    await Deno.writeTextFile(site, "ferry-site: 1\nstore: ftp://h/x\nexecutors: {}\n");
    const r = await ferryRun(["--site", site, a.file], { LEDGER: a.ledger });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /site\.yaml:2:8/);
  });
});

const HAVE_SSHD = haveService("sshd", ["/usr/sbin/sshd", "ssh-keygen"]);
const HAVE_OPENSSL = haveService("https", ["openssl"]);

Deno.test({
  name:
    "store: a run killed with SIGKILL half-way resumes in another workspace from an sftp store, running nothing twice",
  ignore: !HAVE_SSHD,
  fn: () =>
    withSshd(async (root, sshd) => {
      const site = await sftpSite(root, sshd);
      const wf = workflow(100, "0.02");
      const a = await workspace(root, "a", wf);
      const child = ferry(["--site", site, a.file], { LEDGER: a.ledger }).spawn();
      const out = child.output();
      while ((await ledger(a)).length < 100) await new Promise((r) => setTimeout(r, 10));
      child.kill("SIGKILL");
      assert.equal((await out).signal, "SIGKILL");
      const committed = committedIn(a.dir);
      assert.ok(committed.size >= 50 && committed.size < 200, `${committed.size} committed`);
      // The entries A uploaded before it died (the sftp server's directory is local here).
      const entries = new Set(
        [...Deno.readDirSync(join(sshd.root, "store/entries"))].map((e) => e.name)
          .filter((name) => !name.endsWith(".ferry-part")), // an upload the kill cut short
      );
      const uploaded = [...committed].filter(([, key]) => entries.has(`${key}.json`))
        .map(([id]) => id);
      // A success is uploaded before it is recorded: every task A committed is in the store.
      assert.deepEqual(
        [...committed.keys()].filter((id) => !uploaded.includes(id)),
        [],
        `${committed.size} committed, ${uploaded.length} uploaded`,
      );

      // B: another directory, the same workflow, the same store.
      const b = await workspace(root, "b", wf);
      const r = await run(b, "--site", site);
      const ranInB = await ledger(b);
      console.log(
        `A committed ${committed.size} tasks before its SIGKILL, ${uploaded.length} of them in the store; B ran ${ranInB.length}`,
      );
      // Zero re-executions of what A committed.
      assert.deepEqual(ranInB.filter((id) => uploaded.includes(id)), []);
      // The store may hold a task or two more than A recorded (uploaded, then the kill).
      assert.equal(ranInB.length, 200 - entries.size);
      assert.match(
        r.stderr,
        new RegExp(`^done: ${ranInB.length} succeeded, ${entries.size} cached, 0 failed`, "m"),
      );
      // Byte-identical to a clean run.
      const c = await workspace(root, "c", wf);
      await run(c);
      assert.deepEqual(await outputs(b.dir), await outputs(c.dir));
    }),
});

Deno.test({
  name: "store: over rsync+ssh, a second workspace restores what the first ran",
  ignore: !HAVE_SSHD,
  fn: () =>
    withSshd(async (root, sshd) => {
      const site = await sftpSite(root, sshd, "rsync+ssh");
      const a = await workspace(root, "a", workflow(1));
      await run(a, "--site", site);
      const b = await workspace(root, "b", workflow(1));
      const r = await run(b, "--site", site);
      assert.match(r.stderr, /^done: 0 succeeded, 2 cached, 0 failed/m);
      assert.deepEqual(await ledger(b), []);
      assert.deepEqual(await outputs(b.dir), await outputs(a.dir));
      assert.equal([...Deno.readDirSync(join(sshd.root, "store/entries"))].length, 2);
    }),
});

Deno.test({
  name:
    "store: two workspaces writing the same keys to an sftp store at the same time leave it valid",
  ignore: !HAVE_SSHD,
  fn: () =>
    withSshd(async (root, sshd) => {
      const site = await sftpSite(root, sshd);
      await runTogether(root, 15, ["--site", site]);
      const verify = await ferryRun(["verify", "--site", site], {}, "store");
      assert.equal(verify.stdout, "checked 30 blobs and 30 entries: all intact\n");
      // The server's directory is local here: the same as a file: store, no temporary file left.
      const dir = join(sshd.root, "store");
      const local = await ferryRun(["verify", "--store", `file://${dir}`], {}, "store");
      assert.equal(local.stdout, verify.stdout);
      const left = (await walk(dir)).filter((p) => p.split("/").at(-1)!.startsWith("."));
      assert.deepEqual(left, []);
      // gc over sftp: entries stored before a date in the future all go, then their blobs.
      const gc = await ferryRun(
        ["gc", "--site", site, "--older-than", "2999-01-01", "--dry-run"],
        {},
        "store",
      );
      assert.match(gc.stdout, /^would drop 30 entries and 30 blobs \(\d+ B\); kept 0 entries$/m);
      assert.equal((await walk(join(dir, "entries"))).length, 30);
      const c = await workspace(root, "c", workflow(15));
      const r = await run(c, "--site", site);
      assert.match(r.stderr, /^done: 0 succeeded, 30 cached, 0 failed/m);
    }),
});

Deno.test({
  name: "store: a published cache over https is read, never written",
  ignore: !HAVE_OPENSSL,
  async fn() {
    await withRoot(async (root) => {
      const a = await workspace(root, "a", workflow(2));
      await run(a, "--store", `file://${root}/pub/cache`);
      const { ca, cert, key } = await certificates(root);
      const server = await startHttpServer({ dir: join(root, "pub"), tls: { cert, key } });
      try {
        const site = join(root, "site.yaml");
        const url = `${server.origin}/cache`;
        await Deno.writeTextFile(
          site,
          `ferry-site: 1\nstore: { url: ${JSON.stringify(url)}, ca_file: ca.pem }\nexecutors: {}\n`,
        );
        // Three items: the third's tasks are not in the cache, run, and are not uploaded.
        const b = await workspace(root, "b", workflow(3));
        const plan = await ferryRun(["--site", site, b.file], {}, "plan");
        assert.match(
          plan.stdout,
          new RegExp(`^  sq\\[i=1\\]  \\[cached: store ${escape(url)}\\]$`, "m"),
        );
        const r = await run(b, "--site", site);
        assert.match(r.stderr, /^done: 2 succeeded, 4 cached, 0 failed/m);
        assert.deepEqual(await ledger(b), ["gen[i=2]", "sq[i=2]"]);
        assert.equal([...Deno.readDirSync(join(root, "pub/cache/entries"))].length, 4);
        assert.ok(server.requests.every((q) => q.method === "GET" || q.method === "HEAD"));
        assert.equal(ca, join(root, "ca.pem"));
      } finally {
        await server.close();
      }
    });
  },
});

/** A site file naming the test sshd's `store` folder as an sftp (or rsync+ssh) store. */
async function sftpSite(root: string, sshd: Sshd, scheme = "sftp"): Promise<string> {
  const store = `${scheme}://${sshd.user}@127.0.0.1:${sshd.port}${sshd.root}/store`;
  const site = join(root, "site.yaml");
  await Deno.writeTextFile(
    site,
    `ferry-site: 1\nstore:\n  url: ${JSON.stringify(store)}\n  identity_file: ${
      JSON.stringify(sshd.identity)
    }\n  known_hosts: ${JSON.stringify(sshd.knownHosts)}\nexecutors: {}\n`,
  );
  return site;
}

/** The tasks whose success a workspace's state records, with their keys. */
function committedIn(dir: string): Map<string, string> {
  const s = StateStore.open(dir);
  try {
    return new Map([...s.successes()].map(([id, r]) => [id, r.key]));
  } finally {
    s.close();
  }
}

function runDirOf(stderr: string): string {
  const m = stderr.match(/^logs: (.*)$/m);
  assert.ok(m, stderr);
  return m[1]!;
}

async function sha256Hex(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
