import assert from "node:assert/strict";
import { loadText } from "../load.ts";
import { validateSite, validateWorkflow } from "../validate.ts";
import { located } from "./_test_located.ts";

const CODES = ["no-container-runtime", "container-function", "invalid-value"];

Deno.test("containerRuntimes() wants a runtime on the app's executor, said at the key that names the image", () => {
  const yaml = [
    "ferry: 1",
    "name: c",
    "executors:",
    "  pod: { container_runtime: podman }",
    "defaults:",
    "  container: img:1",
    "apps:",
    "  a: { command: [x] }",
    "  b: { executor: pod, command: [x] }",
    "  c: { container: other:2, command: [x] }",
    "  d: { container: false, command: [x] }",
    "",
  ].join("\n");
  assert.deepEqual(located(yaml, CODES), [
    '6:14 Cannot run app "a" in container "img:1": executor "local" has no container_runtime; add `container_runtime: podman` (or docker, apptainer, singularity) to executor "local" in the site file (or the workflow\'s `executors`)',
    '10:19 Cannot run app "c" in container "other:2": executor "local" has no container_runtime; add `container_runtime: podman` (or docker, apptainer, singularity) to executor "local" in the site file (or the workflow\'s `executors`)',
  ]);
});

Deno.test("containerRuntimes() refuses function apps, expressions, names starting with - and control characters", () => {
  const yaml = [
    "ferry: 1",
    "name: c",
    "executors:",
    "  local: { container_runtime: { engine: docker } }",
    "apps:",
    '  f: { container: "img", function: "./m.ts#f" }',
    '  e: { container: "${{ params.x }}", command: [x] }',
    '  dash: { container: "--privileged", command: [x] }',
    '  ctl: { container: "a\\x1bb", command: [x] }',
    "",
  ].join("\n");
  assert.deepEqual(located(yaml, CODES), [
    '6:20 Cannot run function app "f" in container "img": a function runs in ferry\'s own Deno process',
    '7:20 Cannot use "${{ params.x }}" as a container image: it is a literal name, not an expression',
    '8:23 Cannot use "--privileged" as a container image: a name cannot start with "-"',
    '9:22 Cannot use "a\\x1bb" as a container image: it holds a control character',
  ]);
});

Deno.test("container_runtime as a name or a mapping becomes the same model; container: false opts out", () => {
  const site = (runtime: string) =>
    validateSite(
      loadText("s.yaml", `ferry-site: 1\nexecutors:\n  x:\n    container_runtime: ${runtime}\n`)
        .document!.value,
    );
  assert.deepEqual(site("podman").model.executors.x!.containerRuntime, {
    engine: "podman",
    command: "podman",
    args: [],
    runArgs: [],
  });
  const full = site(
    '{ engine: apptainer, command: /opt/bin/apptainer, args: [-q], run_args: ["--nv"] }',
  );
  assert.deepEqual(full.problems, []);
  assert.deepEqual(full.model.executors.x!.containerRuntime, {
    engine: "apptainer",
    command: "/opt/bin/apptainer",
    args: ["-q"],
    runArgs: ["--nv"],
  });
  const bad = site("{ engine: podman, run: [x] }");
  assert.deepEqual(bad.problems.map((p) => p.code), ["unknown-key"]);
  const wf = validateWorkflow(
    loadText(
      "w.yaml",
      "ferry: 1\nname: c\ndefaults: { container: img }\napps:\n  a: { command: [x] }\n  b: { container: false, command: [x] }\n  c: { container: own, command: [x] }\n",
    ).document!.value,
  ).model;
  assert.deepEqual(
    Object.values(wf.apps).map((a) => a.container ?? null),
    ["img", null, "own"],
  );
});
