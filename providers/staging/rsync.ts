/**
 * The `rsync` staging provider, on the `rsync` program. The URL scheme picks
 * the transport:
 *
 * - `rsync://[user@]host[:port]/module/path`: an rsync daemon (port 873 by
 *   default). The password comes from the variable named by `password_env`
 *   and reaches rsync as RSYNC_PASSWORD in its own environment only.
 * - `rsync+ssh://[user@]host[:port]/absolute/path`: rsync over ssh (port 22),
 *   logging in like `sftp` does (`identity_file` with `passphrase_env`, else
 *   the ssh agent; user from the URL, `user`, or the local name). ssh cannot
 *   pin a fingerprint, so the provider first fetches the server's keys with
 *   ssh-keyscan, checks them against `known_hosts` or `host_key` exactly as
 *   `sftp` does, and gives ssh a temporary known_hosts holding only the
 *   accepted key, with StrictHostKeyChecking=yes. An encrypted key's
 *   passphrase reaches ssh through a temporary SSH_ASKPASS script that reads
 *   it from the child's environment and answers only passphrase prompts.
 *
 * A fetch writes into the partial file with `--inplace --append-verify`, so
 * a retry appends to what arrived and rsync checks the whole file. An upload
 * uses `--partial-dir=.ferry-partial --mkpath` (rsync ≥ 3.2.3 on both sides):
 * rsync writes a temporary name and renames it, and an interrupted upload is
 * the basis of the next one.
 *
 * More rule options: `timeout` (seconds without data, and to connect; default
 * 30) and `bwlimit` (KiB/s, rsync's `--bwlimit`). Over ssh, one master
 * connection per login (ControlMaster) serves every rsync run of the
 * provider; `close()` ends it (it also ends itself after 60 idle seconds).
 * @module
 */

import type { ParamValue } from "../../dsl/model.ts";
import { lastError, rsyncFailure, runRsync } from "./_rsync_run.ts";
import { type SshTransport, sshTransports } from "./_rsync_ssh.ts";
import { hostPort, type SshEndpoint, sshEndpoint, SshSetupError } from "../_shared/ssh_auth.ts";
import {
  type FetchRequest,
  type FetchResult,
  type PutRequest,
  type PutResult,
  StagingError,
  type StagingProvider,
  type Validators,
} from "./types.ts";

type Options = Readonly<Record<string, ParamValue>>;

/** Where a file is, as rsync names it, and how to reach it. */
interface Target {
  readonly endpoint: SshEndpoint;
  /** The argument rsync gets: `rsync://host:port/module/path` or `user@host:/path`. */
  readonly arg: string;
  /** For messages: `/path on host:port` or `x.bin in module "data" on host:port`. */
  readonly shown: string;
  readonly ssh: boolean;
}

function bad(message: string): StagingError {
  return new StagingError(`rsync: ${message}`, { retryable: false });
}

function target(url: string, options: Options): Target {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad(`"${url}" is not a URL`);
  }
  const ssh = u.protocol === "rsync+ssh:";
  if ((!ssh && u.protocol !== "rsync:") || !u.hostname) {
    throw bad(
      `"${url}" is neither rsync://[user@]host[:port]/module/path nor rsync+ssh://[user@]host[:port]/absolute/path`,
    );
  }
  const path = decodeURIComponent(u.pathname);
  if (path.endsWith("/")) throw bad(`"${url}" names a directory, not a file`);
  let endpoint: SshEndpoint;
  try {
    endpoint = sshEndpoint(u, options, ssh ? 22 : 873);
  } catch (e) {
    throw e instanceof SshSetupError ? bad(e.message) : e;
  }
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
  const where = hostPort(endpoint);
  if (ssh) {
    return { endpoint, ssh, arg: `${endpoint.user}@${host}:${path}`, shown: `${path} on ${where}` };
  }
  const [, module, ...rest] = path.split("/");
  if (!module || rest.length === 0 || rest.join("/") === "") {
    throw bad(`"${url}" names no file: rsync://host[:port]/module/path`);
  }
  // The daemon's user is optional: only the URL's or the rule's, never the local name.
  const user = decodeURIComponent(u.username) ||
    (typeof options.user === "string" ? options.user : "");
  return {
    endpoint,
    ssh,
    arg: `rsync://${user ? `${user}@` : ""}${host}:${endpoint.port}${path}`,
    shown: `${rest.join("/")} in module "${module}" on ${where}`,
  };
}

function numberOption(options: Options, name: string, fallback: number): number {
  const v = options[name];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !(v > 0)) {
    throw bad(`the rule option ${name} must be a positive number, not ${JSON.stringify(v)}`);
  }
  return v;
}

/** Arguments every run gets: timeouts, bandwidth limit, transport. */
function commonArgs(options: Options, ssh: SshTransport | undefined): string[] {
  const timeout = numberOption(options, "timeout", 30);
  const args = ["--no-h", `--timeout=${Math.ceil(timeout)}`];
  if (options.bwlimit !== undefined) args.push(`--bwlimit=${numberOption(options, "bwlimit", 0)}`);
  if (ssh) args.push("-e", ssh.command);
  else args.push(`--contimeout=${Math.ceil(timeout)}`);
  return args;
}

/** Child environment: the daemon password or the ssh helpers' variables. */
function childEnv(r: FetchRequest | PutRequest, ssh: SshTransport | undefined) {
  if (ssh) return ssh.env;
  const name = r.options.password_env;
  if (name === undefined) return {};
  if (typeof name !== "string" || name === "") {
    throw bad(
      `the rule option password_env must name an environment variable, not ${JSON.stringify(name)}`,
    );
  }
  const password = r.secret(name);
  if (password === undefined) throw bad(`password_env names ${name}, which is not set`);
  return { RSYNC_PASSWORD: password };
}

