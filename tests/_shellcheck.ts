/**
 * shellcheck over a script's text, for the tests that check the shell ferry writes.
 * @module
 */

/** Options for {@linkcode shellcheck}. */
export interface ShellcheckOptions {
  /** The dialect. @default "bash" */
  readonly shell?: string;
  /** Codes not to report (`SC2016`). @default [] */
  readonly exclude?: readonly string[];
}

/** shellcheck's findings for `text` (empty when it is clean). */
export async function shellcheck(text: string, options: ShellcheckOptions = {}): Promise<string> {
  const { shell = "bash", exclude = [] } = options;
  const child = new Deno.Command("shellcheck", {
    args: [
      "--shell",
      shell,
      "--format",
      "gcc",
      ...(exclude.length > 0 ? ["--exclude", exclude.join(",")] : []),
      "-",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  const d = new TextDecoder();
  return d.decode(out.stdout) + d.decode(out.stderr);
}
