/**
 * The documentation cannot drift: every ```console block in README.md and docs/ is run and must
 * print what it shows. The convention, in HTML comments a reader of the rendered page never sees:
 *
 * - `<!-- workspace: /home/you/NAME from examples/quickstart -->` starts a fresh workspace, a copy
 *   of that folder of the checkout (without `from`: empty). The blocks after it in the same file
 *   share it, in order, so a `run` after a `plan` sees its state. Before any such comment a file's
 *   blocks run in an empty workspace shown as `/home/you/work`.
 * - `<!-- file: PATH -->` writes the next fenced block into the workspace at PATH, so the YAML a
 *   page shows is the YAML its commands read.
 * - In a console block, `$ COMMAND` is run by bash in the workspace, stdout and stderr together;
 *   the lines up to the next `$ ` are what it must print. `ferry` is this checkout's CLI.
 *
 * The workspace's real path is shown as its `/home/you/NAME`, the checkout as `/path/to/ferry`,
 * and the host as `laptop` (the paths also back, in commands and files). What changes from run to run (run
 * ids, times, durations, sizes, pids, column padding) is compared as a placeholder.
 * `UPDATE_TRANSCRIPTS=1` rewrites the blocks that differ with what the commands print: read the
 * diff first.
 * `DOCS_PAGE=tutorial` runs only the pages whose path contains that text.
 *
 * Every console block must run here, offline: output that needs a scheduler or an SSH server is
 * shown in a ```text block and said to be illustrative.
 * @module
 */

import assert from "node:assert/strict";
import { basename, dirname, join, relative } from "node:path";
import { DIAGNOSTIC_CODES } from "../dsl/codes.ts";
import { ROOT } from "./_cli.ts";

const CHECKOUT = ROOT.replace(/\/$/, "");
const SHOWN_CHECKOUT = "/path/to/ferry";
const SHOWN_HOST = "laptop";
const UPDATE = Deno.env.get("UPDATE_TRANSCRIPTS") === "1";

/** One `$ command` of a console block and the lines it must print. */
interface Step {
  readonly command: string;
  readonly expected: string;
}

/** What a page asks for, in order. */
type Item =
  | { readonly kind: "workspace"; readonly shown: string; readonly from?: string }
  | { readonly kind: "file"; readonly path: string; readonly text: string }
  | {
    readonly kind: "console";
    readonly line: number;
    /** Lines of the page that hold the block's body (first inclusive, end exclusive). */
    readonly body: readonly [number, number];
    readonly steps: readonly Step[];
  };

