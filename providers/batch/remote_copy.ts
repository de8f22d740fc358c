/**
 * Attempts that run on a machine which shares no filesystem with ferry (the
 * `ssh` provider's host, or a cluster reached `via:` ssh, with `filesystem:
 * none`): the attempt's directory is copied to `REMOTE_DIR/RUN/TASK/attempt-N`
 * there as a tar stream over the SSH connection, the job runs in that copy,
 * and what it left comes back the same way. Needs tar on both sides.
 * @module
 */

import { join } from "node:path";
import { createHash } from "node:crypto";
import { shellQuote } from "../_shared/shell.ts";
import type { SshRunner } from "./ssh_runner.ts";
import { lastLines } from "./runner.ts";
import type { JobSpec, KeptFetch, KeptFile } from "./types.ts";
import { readWrapperStatus, wrapperFiles, type WrapperStatus } from "./wrapper.ts";

/** What came back of an attempt's copy: its status and what it keeps there, or why not. */
export type BroughtBack =
  | { readonly failed: string }
  | {
    readonly status?: WrapperStatus;
    readonly kept?: Readonly<Record<string, { sha256: string; size: number }>>;
  };

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

  /** The store of files kept between the tasks of run `runId` over there. */
  async keepDir(runId: string): Promise<string> {
    return `${await this.base()}/${runId}/.keep`;
  }

  /**
   * Copy the attempt's wrapper files and task directory over, then link the inputs kept there
   * by earlier tasks of the run (`kept`) into the task directory; a message when it failed.
   */
  async upload(
    root: string,
    remote: string,
    kept: readonly KeptFile[] = [],
  ): Promise<string | undefined> {
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
    const store = kept.length > 0 ? await this.keepDir(runOf(root)) : "";
    const links = kept.map((k, i) => {
      const from = shellQuote(`${store}/${k.key}`), to = shellQuote(`${remote}/work/${k.path}`);
      return ` && { [ -e ${from} ] || { echo ${i} >&2; exit 3; }; }` +
        ` && mkdir -p "$(dirname ${to})" && ln -s ${from} ${to}`;
    }).join("");
    const r = await this.#runner.exec(
      `mkdir -p ${shellQuote(remote)} && tar -C ${shellQuote(remote)} -xf -${links}`,
      { stdinBytes: tar.stdout },
    );
    if (r.failure) return r.failure.message;
    const gone = r.code === 3 ? kept[Number(r.stderr.trim().split("\n").at(-1))] : undefined;
    if (gone) {
      return `Cannot use "${store}/${gone.key}" on ${this.#runner.where}: the copy of ${
        JSON.stringify(gone.path)
      } an earlier task of this run left there is gone`;
    }
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

  /**
   * Copy what the attempt left over there back into `root`, but for `leave` (paths in its task
   * directory: files kept over there and never brought back); a message when it failed.
   */
  async download(
    root: string,
    remote: string,
    leave: readonly string[] = [],
  ): Promise<string | undefined> {
    const keep = leave.length === 0
      ? ""
      : ` --anchored --no-wildcards ${
        leave.map((p) => `--exclude=${shellQuote(`work/${p}`)}`).join(" ")
      } --wildcards`;
    const r = await this.#runner.exec(
      `cd ${shellQuote(remote)} && tar -cf - --ignore-failed-read${keep} --exclude=work/_inputs ` +
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

  /**
   * After a success, before the attempt's copy goes: its outputs in `keep` move to the run's
   * store over there, hashed there (by path; an output the task did not write is absent). A
   * message when it failed.
   */
  async keep(
    root: string,
    remote: string,
    keep: readonly KeptFile[],
  ): Promise<Record<string, { sha256: string; size: number }> | string> {
    const store = await this.keepDir(runOf(root));
    // Each by its index: a path may hold a line break.
    const lines = keep.map((k, i) => {
      const from = shellQuote(`${remote}/work/${k.path}`), to = shellQuote(`${store}/${k.key}`);
      return `if [ -f ${from} ]; then mkdir -p "$(dirname ${to})" && mv -f ${from} ${to} && ` +
        `printf '%s\\t%s\\t%s\\n' ${i} "$(wc -c < ${to})" ` +
        `"$(sha256sum < ${to} | cut -c1-64)" || exit 1; fi`;
    });
    const r = await this.#runner.exec(`bash -c ${shellQuote(lines.join("\n"))}`);
    if (r.failure) return r.failure.message;
    if (r.code !== 0) {
      return `Cannot keep the outputs in ${store} on ${this.#runner.where}: ${lastLines(r.stderr)}`;
    }
    const out: Record<string, { sha256: string; size: number }> = {};
    for (const line of r.stdout.split("\n")) {
      const [i, size, sha256] = line.split("\t");
      const k = keep[Number(i)];
      if (k && sha256) out[k.path] = { sha256, size: Number(size) };
    }
    return out;
  }

  /**
   * Copy a file kept for run `runId` (by key) to `dest` here, through a temporary name beside
   * it, checked against `how.sha256` when given; its size. Throws when it cannot.
   */
  async fetchKept(runId: string, key: string, dest: string, how: KeptFetch = {}): Promise<number> {
    const { sha256, signal } = how;
    const from = `${await this.keepDir(runId)}/${key}`;
    const part = `${dest}.ferry-part`;
    Deno.mkdirSync(dest.slice(0, dest.lastIndexOf("/")) || "/", { recursive: true });
    const file = Deno.openSync(part, { write: true, create: true, truncate: true });
    const hash = createHash("sha256");
    let size = 0;
    const cannot = (why: string) => {
      Deno.removeSync(part);
      return new Error(`Cannot fetch ${from} from ${this.#runner.where}: ${why}`);
    };
    try {
      // Written as it comes, never held whole.
      const r = await this.#runner.exec(`cat ${shellQuote(from)}`, {
        ...(signal ? { signal } : {}),
        onStdoutBytes: (bytes) => {
          hash.update(bytes);
          size += bytes.length;
          for (let n = 0; n < bytes.length;) n += file.writeSync(bytes.subarray(n));
        },
      });
      if (signal?.aborted) throw cannot("interrupted");
      if (r.failure) throw cannot(r.failure.message);
      if (r.code !== 0) throw cannot(lastLines(r.stderr));
    } finally {
      file.close();
    }
    const got = hash.digest("hex");
    if (sha256 !== undefined && got !== sha256) {
      throw cannot(`its sha256 is ${got}, not ${sha256} as hashed there after its task`);
    }
    Deno.renameSync(part, dest);
    return size;
  }

  /** Delete kept files of run `runId` (by key), then the store and the run's directory once empty. */
  async dropKept(runId: string, keys: readonly string[]): Promise<void> {
    const store = await this.keepDir(runId);
    const paths = keys.map((k) => `${store}/${k}`);
    const dirs = paths.map((p) => p.slice(0, p.lastIndexOf("/")));
    await this.#runner.exec(
      `rm -f ${paths.map(shellQuote).join(" ")}; rmdir ${dirs.map(shellQuote).join(" ")} ${
        shellQuote(store)
      } ${shellQuote(store.slice(0, store.lastIndexOf("/")))} 2>/dev/null; true`,
    );
  }

  /**
   * Once the job over there ended: bring the attempt's results back into `root`, but for its
   * outputs in `keep`, which after a success move to the run's store over there (hashed there);
   * then the copy of a successful attempt goes (a failed attempt's stays, for a look).
   */
  async bringBack(
    root: string,
    remote: string,
    keep: readonly KeptFile[] = [],
  ): Promise<BroughtBack> {
    const got = await this.download(root, remote, keep.map((k) => k.path));
    const status = readWrapperStatus(wrapperFiles(root).status);
    if (!status) return got !== undefined ? { failed: got } : {};
    if (status.exitCode !== 0 || status.timedOut) return { status };
    const kept = keep.length > 0 ? await this.keep(root, remote, keep) : undefined;
    if (typeof kept === "string") return { failed: kept };
    await this.remove(remote);
    return { status, ...(kept ? { kept } : {}) };
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

/** The run id of an attempt's directory (`.../runs/RUN/tasks/TASK/attempt-N`). */
function runOf(root: string): string {
  return root.split("/").at(-4) ?? "";
}
