import assert from "node:assert/strict";
import { parseTemplate } from "../expr.ts";
import { located } from "./_test_located.ts";
import { quotedExpressions } from "./shell_quotes.ts";

/** `source:quoting` for each expression of `script` that stands inside quotes. */
function quoted(script: string): string[] {
  const t = parseTemplate(script);
  assert.ok(t.ok);
  return quotedExpressions(t.template).map((q) => `${q.expr.source}:${q.quoting}`);
}

/** The quoted-substitution warnings of an app whose shell is `script`, located. */
function warnings(script: string, extra = ""): string[] {
  const yaml = `ferry: 1\nname: t\nparams: { n: 2, s: x }\napps:\n  a:\n${extra}    shell: |\n` +
    script.split("\n").map((l) => `      ${l}`).join("\n") + "\n";
  return located(yaml, ["quoted-substitution"]);
}

Deno.test("quotedExpressions() finds expressions in single, double and $'' quotes", () => {
  assert.deepEqual(quoted("echo '${{ a }}' \"x ${{ b }}\" $'\\t${{ c }}' ${{ d }}"), [
    "a:single",
    "b:double",
    "c:single",
  ]);
  // Quotes closed around the expression, as the warning suggests.
  assert.deepEqual(quoted("bwa -R '@RG\\tID:'${{ s }}'\\tSM:'${{ s }} x"), []);
  assert.deepEqual(quoted(`echo "it's" \${{ a }} 'say "hi"' \${{ b }}`), []);
});

Deno.test("quotedExpressions() reads escapes, substitutions and nesting as bash does", () => {
  assert.deepEqual(quoted("echo \\' ${{ a }} \\\" ${{ b }}"), []);
  assert.deepEqual(quoted(`echo "a \\" \${{ a }}"`), ["a:double"]);
  assert.deepEqual(quoted(`echo "$(basename \${{ a }})" "\${x}\${{ b }}"`), ["b:double"]);
  assert.deepEqual(quoted('echo "$(echo \'${{ a }}\')" `echo "${{ b }}"`'), [
    "a:single",
    "b:double",
  ]);
  assert.deepEqual(quoted("echo ${x#'a'} ${{ a }} $(( 1 + (2) )) ${{ b }}"), []);
});

Deno.test("quotedExpressions() skips comments and here-documents", () => {
  assert.deepEqual(quoted("# don't\necho ${{ a }} # it's ${{ b }}\necho x#'${{ c }}'"), [
    "c:single",
  ]);
  const heredoc = "cat <<EOF > x\nit's ${{ a }}\nEOF\necho '${{ b }}'";
  assert.deepEqual(quoted(heredoc), ["b:single"]);
  assert.deepEqual(quoted("cat <<-'END'\n\tdon't ${{ a }}\n\tEND\necho \"${{ b }}\""), [
    "b:double",
  ]);
  assert.deepEqual(quoted("cat <<<'${{ a }}' ${{ b }}\necho '${{ c }}'"), ["a:single", "c:single"]);
});

Deno.test("quoted-substitution warns at the expression, with the fix", () => {
  assert.deepEqual(
    warnings("bwa mem -R '@RG\\tID:${{ sample }}' ref.fa", "    for_each: { sample: [A] }\n"),
    [
      `8:27 "\${{ sample }}" is inside single quotes: ferry already quotes each substituted value, so a value with a space or a quote ends the quotes early and splits into several words; close the quotes around it: '...'\${{ sample }}'...'`,
    ],
  );
  assert.deepEqual(warnings('echo\necho "s=${{ params.s }}"'), [
    `8:15 "\${{ params.s }}" is inside double quotes: ferry already quotes each substituted value, so a value with a space or a quote keeps ferry's quotes as literal ' characters; close the quotes around it: "..."\${{ params.s }}"..."`,
  ]);
});

Deno.test("quoted-substitution is quiet for values that are never quoted", () => {
  assert.deepEqual(
    warnings(
      "echo '${{ params.n }}' \"${{ resources.cores }} ${{ task.attempt }} ${{ k }}\"",
      "    for_each: { k: [1, 2] }\n",
    ),
    [],
  );
});