/** Read a page's directives, fenced blocks and console transcripts. */
function parsePage(text: string, page: string): Item[] {
  const lines = text.split("\n");
  const items: Item[] = [];
  let pendingFile: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const ws = line.match(/^<!-- workspace: (\S+)(?: from (\S+))? -->$/);
    if (ws) items.push({ kind: "workspace", shown: ws[1]!, ...(ws[2] ? { from: ws[2] } : {}) });
    const file = line.match(/^<!-- file: (.+) -->$/);
    if (file) pendingFile = file[1]!;
    const fence = line.match(/^(`{3,})(\S*)/);
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && l === fence[1]);
    assert.ok(end > i, `${page}:${i + 1}: the fenced block never ends`);
    const body = lines.slice(i + 1, end);
    if (pendingFile !== undefined) {
      items.push({ kind: "file", path: pendingFile, text: body.join("\n") + "\n" });
      pendingFile = undefined;
    } else if (fence[2] === "console") {
      items.push({ kind: "console", line: i + 1, body: [i + 1, end], steps: steps(body, page, i) });
    }
    i = end;
  }
  return items;
}

function steps(body: readonly string[], page: string, at: number): Step[] {
  assert.ok(body[0]?.startsWith("$ "), `${page}:${at + 2}: a console block starts with "$ "`);
  const out: { command: string; lines: string[] }[] = [];
  for (const l of body) {
    if (l.startsWith("$ ")) out.push({ command: l.slice(2), lines: [] });
    else out.at(-1)!.lines.push(l);
  }
  return out.map((s) => ({ command: s.command, expected: s.lines.join("\n") }));
}

/** A workspace: its real directory and the path the page shows for it. */
interface Workspace {
  readonly real: string;
  readonly shown: string;
}

async function makeWorkspace(temp: string, shown: string, from?: string): Promise<Workspace> {
  const real = join(await Deno.makeTempDir({ dir: temp }), basename(shown));
  await Deno.mkdir(real);
  if (from !== undefined) await copyDir(join(CHECKOUT, from), real);
  return { real, shown };
}

async function copyDir(from: string, to: string): Promise<void> {
  for await (const e of Deno.readDir(from)) {
    if (e.name === ".ferry") continue; // state a demo may have left in an old checkout
    const [src, dst] = [join(from, e.name), join(to, e.name)];
    if (e.isDirectory) {
      await Deno.mkdir(dst);
      await copyDir(src, dst);
    } else await Deno.copyFile(src, dst);
  }
}

/** Page → machine: shown paths become real ones. */
function toReal(text: string, ws: Workspace): string {
  return text.replaceAll(ws.shown, ws.real).replaceAll(SHOWN_CHECKOUT, CHECKOUT);
}

/**
 * Machine → page: real paths and the host name become the shown ones. Deno's own progress lines
 * (`Download URL`, `Check FILE`: whether they appear depends on Deno's cache) go.
 */
function toShown(text: string, ws: Workspace): string {
  let out = text.replaceAll(ws.real, ws.shown).replaceAll(CHECKOUT, SHOWN_CHECKOUT);
  const host = Deno.hostname();
  if (host.length > 1) {
    out = out.replace(
      new RegExp(`\\b${host.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`, "g"),
      SHOWN_HOST,
    );
  }
  return out.split("\n").filter((l) => !/^(Download https?:\/\/|Check \S+$)/.test(l)).join("\n");
}

/** What differs between two honest runs becomes a placeholder. */
export function volatile(text: string): string {
  return text
    .replace(/\b\d{8}-\d{6}-[0-9a-f]{6}\b/g, "<run>")
    .replace(/\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?Z?/g, "<time>")
    .replace(/\b(\d+h)?(\d+m)?\d+(\.\d+)? ?(ms|s)\b|\b\d+h\d\dm\b/g, "<duration>")
    .replace(/\b\d+(\.\d+)? ?(B|KiB|MiB|GiB|TiB|kB|KB|MB|GB)\b/g, "<size>")
    .replace(/\bpid \d+/g, "pid <pid>")
    .replace(/"(pid|durationMs|startedAt|endedAt)": \d+/g, '"$1": <n>')
    .split("\n")
    // A table's columns are as wide as their widest value, so padding varies on the lines that
    // hold a changing value and on a table's header; everywhere else spacing is compared exactly.
    .map((
      l,
    ) => (/<(run|time|duration|size|pid)>|^ *[A-Z]{2,}( +[A-Z()]+)+$/.test(l)
      ? l.replace(/ {2,}/g, "  ")
      : l)
    )
    .join("\n")
    .replace(/ +$/gm, "")
    .trimEnd();
}

async function runStep(command: string, ws: Workspace): Promise<string> {
  const script = `exec 2>&1\nferry() { deno run -A "${CHECKOUT}/main.ts" "$@"; }\n${
    toReal(command, ws)
  }`;
  const { stdout } = await new Deno.Command("bash", {
    args: ["-c", script],
    cwd: ws.real,
    env: { NO_COLOR: "1", TZ: "UTC", FERRY_WORKSPACE: ws.real },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return toShown(new TextDecoder().decode(stdout), ws).trimEnd();
}

/** Every page of the documentation, relative to the checkout. */
async function pages(): Promise<string[]> {
  const found = ["README.md"];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(join(CHECKOUT, dir))) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".md")) found.push(path);
    }
  };
  await walk("docs");
  return found.sort();
}

/** What one page's commands printed, and the page with its blocks rewritten from that. */
interface PageRun {
  readonly steps: readonly { name: string; actual: string; expected: string }[];
  readonly rewritten: string;
}

/** Run a page's blocks in order, in its own temporary workspaces. */
async function runPage(page: string, text: string): Promise<PageRun> {
  const temp = await Deno.makeTempDir({ prefix: "ferry-docs-" });
  const lines = text.split("\n");
  const steps: PageRun["steps"][number][] = [];
  const rewrites: { body: readonly [number, number]; text: string[] }[] = [];
  try {
    let ws = await makeWorkspace(temp, "/home/you/work");
    for (const item of parsePage(text, page)) {
      if (item.kind === "workspace") ws = await makeWorkspace(temp, item.shown, item.from);
      if (item.kind === "file") {
        const path = join(ws.real, item.path);
        await Deno.mkdir(dirname(path), { recursive: true });
        await Deno.writeTextFile(path, toReal(item.text, ws));
      }
      if (item.kind !== "console") continue;
      const shown: string[] = [];
      let same = true;
      for (const step of item.steps) {
        const actual = await runStep(step.command, ws);
        shown.push(`$ ${step.command}`, ...(actual === "" ? [] : actual.split("\n")));
        steps.push({
          name: `${page}:${item.line}: $ ${step.command}`,
          actual,
          expected: step.expected,
        });
        same &&= volatile(actual) === volatile(step.expected);
      }
      // A block that still matches keeps its text: an update rewrites only what drifted.
      if (!same) rewrites.push({ body: item.body, text: shown });
    }
  } finally {
    await Deno.remove(temp, { recursive: true });
  }
  for (const r of rewrites.reverse()) lines.splice(r.body[0], r.body[1] - r.body[0], ...r.text);
  return { steps, rewritten: lines.join("\n") };
}

// Pages run at once, a few at a time: most of a command's time is Deno starting, not work.
// DOCS_PAGE=tutorial runs only the pages whose path contains it.
Deno.test("every console block in README.md and docs/ prints what it shows", async (t) => {
  const only = Deno.env.get("DOCS_PAGE") ?? "";
  const queue: string[] = [];
  for (const page of await pages()) {
    const text = await Deno.readTextFile(join(CHECKOUT, page));
    if (page.includes(only) && parsePage(text, page).some((i) => i.kind === "console")) {
      queue.push(page);
    }
  }
  const runs = new Map<string, PageRun>();
  const worker = async () => {
    for (let page = queue.shift(); page !== undefined; page = queue.shift()) {
      runs.set(page, await runPage(page, await Deno.readTextFile(join(CHECKOUT, page))));
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  for (const [page, run] of [...runs].sort(([a], [b]) => a.localeCompare(b))) {
    if (UPDATE) await Deno.writeTextFile(join(CHECKOUT, page), run.rewritten);
    for (const step of run.steps) {
      await t.step(step.name, () => {
        if (UPDATE) return;
        assert.equal(
          volatile(step.actual),
          volatile(step.expected),
          "UPDATE_TRANSCRIPTS=1 rewrites",
        );
      });
    }
  }
  assert.ok(only !== "" || runs.has("README.md"), "the README's console blocks ran");
});

Deno.test("volatile() keeps what a transcript means and drops what changes between runs", () => {
  assert.equal(
    volatile("done: 9 succeeded in 0.07s   \nlogs: /w/.ferry/runs/20261121-121555-3a1c2e/x"),
    "done: 9 succeeded in <duration>\nlogs: /w/.ferry/runs/<run>/x",
  );
  assert.equal(
    volatile("freed 1.5 MiB by pid 4798 at 2026-11-21 14:28:38"),
    "freed <size> by pid <pid> at <time>",
  );
  assert.equal(
    volatile("took 850ms, 1m11s, 2h03m, 4.5s"),
    "took <duration>, <duration>, <duration>, <duration>",
  );
  assert.equal(volatile("3 tasks, 0 transfers"), "3 tasks, 0 transfers");
  assert.equal(
    volatile("  RUN   TOOK    TASKS\n  x   1.5s   3"),
    "  RUN  TOOK  TASKS\n  x  <duration>  3",
  );
  assert.notEqual(volatile("  in  text  a.txt"), volatile("  in text  a.txt"));
  assert.notEqual(volatile("9 succeeded"), volatile("8 succeeded"));
});

Deno.test("the diagnostics reference lists every diagnostic code", async () => {
  const reference = await Deno.readTextFile(join(CHECKOUT, "docs/reference/diagnostics.md"));
  const missing = Object.keys(DIAGNOSTIC_CODES).filter((c) => !reference.includes(`\`${c}\``));
  assert.deepEqual(missing, []);
});

