/**
 * Tasks in containers, run by a real podman (Debian's, with runc) on an
 * image each test builds from busybox-static and removes: the local provider,
 * a Slurm job and an ssh host run the container; inputs, outputs, env,
 * exit codes, walltimes and Ctrl-C behave as outside; the image's ID is part
 * of the cache key. Under CI=true a missing podman fails; elsewhere these
 * tests skip, loudly. docker, apptainer and singularity are not installed:
 * their command lines are checked as `plan --show-scripts` prints them.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, ferry, ferryRun, withTemp, writeWorkflow } from "./_run.ts";
import { haveService, processesLeftIn, waitFor } from "./_services.ts";
import { makeImage, PODMAN_RUNTIME, type TestImage } from "./_podman.ts";
import { shellcheck } from "./_shellcheck.ts";
import { startHttpServer } from "./_http_server.ts";
import { type SlurmCluster, startSlurm } from "./_slurm.ts";
import { type Sshd, startSshd } from "./_sshd.ts";
import { taskDirName } from "../interpreter/attempt.ts";
import { containerName } from "../providers/batch/container.ts";
import { Ajv2020 } from "../deps/ajv.ts";
import planSchema from "../schemas/plan.schema.json" with { type: "json" };

const validatePlan = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(
  planSchema,
);

const HAVE = haveService("podman", ["podman", "runc", "busybox", "tar"]);

/** A workspace path with a space, quotes and `$()` (no ":" or ",": a bind cannot hold them). */
const WS_NAME = `ws 'q' "d" $(touch PWNED) ☃`;
/** An env value with a line break, quotes and code that must stay text. */
const HOSTILE_ENV = `two\nlines 'sq' "dq" $(touch PWNED) \`touch PWNED\` ; *`;

/** A site file: `local` (or `executor`) runs containers with podman as this machine needs it. */
function site(dir: string, executors: Record<string, unknown> = {}): Promise<string> {
  return writeWorkflow(dir, {
    "ferry-site": 1,
    executors: {
      local: { provider: "local", container_runtime: PODMAN_RUNTIME },
      ...executors,
    },
  }, "site.yaml");
}

/** A workspace with a hostile name in a temp dir, and an image; both go afterwards. */
function withImage(fn: (ws: string, image: TestImage, tmp: string) => Promise<void>) {
  return withTemp(async (tmp) => {
    const ws = join(tmp, WS_NAME);
    await Deno.mkdir(join(ws, "data"), { recursive: true });
    const image = await makeImage(tmp);
    try {
      await fn(ws, image, tmp);
      // Every container went with its task (`--rm`, and `kill` on a cancel).
      assert.deepEqual(await image.containers(), []);
    } finally {
      await image.remove();
    }
    assert.equal(await exists(join(ws, "PWNED")), false);
  });
}

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name: `podman: ${name}`, ignore: !HAVE, sanitizeResources: false, fn });

