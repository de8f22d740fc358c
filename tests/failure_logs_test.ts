/**
 * Failure logs that point at the error: when a failed task's standard error
 * is empty, the run summary and `ferry status` show the end of the log that
 * holds the error (a declared log output the attempt wrote, or its standard
 * output), and a failed task leaves the previous good outputs in place. Real
 * samtools, in temporary workspaces.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ferryRun, runDirOf, withTemp, writeWorkflow } from "./_run.ts";
import { haveService } from "./_services.ts";

const HAVE_SAMTOOLS = haveService("failure logs (samtools)", ["samtools"]);

const SAM =
  "@HD\tVN:1.6\tSO:unsorted\n@SQ\tSN:chr1\tLN:100\nr1\t0\tchr1\t10\t60\t4M\t*\t0\t0\tACGT\tIIII\n";

/** The summary's block for one failed task: its `✗` line, its log lines and `full log:`. */
function block(stderr: string, task: string): string {
  const start = stderr.indexOf(`✗ ${task}:`);
  assert.ok(start >= 0, `no ✗ ${task} in:\n${stderr}`);
  const end = stderr.indexOf("\n", stderr.indexOf("    full log: ", start));
  return stderr.slice(start, end + 1);
}

/** The path a summary block names as the full log. */
const fullLog = (b: string) => b.match(/^ {4}full log: (.*)$/m)![1]!;

Deno.test({
  name: "a failed task's summary and status show the log that holds the error, not an empty stderr",
  ignore: !HAVE_SAMTOOLS,
}, async () => {
  await withTemp(async (ws) => {
    await Deno.mkdir(join(ws, "data"));
    await Deno.writeTextFile(join(ws, "data", "A.sam"), "not a sam file\n");
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "logs",
      apps: {
        // samtools' message goes to a declared log: stderr stays empty.
        sort: {
          inputs: { sam: "data/A.sam" },
          outputs: { bam: "sorted/A.bam", log: "logs/sort.log" },
          shell: "samtools sort -o ${{ outputs.bam }} ${{ inputs.sam }} 2> ${{ outputs.log }}\n",
        },
        // A tool that reports on standard output.
        report: {
          outputs: { txt: "report.txt" },
          shell: "echo checking 3 samples\necho 'error: sample B has no reads'\nexit 2\n",
        },
        // Standard output is data (an output that is not a log): nothing else to show.
        count: {
          outputs: { n: "count.txt" },
          stdout: "${{ outputs.n }}",
          shell: "echo 42\nexit 1\n",
        },
      },
    });
    const r = await ferryRun(["--keep-going", wf]);
    assert.equal(r.code, 1, r.stderr);
    const runDir = runDirOf(r);

    const sort = block(r.stderr, "sort");
    assert.match(
      sort,
      /^✗ sort: exit code 1\n {4}│ samtools sort: failed to read header from "[^"]*data\/A\.sam"\n {4}full log: .*\n$/,
    );
    assert.ok(
      fullLog(sort).startsWith(`${runDir}/tasks/`) && fullLog(sort).endsWith("/logs/sort.log"),
    );
    const report = block(r.stderr, "report");
    assert.match(
      report,
      /^✗ report: exit code 2\n {4}│ checking 3 samples\n {4}│ error: sample B has no reads\n {4}full log: .*\/stdout\.log\n$/,
    );
    const count = block(r.stderr, "count");
    assert.match(count, /^✗ count: exit code 1\n {4}full log: .*\/stderr\.log\n$/);

    const status = await ferryRun(["-w", ws], {}, "status");
    assert.equal(status.code, 0, status.stderr);
    const task = (id: string) => {
      const from = status.stdout.indexOf(`✗ ${id}:`);
      const next = status.stdout.indexOf("\n✗ ", from + 1);
      return status.stdout.slice(from, next < 0 ? undefined : next + 1);
    };
    assert.match(
      task("sort"),
      / {6}log: {4}.*\(stderr is empty\)\n {6}│ samtools sort: failed to read header from "[^"]*data\/A\.sam"\n$/,
    );
    assert.ok(task("sort").includes(`      log:    ${fullLog(sort)} (stderr is empty)\n`));
    assert.ok(
      task("report").endsWith(
        `      log:    ${fullLog(report)} (stderr is empty)\n` +
          "      │ checking 3 samples\n      │ error: sample B has no reads\n",
      ),
      task("report"),
    );
    assert.ok(!task("count").includes("log:    "), task("count"));
    assert.ok(!task("count").includes("│"), task("count"));

    const json = await ferryRun(["-w", ws, "--format", "json"], {}, "status");
    const tasks = JSON.parse(json.stdout).run.tasks as {
      id: string;
      attempts: { errorLog?: string }[];
      stderrTail?: string[];
    }[];
    const sorted = tasks.find((t) => t.id === "sort")!;
    assert.equal(sorted.attempts[0]!.errorLog, fullLog(sort));
    assert.equal(sorted.stderrTail?.length, 1);
    assert.match(sorted.stderrTail![0]!, /^samtools sort: failed to read header from /);
  });
});

Deno.test({
  name: "a failed task keeps the previous good outputs and log in place",
  ignore: !HAVE_SAMTOOLS,
}, async () => {
  await withTemp(async (ws) => {
    await Deno.mkdir(join(ws, "data"));
    await Deno.writeTextFile(join(ws, "data", "A.sam"), SAM);
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "keep",
      apps: {
        sort: {
          inputs: { sam: "data/A.sam" },
          outputs: { bam: "sorted/A.bam", log: "logs/sort.log" },
          shell:
            "echo sorting >&2\nsamtools sort -o ${{ outputs.bam }} ${{ inputs.sam }} 2>> ${{ outputs.log }}\n",
        },
      },
    });
    const good = await ferryRun([wf]);
    assert.equal(good.code, 0, good.stderr);
    const bam = await Deno.readFile(join(ws, "sorted", "A.bam"));
    assert.ok(bam.length > 0);
    assert.equal(await Deno.readTextFile(join(ws, "logs", "sort.log")), "");

    await Deno.writeTextFile(join(ws, "data", "A.sam"), "not a sam file\n");
    const bad = await ferryRun([wf]);
    assert.equal(bad.code, 1, bad.stderr);
    // stderr has "sorting": it is what the summary shows, as it always did.
    assert.match(
      block(bad.stderr, "sort"),
      /^✗ sort: exit code 1\n {4}│ sorting\n {4}full log: .*\/stderr\.log\n$/,
    );
    assert.deepEqual(await Deno.readFile(join(ws, "sorted", "A.bam")), bam);
    assert.equal(await Deno.readTextFile(join(ws, "logs", "sort.log")), "");
  });
});
