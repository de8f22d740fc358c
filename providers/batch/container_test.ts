import assert from "node:assert/strict";
import type { ContainerRuntime } from "../../dsl/model.ts";
import {
  containerName,
  containerWords,
  engineEnv,
  imageIdentity,
  innerArgv,
  mountProblem,
  PICK_SHELL,
} from "./container.ts";
import type { JobSpec } from "./types.ts";

const runtime = (engine: ContainerRuntime["engine"], more: Partial<ContainerRuntime> = {}) => ({
  engine,
  command: engine,
  args: [],
  runArgs: [],
  ...more,
});

function job(over: Partial<JobSpec> = {}): JobSpec {
  return {
    taskId: "t",
    attempt: 1,
    dir: "/ws/.ferry/runs/R/tasks/t/attempt-1/work",
    root: "/ws/.ferry/runs/R/tasks/t/attempt-1",
    run: { kind: "command", argv: ["wc", "-l", "data/in.txt"] },
    env: { A: "1", B: "two words\nand a line" },
    mkdirs: [],
    stdout: "/o",
    stderr: "/e",
    resources: {},
    container: {
      image: "localhost/tools:1",
      runtime: runtime("podman"),
      mounts: ["/ws/data/in.txt"],
    },
    ...over,
  };
}

const DIR = "/ws/.ferry/runs/R/tasks/t/attempt-1/work";

Deno.test("containerWords() gives podman's run and kill, values of env never on the line", () => {
  const j = job({
    container: {
      image: "localhost/tools:1",
      runtime: runtime("podman", {
        command: "/usr/bin/podman",
        args: ["--runtime", "runc"],
        runArgs: ["--ulimit", "nofile=1024:1024"],
      }),
      mounts: ["/ws/data/in.txt", "/ws/data/in.txt"],
    },
  });
  const name = containerName(j);
  assert.match(name, /^ferry-[0-9a-f]{16}$/);
  assert.deepEqual(containerWords(j), [
    "5",
    "/usr/bin/podman",
    "--runtime",
    "runc",
    "kill",
    name,
    "/usr/bin/podman",
    "--runtime",
    "runc",
    "run",
    "--rm",
    `--name=${name}`,
    `--workdir=${DIR}`,
    `--volume=${DIR}:${DIR}`,
    "--volume=/ws/data/in.txt:/ws/data/in.txt:ro",
    "--env=A",
    "--env=B",
    "--ulimit",
    "nofile=1024:1024",
    '--entrypoint=["wc"]',
    "localhost/tools:1",
    "-l",
    "data/in.txt",
  ]);
});

Deno.test("containerWords() gives docker's entrypoint as a plain word, apptainer's exec with --cleanenv", () => {
  const docker = containerWords(job({
    container: { image: "img", runtime: runtime("docker"), mounts: [] },
  }));
  assert.deepEqual(docker.slice(0, 3), ["3", "docker", "kill"]);
  assert.deepEqual(docker.slice(-4), ["--entrypoint=wc", "img", "-l", "data/in.txt"]);
  for (const engine of ["apptainer", "singularity"] as const) {
    assert.deepEqual(
      containerWords(job({
        container: { image: "/images/tools.sif", runtime: runtime(engine), mounts: ["/ws/a b"] },
      })),
      [
        "0",
        engine,
        "exec",
        "--cleanenv",
        `--pwd=${DIR}`,
        `--bind=${DIR}:${DIR}`,
        "--bind=/ws/a b:/ws/a b:ro",
        "/images/tools.sif",
        "wc",
        "-l",
        "data/in.txt",
      ],
    );
  }
});

Deno.test("innerArgv() runs a shell script with bash when the image has it, else sh", () => {
  const j = job({ run: { kind: "shell", script: "echo $'x'" } });
  assert.deepEqual(innerArgv(j), [
    "/bin/sh",
    "-c",
    PICK_SHELL,
    "sh",
    "-c",
    "echo $'x'",
    "ferry-task",
  ]);
  assert.deepEqual(innerArgv(j, "/r/task-script.sh"), [
    "/bin/sh",
    "-c",
    PICK_SHELL,
    "sh",
    "/r/task-script.sh",
  ]);
  // The script file is mounted read-only.
  assert.ok(
    containerWords(j, { scriptFile: "/r/task-script.sh" }).includes(
      "--volume=/r/task-script.sh:/r/task-script.sh:ro",
    ),
  );
  assert.throws(
    () => innerArgv(job({ run: { kind: "function", module: "m.ts", export: "f" } })),
    /Cannot run function task "t" in a container/,
  );
});

Deno.test("innerArgv()'s shell picks bash, and sh -eu where there is none", async () => {
  const run = async (path: string) => {
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", PICK_SHELL, "sh", "-c", 'echo "${BASH_VERSION:+bash}"; false; echo not here'],
      env: { PATH: path },
      clearEnv: true,
    }).output();
    return [out.code, new TextDecoder().decode(out.stdout)];
  };
  assert.deepEqual(await run("/usr/bin:/bin"), [1, "bash\n"]);
  const empty = await Deno.makeTempDir();
  try {
    // No bash on PATH: sh, with -e (the script stops at false).
    await Deno.symlink("/bin/sh", `${empty}/sh`);
    assert.deepEqual(await run(empty), [1, "\n"]);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("engineEnv() passes variables to apptainer and singularity under their prefix", () => {
  assert.deepEqual(engineEnv(job()), { A: "1", B: "two words\nand a line" });
  const a = engineEnv(
    job({ container: { image: "x.sif", runtime: runtime("apptainer"), mounts: [] } }),
  );
  assert.deepEqual(a, {
    A: "1",
    B: "two words\nand a line",
    APPTAINERENV_A: "1",
    APPTAINERENV_B: "two words\nand a line",
  });
  const s = engineEnv(
    job({ container: { image: "x.sif", runtime: runtime("singularity"), mounts: [] } }),
  );
  assert.equal(s.SINGULARITYENV_B, "two words\nand a line");
});

Deno.test("mountProblem() refuses paths a bind cannot hold", () => {
  assert.equal(mountProblem(job()), undefined);
  const { container: _, ...plain } = job({ dir: "/a:b" });
  assert.equal(mountProblem(plain), undefined);
  assert.equal(
    mountProblem(job({
      container: { image: "img", runtime: runtime("podman"), mounts: ["/data/x,y.txt"] },
    })),
    'Cannot mount "/data/x,y.txt" in container "img": a path holding ":" or "," cannot be bound',
  );
  assert.match(mountProblem(job({ dir: "/w:s/work" }))!, /^Cannot mount "\/w:s\/work"/);
  assert.match(mountProblem(job(), ["/r:x/results.json"])!, /^Cannot mount "\/r:x\/results.json"/);
});

Deno.test("imageIdentity() hashes a local .sif file, and knows nothing of a missing engine", async () => {
  const f = await Deno.makeTempFile({ suffix: ".sif" });
  try {
    await Deno.writeTextFile(f, "abc");
    assert.equal(
      imageIdentity(runtime("apptainer"), f),
      "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  } finally {
    await Deno.remove(f);
  }
  assert.equal(imageIdentity(runtime("apptainer"), "docker://busybox:1.36"), undefined);
  assert.equal(imageIdentity(runtime("apptainer"), "/no/such.sif"), undefined);
  assert.equal(
    imageIdentity(runtime("docker", { command: "/no/such/docker" }), "busybox"),
    undefined,
  );
});
