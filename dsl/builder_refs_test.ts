import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { workflow } from "./builder.ts";
import { BuilderError } from "./builder_refs.ts";

const HERE = fileURLToPath(import.meta.url);
const SOURCE = Deno.readTextFileSync(HERE);

/** `HERE:line:column` of the one line holding `marker` (a comment), at `needle` on it. */
function at(marker: string, needle: string): string {
  const lines = SOURCE.split("\n");
  const i = lines.findIndex((l) => l.includes(marker) && !l.includes('at("'));
  return `${HERE}:${i + 1}:${lines[i]!.indexOf(needle) + 1}`;
}

/** The BuilderError `fn` throws. */
function thrown(fn: () => unknown): BuilderError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BuilderError, String(e));
    return e;
  }
  assert.fail("it did not throw");
}

Deno.test("builder refs: an unknown output names the script's line, a close name and every output", () => {
  const wf = workflow("w");
  const count = wf.app("count", { outputs: { n: "n.txt", total: "t.txt" }, command: ["true"] });
  // @ts-expect-error: the typo under test
  const e = thrown(() => count.outputs.nn); // <- typo
  assert.equal(
    e.message,
    `${at("<- typo", "nn")}: Cannot use output "nn" of app "count": did you mean "n"? ` +
      `(outputs of app "count": n, total)`,
  );
  assert.deepEqual([e.file, e.name], [HERE, "BuilderError"]);
  const none = wf.app("none", { command: ["true"] });
  assert.equal(
    thrown(() => none.outputs.anything).message.replace(/^.*?: /, ""),
    'Cannot use output "anything" of app "none": app "none" has no outputs',
  );
});

Deno.test("builder refs: an unknown param fails with the declared params, or says there are none", () => {
  const wf = workflow("w", { params: { words: ["a"], limit: 3 } });
  assert.equal(String(wf.param("words")), "${{ params.words }}");
  assert.equal(
    thrown(() => wf.param("wrods")).message, // <- param typo
    `${at("<- param typo", 'param("wrods')}: Cannot use param "wrods": did you mean "words"? ` +
      `(params of workflow "w": words, limit)`,
  );
  assert.equal(
    thrown(() => workflow("bare").param("x")).message.replace(/^.*?: /, ""),
    'Cannot use param "x": workflow "bare" declares no params',
  );
});

Deno.test("builder refs: outputs still serialise, spread, await and list like plain objects", async () => {
  const a = workflow("w").app("a", { outputs: { x: "x.txt" }, command: ["true"] });
  assert.equal(JSON.stringify(a.outputs), '{"x":"${{ apps.a.outputs.x }}"}');
  assert.deepEqual(Object.keys({ ...a.outputs }), ["x"]);
  assert.equal(await Promise.resolve(a.outputs), a.outputs);
  assert.equal("y" in a.outputs, false);
  assert.equal(Deno.inspect(a.outputs).includes("apps.a.outputs.x"), true);
});
