import assert from "node:assert/strict";
import { capLine, capLines, logTail, MAX_LINE_CHARS } from "./log_tail.ts";

async function withLog(text: string, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-tail-test-" });
  try {
    await Deno.writeTextFile(`${dir}/err.log`, text);
    await fn(`${dir}/err.log`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("capLine() keeps 500 characters and counts the bytes left out", () => {
  assert.equal(capLine("x".repeat(MAX_LINE_CHARS)), "x".repeat(MAX_LINE_CHARS));
  assert.equal(capLine("x".repeat(MAX_LINE_CHARS + 1)), `${"x".repeat(500)}… (1 more bytes)`);
  // Bytes, not characters: "é" is two.
  assert.equal(capLine("abcéé", 3), "abc… (4 more bytes)");
  assert.equal(
    capLines(`short\n${"y".repeat(600)}\nend`),
    `short\n${"y".repeat(500)}… (100 more bytes)\nend`,
  );
});

Deno.test("logTail() gives the last lines, capped; none for a missing log", async () => {
  const long = "z".repeat(2000);
  await withLog(`one\ntwo\n${long}\nlast\n\n`, async (path) => {
    assert.deepEqual(await logTail(path, { lines: 3 }), [
      "two",
      `${"z".repeat(500)}… (1500 more bytes)`,
      "last",
    ]);
    assert.deepEqual(await logTail(path, { lines: 0 }), []);
  });
  assert.deepEqual(await logTail("/nonexistent/ferry/err.log"), []);
});

Deno.test("logTail() reads only the end: the line cut by the window is dropped", async () => {
  // 100 lines of 10 bytes: a 25-byte window holds "0098\n" cut, then two whole lines.
  const lines = Array.from({ length: 100 }, (_, i) => `line ${String(i).padStart(4, "0")}`);
  await withLog(lines.join("\n") + "\n", async (path) => {
    assert.deepEqual(await logTail(path, { maxBytes: 25 }), ["line 0098", "line 0099"]);
    // A window that starts just after a newline keeps its first line whole.
    assert.deepEqual(await logTail(path, { maxBytes: 30 }), [
      "line 0097",
      "line 0098",
      "line 0099",
    ]);
  });
});

Deno.test("logTail() shows the end of a last line longer than the window, after a marker", async () => {
  // 10,009 bytes in all, the last 20 shown.
  await withLog("first\n" + "x".repeat(10_000) + "END", async (path) => {
    assert.deepEqual(await logTail(path, { maxBytes: 1000, maxLineChars: 20 }), [
      `… (9989 earlier bytes) ${"x".repeat(17)}END`,
    ]);
  });
});

Deno.test("logTail() of a log it cannot read says so in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-tail-test-" });
  try {
    const [line, ...rest] = await logTail(dir);
    assert.deepEqual(rest, []);
    assert.match(line!, new RegExp(`^\\(cannot read ${dir}: .+\\)$`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