t(
  "a local task in a container reads workspace, fetched and outside inputs, writes outputs, gets its env; a second run does nothing",
  async () => {
    const http = await startHttpServer({ files: { "/remote.txt": "from the server\n" } });
    try {
      await withImage(async (ws, image, tmp) => {
        await Deno.writeTextFile(join(ws, "data", "in.txt"), "one two three\n");
        const outside = join(tmp, "outside dir", "far.txt");
        await Deno.mkdir(join(tmp, "outside dir"));
        await Deno.writeTextFile(outside, "far away\n");
        await Deno.writeTextFile(
          join(ws, "fns.ts"),
          "export function write() { Deno.writeTextFileSync('out/fn.txt', 'x'); return { n: 42 }; }\n",
        );
        await Deno.mkdir(join(ws, "scripts"));
        await Deno.writeTextFile(
          join(ws, "scripts", "task-of"),
          '#!/bin/sh\ntest -f /run/.containerenv\ngrep -o \'"id": "script"\' "$FERRY_TASK" > out/script.txt\n',
        );
        const s = await site(ws);
        const wf = await writeWorkflow(ws, {
          ferry: 1,
          name: "in-a-container",
          defaults: { container: image.tag },
          apps: {
            count: {
              inputs: { text: "data/in.txt", remote: http.url("/remote.txt"), far: outside },
              outputs: { n: "out/count.txt", env: "out/env.txt" },
              env: { MSG: HOSTILE_ENV },
              shell: [
                "test -f /run/.containerenv",
                "wc -w < ${{ inputs.text }} > ${{ outputs.n }}",
                "cat ${{ inputs.remote }} ${{ inputs.far }} >> ${{ outputs.n }}",
                'printf "%s|%s" "$MSG" "$FERRY_TASK_ID" > ${{ outputs.env }}',
              ].join("\n"),
            },
            copy: {
              inputs: { n: "${{ apps.count.outputs.n }}" },
              outputs: { o: "out/copy.txt" },
              command: ["cat", "${{ inputs.n }}"],
              stdout: "${{ outputs.o }}",
            },
            // What a function task returned reaches a task in a container (FERRY_RESULTS, mounted).
            fn: { container: false, outputs: { o: "out/fn.txt" }, function: "./fns.ts#write" },
            results: {
              after: ["fn"],
              outputs: { o: "out/results.json" },
              shell: 'cat "$FERRY_RESULTS" > ${{ outputs.o }}',
            },
            // A script app: its file and its FERRY_TASK file are mounted (busybox has no bash).
            script: {
              inputs: { n: "${{ apps.count.outputs.n }}" },
              outputs: { o: "out/script.txt" },
              script: "scripts/task-of",
            },
            outside_any: {
              container: false,
              outputs: { o: "out/host.txt" },
              shell: "test ! -f /run/.containerenv && echo host > ${{ outputs.o }}",
            },
          },
        });
        const r = await ferryRun(["--site", s, wf]);
        assert.equal(r.code, 0, r.stderr);
        const counted = "3\nfrom the server\nfar away\n";
        assert.equal(await Deno.readTextFile(join(ws, "out/count.txt")), counted);
        assert.equal(await Deno.readTextFile(join(ws, "out/copy.txt")), counted);
        assert.equal(await Deno.readTextFile(join(ws, "out/env.txt")), `${HOSTILE_ENV}|count`);
        assert.equal(await Deno.readTextFile(join(ws, "out/host.txt")), "host\n");
        assert.equal(await Deno.readTextFile(join(ws, "out/script.txt")), '"id": "script"\n');
        assert.deepEqual(JSON.parse(await Deno.readTextFile(join(ws, "out/results.json"))), {
          fn: { n: 42 },
        });
        const again = await ferryRun(["--site", s, wf]);
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stderr, /^done: 0 succeeded, 6 cached, 0 failed in /m);
      });
    } finally {
      await http.close();
    }
  },
);

t("a task's exit code is reported; a walltime kills the task and its container", async () => {
  await withImage(async (ws, image) => {
    const s = await site(ws);
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "failing",
      defaults: { container: image.tag },
      apps: {
        fails: { outputs: { o: "o.txt" }, command: ["sh", "-c", "echo oops >&2; exit 3"] },
        // Longer than one argument may be: run from its file, mounted read-only.
        long_script: {
          outputs: { o: "long.txt" },
          shell: `# ${"x".repeat(70_000)}\necho "long $0" > \${{ outputs.o }}`,
        },
        slow: {
          resources: { walltime: "2s" },
          outputs: { o: "slow.txt" },
          command: ["sleep", "300"],
        },
      },
    });
    const t0 = Date.now();
    const r = await ferryRun(["--keep-going", "--site", s, wf]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^✗ fails: exit code 3$/m);
    assert.match(r.stderr, /^ {4}│ oops$/m);
    assert.match(r.stderr, /^✗ slow: .*walltime.*$/m);
    // The long script ran from its file in the attempt's directory, mounted at the same path.
    const long = await Deno.readTextFile(join(ws, "long.txt"));
    assert.equal(long.slice(0, 5), "long ");
    assert.ok(long.startsWith(`long ${ws}/.ferry/runs/`), long);
    assert.match(long, /\/tasks\/long_script-[0-9a-f]{8}\/attempt-1\/ferry-script\.sh\n$/);
    assert.ok(Date.now() - t0 < 60_000, "the walltime ended the sleep");
  });
});

