import assert from "node:assert/strict";
import { join } from "node:path";
import {
  pilotTaskScript,
  readWrapperStatus,
  resultOfStatus,
  wrapperFiles,
  wrapperScript,
} from "./wrapper.ts";
import { shellcheck } from "../../tests/_shellcheck.ts";
import type { JobSpec, NodeTransfers } from "./types.ts";
import { startHttpServer } from "../../tests/_http_server.ts";
import { exists, haveService, randomBytes, sha256 } from "../../tests/_services.ts";
import { type Sshd, startRsyncDaemon, startSshd } from "../../tests/_sshd.ts";
import { FTP_TEST_PASSWORD, FTP_TEST_USER, startVsftpd } from "../../tests/_vsftpd.ts";
import { backoffDelay, RETRY_BASE_MS } from "../_shared/retry.ts";
import { fileURLToPath } from "node:url";
import { hasControl } from "../../dsl/visible.ts";

/** Write an attempt's wrapper files under `root` and run the wrapper with bash, as a node would. */
async function runWrapper(job: JobSpec & { root: string }, env: Record<string, string> = {}) {
  for (const [path, text] of wrapperScript(job)) {
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
  const child = new Deno.Command("bash", {
    args: [wrapperFiles(job.root).script],
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  return child;
}

function job(root: string, over: Partial<JobSpec> = {}): JobSpec & { root: string } {
  const dir = join(root, "work");
  return {
    taskId: "t",
    attempt: 1,
    dir,
    run: { kind: "command", argv: ["true"] },
    env: {},
    mkdirs: [dir],
    stdout: join(root, "stdout.log"),
    stderr: join(root, "stderr.log"),
    resources: {},
    root,
    ...over,
  };
}

Deno.test("wrapper: runs a command without a shell, arguments byte for byte, and writes exit.json last", async () => {
  const root = await Deno.makeTempDir();
  try {
    const hostile = `a b 'q' "d" $(touch PWNED) \`touch PWNED\`; *`;
    const j = job(root, {
      run: { kind: "command", argv: ["printf", "%s|", hostile, "$HOME"] },
      env: { FERRY_X: "it's $x" },
      mkdirs: [join(root, "work"), join(root, "work", "sub", "dir")],
    });
    const status = await (await runWrapper(j)).status;
    assert.equal(status.code, 0);
    assert.equal(await Deno.readTextFile(join(root, "stdout.log")), `${hostile}|$HOME|`);
    assert.ok((await Deno.stat(join(root, "work", "sub", "dir"))).isDirectory);
    const st = readWrapperStatus(wrapperFiles(root).status)!;
    assert.equal(st.exitCode, 0);
    assert.equal(st.signal, null);
    assert.equal(st.timedOut, false);
    assert.ok(st.endedAt >= st.startedAt && st.startedAt > Date.now() - 60_000);
    assert.equal(st.host, Deno.hostname());
    assert.deepEqual([...Deno.readDirSync(join(root, "work"))].map((e) => e.name), ["sub"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("wrapper: a shell task runs with strict mode and its env; the exit code is recorded", async () => {
  const root = await Deno.makeTempDir();
  try {
    const j = job(root, {
      run: { kind: "shell", script: 'echo "$FERRY_X"\nfalse\necho never' },
      env: { FERRY_X: "it's $x" },
      workerInit: "echo init-ran",
    });
    const status = await (await runWrapper(j)).status;
    assert.equal(status.code, 1);
    assert.equal(await Deno.readTextFile(join(root, "stdout.log")), "it's $x\n");
    assert.equal(await Deno.readTextFile(wrapperFiles(root).log), "init-ran\n");
    assert.equal(readWrapperStatus(wrapperFiles(root).status)!.exitCode, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("wrapper: a worker_init that turns on set -eu still leaves a failed task's status", async () => {
  const root = await Deno.makeTempDir();
  try {
    const j = job(root, {
      run: { kind: "command", argv: ["false"] },
      workerInit: "set -euo pipefail",
      resources: { walltime: 60 },
    });
    const status = await (await runWrapper(j)).status;
    assert.equal(status.code, 1);
    const st = readWrapperStatus(wrapperFiles(root).status);
    assert.deepEqual([st?.exitCode, st?.signal, st?.timedOut], [1, null, false]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("wrapper: a task directory it cannot make fails the attempt with the reason", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(root, "file"), "");
    const dir = join(root, "file", "work");
    const j = job(root, { dir, mkdirs: [dir] });
    const status = await (await runWrapper(j)).status;
    assert.equal(status.code, 1);
    const st = readWrapperStatus(wrapperFiles(root).status);
    assert.equal(st?.reason, `Cannot make the directories of "${dir}" on the node`);
    // mkdir's own words first (they vary with its version and locale), then ferry's.
    const log = (await Deno.readTextFile(wrapperFiles(root).log)).split("\n");
    assert.deepEqual(log.slice(-2), [
      `ferry: Cannot make the directories of "${dir}" on the node`,
      "",
    ]);
    assert.match(log[0]!, /^mkdir: /);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("wrapper: the walltime kills the task's whole process group to the second", async () => {
  const root = await Deno.makeTempDir();
  try {
    const tag = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
    const j = job(root, {
      run: { kind: "shell", script: `sleep 300.${tag} &\nsleep 301.${tag}\n` },
      resources: { walltime: 1 },
    });
    const t0 = performance.now();
    await (await runWrapper(j)).status;
    assert.ok(performance.now() - t0 < 8000, "killed soon after the walltime");
    const st = readWrapperStatus(wrapperFiles(root).status)!;
    assert.equal(st.timedOut, true);
    assert.equal(st.signal, "SIGTERM");
    const ps = new TextDecoder().decode(
      (await new Deno.Command("ps", { args: ["-eo", "args"] }).output()).stdout,
    );
    assert.doesNotMatch(ps, new RegExp(`sleep 30[01]\\.${tag}`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("wrapper: SIGTERM (scancel) reaches the task's group and is recorded", async () => {
  const root = await Deno.makeTempDir();
  try {
    const tag = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
    const j = job(root, {
      run: { kind: "shell", script: `sleep 302.${tag} &\nsleep 303.${tag}\n` },
    });
    const child = await runWrapper(j);
    const ps = async () =>
      new TextDecoder().decode(
        (await new Deno.Command("ps", { args: ["-eo", "args"] }).output()).stdout,
      );
    for (let i = 0; i < 100 && !(await ps()).includes(`sleep 303.${tag}`); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 143);
    const st = readWrapperStatus(wrapperFiles(root).status)!;
    assert.equal(st.exitCode, 143);
    assert.equal(st.signal, "SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    assert.doesNotMatch(await ps(), new RegExp(`sleep 30[23]\\.${tag}`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("wrapper: the walltime watchdog ends with the task (normal end or SIGTERM), no sleep left", async () => {
  const root = await Deno.makeTempDir();
  // A walltime no other test uses: its watchdog's `sleep` is then found by its command line.
  const wall = 100_000 + Math.floor(Math.random() * 800_000);
  const watchdogs = async () => {
    const out = await new Deno.Command("ps", { args: ["-eo", "pid=,args="] }).output();
    return new TextDecoder().decode(out.stdout).split("\n")
      .filter((l) => l.trim().split(/\s+/).slice(1).join(" ") === `sleep ${wall}`)
      .map((l) => Number(l.trim().split(/\s+/)[0]));
  };
  try {
    const done = await runWrapper(job(root, { resources: { walltime: wall } }));
    assert.equal((await done.status).code, 0);
    assert.deepEqual(await watchdogs(), [], "no watchdog sleep after a normal end");
    const tag = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
    const killed = await runWrapper(job(root, {
      run: { kind: "shell", script: `sleep 304.${tag}\n` },
      resources: { walltime: wall },
    }));
    for (let i = 0; i < 100 && (await watchdogs()).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await watchdogs()).length, 1, "the watchdog ran");
    killed.kill("SIGTERM");
    assert.equal((await killed.status).code, 143);
    assert.deepEqual(await watchdogs(), [], "no watchdog sleep after SIGTERM");
  } finally {
    // On failure, leave nothing behind either.
    for (const pid of await watchdogs()) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("wrapper: scratch on the node: the task directory copied in (links to workspace files stay links), results copied back never through a link, the copy removed after success", async () => {
  const root = await Deno.makeTempDir();
  const scratch = await Deno.makeTempDir();
  try {
    const work = join(root, "work");
    await Deno.mkdir(work, { recursive: true });
    await Deno.writeTextFile(join(root, "input.txt"), "data\n");
    await Deno.symlink(join(root, "input.txt"), join(work, "input.txt"));
    const j = job(root, {
      run: {
        kind: "shell",
        // The task replaces its input link with a file of its own: copied back, it must not
        // write through the link in the attempt directory into the workspace file.
        script:
          "cat input.txt > out.txt; pwd > where.txt; test -L input.txt; rm input.txt; echo mine > input.txt",
      },
      scratch: "${NODE_SCRATCH}/x",
    });
    const status = await (await runWrapper(j, { NODE_SCRATCH: scratch })).status;
    assert.equal(status.code, 0, await Deno.readTextFile(wrapperFiles(root).log));
    assert.equal(await Deno.readTextFile(join(work, "out.txt")), "data\n");
    assert.equal(await Deno.readTextFile(join(root, "input.txt")), "data\n");
    assert.equal(await Deno.readTextFile(join(work, "input.txt")), "mine\n");
    assert.match(
      await Deno.readTextFile(join(work, "where.txt")),
      new RegExp(`^${scratch}/x/ferry-`),
    );
    assert.deepEqual([...Deno.readDirSync(join(scratch, "x"))], []);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(scratch, { recursive: true });
  }
});

// --- Node-side transfers: real servers on 127.0.0.1, real curl and rsync run by the wrapper. ---

const haveCurl = haveService("node-side transfers", ["curl", "sha256sum"]);
const haveFtp = haveCurl && haveService("vsftpd", ["vsftpd"]);
const haveFtps = haveFtp && haveService("ftps", ["openssl"]);
const haveSsh = haveCurl && haveService("sshd", [
  "/usr/sbin/sshd",
  "/usr/lib/openssh/sftp-server",
  "ssh-keygen",
  "ssh",
  "rsync",
]);
const haveRsync = haveCurl && haveService("rsync", ["rsync"]);

/** What a wrapper run left behind. */
interface NodeRun {
  readonly code: number;
  /** job.out. */
  readonly log: string;
  /** exit.json as text, and as read by ferry. */
  readonly statusText: string;
  readonly status: ReturnType<typeof readWrapperStatus>;
  /** The wrapper itself (task.sh). */
  readonly script: string;
  /** Whether the task ran (it touches `ran` in the attempt directory first). */
  readonly ran: boolean;
  /** What is left in the wrapper's TMPDIR (netrc and header files must be gone). */
  readonly tmpLeft: string[];
}

/**
 * A job whose task first touches `<root>/ran`, then runs `script` (bash) in the task directory,
 * with node-side transfers. The wrapper runs with a TMPDIR of its own, plus `env`.
 */
async function runNode(
  transfers: Partial<NodeTransfers>,
  options: {
    script?: string;
    env?: Record<string, string>;
    workerInit?: string;
    retryBaseMs?: number;
  } = {},
): Promise<NodeRun & { root: string; work: string }> {
  const root = await Deno.makeTempDir({ prefix: "ferry-node-" });
  const tmp = join(root, "tmp");
  await Deno.mkdir(tmp);
  const j = job(root, {
    run: { kind: "shell", script: `touch ../ran\n${options.script ?? "true"}\n` },
    nodeTransfers: { fetch: transfers.fetch ?? [], put: transfers.put ?? [] },
    ...(options.workerInit ? { workerInit: options.workerInit } : {}),
    ...(options.retryBaseMs !== undefined ? { retryBaseMs: options.retryBaseMs } : {}),
  });
  const status = await (await runWrapper(j, { TMPDIR: tmp, ...options.env })).status;
  const f = wrapperFiles(root);
  const read = (p: string) => Deno.readTextFile(p).catch(() => "");
  return {
    root,
    work: j.dir,
    code: status.code,
    log: await read(f.log),
    statusText: await read(f.status),
    status: readWrapperStatus(f.status),
    script: await read(f.script),
    ran: exists(join(root, "ran")),
    tmpLeft: [...Deno.readDirSync(tmp)].map((e) => e.name),
  };
}

/** An HTTP proxy in front of `origin` that records each request's User-Agent. */
function userAgentProxy(origin: string) {
  const agents: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    agents.push(req.headers.get("user-agent") ?? "");
    const u = new URL(req.url);
    return fetch(origin + u.pathname, { method: req.method, headers: req.headers });
  });
  return { origin: `http://127.0.0.1:${server.addr.port}`, agents, close: () => server.shutdown() };
}

function curlVersion(): string {
  const out = new Deno.Command("curl", { args: ["--version"], stdout: "piped" }).outputSync();
  return new TextDecoder().decode(out.stdout).split(" ")[1]!;
}

Deno.test({
  name: "wrapper: fetches an HTTP input on the node with curl, verified, before the task runs",
  ignore: !haveCurl,
  async fn() {
    const body = randomBytes(300_000);
    const srv = await startHttpServer({ files: { "/data/in.bin": body } });
    const proxy = userAgentProxy(srv.origin);
    let root = "";
    try {
      const url = `${proxy.origin}/data/in.bin`;
      const r = await runNode({
        fetch: [{
          url,
          path: "inputs/deep/in.bin",
          action: "http",
          checksum: `sha256:${sha256(body)}`,
        }],
      }, { script: "sha256sum < inputs/deep/in.bin > sum.txt" });
      root = r.root;
      assert.equal(r.code, 0, r.log);
      assert.deepEqual(await Deno.readFile(join(r.work, "inputs/deep/in.bin")), body);
      // The task saw the whole file: the fetch happened before it.
      assert.equal(await Deno.readTextFile(join(r.work, "sum.txt")), `${sha256(body)}  -\n`);
      assert.ok(!exists(join(r.work, "inputs/deep/in.bin.ferry-part")));
      assert.deepEqual(srv.requests.map((q) => [q.method, q.path, q.range, q.status]), [
        ["GET", "/data/in.bin", null, 200],
      ]);
      // curl on the node asked for it, not ferry (Deno's fetch says Deno/...).
      assert.deepEqual(proxy.agents, [`curl/${curlVersion()}`]);
      assert.match(
        r.log,
        new RegExp(
          `^ferry: fetched "${url}" to inputs/deep/in\\.bin ` +
            `\\(300000 bytes in \\d+\\.\\d{3} s, 1 attempt\\(s\\)\\)\\n$`,
        ),
      );
      assert.equal(r.status?.exitCode, 0);
      assert.equal(r.status?.reason, undefined);
      assert.doesNotMatch(r.statusText, /reason/);
      assert.deepEqual(r.tmpLeft, []);
    } finally {
      await proxy.close();
      await srv.close();
      if (root) await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "wrapper: a dropped HTTP download resumes from the partial file (If-Range), then is verified",
  ignore: !haveCurl,
  async fn() {
    const body = randomBytes(200_000);
    const srv = await startHttpServer({ files: { "/big.bin": body } });
    srv.fault("/big.bin", { kind: "drop", afterBytes: 50_000, times: 1 });
    let root = "";
    try {
      const url = srv.url("/big.bin");
      const r = await runNode({
        fetch: [{ url, path: "big.bin", action: "http", checksum: `sha256:${sha256(body)}` }],
        // The run's base reaches the node in the script; the node's environment has no say.
      }, { retryBaseMs: 50, env: { FERRY_RETRY_BASE_MS: "9000" } });
      root = r.root;
      assert.equal(r.code, 0, r.log);
      assert.deepEqual(await Deno.readFile(join(r.work, "big.bin")), body);
      const etag = `"${sha256(body).slice(0, 16)}"`; // the test server's ETag
      assert.deepEqual(srv.requests.map((q) => [q.range, q.ifRange, q.status]), [
        [null, null, 200],
        ["bytes=50000-", etag, 206],
      ]);
      const first = r.log.split("\n")[0]!;
      const wait =
        `ferry: attempt 1 of 4 to fetch "${url}" failed: curl: (18) transfer closed with ` +
        "150000 bytes remaining to read; trying again in ";
      assert.equal(first.slice(0, wait.length), wait);
      // The base wait, up to a fifth shorter at random (jitter).
      assert.match(first.slice(wait.length), /^0\.0[45]\d s$/);
      const seconds = Number(first.slice(wait.length, -2));
      assert.ok(seconds >= 0.04 && seconds <= 0.05, first);
      assert.match(
        r.log.split("\n")[1]!,
        /^ferry: fetched ".*" to big\.bin \(200000 bytes in .*, 2 attempt\(s\)\)$/,
      );
      assert.ok(r.ran);
    } finally {
      await srv.close();
      if (root) await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "wrapper: a checksum mismatch discards the copy, retries, and fails with the exact reason",
  ignore: !haveCurl,
  async fn() {
    const srv = await startHttpServer({ files: { "/x.txt": "not what you expected\n" } });
    let root = "";
    try {
      const url = srv.url("/x.txt");
      const declared = sha256("what you expected\n");
      const r = await runNode({
        fetch: [{
          url,
          path: "in/x.txt",
          action: "http",
          checksum: `sha256:${declared}`,
          retries: 1,
        }],
      }, { retryBaseMs: 1 });
      root = r.root;
      const reason =
        `Cannot fetch "${url}" on the node: checksum mismatch: the workflow's checksum ` +
        `is sha256:${declared}, the file has sha256:${sha256("not what you expected\n")}`;
      assert.equal(r.code, 1);
      assert.equal(r.status?.exitCode, 1);
      assert.equal(r.status?.signal, null);
      assert.equal(r.status?.reason, reason);
      assert.equal(r.log.split("\n").at(-2), `ferry: ${reason}`);
      assert.equal(srv.requests.length, 2, "tried again once");
      assert.ok(!r.ran, "the task never ran");
      assert.deepEqual([...Deno.readDirSync(join(r.work, "in"))], [], "no file, no partial file");
    } finally {
      await srv.close();
      if (root) await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "wrapper: an HTTP 404 fails at once with curl's message, and the task never runs",
  ignore: !haveCurl,
  async fn() {
    const srv = await startHttpServer({ files: {} });
    let root = "";
    try {
      const url = srv.url("/missing.bin");
      const r = await runNode({ fetch: [{ url, path: "missing.bin", action: "http" }] });
      root = r.root;
      const reason =
        `Cannot fetch "${url}" on the node: curl: (22) The requested URL returned error: 404`;
      assert.equal(r.code, 1);
      assert.deepEqual(
        { ...r.status!, startedAt: 0, endedAt: 0 },
        {
          exitCode: 1,
          signal: null,
          startedAt: 0,
          endedAt: 0,
          host: Deno.hostname(),
          timedOut: false,
          reason,
        },
      );
      assert.equal(r.log, `ferry: ${reason}\n`);
      assert.equal(srv.requests.length, 1, "a 404 is not retried");
      assert.ok(!r.ran);
      assert.ok(!exists(join(r.root, "stdout.log")));
      assert.deepEqual([...Deno.readDirSync(r.work)], []);
      assert.deepEqual(r.tmpLeft, []);
    } finally {
      await srv.close();
      if (root) await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "wrapper: a bearer token (token_env) and a Basic login (password_env) work and are never shown",
  ignore: !haveCurl,
  async fn() {
    const token = "tok-" + crypto.randomUUID();
    const password = 'pw with spaces, "quotes" and \\ backslash';
    const srv = await startHttpServer({
      files: { "/private.txt": "secret data\n", "/basic.txt": "basic data\n" },
    });
    srv.fault("/private.txt", { kind: "auth", authorization: `Bearer ${token}` });
    srv.fault("/basic.txt", { kind: "auth", authorization: `Basic ${btoa(`ann:${password}`)}` });
    let root = "";
    try {
      const r = await runNode({
        fetch: [
          {
            url: srv.url("/private.txt"),
            path: "p.txt",
            action: "http",
            tokenEnv: "FERRY_TEST_TOK",
          },
          {
            url: srv.url("/basic.txt"),
            path: "b.txt",
            action: "http",
            user: "ann",
            passwordEnv: "FERRY_TEST_PW",
          },
        ],
      }, { env: { FERRY_TEST_TOK: token, FERRY_TEST_PW: password }, workerInit: "set -x" });
      root = r.root;
      assert.equal(r.code, 0, r.log);
      assert.equal(await Deno.readTextFile(join(r.work, "p.txt")), "secret data\n");
      assert.equal(await Deno.readTextFile(join(r.work, "b.txt")), "basic data\n");
      assert.deepEqual(srv.requests.map((q) => q.status), [200, 200]);
      for (const text of [r.log, r.statusText, r.script]) {
        assert.ok(!text.includes(token) && !text.includes(password));
      }
      assert.deepEqual(r.tmpLeft, [], "the header and netrc files are gone");
    } finally {
      await srv.close();
      if (root) await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "wrapper: a password variable missing on the node fails with its name, before any connection",
  ignore: !haveCurl,
  async fn() {
    const url = "ftp://127.0.0.1:9/pub/in.txt";
    const r = await runNode({
      fetch: [{
        url,
        path: "in.txt",
        action: "ftp",
        user: "ferrytest",
        passwordEnv: "FERRY_TEST_NOT_SET_ON_THE_NODE",
      }],
    });
    try {
      const reason = `Cannot fetch "${url}" on the node: password_env ` +
        `FERRY_TEST_NOT_SET_ON_THE_NODE is not set in the node's environment`;
      assert.equal(r.code, 1);
      assert.equal(r.status?.reason, reason);
      assert.equal(r.log, `ferry: ${reason}\n`, "no retries: trying again cannot help");
      assert.ok(!r.ran);
    } finally {
      await Deno.remove(r.root, { recursive: true });
    }
  },
});

Deno.test({
  name: "wrapper: FTP upload with password_env: a temp name, then renamed; the password nowhere",
  ignore: !haveFtp,
  async fn() {
    await using ftp = await startVsftpd({ mode: "local" });
    const url = `${ftp.url}/pub/results/run 1/out.txt`;
    const r = await runNode({
      put: [{
        url,
        path: "out/result.txt",
        action: "ftp",
        user: FTP_TEST_USER,
        passwordEnv: "FERRY_TEST_FTP_PASSWORD",
      }],
    }, {
      script: "mkdir -p out; echo 'result of the task' > out/result.txt",
      env: { FERRY_TEST_FTP_PASSWORD: FTP_TEST_PASSWORD },
      // -x in worker_init must not trace what the transfers read from the environment.
      workerInit: "set -x",
    });
    try {
      assert.equal(r.code, 0, r.log);
      const dir = join(ftp.root, "pub/results/run 1");
      assert.equal(await Deno.readTextFile(join(dir, "out.txt")), "result of the task\n");
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["out.txt"]);
      const log = await ftp.protocolLog();
      assert.match(log, /"STOR \.out\.txt\.ferry-part"/);
      assert.match(log, /"RNTO out\.txt"/);
      assert.match(
        r.log,
        new RegExp(
          `^ferry: uploaded out/result\\.txt to "${
            url.replace(" ", "%20").replaceAll(".", "\\.")
          }" ` +
            `\\(19 bytes in \\d+\\.\\d{3} s, 1 attempt\\(s\\)\\)$`,
          "m",
        ),
      );
      for (
        const [what, text] of [["job.out", r.log], ["exit.json", r.statusText], [
          "task.sh",
          r.script,
        ]]
      ) {
        assert.ok(!text!.includes(FTP_TEST_PASSWORD), `the password is in ${what}`);
      }
      assert.match(r.script, /pwvar=FERRY_TEST_FTP_PASSWORD/);
      assert.deepEqual(r.tmpLeft, [], "the netrc file is gone");
      assert.equal(r.status?.reason, undefined);
    } finally {
      await Deno.remove(r.root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "wrapper: a failed upload fails the attempt after the task, with curl's message as the reason",
  ignore: !haveFtp,
  async fn() {
    await using ftp = await startVsftpd({ mode: "local" });
    const url = `${ftp.url}/pub/out.txt`;
    const r = await runNode({
      put: [{
        url,
        path: "out.txt",
        action: "ftp",
        user: FTP_TEST_USER,
        passwordEnv: "FERRY_TEST_FTP_PW",
      }],
    }, { script: "echo x > out.txt", env: { FERRY_TEST_FTP_PW: "wrong-password" } });
    try {
      const reason =
        `Cannot upload "out.txt" to "${url}" on the node: curl: (67) Access denied: 530`;
      assert.equal(r.code, 1);
      assert.ok(r.ran);
      assert.equal(r.status?.exitCode, 1);
      assert.equal(r.status?.reason, reason);
      assert.equal(r.log, `ferry: ${reason}\n`, "a refused login is not retried");
      assert.deepEqual([...Deno.readDirSync(join(ftp.root, "pub"))], []);
    } finally {
      await Deno.remove(r.root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "wrapper: ftps: is explicit TLS (ftp:// with --ssl-reqd); the node's .curlrc supplies the CA",
  ignore: !haveFtps,
  async fn() {
    await using ftp = await startVsftpd({ mode: "local", tls: true });
    await Deno.writeTextFile(join(ftp.root, "pub/in.txt"), "over tls\n");
    const home = await Deno.makeTempDir();
    await Deno.writeTextFile(join(home, ".curlrc"), `cacert = "${ftp.caFile}"\n`);
    const url = `${ftp.url}/pub/in.txt`;
    const r = await runNode({
      fetch: [{
        url,
        path: "in.txt",
        action: "ftp",
        user: FTP_TEST_USER,
        passwordEnv: "FERRY_TEST_FTP_PW",
      }],
    }, { env: { FERRY_TEST_FTP_PW: FTP_TEST_PASSWORD, CURL_HOME: home } });
    try {
      assert.ok(url.startsWith("ftps://"));
      assert.equal(r.code, 0, r.log);
      assert.equal(await Deno.readTextFile(join(r.work, "in.txt")), "over tls\n");
      const log = await ftp.protocolLog();
      assert.match(log, /"AUTH (TLS|SSL)"/);
      assert.match(log, /"PROT P"/);
    } finally {
      await Deno.remove(r.root, { recursive: true });
      await Deno.remove(home, { recursive: true });
    }
  },
});

/** A CURL_HOME for the node's curl: `.curlrc` naming the test key, the server in known_hosts. */
async function curlHome(srv: Sshd): Promise<string> {
  const home = await Deno.makeTempDir();
  await Deno.mkdir(join(home, ".ssh"));
  await Deno.copyFile(srv.knownHosts, join(home, ".ssh/known_hosts"));
  await Deno.writeTextFile(join(home, ".curlrc"), `key = "${srv.identity}"\n`);
  return home;
}

Deno.test({
  name: "wrapper: sftp fetch and upload with the node's curl config; a wrong host key fails",
  ignore: !haveSsh,
  async fn() {
    const srv = await startSshd();
    const home = await curlHome(srv);
    const roots: string[] = [];
    try {
      await Deno.writeTextFile(join(srv.root, "in.txt"), "from sftp\n");
      await Deno.mkdir(join(srv.root, "out"));
      await Deno.writeTextFile(join(srv.root, "out/result.txt"), "an older result\n");
      const base = `sftp://${srv.user}@127.0.0.1:${srv.port}${srv.root}`;
      const r = await runNode({
        fetch: [{ url: `${base}/in.txt`, path: "in.txt", action: "sftp" }],
        put: [
          { url: `${base}/out/result.txt`, path: "result.txt", action: "sftp" },
          { url: `${base}/new/dir/copy.txt`, path: "result.txt", action: "sftp" },
        ],
      }, { script: "tr a-z A-Z < in.txt > result.txt", env: { CURL_HOME: home } });
      roots.push(r.root);
      assert.equal(r.code, 0, r.log);
      assert.equal(await Deno.readTextFile(join(r.work, "in.txt")), "from sftp\n");
      // Uploaded to .result.txt.ferry-part, then renamed over the older file.
      assert.equal(await Deno.readTextFile(join(srv.root, "out/result.txt")), "FROM SFTP\n");
      assert.deepEqual([...Deno.readDirSync(join(srv.root, "out"))].map((e) => e.name), [
        "result.txt",
      ]);
      assert.match(srv.log(), /open "[^"]*\/out\/\.result\.txt\.ferry-part" flags WRITE/);
      // Missing directories are made (--ftp-create-dirs).
      assert.equal(await Deno.readTextFile(join(srv.root, "new/dir/copy.txt")), "FROM SFTP\n");
      const lines = r.log.trim().split("\n");
      assert.equal(lines.length, 3, r.log);
      assert.match(lines[0]!, /^ferry: fetched "sftp:\/\/.*\/in\.txt" to in\.txt \(10 bytes in /);
      assert.match(
        lines[1]!,
        /^ferry: uploaded result\.txt to "sftp:\/\/.*\/out\/result\.txt" \(10 bytes in /,
      );

      // Another host key in known_hosts: refused at once (curl's own message), the task never runs.
      await Deno.writeTextFile(
        join(home, ".ssh/known_hosts"),
        `[127.0.0.1]:${srv.port} ssh-ed25519 ` +
          "AAAAC3NzaC1lZDI1NTE5AAAAIEgR1jAqMGr1lGkU3b6Jgq5VYfBq3J6n4Lk8xkqfZ8wN\n",
      );
      const bad = await runNode({
        fetch: [{ url: `${base}/in.txt`, path: "in.txt", action: "sftp" }],
      }, { env: { CURL_HOME: home } });
      roots.push(bad.root);
      assert.equal(bad.code, 1);
      assert.equal(
        bad.status?.reason,
        `Cannot fetch "${base}/in.txt" on the node: ` +
          "curl: (60) SSL peer certificate or SSH remote key was not OK",
      );
      assert.ok(!bad.ran);
    } finally {
      for (const root of roots) await Deno.remove(root, { recursive: true });
      await Deno.remove(home, { recursive: true });
      await srv.stop();
    }
  },
});

Deno.test({
  name: "wrapper: rsync daemon fetch and upload with password_env (RSYNC_PASSWORD for rsync alone)",
  ignore: !haveRsync,
  async fn() {
    const password = "daemon-pass-" + crypto.randomUUID().slice(0, 8);
    const d = await startRsyncDaemon({ auth: { user: "ferry", password } });
    let root = "";
    try {
      await Deno.writeTextFile(join(d.root, "in.txt"), "from the daemon\n");
      const base = `rsync://127.0.0.1:${d.port}/${d.module}`;
      const cred = { user: "ferry", passwordEnv: "FERRY_TEST_RSYNC_PW" };
      const r = await runNode({
        fetch: [{ url: `${base}/in.txt`, path: "in.txt", action: "rsync", ...cred }],
        put: [{ url: `${base}/new/dir/out.txt`, path: "out.txt", action: "rsync", ...cred }],
      }, { script: "rev < in.txt > out.txt", env: { FERRY_TEST_RSYNC_PW: password } });
      root = r.root;
      assert.equal(r.code, 0, r.log);
      assert.equal(await Deno.readTextFile(join(r.work, "in.txt")), "from the daemon\n");
      assert.equal(await Deno.readTextFile(join(d.root, "new/dir/out.txt")), "nomead eht morf\n");
      for (const text of [r.log, r.statusText, r.script]) assert.ok(!text.includes(password));
      const missing = await runNode({
        fetch: [{ url: `${base}/nope.txt`, path: "nope.txt", action: "rsync", ...cred }],
      }, { env: { FERRY_TEST_RSYNC_PW: password } });
      await Deno.remove(missing.root, { recursive: true });
      assert.equal(missing.code, 1);
      assert.equal(
        missing.status?.reason,
        `Cannot fetch "${base}/nope.txt" on the node: rsync (exit 23): ` +
          'link_stat "nope.txt" (in data) failed: No such file or directory (2)',
      );
      assert.ok(!missing.ran);
    } finally {
      await d.stop();
      if (root) await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "wrapper: rsync+ssh fetch and upload, ssh options from FERRY_SSH on the node",
  ignore: !haveSsh,
  async fn() {
    const srv = await startSshd();
    let root = "";
    try {
      await Deno.writeTextFile(join(srv.root, "in.txt"), "over ssh\n");
      const base = `rsync+ssh://${srv.user}@127.0.0.1:${srv.port}${srv.root}`;
      const ssh = ["ssh", ...srv.sshArgs().filter((_, i, a) => a[i] !== "-p" && a[i - 1] !== "-p")];
      const r = await runNode({
        fetch: [{ url: `${base}/in.txt`, path: "sub/in.txt", action: "rsync" }],
        put: [{ url: `${base}/made/out.txt`, path: "sub/in.txt", action: "rsync" }],
      }, { env: { FERRY_SSH: ssh.join(" ") } });
      root = r.root;
      assert.equal(r.code, 0, r.log);
      assert.equal(await Deno.readTextFile(join(r.work, "sub/in.txt")), "over ssh\n");
      assert.equal(await Deno.readTextFile(join(srv.root, "made/out.txt")), "over ssh\n");
    } finally {
      await srv.stop();
      if (root) await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "wrapper: exit.json's reason is JSON-escaped (quotes, backslashes, line breaks)",
  ignore: !haveCurl,
  async fn() {
    const path = 'we"ird\\name\nwith a line break.txt';
    const url = "ftp://127.0.0.1:9/pub/x.txt";
    const r = await runNode({ put: [{ url, path, action: "ftp" }] });
    try {
      const reason = `Cannot upload "${path}" to "${url}" on the node: ${path} does not exist`;
      assert.equal(r.code, 1);
      assert.ok(r.ran, "a put is checked after the task");
      assert.equal(JSON.parse(r.statusText).reason, reason);
      assert.equal(r.status?.reason, reason);
    } finally {
      await Deno.remove(r.root, { recursive: true });
    }
  },
});

Deno.test("wrapper: transfers that cannot work fail before the task with a reason", async () => {
  for (
    const [t, dir, reason] of [
      [
        { url: "http://h/x", path: "x", action: "http" },
        "put",
        'Cannot upload "x" to "http://h/x" on the node: uploads over http are not supported',
      ],
      [
        { url: "gopher://h/x", path: "x", action: "x" },
        "fetch",
        'Cannot fetch "gopher://h/x" on the node: the node cannot transfer gopher: URLs',
      ],
      [
        { url: "ftp://h/x", path: "x", action: "ftp", passwordEnv: "A[$(touch PWNED)]" },
        "fetch",
        'Cannot fetch "ftp://h/x" on the node: ' +
        'password_env "A[$(touch PWNED)]" is not a variable name',
      ],
      [
        { url: "ftp://ann:hunter22@h/x", path: "x", action: "ftp" },
        "fetch",
        'Cannot fetch "ftp://ann@h/x" on the node: ' +
        "the URL holds a password, which is not sent to nodes: use password_env",
      ],
      [
        { url: "sftp://h/dir/", path: "x", action: "sftp" },
        "put",
        'Cannot upload "x" to "sftp://h/dir/" on the node: the URL names a directory, not a file',
      ],
    ] as const
  ) {
    const r = await runNode(dir === "put" ? { put: [t] } : { fetch: [t] });
    try {
      assert.equal(r.code, 1);
      assert.equal(r.status?.reason, reason);
      assert.ok(!r.ran);
      assert.ok(!exists(join(r.work, "PWNED")));
      assert.ok(!r.script.includes("hunter22"));
    } finally {
      await Deno.remove(r.root, { recursive: true });
    }
  }
});

Deno.test({
  name: "wrapper: SIGTERM during a fetch stops curl, removes the netrc file and records the signal",
  ignore: !haveCurl,
  async fn() {
    const srv = await startHttpServer({ files: { "/slow.bin": randomBytes(100_000) } });
    srv.fault("/slow.bin", { kind: "trickle", bytesPerSecond: 1000, chunk: 100 });
    const root = await Deno.makeTempDir({ prefix: "ferry-node-" });
    const tmp = join(root, "tmp");
    await Deno.mkdir(tmp);
    try {
      const j = job(root, {
        run: { kind: "shell", script: "touch ../ran" },
        nodeTransfers: {
          fetch: [{
            url: srv.url("/slow.bin"),
            path: "slow.bin",
            action: "http",
            user: "ann",
            passwordEnv: "FERRY_TEST_HTTP_PW",
          }],
          put: [],
        },
      });
      const child = await runWrapper(j, { TMPDIR: tmp, FERRY_TEST_HTTP_PW: "pw-for-the-netrc" });
      for (let i = 0; i < 200 && srv.requests.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(
        [...Deno.readDirSync(tmp)].filter((e) => e.name.startsWith("ferry-netrc")).length,
        1,
      );
      child.kill("SIGTERM");
      assert.equal((await child.status).code, 143);
      const st = readWrapperStatus(wrapperFiles(root).status)!;
      assert.equal(st.signal, "SIGTERM");
      assert.deepEqual([...Deno.readDirSync(tmp)], []);
      assert.ok(!exists(join(root, "ran")));
    } finally {
      await srv.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("wrapper: ferry_backoff waits as backoffDelay does, draw for draw", async () => {
  const cases: [number, number, number][] = [];
  for (const attempt of [1, 2, 3, 6, 7, 16, 17, 40]) {
    for (const base of [0, 1, 10, 500, 1000, 7001]) {
      for (const draw of [0, 1, 12345, 16384, 32767]) cases.push([attempt, base, draw]);
    }
  }
  const library = fileURLToPath(new URL("./wrapper.sh", import.meta.url));
  const script = `ferry_status=/dev/null; source "$1"; shift
while [ $# -gt 0 ]; do ferry_backoff "$1" "$2" "$3"; echo; shift 3; done`;
  const out = await new Deno.Command("bash", {
    args: ["-c", script, "bash", library, ...cases.flat().map(String)],
    stdout: "piped",
  }).output();
  assert.equal(out.code, 0);
  const got = new TextDecoder().decode(out.stdout).trimEnd().split("\n").map(Number);
  const want = cases.map(([attempt, baseMs, draw]) =>
    backoffDelay(attempt, { baseMs, random: () => draw / 32768 })
  );
  assert.deepEqual(got, want);
  assert.deepEqual(got.slice(0, 5), [0, 0, 0, 0, 0]);
  assert.ok(got.includes(30_000) && got.includes(24_001), "the cap and the jitter both show");
});

Deno.test("wrapper: every node-side transfer waits from the run's retry base, written into the script", () => {
  const transfers: NodeTransfers = {
    fetch: [{ url: "https://h.example/in.bin", path: "in.bin", action: "https" }],
    put: [{ url: "ftp://h.example/out/o.bin", path: "o.bin", action: "ftp" }],
  };
  const calls = (over: Partial<JobSpec>) => {
    const script = wrapperScript(job("/r", { nodeTransfers: transfers, ...over })).get(
      wrapperFiles("/r").script,
    )!;
    return script.split("\n").filter((l) => /^\s*ferry_transfer /.test(l)).map((l) =>
      l.match(/ (base=\d+) /)?.[1]
    );
  };
  assert.deepEqual(calls({ retryBaseMs: 250 }), ["base=250", "base=250"]);
  assert.deepEqual(calls({}), [`base=${RETRY_BASE_MS}`, `base=${RETRY_BASE_MS}`]);
  // Whole ms, never below 0, and past the longest wait a larger base changes nothing.
  assert.deepEqual(calls({ retryBaseMs: 12.6 }), ["base=13", "base=13"]);
  assert.deepEqual(calls({ retryBaseMs: -5 }), ["base=0", "base=0"]);
  assert.deepEqual(calls({ retryBaseMs: 1e12 }), ["base=30000", "base=30000"]);
});

Deno.test("wrapper: what a task leaves running in the background ends with it", async () => {
  const root = await Deno.makeTempDir();
  const tag = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const left = async () => {
    const out = await new Deno.Command("ps", { args: ["-eo", "pid=,args="] }).output();
    return new TextDecoder().decode(out.stdout).split("\n")
      .filter((l) => l.includes(`sleep 605.${tag}`))
      .map((l) => Number(l.trim().split(/\s+/)[0]));
  };
  try {
    const done = await runWrapper(job(root, {
      run: { kind: "shell", script: `sleep 605.${tag} &\necho started > out.txt\n` },
    }));
    assert.equal((await done.status).code, 0, await Deno.readTextFile(wrapperFiles(root).log));
    assert.deepEqual(await left(), [], "the background sleep ended with its task");
  } finally {
    for (const pid of await left()) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("wrapper: a task id or path with line breaks, quotes, $() and escapes stays a comment or one word", async () => {
  const root = await Deno.makeTempDir();
  try {
    const canary = join(root, "canary");
    const hostile =
      `x\ntouch ${canary}\n'$(touch ${canary})\`touch ${canary}\`"\r\x1b]0;t\x07\u202e`;
    // A file name (no "/"): a relative canary, made in the task's directory if it ran.
    const name = `x\ntouch canary\n'$(touch canary)\`touch canary\`"\r\x1b\u202e`;
    const j = job(root, {
      taskId: `a[v=${hostile}]`,
      run: { kind: "command", argv: ["printf", "%s", hostile] },
      env: { FERRY_X: hostile },
      stdout: join(root, `out ${name}.log`),
    });
    const text = wrapperScript(j).get(wrapperFiles(root).script)!;
    const lines = text.split("\n");
    assert.equal(
      lines[1],
      `# ferry job wrapper: task a[v=x\\ntouch ${canary}\\n'$(touch ${canary})\`touch ${canary}\`"\\r\\x1b]0;t\\x07\\u202e], attempt 1. Written by ferry; runs on the node.`,
    );
    // No raw control character anywhere in the script: each is written as $'\xHH'.
    assert.equal(hasControl(text.replaceAll("\n", "")), false);
    assert.equal((await (await runWrapper(j)).status).code, 0);
    assert.equal(await Deno.readTextFile(join(root, `out ${name}.log`)), hostile);
    assert.equal(exists(canary) || exists(join(root, "work", "canary")), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "wrapper: an environment variable name that is not one is refused, not written",
  fn() {
    assert.throws(() => wrapperScript(job("/r", { env: { "X=1;touch /tmp/p;Y": "v" } })), {
      message: 'Cannot export "X=1;touch /tmp/p;Y" on the node: it is not a variable name',
    });
  },
});

// A task that holds 200 MiB and burns about 1 s of CPU (user time).
const HOG = [
  "python3",
  "-c",
  'import time\nb = b"x" * (200 * 1024 * 1024)\nt = time.process_time()\nwhile time.process_time() - t < 1: pass',
];

for (const timer of ["/usr/bin/time", ""]) {
  Deno.test(`wrapper: records the task's wall, CPU time${timer ? " and peak RSS (/usr/bin/time)" : " (bash's times, no /usr/bin/time)"}, also for a failed task`, async () => {
    const root = await Deno.makeTempDir();
    try {
      const j = job(root, {
        run: { kind: "shell", script: `${HOG.map((a) => `'${a}'`).join(" ")}\nexit 3` },
      });
      const status = await (await runWrapper(j, { FERRY_TIME: timer })).status;
      assert.equal(status.code, 3);
      const st = readWrapperStatus(wrapperFiles(root).status)!;
      const u = st.usage!;
      assert.equal(u.measuredBy, timer ? "time" : "bash-times");
      assert.ok(
        u.userSeconds! + u.systemSeconds! >= 0.9,
        `CPU ${u.userSeconds} + ${u.systemSeconds}`,
      );
      assert.ok(u.userSeconds! + u.systemSeconds! < 3, `CPU ${u.userSeconds} + ${u.systemSeconds}`);
      assert.ok(u.wallSeconds >= 0.9 && u.wallSeconds < 10, `wall ${u.wallSeconds}`);
      if (timer) {
        const mib = u.maxRssBytes! / 2 ** 20;
        assert.ok(mib >= 200 && mib < 240, `peak RSS ${mib} MiB`);
      } else assert.equal(u.maxRssBytes, undefined);
      assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name).sort(), [
        "exit.json",
        "job.out",
        "stderr.log",
        "stdout.log",
        "task-script.sh",
        "task.sh",
        "work",
      ]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}

Deno.test("wrapper: a pilot's function call names its Deno worker first (the same for every least-privilege call) and calls it there; the file is clean under shellcheck", async () => {
  const root = "/runs/r1/tasks/t'$(x)/attempt-1";
  const job = {
    taskId: "f`id`\n",
    attempt: 1,
    root,
    dir: join(root, "work"),
    run: { kind: "function" as const, module: "/w/fns $(x).ts", export: "go" },
    env: { FERRY_DENO: "/opt/deno'`x`" },
    mkdirs: [join(root, "work")],
    stdout: join(root, "stdout.log"),
    stderr: join(root, "stderr.log"),
    resources: { walltime: 2.5 },
    call: { args: { s: "a'b\n$(x)" }, result: join(root, "result.json") },
  };
  const files = pilotTaskScript(job);
  const text = files.get(join(root, "task.sh"))!;
  const lines = text.split("\n");
  assert.equal(
    lines[0],
    `ferry_fn_argv=('/opt/deno'\\''\`x\`' run -A --no-prompt ${
      fileURLToPath(new URL("./function_worker.ts", import.meta.url))
    })`,
  );
  assert.ok(lines[1]!.startsWith("# ferry pilot task: task f`id`\\n, attempt 1."));
  assert.ok(
    text.includes(
      `\nferry_fn_call 3 '${root.replaceAll("'", "'\\''")}/timed-out' '${
        root.replaceAll("'", "'\\''")
      }/call.json' '"${root.replaceAll("'", "'\\''")}/work"' `,
    ),
    text,
  );
  assert.ok(!text.includes("function_runner.ts"), text);
  // The call as the worker takes it, without its directory.
  assert.deepEqual(JSON.parse(files.get(join(root, "call.json"))!), {
    module: "/w/fns $(x).ts",
    export: "go",
    args: { s: "a'b\n$(x)" },
    env: { FERRY_DENO: "/opt/deno'`x`" },
  });
  // Sourced by a worker that holds the libraries, which set and read its variables (SC2034,
  // SC2154); the hostile values stay in single quotes on purpose (SC2016).
  assert.equal(await shellcheck(text, { exclude: ["SC2016", "SC2034", "SC2154"] }), "");
  // A least-privilege call goes to a worker with the rights any such call may have, and takes
  // its own permissions along (its Web Worker's there).
  const permissions = {
    read: [".", "/in'$(x)"],
    write: ["."],
    net: [],
    env: ["A"],
    run: [],
    all: false,
  };
  const narrow = pilotTaskScript({ ...job, permissions });
  assert.equal(
    narrow.get(join(root, "task.sh"))!.split("\n")[0],
    `ferry_fn_argv=('/opt/deno'\\''\`x\`' run --allow-read --allow-write --allow-net --allow-env --allow-run --unstable-worker-options --no-prompt ${
      fileURLToPath(new URL("./function_worker.ts", import.meta.url))
    })`,
  );
  assert.deepEqual(JSON.parse(narrow.get(join(root, "call.json"))!).permissions, permissions);
  // One that may start programs keeps a process of its own (what it starts ends with it).
  const runs = pilotTaskScript({ ...job, permissions: { ...permissions, run: ["samtools"] } });
  assert.ok(!runs.get(join(root, "task.sh"))!.includes("ferry_fn_"));
});

Deno.test("wrapper: a status file that says lost makes a lost, retryable attempt with its reason", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "exit.json");
    const reason = "lost with its function worker (pid 7), killed by SIGKILL during the call";
    Deno.writeTextFileSync(
      path,
      JSON.stringify({
        exitCode: 137,
        signal: "SIGKILL",
        startedAt: 1,
        endedAt: 2,
        host: "n1",
        timedOut: false,
        reason,
        lost: true,
        usage: { wallSeconds: 1.5, measuredBy: "clock" },
      }),
    );
    const st = readWrapperStatus(path)!;
    assert.deepEqual(resultOfStatus(st, false), {
      startedAt: 1,
      endedAt: 2,
      host: "n1",
      exitCode: 137,
      signal: "SIGKILL",
      message: reason,
      usage: { wallSeconds: 1.5, measuredBy: "clock" },
      lost: true,
      retryable: true,
      outcome: "failed",
    });
    // Cancelled by ferry: not lost.
    assert.equal(resultOfStatus(st, true).lost, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("wrapper: an output on the node's own storage (an endpoint) is moved there whole after the task, never uploaded; a place it cannot write fails the attempt", async () => {
  const dest = await Deno.makeTempDir({ prefix: "ferry-endpoint-" });
  const local = join(dest, "sub dir", "out $(x).txt");
  const r = await runNode({
    put: [{
      url: "sftp://login.invalid/scratch/out.txt",
      path: "out.txt",
      action: "endpoint",
      local,
    }],
  }, { script: "echo made > out.txt" });
  const blocked = join(dest, "file", "out.txt");
  await Deno.writeTextFile(join(dest, "file"), "in the way\n");
  const bad = await runNode({
    put: [{
      url: "sftp://login.invalid/scratch/x.txt",
      path: "out.txt",
      action: "endpoint",
      local: blocked,
    }],
  }, { script: "echo made > out.txt" });
  try {
    assert.equal(r.code, 0, r.log);
    assert.equal(await Deno.readTextFile(local), "made\n");
    assert.deepEqual([...Deno.readDirSync(join(dest, "sub dir"))].map((e) => e.name), [
      "out $(x).txt",
    ]);
    assert.equal(
      r.log,
      `ferry: moved out.txt to ${local} (an endpoint of the executor: not uploaded)\n`,
    );
    assert.equal(bad.code, 1);
    const reason = `Cannot move "out.txt" to "${blocked}" on the node: cannot write there`;
    assert.equal(bad.status?.reason, reason);
    assert.equal(bad.log, `ferry: ${reason}\n`);
  } finally {
    for (const d of [dest, r.root, bad.root]) await Deno.remove(d, { recursive: true });
  }
});

Deno.test({
  name:
    "wrapper: a replica dropped mid-transfer on every try falls back to the next, which is fetched from byte 0; the fallback is in job.out and the status file",
  ignore: !haveCurl,
  async fn() {
    const body = randomBytes(200_000);
    const a = await startHttpServer({ files: { "/ref.bin": body } });
    const b = await startHttpServer({ files: { "/mirror/ref.bin": body } });
    a.fault("/ref.bin", { kind: "drop", afterBytes: 50_000 });
    let root = "";
    try {
      const [ua, ub] = [a.url("/ref.bin"), b.url("/mirror/ref.bin")];
      // A third replica the node cannot fetch at all, and one after it that is never needed.
      const [bad, never] = ["gopher://old.example.org/ref.bin", b.url("/never.bin")];
      const r = await runNode({
        fetch: [{
          url: bad,
          path: "ref.bin",
          action: "./gopher.ts",
          checksum: `sha256:${sha256(body)}`,
          fallbacks: [
            { url: ua, path: "", action: "http", retries: 1 },
            { url: ub, path: "", action: "http" },
            { url: never, path: "", action: "http" },
          ],
        }],
      }, { retryBaseMs: 10, script: "sha256sum ref.bin > ../sum" });
      root = r.root;
      assert.equal(r.code, 0, r.log);
      assert.deepEqual(await Deno.readFile(join(r.work, "ref.bin")), body);
      assert.deepEqual(a.requests.map((q) => [q.range, q.status]), [[null, 200], [
        "bytes=50000-",
        206,
      ]]);
      assert.deepEqual(b.requests.map((q) => [q.path, q.range]), [["/mirror/ref.bin", null]]);
      const whyBad = `Cannot fetch "${bad}" on the node: the node cannot transfer gopher: URLs`;
      const whyA =
        `Cannot fetch "${ua}" on the node: curl: (18) transfer closed with 100000 bytes remaining to read`;
      const lines = r.log.trimEnd().split("\n");
      assert.equal(lines[0], `ferry: ${whyBad}; falling back to ${ua}`);
      assert.match(lines[1]!, /^ferry: attempt 1 of 2 to fetch ".*" failed: curl: \(18\) /);
      assert.equal(lines[2], `ferry: ${whyA}; falling back to ${ub}`);
      assert.match(lines[3]!, /^ferry: fetched ".*mirror\/ref\.bin" to ref\.bin \(200000 bytes/);
      assert.equal(lines.length, 4, r.log);
      assert.deepEqual(r.status?.fallbacks, [
        { path: "ref.bin", url: bad, provider: "./gopher.ts", error: whyBad, fallback: ua },
        { path: "ref.bin", url: ua, provider: "http", error: whyA, fallback: ub },
      ]);
      assert.deepEqual(r.tmpLeft, []);
      assert.deepEqual([...Deno.readDirSync(r.work)].map((e) => e.name), ["ref.bin"]);
    } finally {
      await a.close();
      await b.close();
      if (root) await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "wrapper: when every replica fails, the attempt fails with the last one's reason",
  ignore: !haveCurl,
  async fn() {
    const srv = await startHttpServer({ files: {} });
    let root = "";
    try {
      // A hostile name: quoted in the script, never run on the node.
      const [u1, u2] = [
        srv.url("/one.bin"),
        new URL(srv.url("/two$(touch${IFS}pwned)`id`'\".bin")).href,
      ];
      const r = await runNode({
        fetch: [{
          url: u1,
          path: "x.bin",
          action: "http",
          fallbacks: [{ url: u2, path: "", action: "http" }],
        }],
      });
      root = r.root;
      const last =
        `Cannot fetch "${u2}" on the node: curl: (22) The requested URL returned error: 404`;
      assert.equal(r.code, 1);
      assert.equal(r.ran, false);
      assert.equal(r.status?.reason, last);
      assert.equal(r.status?.fallbacks?.length, 1);
      assert.equal(r.status?.fallbacks?.[0]?.fallback, u2);
      assert.equal(r.log.trimEnd().split("\n").at(-1), `ferry: ${last}`);
      assert.equal(
        r.log.split("\n")[0],
        `ferry: Cannot fetch "${u1}" on the node: curl: (22) The requested URL returned error: 404; falling back to ${u2}`,
      );
      assert.ok(!r.log.includes("uid="), r.log);
      assert.deepEqual([...Deno.readDirSync(r.work)].map((e) => e.name), []);
      assert.equal(exists(join(r.root, "pwned")), false);
    } finally {
      await srv.close();
      if (root) await Deno.remove(root, { recursive: true });
    }
  },
});
