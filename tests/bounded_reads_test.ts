/**
 * Bounded reads, end to end with `ferry` as a subprocess under
 * `/usr/bin/time` (its peak resident memory and wall time):
 * `ferry status` and `ferry report` of a 100,000-task run, and a task that
 * writes 200 MB to stderr in one line — the run summary, status and report
 * each show one capped line, reading only the end of the log.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, withTemp, writeWorkflow } from "./_run.ts";
import { scaledId, scaledRun } from "./_scale_run.ts";

const decoder = new TextDecoder();

/** What one measured `ferry` printed, returned and used. */
interface Measured {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Peak resident memory, in MB. */
  readonly rssMb: number;
  /** Wall time, in seconds. */
  readonly seconds: number;
}

/** `ferry COMMAND ARGS` under /usr/bin/time. */
async function measured(command: string, args: readonly string[]): Promise<Measured> {
  const report = await Deno.makeTempFile({ prefix: "ferry-time-" });
  try {
    const out = await new Deno.Command("/usr/bin/time", {
      args: [
        "-f",
        "%M %e",
        "-o",
        report,
        Deno.execPath(),
        "run",
        "-A",
        join(ROOT, "main.ts"),
        command,
        ...args,
      ],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const [kb, seconds] = (await Deno.readTextFile(report)).trim().split("\n").at(-1)!.split(" ");
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      rssMb: Number(kb) / 1024,
      seconds: Number(seconds),
    };
  } finally {
    await Deno.remove(report);
  }
}

const HAVE_TIME = (() => {
  try {
    return Deno.statSync("/usr/bin/time").isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "status and report of a 100,000-task run show every task, in bounded time and memory",
  ignore: !HAVE_TIME,
  async fn() {
    await withTemp(async (ws) => {
      const tasks = 100_000;
      await scaledRun(ws, tasks);
      const status = await measured("status", ["-w", ws]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`^ {2}tasks: {4}${tasks} succeeded, 0 failed$`, "m"));
      const shown = status.stdout.split("\n").filter((l) => l.startsWith("✓ work[i="));
      assert.equal(shown.length, tasks);
      assert.equal(shown.at(-1), `✓ ${scaledId(tasks - 1)}: succeeded`);
      // Measured 0.7 GB and 18 s on a loaded two-core machine; it failed outright before.
      assert.ok(status.rssMb < 1024, `status used ${status.rssMb.toFixed(0)} MB`);
      assert.ok(status.seconds < 120, `status took ${status.seconds} s`);

      const out = join(ws, "report.html");
      const report = await measured("report", ["-w", ws, "-o", out]);
      assert.equal(report.code, 0, report.stderr);
      assert.match(report.stderr, new RegExp(`\\(succeeded, ${tasks} tasks\\): ${out}\\n$`));
      assert.match(await Deno.readTextFile(out), new RegExp(`data-tasks="${tasks}"`));
      assert.ok(report.rssMb < 1024, `report used ${report.rssMb.toFixed(0)} MB`);
      assert.ok(report.seconds < 120, `report took ${report.seconds} s`);
    });
  },
});

/** The one line shown of a 200 MB line of x's: its end, after how much came before. */
const LAST_LINE = `… (199999500 earlier bytes) ${"x".repeat(500)}`;

Deno.test({
  name: "a task that writes 200 MB to stderr: summary, status and report show a capped last line",
  ignore: !HAVE_TIME,
  async fn() {
    await withTemp(async (ws) => {
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "loud",
        apps: {
          loud: {
            outputs: { o: "loud.txt" },
            shell: "head -c 200000000 /dev/zero | tr '\\0' x >&2; exit 3",
          },
        },
      });
      const run = await measured("run", [wf]);
      assert.equal(run.code, 1, run.stderr.slice(-2000));
      assert.ok(
        run.stderr.includes(`\n    │ ${LAST_LINE}\n    full log: `),
        run.stderr.slice(-2000),
      );
      assert.ok(run.stderr.length < 10_000, `the run printed ${run.stderr.length} characters`);
      // Reading the whole log took 1.2 GB.
      assert.ok(run.rssMb < 300, `ferry run used ${run.rssMb.toFixed(0)} MB`);

      const status = await measured("status", ["-w", ws]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^✗ loud: failed: exit code 3$/m);
      assert.ok(status.stdout.includes(`\n      │ ${LAST_LINE}\n`), status.stdout.slice(-2000));
      assert.ok(status.stdout.length < 10_000, `status printed ${status.stdout.length} characters`);
      assert.ok(status.rssMb < 300, `ferry status used ${status.rssMb.toFixed(0)} MB`);

      const out = join(ws, "report.html");
      const report = await measured("report", ["-w", ws, "-o", out]);
      assert.equal(report.code, 0, report.stderr);
      const html = await Deno.readTextFile(out);
      assert.ok(html.includes(`<pre>${LAST_LINE}</pre>`), "the capped line in the report");
      assert.ok(html.length < 100_000, `the report is ${html.length} characters`);
      assert.ok(report.rssMb < 300, `ferry report used ${report.rssMb.toFixed(0)} MB`);
    });
  },
});
