import assert from "node:assert/strict";
import { bashQuote, execTail, shellQuote } from "./shell.ts";

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

Deno.test("execTail() puts exec before one redirected command of a program, and nothing else", () => {
  const changed: [string, string][] = [
    [
      "awk '{ s += $1 } END { print s }' c/x > r/x.txt",
      "exec awk '{ s += $1 } END { print s }' c/x > r/x.txt",
    ],
    ["  sort -k2 in.txt >out.txt\n", "exec sort -k2 in.txt >out.txt"],
    ["tool --x=1 in 2>err.log >>out", "exec tool --x=1 in 2>err.log >>out"],
    ["/usr/bin/gzip -c in > out 2>&1", "exec /usr/bin/gzip -c in > out 2>&1"],
    [
      'samtools sort -o "o u t.bam" $IN ${OUT} <in',
      'exec samtools sort -o "o u t.bam" $IN ${OUT} <in',
    ],
    ["bwa mem ref.fa \\\n  r1.fq > out.sam", "exec bwa mem ref.fa \\\n  r1.fq > out.sam"],
    ["tr a b <'it''s # no comment' > o", "exec tr a b <'it''s # no comment' > o"],
  ];
  for (const [script, want] of changed) assert.equal(execTail(script), want, script);
  const kept = [
    "touch out", // no redirection: bash execs it itself
    "echo hi > out", // a builtin
    "printf '%s' x > out",
    "test -f x > out",
    "time sort in > out",
    "! grep x in > out",
    "{ sort in; } > out",
    "sort in > out; echo done",
    "sort in > out && touch ok",
    "sort in > out || true",
    "sort in | uniq > out",
    "sort in > out &",
    "sort in &> out",
    "sort in > out\nwc -l out",
    "(sort in) > out",
    "sort <(cat in) > out",
    "sort $(cat list) > out",
    "sort `cat list` > out",
    'sort "$(cat list)" > out',
    "sort $'a\\nb' > out",
    "sort ${IN:-x} > out",
    "cat <<EOF > out\nx\nEOF",
    "cat <<< x > out",
    "sort in > out # a comment",
    "X=1 sort in > out",
    "ech'o' hi > out",
    "$CMD in > out",
    "~/bin/tool > out",
    "2>err sort in",
    ">out sort in",
    "sort 'unclosed > out",
    'sort "unclosed > out',
    "sort in >| out",
    "sort in <> out",
    "sort in > out \\",
    "",
  ];
  for (const script of kept) assert.equal(execTail(script), undefined, script);
});

Deno.test("execTail(): the program replaces bash (same pid), with the same output and status", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const [script, code] of [[`sh -c 'echo $$; exit 3' > "${dir}/out"`, 3], [
        `sh -c 'echo $$' > "${dir}/out" 2>&1`,
        0,
      ]] as const
    ) {
      for (const tail of [false, true]) {
        const text = tail ? execTail(script)! : script;
        const child = new Deno.Command("bash", { args: ["-euo", "pipefail", "-c", text] }).spawn();
        const st = await child.status;
        assert.equal(st.code, code, text);
        const pid = Number((await Deno.readTextFile(`${dir}/out`)).trim());
        // Without exec bash forks first (bash 5.2 forks for a command with a redirection).
        assert.equal(pid === child.pid, tail, text);
      }
    }
    // A signal that ends the program ends the task's process itself.
    const killed = await new Deno.Command("bash", {
      args: ["-c", execTail(`sh -c 'kill -TERM $$' > "${dir}/out"`)!],
    }).output();
    assert.equal(killed.signal, "SIGTERM");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("execTail() with quoted hostile values: exec before the same script, or no change", () => {
  for (const w of [...HOSTILE, "a\nb", "x\x1by", "; rm -rf /", "> /etc/x", "$(id)"]) {
    const script = `sort ${bashQuote(w)} > ${bashQuote(`out ${w}`)}`;
    const got = execTail(script);
    assert.ok(got === undefined || got === `exec ${script}`, script);
    // A control character is written $'…' (bashQuote): left alone.
    assert.equal(got === undefined, [...w].some((c) => c < " "), script);
  }
});
