import assert from "node:assert/strict";
import { shellQuote } from "./shell.ts";

/** Words bash would split, expand or run if they reached it unquoted. */
const HOSTILE = [
  "~/data",
  "~",
  "~root/x",
  "a=~/x",
  "PATH=x:~/y",
  "$HOME",
  "${HOME}",
  "$(touch pwned)",
  "`touch pwned`",
  "a b",
  "it's",
  '"quoted"',
  "*",
  "?",
  "[a]",
  "{a,b}",
  "!x",
  "#comment",
  "a;b",
  "a|b",
  "a&b",
  "<in",
  ">out",
  "back\\slash",
  "line\nbreak",
  "tab\there",
  "",
  "-n",
  "é ü",
];

/** What bash makes of each quoted word: the arguments `printf` receives. */
async function throughBash(words: readonly string[], home: string): Promise<string[]> {
  const script = words.map((w) => `printf '%s\\0' ${shellQuote(w)}`).join("\n");
  const out = await new Deno.Command("bash", {
    args: ["-c", script],
    cwd: home,
    env: { HOME: home, PATH: "/usr/bin:/bin" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).split("\0").slice(0, -1);
}

Deno.test("shellQuote() makes every word one literal bash word: no tilde, no expansion, no code", async () => {
  const home = await Deno.makeTempDir({ prefix: "ferry-quote-" });
  try {
    // One argument each, byte for byte: `~/data` is not $HOME/data, `$(…)` runs nothing.
    assert.deepEqual(await throughBash(HOSTILE, home), HOSTILE);
    assert.deepEqual([...Deno.readDirSync(home)], []);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("shellQuote() leaves plain words bare and quotes the rest", () => {
  assert.equal(shellQuote("out/a.bam"), "out/a.bam");
  assert.equal(shellQuote("k=v,w:x@y%z+1"), "k=v,w:x@y%z+1");
  assert.equal(shellQuote("~/data"), "'~/data'");
  assert.equal(shellQuote("a=~/x"), "'a=~/x'");
  assert.equal(shellQuote(""), "''");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
});
