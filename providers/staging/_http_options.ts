/**
 * What the http provider reads besides the body: the staging rule's options
 * (credentials come from the environment, through the request's `secret`)
 * and the server's headers (digests, Retry-After).
 * @module
 */

import { type FetchRequest, StagingError } from "./types.ts";

/** A StagingError with an optional cause. */
export function fail(message: string, retryable: boolean, cause?: unknown): StagingError {
  return new StagingError(message, { retryable, ...(cause !== undefined ? { cause } : {}) });
}

/** The rule's options, checked. */
export interface HttpOptions {
  /** `stall_timeout`: no byte for this long abandons the attempt. @default 60 s */
  readonly stallMs: number;
  /** `max_per_host`: downloads at once from one origin. @default 8 */
  readonly maxPerHost: number;
  /** `max_redirects`. @default 10 */
  readonly maxRedirects: number;
  /** The Authorization header made from `token_env`, `header_env` or `user` + `password_env`. */
  readonly authorization?: string;
  /** `ca_file`: PEM certificates trusted besides the system's. */
  readonly caFile?: string;
}

function option<T>(
  req: FetchRequest,
  name: string,
  ok: (v: unknown) => v is T,
  what: string,
): T | undefined {
  const v = req.options[name];
  if (v === undefined || v === null) return undefined;
  if (!ok(v)) throw fail(`Option ${name} must be ${what}, not ${JSON.stringify(v)}`, false);
  return v;
}

const positive = (v: unknown): v is number => typeof v === "number" && v > 0 && isFinite(v);
const count = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const text = (v: unknown): v is string => typeof v === "string" && v !== "";

/** The Authorization header the options ask for, read from the environment. */
function authorization(req: FetchRequest): string | undefined {
  const token = option(req, "token_env", text, "the name of an environment variable");
  const header = option(req, "header_env", text, "the name of an environment variable");
  const password = option(req, "password_env", text, "the name of an environment variable");
  const user = option(req, "user", text, "a user name");
  const set = [token && "token_env", header && "header_env", password && "password_env"]
    .filter(Boolean);
  if (set.length > 1) {
    throw fail(`Options ${set.join(" and ")} each give the credentials: use only one`, false);
  }
  const env = (name: string, opt: string) => {
    const v = req.secret(name);
    if (v === undefined) throw fail(`Environment variable ${name} (${opt}) is not set`, false);
    return v;
  };
  if (token) return `Bearer ${env(token, "token_env")}`;
  if (header) return env(header, "header_env");
  if (password && user === undefined) throw fail("Option password_env needs user", false);
  if (user !== undefined && !password) throw fail("Option user needs password_env", false);
  if (!user || !password) return undefined;
  const bytes = new TextEncoder().encode(`${user}:${env(password, "password_env")}`);
  return `Basic ${btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""))}`;
}

/** The rule's options, checked; bad ones are non-retryable errors naming the option. */
export function readOptions(req: FetchRequest): HttpOptions {
  const stall = option(req, "stall_timeout", positive, "a positive number of seconds") ?? 60;
  const perHost = option(req, "max_per_host", count, "a whole number") ?? 8;
  const redirects = option(req, "max_redirects", count, "a whole number") ?? 10;
  if (perHost < 1) throw fail("Option max_per_host must be at least 1, not 0", false);
  const auth = authorization(req);
  const caFile = option(req, "ca_file", text, "the path of a PEM file");
  return {
    ...(caFile !== undefined ? { caFile } : {}),
    stallMs: stall * 1000,
    maxPerHost: perHost,
    maxRedirects: redirects,
    ...(auth !== undefined ? { authorization: auth } : {}),
  };
}

function hex(b64: string): string | undefined {
  try {
    return Array.from(atob(b64.trim()), (c) => c.charCodeAt(0).toString(16).padStart(2, "0"))
      .join("");
  } catch {
    return undefined;
  }
}

/** The server's digest of the whole file: `Repr-Digest`, `Digest`, or `Content-MD5` on a 200. */
export function serverDigest(headers: Headers, whole: boolean): string | undefined {
  const found = new Map<string, string | undefined>();
  for (const part of (headers.get("repr-digest") ?? "").split(",")) {
    const m = /^\s*(sha-256|sha-512|md5)\s*=\s*:([^:]*):/i.exec(part);
    if (m) found.set(m[1]!.toLowerCase().replace("-", ""), hex(m[2]!));
  }
  for (const part of (headers.get("digest") ?? "").split(",")) {
    const m = /^\s*(sha-256|sha-512|md5)\s*=\s*(\S+)/i.exec(part);
    if (m && !found.has(m[1]!.toLowerCase().replace("-", ""))) {
      found.set(m[1]!.toLowerCase().replace("-", ""), hex(m[2]!));
    }
  }
  const md5 = headers.get("content-md5");
  if (md5 && whole && !found.has("md5")) found.set("md5", hex(md5));
  for (const alg of ["sha256", "sha512", "md5"]) {
    const h = found.get(alg);
    if (h) return `${alg}:${h}`;
  }
  return undefined;
}

const RETRY_AFTER_CAP_S = 60;

/** Seconds to wait from a Retry-After header (seconds or a date), capped. */
export function retryAfter(value: string | null): number {
  if (!value) return 0;
  const s = /^\d+$/.test(value.trim()) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  return Number.isFinite(s) ? Math.min(Math.max(s, 0), RETRY_AFTER_CAP_S) : 0;
}

/** Reason phrases, for HTTP/2 answers, which carry none. */
const REASONS: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  410: "Gone",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** `HTTP 404 Not Found`: the status and its reason phrase (from the server, else the standard one). */
export function statusLine(res: Response): string {
  const phrase = res.statusText || REASONS[res.status];
  return `HTTP ${res.status}${phrase ? ` ${phrase}` : ""}`;
}
