import assert from "node:assert/strict";
import { loadText } from "./load.ts";
import { parseYaml } from "./load_yaml.ts";
import { parseToml } from "./load_toml.ts";
import { decodeText } from "./source.ts";

const lc = (p: { line: number; column: number } | undefined) =>
  p && { line: p.line, column: p.column };
const codes = (r: { problems: readonly { code: string; line: number; column: number }[] }) =>
  r.problems.map((p) => `${p.code}@${p.line}:${p.column}`);

Deno.test("parseYaml() indexes keys and values of nested maps and lists", () => {
  const r = parseYaml("apps:\n  a:\n    command: [echo, 'x y']\n");
  assert.deepEqual(r.value, { apps: { a: { command: ["echo", "x y"] } } });
  assert.deepEqual(lc(r.index.find(["apps", "a", "command"], "key")), { line: 3, column: 5 });
  assert.deepEqual(lc(r.index.find(["apps", "a", "command", 1], "value")), { line: 3, column: 22 });
});

Deno.test("parseYaml() reports a duplicate key at its second occurrence", () => {
  const r = parseYaml("name: a\napps: {}\nname: b\n");
  assert.deepEqual(codes(r), ["duplicate-key@3:1"]);
  assert.equal(r.problems[0]!.message, 'Cannot use the key "name" twice in one mapping');
});

Deno.test("parseYaml() refuses an alias bomb instead of expanding it", () => {
  const rows = ["a: &a [x, x, x, x, x, x, x, x, x]"];
  for (const [i, n] of ["b", "c", "d", "e", "f", "g"].entries()) {
    const prev = String.fromCharCode(97 + i);
    rows.push(`${n}: &${n} [${Array(9).fill(`*${prev}`).join(", ")}]`);
  }
  const r = parseYaml(rows.join("\n") + "\n");
  assert.deepEqual(r.problems.map((p) => p.code), ["alias-limit"]);
});

Deno.test("parseYaml() reports an alias inside the node it repeats at the alias, not a stack overflow", () => {
  const r = parseYaml("params: { p: &a [*a] }\napps: {}\n");
  assert.deepEqual(codes(r), ["alias-limit@1:18"]);
  assert.equal(
    r.problems[0]!.message,
    'Cannot expand the alias "*a": it is inside the node "&a" it repeats, which would never end',
  );
  const nested = parseYaml("q: &b {x: 1}\np: &a\n  - 1\n  - {y: [*b, *a]}\nr: *b\n");
  assert.deepEqual(codes(nested), ["alias-limit@4:14"]);
  // An alias of an anchor it is not inside is fine, however often it is used.
  assert.deepEqual(parseYaml("a: &a [1]\nb: [*a, *a]\n").value, { a: [1], b: [[1], [1]] });
});

Deno.test("parseYaml() hints to quote an unquoted ${{ that breaks a flow collection", () => {
  const hint = '; quote a value that holds ${{ }}, e.g. "${{ params.x }}"';
  for (
    const [line, message] of [
      ["o: {out: out/${{ params.p }}.txt}", "Unexpected flow-map-start at node end"],
      ['o: {a: "${{ params.p }}", b: ${{ params.p }}}', "Unexpected flow-map-start at node end"],
      ["o: [${{ params.p }}]", "Missing , or : between flow sequence items"],
    ]
  ) {
    const r = parseYaml(`${line}\n`);
    assert.deepEqual(r.problems.map((p) => p.message), [`Cannot parse YAML: ${message}${hint}`]);
  }
});

Deno.test("parseYaml() refuses a second document", () => {
  assert.deepEqual(codes(parseYaml("a: 1\n---\nb: 2\n")), ["multiple-documents@2:1"]);
});

Deno.test("parseToml() gives positions for tables, dotted keys, inline tables and arrays of tables", () => {
  const r = parseToml(
    'name = "x"\n[apps.a]\ninputs = { ref = "r.fa" }\n[[apps.a.steps]]\nx = 1\n[[apps.a.steps]]\ny.z = [1, 2]\n',
  );
  assert.deepEqual(r.problems, []);
  assert.deepEqual(lc(r.index.find(["apps", "a", "inputs", "ref"], "value")), {
    line: 3,
    column: 19,
  });
  assert.deepEqual(lc(r.index.find(["apps", "a", "steps", 1, "y", "z", 1], "value")), {
    line: 7,
    column: 11,
  });
  assert.deepEqual(lc(r.index.find(["apps", "a", "steps", 0, "x"], "key")), { line: 5, column: 1 });
});

Deno.test("parseToml() reports syntax errors and redefinitions with their line", () => {
  assert.deepEqual(codes(parseToml("a = [1,\n")), ["toml-syntax@2:1"]);
  const dup = parseToml("a = 1\na = 2\n");
  assert.deepEqual(dup.problems.map((p) => [p.code, p.line]), [["duplicate-key", 2]]);
  assert.match(dup.problems[0]!.message, /^Cannot define the key "a" twice/);
});

Deno.test("parseToml() turns dates into the strings YAML's core schema would give", () => {
  assert.deepEqual(parseToml("d = 2024-01-02\n").value, { d: "2024-01-02" });
});

Deno.test("loadText() refuses empty files, scalars and lists at the top level", () => {
  assert.deepEqual(codes(loadText("w.yaml", "")), ["empty-file@1:1"]);
  assert.deepEqual(codes(loadText("w.yaml", "# only a comment\n")), ["empty-file@1:1"]);
  assert.deepEqual(codes(loadText("w.toml", "# nothing\n")), ["empty-file@1:1"]);
  assert.deepEqual(codes(loadText("w.yaml", "- a\n- b\n")), ["not-a-mapping@1:1"]);
  assert.deepEqual(codes(loadText("w.yaml", "just text\n")), ["not-a-mapping@1:1"]);
  assert.deepEqual(codes(loadText("w.json", "{}")), ["unknown-format@1:1"]);
});

Deno.test("decodeText() refuses NUL bytes, control characters and invalid UTF-8", () => {
  assert.deepEqual(decodeText(new Uint8Array([0x61, 0x0a, 0xc3, 0xa9, 0x00])), {
    why: "it contains a NUL byte, so it is not a text file",
    line: 2,
    column: 2,
  });
  assert.ok("why" in decodeText(new Uint8Array([0x61, 0x07])));
  assert.ok("why" in decodeText(new Uint8Array([0xff, 0xfe, 0x41])));
  assert.deepEqual(decodeText(new TextEncoder().encode("\ufeffa: é\n")), { text: "a: é\n" });
});

Deno.test("parseYaml() reads every valid example and fixture the same way on its fast and careful paths", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      if (e.isDirectory) walk(`${dir}/${e.name}`);
      else if (/\.ya?ml$/.test(e.name)) files.push(`${dir}/${e.name}`);
    }
  };
  walk(`${root}examples`);
  walk(`${root}tests/testdata`);
  let compared = 0;
  for (const f of files) {
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(await Deno.readFile(f));
    } catch {
      continue; // binary fixtures
    }
    const careful = parseYaml(text, { fast: false });
    const fast = parseYaml(text);
    if (careful.problems.length > 0) {
      assert.ok(
        fast.problems.length > 0,
        `${f}: the fast path must not accept what the careful one refuses`,
      );
      continue;
    }
    assert.deepEqual(fast.value, careful.value, f);
    compared++;
  }
  assert.ok(compared >= 50, `compared ${compared} files`);
});
