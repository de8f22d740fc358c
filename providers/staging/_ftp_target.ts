/**
 * What an `ftp:`/`ftps:` URL and a staging rule's options mean (server, login,
 * path, password), and what a failure means: every error becomes a
 * {@linkcode StagingError} that quotes the server, names host and path, says
 * whether trying again can help, and never shows the password.
 * @module
 */

import { FTPError } from "../../deps/basic_ftp.ts";
import { type StagingContext, StagingError } from "./types.ts";
import type { FtpServer } from "./_ftp_pool.ts";

/** One remote file and how to log in to its server. */
export interface Target extends FtpServer {
  /** The absolute remote path, percent-decoded. */
  readonly path: string;
}

/** Password sent for anonymous logins that name no `password_env`. */
const ANONYMOUS_PASSWORD = "ferry@";

/** The password for this login: from `password_env`, or the conventional anonymous one. */
export function passwordFor(target: Target, ctx: StagingContext): string {
  const name = ctx.options["password_env"];
  if (name === undefined || name === null) {
    if (target.user === "anonymous" || target.user === "ftp") return ANONYMOUS_PASSWORD;
    throw new StagingError(
      `FTP login as "${target.user}" needs a password: set password_env on the staging rule (${
        where(target)
      })`,
      { retryable: false },
    );
  }
  if (typeof name !== "string") {
    throw new StagingError(`Cannot use password_env ${JSON.stringify(name)}: it must be a string`, {
      retryable: false,
    });
  }
  const value = ctx.secret(name);
  if (value === undefined) {
    throw new StagingError(
      `Cannot read the FTP password for "${target.user}": environment variable ${name} (password_env) is not set`,
      { retryable: false },
    );
  }
  return value;
}

/** Split a `ftp:`/`ftps:` URL into server, login and path; reject what FTP cannot name. */
export function parseTarget(url: string, ctx: StagingContext): Target {
  const bad = (why: string) =>
    new StagingError(`Cannot use "${url}" for FTP: ${why}`, { retryable: false });
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad("it is not a valid URL");
  }
  if (u.protocol !== "ftp:" && u.protocol !== "ftps:") {
    throw bad("the scheme must be ftp: or ftps:");
  }
  if (u.hostname === "") throw bad("it names no host");
  let path: string;
  try {
    path = decodeURIComponent(u.pathname);
  } catch {
    throw bad("its path has a broken %-escape");
  }
  if (/[\r\n\0]/.test(path)) throw bad("its path contains a line break or NUL");
  if (path === "" || path.endsWith("/")) throw bad("the path names a directory, not a file");
  const { user, ca_file: caFile, insecure_tls: insecure } = ctx.options;
  if (user !== undefined && user !== null && typeof user !== "string") {
    throw bad(`option user must be a string, not ${JSON.stringify(user)}`);
  }
  if (caFile !== undefined && caFile !== null && typeof caFile !== "string") {
    throw bad(`option ca_file must be a path, not ${JSON.stringify(caFile)}`);
  }
  if (insecure !== undefined && insecure !== null && typeof insecure !== "boolean") {
    throw bad(`option insecure_tls must be true or false, not ${JSON.stringify(insecure)}`);
  }
  return {
    secure: u.protocol === "ftps:",
    host: u.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: u.port === "" ? 21 : Number(u.port),
    display: u.port === "" ? `${u.hostname}:21` : u.host,
    user: user ?? (u.username !== "" ? decodeURIComponent(u.username) : "anonymous"),
    ...(typeof caFile === "string" ? { caFile } : {}),
    insecureTls: insecure === true,
    path,
  };
}

/** `host:port, /path`: where a message points. */
export function where(target: Target): string {
  return `${target.display}, ${target.path}`;
}

/** Socket errors in words (the raw text repeats the address the message already names). */
const SOCKET_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by the server",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed for now",
};

const CERT_CODE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

/** A StagingError for anything thrown while talking to the server. */
export function failure(
  err: unknown,
  target: Target,
  phase: "login" | "transfer",
  password: string,
): StagingError {
  const scrub = (s: string) => password.length > 0 ? s.split(password).join("***") : s;
  if (err instanceof StagingError) return err;
  if (err instanceof FTPError) {
    const reply = err.message.split(/\r?\n/).map((l) => l.trim()).filter((l) => l).join(" ");
    const context = phase === "login" && err.code === 530
      ? `${target.display}, login as "${target.user}"`
      : where(target);
    // vsftpd's require_ssl_reuse: Deno's node:tls does not resume a session made with a custom CA.
    const hint = err.code !== 522 || !/reuse/i.test(reply)
      ? ""
      : target.caFile !== undefined
      ? "; the server demands TLS session reuse on data connections, which fails with ca_file (vsftpd: set require_ssl_reuse=NO)"
      : "; the server demands TLS session reuse on data connections";
    // RFC 959: 4xx replies are transient, 5xx permanent; but vsftpd reports its own
    // internal failures (a crashed session process) as "500 OOPS: ...".
    return new StagingError(scrub(`FTP ${reply} (${context})${hint}`), {
      retryable: (err.code >= 400 && err.code < 500) || /^500 OOPS:/.test(reply),
      cause: err,
    });
  }
  const e = err as { message?: unknown; code?: unknown };
  const text = typeof e?.message === "string" ? e.message : String(err);
  if (typeof e?.code === "string" && CERT_CODE.test(e.code)) {
    return new StagingError(
      scrub(
        `FTPS certificate of ${target.display} is not trusted: ${text}; name its CA with ca_file`,
      ),
      { retryable: false, cause: err },
    );
  }
  const what = phase === "login" ? "connection failed" : "transfer failed";
  const why = (typeof e?.code === "string" ? SOCKET_CODES[e.code] : undefined) ??
    text.replace(/ \((control|data) socket\)$/, " on the $1 connection");
  return new StagingError(scrub(`FTP ${what}: ${why} (${where(target)})`), {
    retryable: true,
    cause: err,
  });
}