t(
  "the image's ID is in the plan and the cache key: importing it again under the same tag runs the task again",
  async () => {
    await withImage(async (ws, image) => {
      const s = await site(ws);
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "image-key",
        apps: {
          a: { container: image.tag, outputs: { o: "o.txt" }, shell: "echo hi > ${{ outputs.o }}" },
          // Left out of the key: the image may change under it.
          b: {
            container: image.tag,
            cache: { ignore: ["container"] },
            outputs: { o: "b.txt" },
            shell: "echo hi > ${{ outputs.o }}",
          },
        },
      });
      const plan = await ferryRun(["--site", s, "--format", "json", wf], {}, "plan");
      assert.equal(plan.code, 0, plan.stderr);
      const first = await image.id();
      assert.ok(validatePlan(JSON.parse(plan.stdout)), JSON.stringify(validatePlan.errors));
      assert.deepEqual(JSON.parse(plan.stdout).tasks[0].container, {
        image: image.tag,
        engine: "podman",
        identity: first,
      });
      assert.equal((await ferryRun(["--site", s, wf])).code, 0);
      const text = await ferryRun(["--site", s, wf], {}, "plan");
      assert.match(text.stdout, /^ {2}a {2}\[cached\]$/m);
      assert.ok(
        text.stdout.includes(`    in container ${image.tag} (podman, image ${first})\n`),
        text.stdout,
      );
      await image.reimport();
      assert.notEqual(await image.id(), first);
      const changed = await ferryRun(["--site", s, wf], {}, "plan");
      assert.match(changed.stdout, /^ {2}a {2}\[run: container image changed\]$/m);
      assert.match(changed.stdout, /^ {2}b {2}\[cached\]$/m);
      const r = await ferryRun(["--site", s, wf]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^plan: 1 to run, 1 cached$/m);
    });
  },
);

t("Ctrl-C stops a running task's container: no container, no process is left", async () => {
  await withImage(async (ws, image) => {
    const s = await site(ws);
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "cancel",
      apps: { long: { container: image.tag, outputs: { o: "o.txt" }, command: ["sleep", "300"] } },
    });
    const child = ferry(["--site", s, wf]).spawn();
    await waitFor(
      "the container to run",
      async () => (await image.containers()).length === 1,
      30_000,
    );
    child.kill("SIGINT");
    const out = await child.output();
    assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
    assert.deepEqual(await image.containers(), []);
    assert.deepEqual(await processesLeftIn(ws), []);
  });
});

// --- Slurm and ssh: the job wrapper runs the container on the node ---

