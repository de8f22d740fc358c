/**
 * Where the CLI writes: the process's streams, or a test's own. Each
 * {@linkcode processIO} has its own writers, so a reader that went away in one
 * `cli()` call silences only that call's stream.
 * @module
 */

/** Where the CLI writes; tests pass their own. */
export interface CliIO {
  /** Standard output. */
  readonly stdout: (s: string) => void;
  /** Standard error. */
  readonly stderr: (s: string) => void;
  /** Whether stdout is a colour terminal. */
  readonly color: boolean;
  /** Whether standard error is a terminal (live progress). @default false */
  readonly terminal?: boolean;
}

/** The real process streams, with fresh writers (see the module's note). */
export function processIO(): CliIO {
  return {
    stdout: pipeWriter(Deno.stdout),
    stderr: pipeWriter(Deno.stderr),
    color: Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR"),
    terminal: Deno.stderr.isTerminal(),
  };
}

const encoder = new TextEncoder();

/**
 * Writes everything to `w`; once its reader has gone away (`ferry ... | head`)
 * it writes nothing more, quietly. The other stream is not affected: a closed
 * pipe on stdout says nothing about the terminal on stderr.
 */
function pipeWriter(w: { writeSync(p: Uint8Array): number }): (s: string) => void {
  let closed = false;
  return (s) => {
    if (closed) return;
    let bytes = encoder.encode(s);
    try {
      while (bytes.length > 0) bytes = bytes.subarray(w.writeSync(bytes));
    } catch (e) {
      if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
      closed = true;
    }
  };
}
