/**
 * Simulated data for the Snakemake tutorial's workflow: a random genome and single-end reads of
 * samples that carry a few known SNPs. Everything comes from fixed seeds and integer arithmetic,
 * so the files are the same bytes on every run and every machine.
 *
 * The workflow runs the two exported functions as its first apps (`genome`, `reads`). Run as a
 * script it writes the same files into a folder, for use without ferry (with Snakemake, say):
 *
 *     deno run --allow-write generate_data.ts [--out DIR] [SAMPLE...]
 *
 * writes DIR/data/genome.fa and, for each sample (A, B and C unless named),
 * DIR/data/samples/SAMPLE.fastq and DIR/data/truth/SAMPLE.tsv (the SNPs planted in its reads).
 * @module
 */

/** The contigs of the genome: name and length. */
const CONTIGS: readonly (readonly [string, number])[] = [["chr1", 20_000], ["chr2", 15_000]];
const GENOME_SEED = 17;
const LINE = 60; // FASTA line width
const READ_LENGTH = 100;
const COVERAGE = 25;
/** Chance that a base is read wrong, in 1/100,000ths (0.2%). */
const ERROR_RATE = 200;

/**
 * The planted SNPs (1-based positions; ALT is the transition of the genome's base there) and the
 * genotypes of samples A, B and C: shared and private, homozygous and heterozygous. Any other
 * sample gets genotypes drawn from its name.
 */
const SITES: readonly { contig: string; pos: number; gt: Record<string, Genotype> }[] = [
  { contig: "chr1", pos: 2_500, gt: { A: "1/1", B: "1/1", C: "1/1" } },
  { contig: "chr1", pos: 6_100, gt: { A: "0/1", B: "0/1", C: "0/0" } },
  { contig: "chr1", pos: 9_800, gt: { A: "1/1", B: "0/0", C: "0/0" } },
  { contig: "chr1", pos: 14_200, gt: { A: "0/0", B: "0/1", C: "0/0" } },
  { contig: "chr2", pos: 3_300, gt: { A: "0/0", B: "0/0", C: "1/1" } },
  { contig: "chr2", pos: 7_700, gt: { A: "0/1", B: "0/0", C: "0/1" } },
  { contig: "chr2", pos: 10_400, gt: { A: "0/0", B: "1/1", C: "0/1" } },
  { contig: "chr2", pos: 12_900, gt: { A: "0/1", B: "0/0", C: "0/0" } },
];

type Genotype = "0/0" | "0/1" | "1/1";

/** mulberry32: a small 32-bit PRNG; `next()` is an unsigned 32-bit integer. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** FNV-1a of a text's UTF-16 code units: a sample's seed. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** A whole number in [0, n) from a 32-bit draw (n is small: the bias is negligible). */
const below = (draw: number, n: number) => draw % n;

const SAMPLE = /^[A-Za-z0-9_.-]+$/;

function checkSample(sample: string): void {
  if (!SAMPLE.test(sample)) {
    throw new Error(
      `Cannot simulate reads for sample ${JSON.stringify(sample)}: ` +
        "a sample name is letters, digits, '_', '.' or '-'",
    );
  }
}

/** The genome as FASTA text. */
export function genomeFasta(): string {
  const next = prng(GENOME_SEED);
  let text = "";
  for (const [name, length] of CONTIGS) {
    let seq = "";
    for (let i = 0; i < length; i++) seq += "ACGT"[below(next(), 4)];
    text += `>${name}\n`;
    for (let i = 0; i < length; i += LINE) text += `${seq.slice(i, i + LINE)}\n`;
  }
  return text;
}

/** The contigs of FASTA text, by name. */
function parseFasta(text: string): Map<string, string> {
  const contigs = new Map<string, string>();
  let name = "";
  for (const line of text.split("\n")) {
    if (line.startsWith(">")) {
      name = line.slice(1).split(/\s/)[0]!;
      contigs.set(name, "");
    } else if (name) contigs.set(name, contigs.get(name)! + line.trim());
  }
  return contigs;
}

const TRANSITION: Record<string, string> = { A: "G", G: "A", C: "T", T: "C" };
const COMPLEMENT: Record<string, string> = { A: "T", C: "G", G: "C", T: "A" };

/** A sample's genotype at site `i`: from the table, else drawn from its name. */
function genotype(sample: string, i: number): Genotype {
  const known = SITES[i]!.gt[sample];
  if (known) return known;
  return (["0/0", "0/1", "1/1"] as const)[below(prng(hash(`${sample}#${i}`))(), 3)]!;
}

