/**
 * Attempts that run on a machine which shares no filesystem with ferry (the
 * `ssh` provider's host, or a cluster reached `via:` ssh, with `filesystem:
 * none`): the attempt's directory is copied to `REMOTE_DIR/RUN/TASK/attempt-N`
 * there as a tar stream over the SSH connection, the job runs in that copy,
 * and what it left comes back the same way. Needs tar on both sides.
 * @module
 */

import { join } from "node:path";
import { shellQuote } from "../_shared/shell.ts";
import type { SshRunner } from "./ssh_runner.ts";
import { lastLines } from "./runner.ts";
import type { JobSpec } from "./types.ts";

/** The same job with every path under `from` moved under `to` (its copy over there). */
export function relocate<J extends JobSpec & { root: string }>(
  job: J,
  from: string,
  to: string,
): J {
  const move = (
    p: string,
  ) => (p === from || p.startsWith(from + "/") ? to + p.slice(from.length) : p);
  return {
    ...job,
    root: to,
    dir: move(job.dir),
    stdout: move(job.stdout),
    stderr: move(job.stderr),
    mkdirs: job.mkdirs.map(move),
    // FERRY_TASK and FERRY_RESULTS name files of the attempt's directory, copied with it.
    env: Object.fromEntries(Object.entries(job.env).map(([k, v]) => [k, move(v)])),
    ...(job.call ? { call: { ...job.call, result: move(job.call.result) } } : {}),
    ...(job.container
      ? { container: { ...job.container, mounts: job.container.mounts.map(move) } }
      : {}),
    ...(job.permissions
      ? {
        permissions: {
          ...job.permissions,
          read: job.permissions.read.map(move),
          write: job.permissions.write.map(move),
        },
      }
      : {}),
  };
}

/** Copies of attempt directories on the far side of `runner`. */
export class RemoteCopies {
  readonly #runner: SshRunner;
  readonly #dir: string;
  #base: Promise<string> | undefined;

  /** `dir`: an absolute directory over there, or `""` for `$HOME/.ferry-remote`. */
  constructor(runner: SshRunner, dir: string) {
    this.#runner = runner;
    this.#dir = dir;
  }

  /** The remote directory all copies go under. */
  base(): Promise<string> {
    this.#base ??= (async () => {
      if (this.#dir) return this.#dir;
      const r = await this.#runner.exec('printf "%s" "$HOME"');
      if (r.code !== 0 || !r.stdout.startsWith("/")) {
        throw new Error(
          `ssh: cannot find the home directory on ${this.#runner.where} for the remote copies of attempts${
            r.failure ? `: ${r.failure.message}` : ""
          }; set the executor option remote_dir`,
        );
      }
      return `${r.stdout}/.ferry-remote`;
    })();
    return this.#base.catch((e) => {
      this.#base = undefined;
      throw e;
    });
  }

  /** The copy of an attempt directory (`.../runs/RUN/tasks/TASK/attempt-N`): `BASE/RUN/TASK/attempt-N`. */
  async rootOf(root: string): Promise<string> {
    const parts = root.split("/");
    return [await this.base(), ...parts.slice(-4, -3), ...parts.slice(-2)].join("/");
  }

  /** The run's directory over there (job scripts of arrays go in its `jobs/`). */
  async runDirOf(root: string): Promise<string> {
    return [await this.base(), ...root.split("/").slice(-4, -3)].join("/");
  }

  /** Copy the attempt's wrapper files and task directory over; a message when it failed. */
  async upload(root: string, remote: string): Promise<string | undefined> {
    Deno.mkdirSync(join(root, "work"), { recursive: true });
    const entries = ["task.sh", "task-script.sh", "call.json", "work"].filter((e) => {
      try {
        Deno.statSync(join(root, e));
        return true;
      } catch {
        return false;
      }
    });
    const tar = await new Deno.Command("tar", {
      args: ["-C", root, "-chf", "-", ...entries],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!tar.success) {
      return `Cannot pack the task directory for ${this.#runner.where}: ${
        new TextDecoder().decode(tar.stderr).trim()
      }`;
    }
    const r = await this.#runner.exec(
      `mkdir -p ${shellQuote(remote)} && tar -C ${shellQuote(remote)} -xf -`,
      { stdinBytes: tar.stdout },
    );
    if (r.failure) return r.failure.message;
    if (r.code !== 0) {
      return `Cannot copy the task directory to ${remote} on ${this.#runner.where}: ${
        lastLines(r.stderr)
      }`;
    }
    return undefined;
  }

  /** Write one text file over there (a job script, an array's task list). */
  async write(path: string, text: string): Promise<string | undefined> {
    const dir = path.slice(0, path.lastIndexOf("/"));
    const r = await this.#runner.exec(
      `mkdir -p ${shellQuote(dir)} && cat > ${shellQuote(path)}`,
      { stdin: text },
    );
    if (r.failure) return r.failure.message;
    return r.code === 0
      ? undefined
      : `Cannot write ${path} on ${this.#runner.where}: ${lastLines(r.stderr)}`;
  }

  /** Copy what the attempt left over there back into `root`; a message when it failed. */
  async download(root: string, remote: string): Promise<string | undefined> {
    const r = await this.#runner.exec(
      `cd ${shellQuote(remote)} && tar -cf - --ignore-failed-read --exclude=work/_inputs ` +
        "exit.json job.out stdout.log stderr.log result.json scheduler.out work 2>/dev/null; true",
      { binary: true },
    );
    if (r.failure) return r.failure.message;
    const bytes = r.stdoutBytes ?? new Uint8Array();
    if (bytes.length === 0) {
      return `Cannot copy the results back from ${remote} on ${this.#runner.where}`;
    }
    const child = new Deno.Command("tar", {
      args: ["-C", root, "-xf", "-"],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(bytes);
    await w.close();
    const out = await child.output();
    return out.success
      ? undefined
      : `Cannot unpack the results from ${this.#runner.where}: ${
        new TextDecoder().decode(out.stderr).trim()
      }`;
  }

  /** Remove an attempt's copy (after success), and its task and run directories once empty. */
  async remove(remote: string): Promise<void> {
    const task = remote.slice(0, remote.lastIndexOf("/"));
    const run = task.slice(0, task.lastIndexOf("/"));
    await this.#runner.exec(
      `rm -rf ${shellQuote(remote)}; rmdir ${shellQuote(task)} ${
        shellQuote(run)
      } 2>/dev/null; true`,
    );
  }

  /**
   * The status files of these copies that exist, in one call: copy → `exit.json` text.
   * Unreachable: undefined.
   */
  async statuses(remotes: readonly string[]): Promise<Map<string, string> | undefined> {
    if (remotes.length === 0) return new Map();
    const script = 'for d in "$@"; do if [ -s "$d/exit.json" ]; then printf "%s\\t" "$d"; ' +
      'tr -d "\\n" < "$d/exit.json"; echo; fi; done';
    const r = await this.#runner.exec(
      `bash -c ${shellQuote(script)} ferry ${remotes.map(shellQuote).join(" ")}`,
    );
    if (r.failure || r.code !== 0) return undefined;
    const out = new Map<string, string>();
    for (const line of r.stdout.split("\n")) {
      const tab = line.indexOf("\t");
      if (tab > 0) out.set(line.slice(0, tab), line.slice(tab + 1));
    }
    return out;
  }
}