/** Size and mtime of the remote file, from `rsync --list-only`. */
async function list(
  t: Target,
  r: FetchRequest | PutRequest,
  ssh: SshTransport | undefined,
): Promise<Validators> {
  const exit = await runRsync(["--list-only", ...commonArgs(r.options, ssh), t.arg], {
    env: childEnv(r, ssh),
    signal: r.signal,
  });
  if (exit.code !== 0) {
    throw rsyncFailure(exit, `list ${t.shown}`, hostPort(t.endpoint), `no such file ${t.shown}`);
  }
  // `-rw-r--r--    30000000 2026/11/21 13:23:45 name` (TZ=UTC in the child)
  const m = exit.stdout.map((l) =>
    /^(\S)\S*\s+(\d+) (\d{4})\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d) /.exec(l)
  ).find((x) => x);
  if (!m) {
    const why = lastError(exit.stdout);
    throw new StagingError(`rsync: cannot read the listing of ${t.shown}: ${why}`, {
      retryable: true,
    });
  }
  if (m[1] !== "-") throw bad(`${t.shown} is not a file`);
  const [size, y, mo, d, h, mi, s] = m.slice(2).map(Number);
  return { size: size!, mtime: Date.UTC(y!, mo! - 1, d, h, mi, s) };
}

function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** Fetch `t` into the partial file, appending to what an earlier attempt left there. */
async function fetchFile(
  t: Target,
  r: FetchRequest,
  ssh: SshTransport | undefined,
): Promise<FetchResult> {
  const validators = await list(t, r, ssh);
  const size = validators.size!;
  const prev = r.previous;
  if (prev && prev.size === size && prev.mtime === validators.mtime) {
    return { status: "unchanged", validators };
  }
  // --append skips a file that is already as long: such a partial is not a prefix.
  if (sizeOf(r.partial) >= size) await Deno.truncate(r.partial, 0).catch(() => {});
  r.progress(sizeOf(r.partial), size);
  const args = [
    "--inplace",
    "--append-verify",
    "--info=progress2",
    ...commonArgs(r.options, ssh),
  ];
  // rsync prints progress about once a second: the partial's size is the truth, and finer.
  const report = () => r.progress(Math.min(sizeOf(r.partial), size), size);
  const ticker = setInterval(report, 200);
  const exit = await runRsync([...args, t.arg, r.partial], {
    env: childEnv(r, ssh),
    signal: r.signal,
    onLine: report,
  }).finally(() => clearInterval(ticker));
  if (exit.code !== 0) {
    const shown = t.shown;
    throw rsyncFailure(exit, `fetch ${shown}`, hostPort(t.endpoint), `no such file ${shown}`);
  }
  const got = sizeOf(r.partial);
  r.progress(got, size);
  if (got !== size) {
    throw new StagingError(`rsync: got ${got} of ${size} bytes of ${t.shown}`, {
      retryable: true,
    });
  }
  return { status: "fetched", validators };
}

/** Upload `r.source` to `t` through a partial directory, then list what arrived. */
async function putFile(
  t: Target,
  r: PutRequest,
  ssh: SshTransport | undefined,
): Promise<PutResult> {
  r.progress(0, r.size);
  const args = [
    "--mkpath",
    `--partial-dir=.ferry-partial`,
    "--times",
    "--info=progress2",
    ...commonArgs(r.options, ssh),
  ];
  const exit = await runRsync([...args, r.source, t.arg], {
    env: childEnv(r, ssh),
    signal: r.signal,
    onLine: (line) => {
      const sent = /^\s*(\d+)\s+\d+%/.exec(line);
      if (sent) r.progress(Math.min(Number(sent[1]), r.size), r.size);
    },
  });
  if (exit.code !== 0) {
    throw rsyncFailure(exit, `upload ${r.source} to ${t.shown}`, hostPort(t.endpoint));
  }
  const validators = await list(t, r, ssh);
  r.progress(r.size, r.size);
  return { validators };
}

/**
 * The `rsync` staging provider. Rule options: `user`, `password_env` (daemon),
 * `identity_file`, `passphrase_env`, `known_hosts`, `host_key` (ssh),
 * `timeout`, `bwlimit` (see the module doc). Call `close()` when the run is
 * over: it ends the ssh master connections and removes temporary files.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rsyncStaging } from "./rsync.ts";
 * const rsync = rsyncStaging();
 * assert.equal(rsync.name, "rsync");
 * const e = await rsync.fetch!({
 *   url: "rsync://example.org/module-only",
 *   partial: "/tmp/x.ferry-part",
 *   options: {},
 *   signal: new AbortController().signal,
 *   progress: () => {},
 *   secret: () => undefined,
 * }).catch((e) => e);
 * assert.equal(e.message, `rsync: "rsync://example.org/module-only" names no file: rsync://host[:port]/module/path`);
 * await rsync.close?.();
 * ```
 */
export function rsyncStaging(): StagingProvider {
  const transports = sshTransports();

  async function withTransport<T>(
    r: FetchRequest | PutRequest,
    f: (t: Target, ssh: SshTransport | undefined) => Promise<T>,
  ): Promise<T> {
    const t = target(r.url, r.options);
    if (!t.ssh) return await f(t, undefined);
    const timeout = numberOption(r.options, "timeout", 30);
    return await f(t, await transports.get(t.endpoint, r.options, r.secret, r.signal, timeout));
  }

  return {
    name: "rsync",
    fetch: (r: FetchRequest): Promise<FetchResult> =>
      withTransport(r, (t, ssh) => fetchFile(t, r, ssh)),
    put: (r: PutRequest): Promise<PutResult> => withTransport(r, (t, ssh) => putFile(t, r, ssh)),
    close: () => transports.close(),
  };
}