/** A sample's simulated reads (FASTQ) and its planted SNPs (TSV), from the genome's FASTA text. */
export function simulate(fasta: string, sample: string): { fastq: string; truth: string } {
  checkSample(sample);
  const contigs = parseFasta(fasta);
  // Two haplotypes per contig: a heterozygous SNP is on the second only.
  const haplotypes = new Map<string, [string[], string[]]>();
  for (const [name, seq] of contigs) haplotypes.set(name, [[...seq], [...seq]]);
  let truth = "CHROM\tPOS\tREF\tALT\tGT\n";
  SITES.forEach((site, i) => {
    const gt = genotype(sample, i);
    const hap = haplotypes.get(site.contig);
    if (gt === "0/0" || !hap) return;
    const ref = hap[0][site.pos - 1]!;
    const alt = TRANSITION[ref]!;
    hap[1][site.pos - 1] = alt;
    if (gt === "1/1") hap[0][site.pos - 1] = alt;
    truth += `${site.contig}\t${site.pos}\t${ref}\t${alt}\t${gt}\n`;
  });
  const next = prng(hash(sample) ^ 0x5eed);
  const out: string[] = [];
  let n = 0;
  for (const [name, [h0, h1]] of haplotypes) {
    const reads = Math.floor((h0.length * COVERAGE) / READ_LENGTH);
    for (let r = 0; r < reads; r++) {
      const start = below(next(), h0.length - READ_LENGTH + 1);
      const hap = below(next(), 2) === 0 ? h0 : h1;
      let bases = hap.slice(start, start + READ_LENGTH);
      if (below(next(), 2) === 1) bases = bases.reverse().map((b) => COMPLEMENT[b] ?? "N");
      let quals = "";
      for (let k = 0; k < bases.length; k++) {
        if (below(next(), 100_000) < ERROR_RATE) {
          // A wrong base, with the low quality a sequencer tends to give it.
          bases[k] = "ACGT".replace(bases[k]!, "")[below(next(), 3)]!;
          quals += String.fromCharCode(33 + 5 + below(next(), 16));
        } else {
          quals += String.fromCharCode(33 + 25 + below(next(), 16));
        }
      }
      n++;
      out.push(`@${sample}.${n} ${name}:${start + 1}\n${bases.join("")}\n+\n${quals}\n`);
    }
  }
  return { fastq: out.join(""), truth };
}

/** What a function app gets (the fields used here). */
interface Args {
  readonly inputs: Readonly<Record<string, string>>;
  readonly outputs: Readonly<Record<string, string>>;
  readonly bindings: Readonly<Record<string, unknown>>;
}

/** Function app: write the genome to output `fa`. */
export function genome(args: Args): { contigs: number; bases: number } {
  Deno.writeTextFileSync(args.outputs.fa!, genomeFasta());
  return { contigs: CONTIGS.length, bases: CONTIGS.reduce((s, [, l]) => s + l, 0) };
}

/** A sample's name from its binding: the name, or the `key` of a record's JSON text. */
function sampleName(bound: unknown): string {
  if (typeof bound !== "string" || !bound.startsWith("{")) return String(bound);
  try {
    const record = JSON.parse(bound);
    return typeof record?.key === "string" ? record.key : bound;
  } catch {
    return bound; // no record: simulate() refuses the name as it is
  }
}

/**
 * Function app: sample `sample`'s reads from input `fa` to outputs `fastq` and `truth`. `sample`
 * is the sample's name, or a record (advanced.yaml's mapping of samples to files, which a function
 * app gets as JSON text) whose `key` is.
 */
export function reads(args: Args): { reads: number; snps: number } {
  const sample = sampleName(args.bindings.sample);
  const { fastq, truth } = simulate(Deno.readTextFileSync(args.inputs.fa!), sample);
  Deno.writeTextFileSync(args.outputs.fastq!, fastq);
  Deno.writeTextFileSync(args.outputs.truth!, truth);
  return { reads: fastq.split("\n").length >> 2, snps: truth.split("\n").length - 2 };
}

if (import.meta.main) {
  const args = [...Deno.args];
  let dir = ".";
  if (args[0] === "--out") {
    dir = args[1] ?? "";
    args.splice(0, 2);
  }
  const samples = args.length > 0 ? args : ["A", "B", "C"];
  try {
    if (dir === "" || dir.startsWith("-")) {
      throw new Error(`Cannot write to ${JSON.stringify(dir)}: --out needs a folder`);
    }
    samples.forEach(checkSample);
    const fasta = genomeFasta();
    for (const sub of ["data/samples", "data/truth"]) {
      Deno.mkdirSync(`${dir}/${sub}`, { recursive: true });
    }
    Deno.writeTextFileSync(`${dir}/data/genome.fa`, fasta);
    for (const sample of samples) {
      const { fastq, truth } = simulate(fasta, sample);
      Deno.writeTextFileSync(`${dir}/data/samples/${sample}.fastq`, fastq);
      Deno.writeTextFileSync(`${dir}/data/truth/${sample}.tsv`, truth);
    }
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(2);
  }
}
