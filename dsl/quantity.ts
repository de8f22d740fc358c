/**
 * Resource quantities: memory sizes (`512M`, `4GiB`) and walltimes (`30m`,
 * `1h30m`, `2-00:00:00`), parsed to bytes and seconds.
 * @module
 */

const BINARY = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 } as const;
const DECIMAL = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 } as const;

/** Parsed quantity or the reason it does not parse. */
export type Quantity = { readonly value: number } | { readonly why: string };

/**
 * Parse a memory size to bytes. `K`, `M`, `G`, `T` and `KiB`…`TiB` are
 * binary (as Slurm reads them), `KB`, `MB`, `GB`, `TB` decimal, `B` bytes.
 *
 * @example
 * ```ts
 * import { parseMemory } from "./quantity.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseMemory("4GiB"), { value: 4 * 2 ** 30 });
 * assert.deepEqual(parseMemory("512M"), { value: 512 * 2 ** 20 });
 * ```
 */
export function parseMemory(input: string | number): Quantity {
  if (typeof input === "number") {
    return { why: "a bare number is ambiguous: add a unit, e.g. 512M or 4GiB" };
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)(b?)\s*$/i.exec(input);
  if (!m || (m[3] && !m[2]) || (m[3] && !m[4])) {
    return {
      why: "write a number and a unit: B, K, M, G, T, P (binary), KiB…PiB, or KB…PB (decimal)",
    };
  }
  const [, num, prefix, iUnit, bUnit] = m;
  const p = prefix!.toLowerCase() as keyof typeof BINARY | "";
  if (p === "" && !bUnit) {
    return { why: "a bare number is ambiguous: add a unit, e.g. 512M or 4GiB" };
  }
  const factor = p === "" ? 1 : (bUnit && !iUnit ? DECIMAL[p] : BINARY[p]);
  const value = Math.round(Number(num) * factor);
  if (value <= 0) return { why: "it must be more than zero" };
  return { value };
}

/**
 * Parse a walltime to seconds: `90s`, `30m`, `1h30m`, `2d12h`, `HH:MM:SS`,
 * `MM:SS`, or Slurm's `D-HH`, `D-HH:MM`, `D-HH:MM:SS`.
 *
 * @example
 * ```ts
 * import { parseWalltime } from "./quantity.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseWalltime("1h30m"), { value: 5400 });
 * assert.deepEqual(parseWalltime("2-00:00:00"), { value: 172800 });
 * ```
 */
export function parseWalltime(input: string | number): Quantity {
  if (typeof input === "number") {
    return { why: "a bare number is ambiguous: add a unit, e.g. 30m or 1h30m" };
  }
  const s = input.trim();
  if (/^\d+$/.test(s)) return { why: "a bare number is ambiguous: add a unit, e.g. 30m or 1h30m" };
  const units = /^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?$/i.exec(s);
  if (units && s !== "") {
    const [d, h, m, sec] = units.slice(1).map((x) => Number(x ?? 0)) as number[] as [
      number,
      number,
      number,
      number,
    ];
    // The leading unit may be large (90m, 36h); a unit after another must fit in it.
    const after = (i: number) => units.slice(1, i).some((x) => x !== undefined);
    if ((after(2) && h >= 24) || (after(3) && m >= 60) || (after(4) && sec >= 60)) {
      return {
        why: "after a larger unit, hours must be below 24 and minutes and seconds below 60",
      };
    }
    return positive(d * 86400 + h * 3600 + m * 60 + sec);
  }
  const slurm = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(s);
  if (slurm && (slurm[1] !== undefined || slurm[3] !== undefined)) {
    const days = Number(slurm[1] ?? 0);
    const fields = [slurm[2], slurm[3], slurm[4]].filter((x) => x !== undefined).map(Number);
    // With a day count: D-HH[:MM[:SS]]. Without: HH:MM:SS or MM:SS.
    const [h = 0, m = 0, sec = 0] = slurm[1] !== undefined || fields.length === 3
      ? fields
      : [0, ...fields];
    if (
      // MM:SS may count many minutes; after hours (HH:MM:SS, D-HH:MM) minutes stay below 60.
      (slurm[1] !== undefined && h >= 24) ||
      ((slurm[1] !== undefined || fields.length === 3) && m >= 60) || sec >= 60
    ) {
      return { why: "minutes and seconds must be below 60, and hours below 24 after a day count" };
    }
    return positive(days * 86400 + h * 3600 + m * 60 + sec);
  }
  return { why: "write it as 90s, 30m, 1h30m, 2d, HH:MM:SS, MM:SS or D-HH:MM:SS" };
}

function positive(value: number): Quantity {
  return value > 0 ? { value } : { why: "it must be more than zero" };
}
