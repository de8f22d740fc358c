/**
 * What every command module gets from the program (`cli/mod.ts`): where to
 * write and how to set the exit code, and the one error a command throws for
 * bad usage.
 * @module
 */

import type { CliIO } from "./io.ts";

/** What a command's action needs from the program. */
export interface CommandContext {
  /** Where to write. */
  readonly io: CliIO;
  /** Receives the action's exit code. */
  readonly setExit: (code: number) => void;
}

/** A usage error: `cli()` prints it as `ferry: <message>`, without a stack, and exits 2. */
export class UsageError extends Error {
  /** A usage error saying `message`. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
