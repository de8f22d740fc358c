import assert from "node:assert/strict";
import { parseTemplate } from "./expr.ts";

Deno.test("parseTemplate() splits text and property-path expressions", () => {
  const t = parseTemplate("a ${{ params.x }} b ${{inputs.reads[0].name}}");
  assert.ok(t.ok);
  assert.deepEqual(t.template, [
    { kind: "text", text: "a " },
    { kind: "expr", path: ["params", "x"], source: "params.x", offset: 2 },
    { kind: "text", text: " b " },
    {
      kind: "expr",
      path: ["inputs", "reads", 0, "name"],
      source: "inputs.reads[0].name",
      offset: 20,
    },
  ]);
});

Deno.test("parseTemplate() keeps text without expressions as one part", () => {
  assert.deepEqual(parseTemplate("plain $HOME {{ x }}"), {
    ok: true,
    template: [{ kind: "text", text: "plain $HOME {{ x }}" }],
  });
});

Deno.test("parseTemplate() refuses code, calls and unterminated expressions with an offset", () => {
  const cases: [string, string, number][] = [
    ["x ${{ params.a", 'Cannot find the closing "}}" of the expression starting here', 2],
    ["${{ }}", 'Cannot parse expression "${{ }}": expected a name, found nothing', 4],
    ["${{ a.}}", 'Cannot parse expression "${{ a.}}": expected a name after "."', 6],
    ["${{ a[x] }}", 'Cannot parse expression "${{ a[x] }}": expected a list index such as [0]', 6],
    [
      "${{ a + 1 }}",
      'Cannot parse expression "${{ a + 1 }}": unexpected "+"; only property paths such as params.samples are allowed',
      6,
    ],
    [
      "${{ f() }}",
      'Cannot parse expression "${{ f() }}": unexpected "("; only property paths such as params.samples are allowed',
      5,
    ],
  ];
  for (const [input, message, offset] of cases) {
    assert.deepEqual(parseTemplate(input), { ok: false, error: { message, offset } }, input);
  }
});
