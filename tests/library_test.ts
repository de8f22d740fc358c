/**
 * ferry as a library: a script outside the checkout imports `mod.ts` (and
 * `cli/mod.ts`) by path or by URL, with no `--config` and no import map of
 * its own, and builds, checks and plans a workflow; the lazily loaded npm
 * modules (ajv and npm:yaml, for a file with problems) load there too.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, withTemp } from "./_run.ts";
import { startHttpServer } from "./_http_server.ts";

const dec = new TextDecoder();

/** A user's script importing ferry from `base` (a directory path or URL ending in `/`). */
function script(base: string): string {
  return `import { checkWorkflowFile, executor, formatDiagnostics, workflow } from "${base}mod.ts";
import { cli } from "${base}cli/mod.ts";

const wf = workflow("hello", { params: { names: ["a", "b"] } });
const hi = wf.app("hi", {
  forEach: { n: wf.param("names") },
  outputs: { o: "hi/\${{ n }}.txt" },
  command: ["echo", "\${{ n }}"],
  stdout: "\${{ outputs.o }}",
});
wf.app("all", {
  inputs: { his: hi.outputs.o },
  outputs: { o: "all.txt" },
  shell: "cat \${{ inputs.his }} > \${{ outputs.o }}",
});
// JSON is YAML: the builder's document, checked and planned as a file.
await Deno.writeTextFile("hello.yaml", JSON.stringify(wf.toDocument()));
const { plan } = await checkWorkflowFile("hello.yaml");
console.log(plan!.tasks.map((t) => t.id).join(" "));
console.log(typeof executor);
// A file with a problem takes the lazy path: ajv words it, npm:yaml locates it.
await Deno.writeTextFile("typo.yaml", "ferry: 1\\nname: t\\napps:\\n  a: { comand: [echo] }\\n");
const typo = await checkWorkflowFile("typo.yaml");
console.log(formatDiagnostics(typo.diagnostics.filter((d) => d.code === "unknown-key"), "text"));
console.log("cli", await cli(["check", "hello.yaml"]));
`;
}

const EXPECTED = [
  "hi[n=a] hi[n=b] all",
  "function",
  'typo.yaml:4:8: error[unknown-key]: Cannot use unknown key "comand" in app "a": did you mean "command"?',
  "",
  "✓ hello.yaml: valid, 3 tasks, 0 errors, 0 warnings",
  "cli 0",
  "",
].join("\n");

/** `deno run -A --no-config user.ts` in `dir`, with `env`. */
async function runScript(dir: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", "--no-lock", "user.ts"],
    cwd: dir,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("library: a script in another folder imports mod.ts by path, with no config", async () => {
  await withTemp(async (dir) => {
    await Deno.writeTextFile(join(dir, "user.ts"), script(ROOT));
    const r = await runScript(dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, EXPECTED);
  });
});

Deno.test("library: a script imports mod.ts by URL (served over HTTP), with no config", async () => {
  const server = await startHttpServer({ dir: ROOT });
  try {
    await withTemp(async (dir) => {
      // Its own DENO_DIR keeps the downloaded modules inside the temporary folder; the npm
      // packages come from the usual cache.
      const npmCache = JSON.parse(
        dec.decode(
          (await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output()).stdout,
        ),
      ).npmCache as string;
      await Deno.mkdir(join(dir, "deno_dir"));
      await Deno.symlink(npmCache, join(dir, "deno_dir", "npm"));
      await Deno.writeTextFile(join(dir, "user.ts"), script(`${server.origin}/`));
      const r = await runScript(dir, { DENO_DIR: join(dir, "deno_dir") });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, EXPECTED);
      assert.ok(server.requestsFor("/deps/yaml.ts").length > 0, "npm:yaml's module came over HTTP");
    });
  } finally {
    await server.close();
  }
});

/**
 * `deno run -A [--check] user.ts` in a fresh folder, with no flag a user would not type. Deno
 * prints "Ignored build scripts" once per folder for npm packages with install scripts in the
 * module graph (ssh2), so each run needs a new folder.
 */
async function firstRun(importer: string, check: boolean) {
  let result = { code: -1, stdout: "", stderr: "" };
  await withTemp(async (dir) => {
    await Deno.writeTextFile(join(dir, "user.ts"), importer);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...(check ? ["--check"] : []), "user.ts"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    result = { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  });
  return result;
}

for (const check of [false, true]) {
  Deno.test(
    `library: the first run of a script importing mod.ts${
      check ? " with --check" : ""
    } prints no "Ignored build scripts" banner`,
    async () => {
      const imports = Object.entries(
        JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).exports as Record<
          string,
          string
        >,
      ).map(([name, path], i) => `import * as m${i} from "${join(ROOT, path)}"; // ${name}`);
      const r = await firstRun(
        `${imports.join("\n")}\nconsole.log(${
          imports.map((_, i) => `typeof m${i}`).join(", ")
        });\n`,
        check,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${imports.map(() => "object").join(" ")}\n`);
      assert.equal(r.stderr, check ? "Check user.ts\n" : "");
    },
  );
}

Deno.test("library: the banner test would see it: a script that loads ssh2 gets the banner", async () => {
  const r = await firstRun(
    `import { loadSsh2 } from "${join(ROOT, "deps/ssh2.ts")}";\n` +
      "console.log(typeof (await loadSsh2()).Client);\n",
    false,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "function\n");
  assert.match(r.stderr, /Ignored build scripts for packages:\n.*npm:ssh2@1\.17\.0/);
});

Deno.test("library: deno task check doc-lints every export and dry-runs the publish", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const steps = (config.tasks.check as string).split("&&").map((s) => s.trim());
  const docLint = steps.find((s) => s.startsWith("deno doc --lint "));
  assert.deepEqual(
    docLint?.split(/\s+/).slice(3).sort(),
    Object.values(config.exports as Record<string, string>).map((p) => p.slice(2)).sort(),
  );
  assert.ok(steps.includes("deno publish --dry-run --allow-dirty"), config.tasks.check);
});
