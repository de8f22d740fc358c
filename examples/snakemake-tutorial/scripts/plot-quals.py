#!/usr/bin/env python3
"""A histogram of the QUAL column of a VCF file, drawn as SVG with the standard library only.

The Snakemake tutorial's plot-quals.py draws it with matplotlib and reads the VCF with pysam;
this one needs neither:

    python3 scripts/plot-quals.py calls/all.vcf plots/quals.svg

Run by a ferry script app (`script: scripts/plot-quals.py`, advanced.yaml) without arguments, it
reads the VCF and the SVG's paths from the task file FERRY_TASK names (inputs.vcf, outputs.svg).

Like matplotlib's plt.hist, it sorts the values into 10 bins of equal width from the smallest
to the largest. The SVG has whole-number coordinates only, so it is the same bytes everywhere.
"""

import json
import os
import sys
from html import escape

BINS = 10
WIDTH, HEIGHT, MARGIN = 640, 400, 50


def read_quals(path):
    """The QUAL of every record of a VCF file (records without one, '.', are left out)."""
    quals = []
    with open(path, encoding="utf-8") as vcf:
        for number, line in enumerate(vcf, 1):
            if line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 6:
                raise ValueError(f"line {number} has fewer than 6 columns")
            if fields[5] != ".":
                try:
                    quals.append(float(fields[5]))
                except ValueError:
                    raise ValueError(f"line {number}: QUAL {json.dumps(fields[5])} is no number") from None
    return quals


def histogram(quals):
    """Counts per bin and the bins' edges."""
    low, high = min(quals), max(quals)
    width = (high - low) / BINS or 1.0
    counts = [0] * BINS
    for q in quals:
        counts[min(int((q - low) / width), BINS - 1)] += 1
    return counts, [low + i * width for i in range(BINS + 1)]


def svg(quals, title):
    """The histogram as an SVG document."""
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<text x="{WIDTH // 2}" y="{MARGIN // 2}" text-anchor="middle">{escape(title)}</text>',
    ]
    if not quals:
        out.append(f'<text x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle">no records</text>')
    else:
        counts, edges = histogram(quals)
        top = max(counts)
        bar_w = plot_w // BINS
        for i, count in enumerate(counts):
            h = round(plot_h * count / top)
            x, y = MARGIN + i * bar_w, MARGIN + plot_h - h
            out.append(
                f'<rect x="{x}" y="{y}" width="{bar_w - 2}" height="{h}" fill="steelblue">'
                f"<title>{edges[i]:.1f} to {edges[i + 1]:.1f}: {count}</title></rect>"
            )
        for i in (0, BINS):
            out.append(
                f'<text x="{MARGIN + i * bar_w}" y="{HEIGHT - MARGIN + 16}" '
                f'text-anchor="middle">{edges[i]:.0f}</text>'
            )
        out.append(
            f'<text x="{MARGIN - 6}" y="{MARGIN + 4}" text-anchor="end">{top}</text>'
        )
    out.append(
        f'<text x="{WIDTH // 2}" y="{HEIGHT - 10}" text-anchor="middle">QUAL '
        f"({len(quals)} records)</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def task_paths():
    """[script, VCF, SVG] from the task file of a ferry script app (FERRY_TASK)."""
    with open(os.environ["FERRY_TASK"], encoding="utf-8") as f:
        task = json.load(f)
    return [sys.argv[0], task["inputs"]["vcf"], task["outputs"]["svg"]]


def main(argv):
    if len(argv) == 1 and os.environ.get("FERRY_TASK"):
        argv = task_paths()
    if len(argv) != 3:
        print("usage: plot-quals.py CALLS.vcf OUT.svg", file=sys.stderr)
        return 2
    try:
        quals = read_quals(argv[1])
    except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        print(f"Cannot read {json.dumps(argv[1])}: {why}", file=sys.stderr)
        return 2
    with open(argv[2], "w", encoding="utf-8") as out:
        out.write(svg(quals, f"QUAL of the calls in {argv[1]}"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
