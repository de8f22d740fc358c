/**
 * `--check-inputs`: ask the servers of remote inputs whether they are there
 * (HTTP HEAD), the only part of planning that touches the network.
 * @module
 */

import { error, type Problem } from "../dsl/diagnostic.ts";
import type { Expansion } from "./expand.ts";

/** Options for {@linkcode checkRemoteInputs}. */
export interface CheckInputsOptions {
  /** Requests at once. @default 8 */
  readonly concurrency?: number;
  /** Per-request timeout in milliseconds. @default 10000 */
  readonly timeoutMs?: number;
}

/** HEAD every distinct http(s) input that no task produces; report the unreachable ones. */
export async function checkRemoteInputs(
  x: Expansion,
  sources: ReadonlySet<string>,
  options: CheckInputsOptions = {},
): Promise<Problem[]> {
  const { concurrency = 8, timeoutMs = 10_000 } = options;
  const where = new Map<string, readonly (string | number)[]>();
  for (const t of x.tasks) {
    for (const slot of Object.values(t.inputs)) {
      for (const f of slot.files) {
        if (/^https?:/.test(f.url) && sources.has(f.url) && !where.has(f.url)) {
          where.set(f.url, f.where);
        }
      }
    }
  }
  const urls = [...where.keys()];
  const problems: Problem[] = [];
  let next = 0;
  const worker = async () => {
    while (next < urls.length) {
      const url = urls[next++]!;
      const why = await head(url, timeoutMs);
      if (why) {
        problems.push(
          error(
            "unreachable-input",
            where.get(url)!,
            `Cannot reach input "${redactPassword(url)}": ${why}`,
          ),
        );
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, urls.length) }, worker));
  return problems;
}

async function head(url: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const r = await fetch(url, {
      method: "HEAD",
      redirect: "follow",
      signal: AbortSignal.timeout(timeoutMs),
    });
    await r.body?.cancel();
    return r.ok ? undefined : `the server answered ${r.status} ${r.statusText}`.trimEnd();
  } catch (e) {
    const err = e as Error;
    if (err.name === "TimeoutError") return `no answer within ${timeoutMs / 1000} s`;
    return String(err.message ?? err).split("\n")[0];
  }
}

/** A URL without its password, for messages. */
export function redactPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.href;
  } catch {
    return url;
  }
}
