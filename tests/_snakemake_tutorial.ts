/**
 * Test helpers for examples/snakemake-tutorial: run a tool in a workspace, read
 * a run's variant calls as the example's expected_calls.tsv holds them, and
 * compare them per sample with the SNPs the simulation planted.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";

/** The example's samples (its `samples` param). */
export const SAMPLES = ["A", "B", "C"];

const decoder = new TextDecoder();

/** Run a tool in `cwd`; its exit code and output. */
export async function tool(cwd: string, cmd: string, ...args: string[]) {
  const out = await new Deno.Command(cmd, { args, cwd, stdin: "null" }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** The calls of `ws`'s calls/all.vcf as the example's expected_calls.tsv holds them. */
export async function calls(ws: string): Promise<string> {
  const q = await tool(
    ws,
    "bcftools",
    "query",
    "-H",
    "-f",
    "%CHROM\\t%POS\\t%REF\\t%ALT[\\t%GT]\\n",
    "calls/all.vcf",
  );
  assert.equal(q.code, 0, q.stderr);
  return q.stdout;
}

/** Per sample, its non-reference calls as "CHROM POS REF ALT GT" lines, sorted. */
export function bySample(table: string): Record<string, string[]> {
  const [header, ...rows] = table.trimEnd().split("\n");
  const samples = header!.split("\t").slice(4).map((c) => c.replace(/^.*\/(\w+)\.bam:GT$/, "$1"));
  const out: Record<string, string[]> = Object.fromEntries(samples.map((s) => [s, []]));
  for (const row of rows) {
    const f = row.split("\t");
    samples.forEach((s, i) => {
      const gt = f[4 + i]!;
      if (gt !== "0/0") out[s]!.push([...f.slice(0, 4), gt].join("\t"));
    });
  }
  for (const s of samples) out[s]!.sort();
  return out;
}

/** Per sample, the SNPs the simulation planted (data/truth/SAMPLE.tsv), sorted. */
export async function truth(ws: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const s of SAMPLES) {
    const [header, ...rows] = (await Deno.readTextFile(join(ws, `data/truth/${s}.tsv`)))
      .trimEnd().split("\n");
    assert.equal(header, "CHROM\tPOS\tREF\tALT\tGT");
    out[s] = rows.sort();
  }
  return out;
}
