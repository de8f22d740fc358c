/**
 * Quoting words for bash, shared by the interpreter (rendering `shell:`
 * scripts) and the batch providers (job scripts, remote commands).
 * @module
 */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quote a word for bash so it is always one word and never code.
 *
 * @example
 * ```ts
 * import { shellQuote } from "./shell.ts";
 * import assert from "node:assert/strict";
 * assert.equal(shellQuote("out/a.bam"), "out/a.bam");
 * assert.equal(shellQuote("it's $(x)"), "'it'\\''s $(x)'");
 * ```
 */
export function shellQuote(word: string): string {
  if (word !== "" && SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Control characters (C0, DEL, C1) and the Unicode separators and bidirectional overrides. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const CONTROLS = new RegExp(CONTROL.source, "g");
const encoder = new TextEncoder();

/**
 * Quote a word for a bash script (job scripts, wrappers, `shell:` commands):
 * as {@linkcode shellQuote}, but a word holding control characters becomes
 * ANSI-C quoted (`$'a\nb'`, each such character as its UTF-8 bytes), so the
 * script holds no raw control character: printed (`ferry plan
 * --show-scripts`) it cannot drive a terminal, and a line of it is one line.
 * Only for bash: a remote login shell (dash) wants {@linkcode shellQuote}.
 *
 * @example
 * ```ts
 * import { bashQuote } from "./shell.ts";
 * import assert from "node:assert/strict";
 * assert.equal(bashQuote("out/a.bam"), "out/a.bam");
 * assert.equal(bashQuote("a\nb'$(x)\x1b"), "$'a\\x0ab\\'$(x)\\x1b'");
 * ```
 */
export function bashQuote(word: string): string {
  if ((word !== "" && SAFE.test(word)) || !CONTROL.test(word)) return shellQuote(word);
  const body = word.replace(/[\\']/g, (c) => "\\" + c).replace(
    CONTROLS,
    (c) => [...encoder.encode(c)].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join(""),
  );
  return `$'${body}'`;
}

/** bash's builtins and reserved words (bash 5.2 `compgen -b`, `compgen -k`, and a few newer ones). */
const BASH_OWN = new Set(
  (". : [ alias bg bind break builtin caller cd command compgen complete compopt continue " +
    "declare dirs disown echo enable eval exec exit export false fc fg getopts hash help history " +
    "jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly return set " +
    "shift shopt source suspend test times trap true type typeset ulimit umask unalias unset wait " +
    "if then else elif fi case esac for select while until do done in function time { } ! [[ ]] " +
    "coproc").split(" "),
);

/** A first word that is surely the name or path of a program (no expansion, no assignment). */
const PROGRAM = /^[A-Za-z0-9_.\/+@%,:][A-Za-z0-9_.\/+@%,:-]*$/;

/**
 * `script` with `exec ` in front when it is one simple command that runs a program and has a
 * redirection (`awk '…' in > out`), else undefined. bash itself runs the last command of a
 * `bash -c` script in its own process (no fork), but not when that command has a redirection:
 * then it forks, waits and exits with the child's status. With `exec` the program replaces the
 * shell, as dash does unasked, which saves a fork per task; the exit status, the output and the
 * files are the same, and a signal that ends the program is seen as such (not as bash's 128+n).
 *
 * Only what is certainly one command of a program is changed: no `;`, `&&`, `|`, newline,
 * subshell, command substitution, here-document or comment; a first word that is a plain name
 * or path and not a bash builtin or reserved word. The caller must know that no function or
 * trap can exist in the shell (no code runs before the script: no `worker_init`, no `BASH_ENV`,
 * no exported functions), since `exec` bypasses functions and EXIT traps.
 *
 * @example
 * ```ts
 * import { execTail } from "./shell.ts";
 * import assert from "node:assert/strict";
 * assert.equal(execTail("awk '{ s += $1 }' in > out"), "exec awk '{ s += $1 }' in > out");
 * assert.equal(execTail("touch out"), undefined); // bash already execs it
 * assert.equal(execTail("sort in | uniq > out"), undefined);
 * ```
 */
export function execTail(script: string): string | undefined {
  const s = script.trim();
  const first = /^[^\s<>;&|()'"`$\\]*/.exec(s)![0];
  if (!PROGRAM.test(first) || BASH_OWN.has(first) || !/[ \t]/.test(s[first.length] ?? "")) {
    return undefined;
  }
  let redirect = false;
  for (let i = first.length; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'") {
      i = s.indexOf("'", i + 1);
      if (i < 0) return undefined;
    } else if (c === '"') {
      for (i++; i < s.length && s[i] !== '"'; i++) {
        if (s[i] === "`" || (s[i] === "$" && s[i + 1] === "(")) return undefined;
        if (s[i] === "\\") i++;
      }
      if (i >= s.length) return undefined;
    } else if (c === "\\") {
      if (++i >= s.length) return undefined;
    } else if (c === "$") {
      const next = s[i + 1];
      if (next === "(" || next === "'" || next === '"') return undefined;
      if (next === "{") {
        const m = /^\{(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+)\}/.exec(s.slice(i + 1));
        if (!m) return undefined;
        i += m[0].length;
      }
    } else if (c === "<" || c === ">") {
      if (s[i + 1] === "<" || (c === "<" && s[i + 1] === ">")) return undefined;
      if (s[i + 1] === "&" || (c === ">" && s[i + 1] === ">")) i++;
      redirect = true;
    } else if (c === "#" && /\s/.test(s[i - 1]!)) return undefined;
    else if (/[\n;&|()`]/.test(c)) return undefined;
  }
  return redirect ? `exec ${s}` : undefined;
}
