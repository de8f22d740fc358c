/**
 * Where scheduler commands (sbatch, squeue, scancel, ...) run: on this host,
 * or on a login node reached over SSH (`via: ssh://user@login-host`).
 * @module
 */

import type { Invocation } from "./dialect.ts";

/** What a command printed and how it exited. */
export interface Ran {
  /** Exit code (127 when the command was not found). */
  readonly code: number;
  /** Standard output. */
  readonly stdout: string;
  /** Standard error. */
  readonly stderr: string;
}

/** Runs scheduler commands. */
export interface CommandRunner {
  /** Where commands run, for messages (`this host`, `login.example.org`). */
  readonly where: string;
  /** Run one command to its end. */
  run(inv: Invocation): Promise<Ran>;
  /** Release connections. */
  close?(): Promise<void>;
}

/** Runs commands on this host. */
export function localRunner(env?: Record<string, string>): CommandRunner {
  return {
    where: "this host",
    async run(inv) {
      const [cmd, ...args] = inv.argv;
      try {
        const child = new Deno.Command(cmd!, {
          args,
          stdin: inv.stdin !== undefined ? "piped" : "null",
          stdout: "piped",
          stderr: "piped",
          ...(env ? { env } : {}),
        }).spawn();
        if (inv.stdin !== undefined) {
          const w = child.stdin.getWriter();
          await w.write(new TextEncoder().encode(inv.stdin));
          await w.close();
        }
        const out = await child.output();
        const dec = new TextDecoder();
        return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          return { code: 127, stdout: "", stderr: `${cmd}: command not found on this host` };
        }
        return { code: 126, stdout: "", stderr: String((e as Error).message ?? e) };
      }
    },
  };
}

/** The lines of a command's output worth quoting in a message: the last few, joined with "; ". */
export function lastLines(text: string, n = 3): string {
  return text.trim().split("\n").map((l) => l.trim()).filter(Boolean).slice(-n).join("; ");
}