const HAVE_SLURM = HAVE &&
  haveService("Slurm", ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel"]);
let cluster: SlurmCluster | undefined;

Deno.test({
  name:
    "podman: a Slurm job runs its task in a container on the node (scratch too); scancel stops it",
  ignore: !HAVE_SLURM,
  sanitizeResources: false,
  async fn() {
    cluster ??= await startSlurm();
    const env = cluster.env;
    await withImage(async (ws, image) => {
      await Deno.writeTextFile(join(ws, "data", "in.txt"), "alpha beta\n");
      const scratch = join(ws, "..", "node scratch");
      await Deno.mkdir(scratch);
      const s = await site(ws, {
        cluster: {
          provider: "slurm",
          options: { partition: "debug" },
          container_runtime: PODMAN_RUNTIME,
          env: { MSG: HOSTILE_ENV, FERRY_TEST_SCRATCH: scratch },
        },
        scratchy: {
          provider: "slurm",
          options: { partition: "debug" },
          container_runtime: PODMAN_RUNTIME,
          scratch: "${FERRY_TEST_SCRATCH}",
          env: { FERRY_TEST_SCRATCH: scratch },
          staging: [{ match: "file:///*", action: "scratch" }],
        },
      });
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "slurm-container",
        defaults: { executor: "cluster", container: image.tag },
        apps: {
          count: {
            inputs: { text: "data/in.txt" },
            outputs: { n: "out/n.txt" },
            shell: [
              "test -f /run/.containerenv",
              'wc -w < ${{ inputs.text }} > ${{ outputs.n }}; printf "%s" "$MSG" >> ${{ outputs.n }}',
            ].join("\n"),
          },
          on_scratch: {
            executor: "scratchy",
            inputs: { text: "data/in.txt" },
            outputs: { o: "out/scratch.txt" },
            shell: 'cat ${{ inputs.text }} > ${{ outputs.o }}; echo "$PWD" >> ${{ outputs.o }}',
          },
        },
      });
      const r = await ferryRun(["--poll-interval", "0.2", "--site", s, wf], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(join(ws, "out/n.txt")), `2\n${HOSTILE_ENV}`);
      const scratchOut = await Deno.readTextFile(join(ws, "out/scratch.txt"));
      assert.ok(scratchOut.startsWith(`alpha beta\n${scratch}/`), scratchOut);

      // A cancelled job (ferry's Ctrl-C: scancel) stops its container too.
      const long = await writeWorkflow(ws, {
        ferry: 1,
        name: "slurm-cancel",
        defaults: { executor: "cluster", container: image.tag },
        apps: { long: { outputs: { o: "o.txt" }, command: ["sleep", "300"] } },
      }, "long.yaml");
      const child = ferry(["--poll-interval", "0.2", "--site", s, long], env).spawn();
      await waitFor(
        "the container to run",
        async () => (await image.containers()).length === 1,
        60_000,
      );
      child.kill("SIGINT");
      const out = await child.output();
      assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
      await waitFor(
        "the container to go",
        async () => (await image.containers()).length === 0,
        30_000,
      );
      await waitFor("no job left", async () => (await cluster!.active()).length === 0, 30_000);
    });
  },
});

const HAVE_SSHD = HAVE && haveService("sshd", ["sshd", "ssh-keygen"]);
let sshd: Sshd | undefined;

Deno.test({
  name: "podman: an ssh host runs the task in a container through the job wrapper",
  ignore: !HAVE_SSHD,
  sanitizeResources: false,
  async fn() {
    sshd ??= await startSshd();
    const srv = sshd;
    await withImage(async (ws, image) => {
      await Deno.writeTextFile(join(ws, "data", "in.txt"), "x y z\n");
      const s = await site(ws, {
        remote: {
          provider: "ssh",
          host: `${srv.user}@127.0.0.1:${srv.port}`,
          container_runtime: PODMAN_RUNTIME,
          env: { MSG: HOSTILE_ENV },
          options: { identity_file: srv.identity, known_hosts: srv.knownHosts },
        },
      });
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "ssh-container",
        defaults: { executor: "remote", container: image.tag },
        apps: {
          count: {
            inputs: { text: "data/in.txt" },
            outputs: { n: "out/n.txt" },
            command: ["sh", "-c", 'wc -w < "$0"; printf "%s" "$MSG"', "${{ inputs.text }}"],
            stdout: "${{ outputs.n }}",
          },
        },
      });
      const r = await ferryRun(["--site", s, wf]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(join(ws, "out/n.txt")), `3\n${HOSTILE_ENV}`);
      // The plan names the image by its reference: ferry does not ask another host's podman.
      const plan = await ferryRun(["--site", s, "--format", "json", "--no-cache", wf], {}, "plan");
      assert.equal(JSON.parse(plan.stdout).tasks[0].container.identity, image.tag);
    });
  },
});

Deno.test({
  name: "podman: stop the Slurm cluster and sshd",
  ignore: !HAVE,
  sanitizeResources: false,
  async fn() {
    await cluster?.stop();
    await sshd?.stop();
  },
});

// --- command lines of every engine, as plan --show-scripts prints them (no engine needed) ---

