/**
 * Running the `rsync` program for the `rsync` provider: spawn it in its own
 * process group (so an abort kills it and its ssh), stream its progress
 * lines, and turn its exit status and stderr into a {@linkcode StagingError}.
 * Private to the provider.
 * @module
 */

import { StagingError } from "./types.ts";

/** How one rsync run ended. */
export interface RsyncExit {
  /** Exit status (128 + n when killed by signal n). */
  readonly code: number;
  /** Its stderr, line by line. */
  readonly stderr: readonly string[];
  /** Its stdout, line by line (`\r` ends a line too: progress updates). */
  readonly stdout: readonly string[];
}

/** Options of {@linkcode runRsync}. */
export interface RunOptions {
  /** Variables added to the child's environment only. */
  readonly env?: Record<string, string>;
  /** Kills the process group. */
  readonly signal: AbortSignal;
  /** Called for each stdout line as it arrives. */
  readonly onLine?: (line: string) => void;
}

async function lines(stream: ReadableStream<Uint8Array>, sink: (line: string) => void) {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    const parts = (rest + decoder.decode(chunk, { stream: true })).split(/\r\n|\r|\n/);
    rest = parts.pop()!;
    for (const p of parts) if (p.trim() !== "") sink(p);
  }
  if (rest.trim() !== "") sink(rest);
}

/** Run rsync with `args`; resolves when it exits, whatever its status. */
export async function runRsync(args: readonly string[], options: RunOptions): Promise<RsyncExit> {
  const { env = {}, signal, onLine } = options;
  if (signal.aborted) throw cancelled();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("rsync", {
      args: [...args],
      // LC_ALL=C: messages as matched below; TZ=UTC: --list-only times.
      env: { ...env, LC_ALL: "C", TZ: "UTC" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // Its own session and process group: no terminal to prompt on, and one kill ends rsync and ssh.
      detached: true,
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new StagingError("rsync: the rsync program is not installed (not found on PATH)", {
        retryable: false,
      });
    }
    throw e;
  }
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const kill = () => {
    try {
      Deno.kill(-child.pid, "SIGTERM");
    } catch { /* gone */ }
    killTimer = setTimeout(() => {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch { /* gone */ }
    }, 300);
  };
  signal.addEventListener("abort", kill, { once: true });
  const stdout: string[] = [];
  const stderr: string[] = [];
  try {
    const [status] = await Promise.all([
      child.status,
      lines(child.stdout, (l) => {
        stdout.push(l);
        if (stdout.length > 50) stdout.shift();
        onLine?.(l);
      }),
      lines(child.stderr, (l) => stderr.push(l)),
    ]);
    if (signal.aborted) throw cancelled();
    return { code: status.signal ? 128 : status.code, stdout, stderr };
  } finally {
    signal.removeEventListener("abort", kill);
    clearTimeout(killTimer);
  }
}

function cancelled(): StagingError {
  return new StagingError("rsync: cancelled", { retryable: false });
}

/** rsync's exit codes (its man page), and whether trying again may help. */
const EXIT_CODES: Readonly<Record<number, readonly [string, boolean]>> = {
  1: ["syntax or usage error", false],
  2: ["protocol incompatibility", false],
  3: ["errors selecting input/output files, dirs", false],
  4: ["requested action not supported", false],
  5: ["error starting client-server protocol", false],
  6: ["daemon unable to append to log-file", true],
  10: ["error in socket I/O", true],
  11: ["error in file I/O", true],
  12: ["error in rsync protocol data stream", true],
  13: ["errors with program diagnostics", true],
  14: ["error in IPC code", true],
  20: ["received SIGUSR1 or SIGINT", true],
  21: ["some error returned by waitpid()", true],
  22: ["error allocating core memory buffers", true],
  23: ["partial transfer due to error", true],
  24: ["partial transfer due to vanished source files", true],
  30: ["timeout in data send/receive", true],
  35: ["timeout waiting for daemon connection", true],
  255: ["unexplained error (the remote shell failed)", true],
};

/** The most telling stderr line: the last one that is not rsync's closing summary. */
export function lastError(stderr: readonly string[]): string {
  const useful = stderr.filter((l) =>
    !/^rsync error: /.test(l) && !/^rsync: \[\w+\] (read|write) error: /.test(l) &&
    !/^rsync: connection unexpectedly closed/.test(l)
  );
  const line = useful.at(-1) ?? stderr.at(-1) ?? "(no message)";
  return line.replace(/^rsync: (\[\w+\] )?/, "").replace(/^@ERROR: /, "");
}

/**
 * What a failed run means: `what` is the action for the message (`fetch x.bin
 * in module "data" on host:port`), `where` the server, and `missing` the
 * message when the remote file does not exist.
 */
export function rsyncFailure(
  exit: RsyncExit,
  what: string,
  where: string,
  missing?: string,
): StagingError {
  const all = exit.stderr.join("\n");
  const why = lastError(exit.stderr);
  const fatal = (m: string) => new StagingError(`rsync: ${m}`, { retryable: false });
  if (/link_stat .* failed: No such file or directory/.test(all)) {
    return fatal(missing ?? `cannot ${what}: ${why}`);
  }
  if (/@ERROR: auth failed/.test(all)) {
    return fatal(`the daemon on ${where} refused the login: ${why} (check user and password_env)`);
  }
  if (/Permission denied \(publickey/.test(all)) {
    return fatal(`cannot ${what}: ${where} refused the ssh login: ${why}`);
  }
  if (/Host key verification failed/.test(all)) {
    return fatal(`cannot ${what}: the host key of ${where} changed while connecting: ${why}`);
  }
  if (/rsync: (command )?not found/.test(all)) {
    return fatal(`cannot ${what}: rsync is not installed on ${where}: ${why}`);
  }
  if (/@ERROR: Unknown module/.test(all)) return fatal(`cannot ${what}: ${why}`);
  if (exit.code === 23 && /Permission denied \(13\)/.test(all)) {
    return fatal(`cannot ${what}: ${why}`);
  }
  const [meaning, retryable] = EXIT_CODES[exit.code] ?? [`exit ${exit.code}`, true];
  return new StagingError(`rsync: cannot ${what} (exit ${exit.code}, ${meaning}): ${why}`, {
    retryable,
  });
}