Deno.test("the README's set-up commands are the deno.json tasks they name", async () => {
  const readme = await Deno.readTextFile(join(CHECKOUT, "README.md"));
  const tasks = JSON.parse(await Deno.readTextFile(join(CHECKOUT, "deno.json"))).tasks;
  for (const task of ["demo", "test"]) {
    assert.ok(readme.includes(`npx -y deno@2.9.6 task ${task}`), task);
    // A task is a command, or a command with the tasks it needs first (the spawner's build).
    const command = typeof tasks[task] === "string" ? tasks[task] : tasks[task]?.command;
    assert.equal(typeof command, "string", task);
    for (const dep of tasks[task]?.dependencies ?? []) {
      assert.ok(tasks[dep], `${task} needs ${dep}`);
    }
  }
  assert.deepEqual(tasks.test.dependencies, ["build"]);
  assert.deepEqual(tasks.demo.dependencies, ["build"]);
});

Deno.test("the README is a front door: at most 200 lines", async () => {
  const readme = await Deno.readTextFile(join(CHECKOUT, "README.md"));
  assert.ok(readme.split("\n").length <= 200, `README.md has ${readme.split("\n").length} lines`);
});

Deno.test("every relative link in README.md and docs/ names a file of the checkout", async () => {
  const broken: string[] = [];
  for (const page of await pages()) {
    const text = await Deno.readTextFile(join(CHECKOUT, page));
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const path = target!.split("#")[0]!;
      if (path === "" || /^[a-z]+:/.test(path)) continue;
      const file = join(CHECKOUT, dirname(page), path);
      if (!relative(CHECKOUT, file).startsWith("..")) {
        await Deno.stat(file).catch(() => broken.push(`${page}: ${target}`));
      }
    }
  }
  assert.deepEqual(broken, []);
});
