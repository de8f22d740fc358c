import assert from "node:assert/strict";
import { parseMemory, parseWalltime } from "./quantity.ts";

Deno.test("parseMemory() reads binary and decimal units", () => {
  const cases: [string, number][] = [
    ["4GiB", 4 * 2 ** 30],
    ["4G", 4 * 2 ** 30],
    ["512M", 512 * 2 ** 20],
    ["512MB", 512e6],
    ["1.5TB", 1.5e12],
    ["100K", 102400],
    ["10B", 10],
    ["4 gib", 4 * 2 ** 30],
  ];
  for (const [s, v] of cases) assert.deepEqual(parseMemory(s), { value: v }, s);
});

Deno.test("parseMemory() refuses bare numbers, unknown units and zero", () => {
  for (const s of ["10", "4 gigs", "4Gi", "", "-1G"]) assert.ok("why" in parseMemory(s), s);
  assert.ok("why" in parseMemory(1024));
  assert.deepEqual(parseMemory("0M"), { why: "it must be more than zero" });
});

Deno.test("parseWalltime() reads unit and Slurm forms", () => {
  const cases: [string, number][] = [
    ["90s", 90],
    ["30m", 1800],
    ["1h30m", 5400],
    ["2d", 172800],
    ["1d12h", 129600],
    ["90m", 5400],
    ["36h", 129600],
    ["01:30:00", 5400],
    ["90:00", 5400],
    ["2-00:00:00", 172800],
    ["1-12", 129600],
    ["1-02:30", 95400],
  ];
  for (const [s, v] of cases) assert.deepEqual(parseWalltime(s), { value: v }, s);
});

Deno.test("parseWalltime() refuses out-of-range fields, bare numbers and words", () => {
  for (const s of ["1h70m", "1d24h", "2m60s", "00:61", "1-25", "30", "bogus", "0s", ""]) {
    assert.ok("why" in parseWalltime(s), s);
  }
  assert.deepEqual(parseWalltime("30"), {
    why: "a bare number is ambiguous: add a unit, e.g. 30m or 1h30m",
  });
});