Deno.test("plan --show-scripts prints each engine's command line for a local task, quoted", async () => {
  await withTemp(async (tmp) => {
    const ws = join(tmp, WS_NAME);
    await Deno.mkdir(join(ws, "data"), { recursive: true });
    await Deno.writeTextFile(join(ws, "data", "in.txt"), "x\n");
    const engines = {
      pod: { engine: "podman", command: "/opt/pod man/podman", args: ["--root", "/var/lib/c s"] },
      dock: { engine: "docker", run_args: ["--user", "1000:1000"] },
      app: "apptainer",
      sing: { engine: "singularity", run_args: ["--nv"] },
    };
    const executors: Record<string, unknown> = {};
    const apps: Record<string, unknown> = {};
    for (const [name, runtime] of Object.entries(engines)) {
      executors[name] = { provider: "local", container_runtime: runtime };
      apps[`on_${name}`] = {
        executor: name,
        container: name === "app" || name === "sing" ? "/images/tools 1.sif" : "localhost/t:1",
        inputs: { i: "data/in.txt" },
        outputs: { o: `out/${name}.txt` },
        env: { MSG: HOSTILE_ENV },
        shell: "wc -l ${{ inputs.i }} > ${{ outputs.o }}",
      };
    }
    const wf = await writeWorkflow(ws, { ferry: 1, name: "engines", executors, apps });
    const r = await ferryRun(["--show-scripts", wf], {}, "plan");
    assert.equal(r.code, 0, r.stderr);
    const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    const dir = (app: string) => `${ws}/.ferry/runs/RUN/tasks/${taskDirName(app)}/attempt-1`;
    const pick = q(
      'if command -v bash >/dev/null 2>&1; then exec bash -euo pipefail "$@"; fi; exec sh -eu "$@"',
    );
    const script = (name: string) => `-c 'wc -l data/in.txt > out/${name}.txt' ferry-task`;
    const input = `${ws}/data/in.txt`;
    const header = (app: string, engine: string) =>
      `# ── ${app} on executor "${app.slice(3)}" runs in a container (${engine}), output to ${
        q(`${dir(app)}/stdout.log`)
      }, errors to ${q(`${dir(app)}/stderr.log`)}:`;
    const podName = containerName({ root: dir("on_pod"), dir: "", attempt: 1 } as never);
    const dockName = containerName({ root: dir("on_dock"), dir: "", attempt: 1 } as never);
    const work = (app: string) => `${dir(app)}/work`;
    const expected = [
      header("on_pod", "podman"),
      [
        q("/opt/pod man/podman"),
        "--root",
        q("/var/lib/c s"),
        "run --rm",
        `--name=${podName}`,
        q(`--workdir=${work("on_pod")}`),
        q(`--volume=${work("on_pod")}:${work("on_pod")}`),
        q(`--volume=${input}:${input}:ro`),
        "--env=MSG --env=FERRY_TASK_ID --env=FERRY_ATTEMPT",
        q('--entrypoint=["/bin/sh"]'),
        "localhost/t:1 -c",
        pick,
        "sh",
        script("pod"),
      ].join(" "),
      `# when cancelled: ${q("/opt/pod man/podman")} --root ${q("/var/lib/c s")} kill ${podName}`,
      "",
      header("on_dock", "docker"),
      [
        "docker run --rm",
        `--name=${dockName}`,
        q(`--workdir=${work("on_dock")}`),
        q(`--volume=${work("on_dock")}:${work("on_dock")}`),
        q(`--volume=${input}:${input}:ro`),
        "--env=MSG --env=FERRY_TASK_ID --env=FERRY_ATTEMPT --user 1000:1000",
        "--entrypoint=/bin/sh localhost/t:1 -c",
        pick,
        "sh",
        script("dock"),
      ].join(" "),
      `# when cancelled: docker kill ${dockName}`,
      "",
      header("on_app", "apptainer"),
      [
        "apptainer exec --cleanenv",
        q(`--pwd=${work("on_app")}`),
        q(`--bind=${work("on_app")}:${work("on_app")}`),
        q(`--bind=${input}:${input}:ro`),
        q("/images/tools 1.sif"),
        "/bin/sh -c",
        pick,
        "sh",
        script("app"),
      ].join(" "),
      "",
      header("on_sing", "singularity"),
      [
        "singularity exec --cleanenv",
        q(`--pwd=${work("on_sing")}`),
        q(`--bind=${work("on_sing")}:${work("on_sing")}`),
        q(`--bind=${input}:${input}:ro`),
        "--nv",
        q("/images/tools 1.sif"),
        "/bin/sh -c",
        pick,
        "sh",
        script("sing"),
      ].join(" "),
      "",
      "No job scripts: no task to run goes to a batch scheduler (slurm, pbs, lsf, htcondor).",
      "",
    ].join("\n");
    const shown = r.stdout.slice(r.stdout.indexOf("# ── "));
    assert.equal(shown, expected);
    // The env's value is passed by name only, never written on the line.
    assert.ok(!r.stdout.includes("'sq'"), r.stdout);
  });
});

