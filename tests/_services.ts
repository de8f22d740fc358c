/**
 * Test helpers for real services (sshd, vsftpd, HTTP, Slurm) on 127.0.0.1.
 * Under CI=true a missing service is a failing test; elsewhere the tests that
 * need it are skipped, and the skip is announced loudly on stderr.
 * @module
 */

import { createHash } from "node:crypto";

/** Whether every program is installed. */
function installed(program: string): boolean {
  if (program.startsWith("/")) {
    try {
      return Deno.statSync(program).isFile;
    } catch {
      return false;
    }
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${program}`).isFile) return true;
    } catch { /* next */ }
  }
  return false;
}

/**
 * Whether a service's programs are present. When some are missing: under
 * CI=true registers a failing test naming them; otherwise warns loudly. Use the
 * result as `ignore: !have` on the tests that need the service.
 */
export function haveService(service: string, programs: readonly string[]): boolean {
  const missing = programs.filter((p) => !installed(p));
  if (missing.length === 0) return true;
  const why = `${service} tests need ${missing.join(", ")} (see .ci/run for the Debian packages)`;
  if (Deno.env.get("CI") === "true") {
    Deno.test(`${service}: service available`, () => {
      throw new Error(`CI=true and ${why}`);
    });
  } else {
    console.error(`\n!!! SKIPPING ${service} tests: ${why} !!!\n`);
  }
  return false;
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Wait until `check` resolves true, polling every 50 ms, or throw after `ms`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  ms = 10_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if (await check()) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export async function listening(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/** `n` random bytes (incompressible test data). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

/** sha256 of bytes (or text), hex. */
export function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Whether a path exists (without following a final symlink's target). */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** mulberry32: a small, fast, well-mixed seeded PRNG returning numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
