/**
 * Rule: secrets never sit in workflow or site files. A literal password,
 * token or key is refused with a hint to name an environment variable, and
 * a URL with `user:password@` is refused the same way.
 * @module
 */

import { error, type KeyPath, type Problem } from "../diagnostic.ts";

const SECRET_KEY =
  /^(password|passwd|pass|token|secret|api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|passphrase|auth|authorization|credentials?|client[_-]?secret|bearer)$/i;

/** Keys that would hold a secret literally, anywhere in the document. */
export function checkSecrets(raw: unknown): Problem[] {
  const out: Problem[] = [];
  walk(raw, [], out);
  return out;
}

/** Whether `key` names a literal secret (the schema reports it no further). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

function walk(v: unknown, path: (string | number)[], out: Problem[]): void {
  if (Array.isArray(v)) {
    v.forEach((x, i) => walk(x, [...path, i], out));
  } else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      const sub = [...path, k];
      if (SECRET_KEY.test(k) && x !== null && typeof x !== "object") {
        const env = `${k.toLowerCase().replace(/[^a-z0-9]+/g, "_")}_env`;
        out.push({
          ...error(
            "literal-secret",
            sub,
            `Cannot keep a secret in "${k}": name an environment variable instead, e.g. ${env}: MY_${
              k.toUpperCase().replace(/[^A-Z0-9]+/g, "_")
            }`,
          ),
          at: "key",
        });
      } else {
        walk(x, sub, out);
      }
    }
  } else if (typeof v === "string") {
    checkUrlPassword(v, path, out);
  }
}

function checkUrlPassword(s: string, path: KeyPath, out: Problem[]): void {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/@\s]*)@/.exec(s);
  if (!m || !m[1]!.includes(":")) return;
  out.push(error(
    "literal-secret",
    path,
    `Cannot keep a password in a URL: remove "user:password@" and set password_env on the site's staging rule instead`,
  ));
}