// --- job wrappers that run containers: quoted, and clean under shellcheck ---

const HAVE_SHELLCHECK = haveService("shellcheck", ["shellcheck"]);

Deno.test({
  name:
    "plan --show-scripts: Slurm wrappers running podman and apptainer (scratch, hostile image, paths and env) are clean under shellcheck",
  ignore: !HAVE_SHELLCHECK,
  async fn() {
    await withTemp(async (tmp) => {
      const ws = join(tmp, WS_NAME);
      await Deno.mkdir(join(ws, "data"), { recursive: true });
      await Deno.writeTextFile(join(ws, "data", "in 'x'.txt"), "x\n");
      const hostileImage = `localhost/x:1 $(touch PWNED)'"\`touch PWNED\``;
      const cluster = (runtime: unknown, more: Record<string, unknown> = {}) => ({
        provider: "slurm",
        container_runtime: runtime,
        env: { MSG: HOSTILE_ENV },
        ...more,
      });
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "wrapped",
        executors: {
          pod: cluster({ ...PODMAN_RUNTIME, command: "/opt/$(touch PWNED)/podman" }, {
            scratch: "${TMPDIR}/ferry",
            staging: [{ match: "file:///*", action: "scratch" }],
          }),
          app: cluster({ engine: "apptainer", run_args: ["--bind", "/x y:/x y"] }),
        },
        apps: {
          shelled: {
            executor: "pod",
            container: hostileImage,
            inputs: { i: "data/in 'x'.txt" },
            outputs: { o: "out/s.txt" },
            shell: "cat ${{ inputs.i }} > ${{ outputs.o }}",
          },
          commanded: {
            executor: "app",
            container: "/images/t $(touch PWNED).sif",
            inputs: { i: "data/in 'x'.txt" },
            outputs: { o: "out/c.txt" },
            command: ["cp", "${{ inputs.i }}", "${{ outputs.o }}"],
          },
        },
      });
      const r = await ferryRun(["--show-scripts", wf], {}, "plan");
      assert.equal(r.code, 0, r.stderr);
      const wrappers = r.stdout.split(/^(?=# ── )/m).filter((s) => /task\.sh\n/.test(s));
      assert.equal(wrappers.length, 2, r.stdout);
      for (const w of wrappers) {
        const body = w.slice(w.indexOf("\n") + 1);
        // SC2016 ("expressions don't expand in single quotes"): the hostile paths hold `$(...)`
        // meant literally.
        const found = await shellcheck(body, { exclude: ["SC2016"] });
        assert.equal(found, "", found);
      }
      const [pod, app] = wrappers;
      // On scratch the working directory is the wrapper's $PWD; the value of MSG is exported
      // quoted and passed by name.
      assert.match(
        pod!,
        /^ *\( ferry_task_fds; exec >.*; ferry_container 5 .*--workdir="\$PWD" --volume="\$PWD":"\$PWD" /m,
      );
      assert.match(pod!, /--env=MSG/);
      assert.match(pod!, /^export MSG=\$'two\\x0alines /m);
      assert.match(app!, /^export APPTAINERENV_MSG=\$'two\\x0alines /m);
      assert.match(app!, /; ferry_container 0 apptainer exec --cleanenv /m);
      // The launcher library is in each wrapper once.
      for (const w of wrappers) assert.equal(w.match(/^ferry_container\(\) \{$/gm)?.length, 1);
      assert.equal(await exists(join(ws, "PWNED")), false);
    });
  },
});
