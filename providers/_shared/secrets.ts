/**
 * Secrets read for staging and ssh (passwords, tokens, key passphrases) are
 * registered here when read, and {@linkcode redactSecrets} takes them out of every
 * text ferry prints, logs or stores: messages, the event log, status files.
 * URLs with `user:password@` lose the password too.
 * @module
 */

const known = new Set<string>();

/** Read a secret from the environment variable `name` and remember it for redaction. */
export function readSecret(name: string): string | undefined {
  const v = Deno.env.get(name);
  if (v !== undefined && v !== "") rememberSecret(v);
  return v === "" ? undefined : v;
}

/** Remember a secret value so that {@linkcode redactSecrets} removes it. */
export function rememberSecret(value: string): void {
  // Very short values would redactSecrets ordinary words; they are weak secrets anyway.
  if (value.length >= 4) known.add(value);
}

const URL_PASSWORD = /([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/@\s:]*):[^/@\s]*@/g;

/**
 * Text with every remembered secret replaced by `***` and URL passwords removed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactSecrets } from "./secrets.ts";
 * assert.equal(redactSecrets("GET ftp://ann:hunter22@host/x failed"), "GET ftp://ann:***@host/x failed");
 * ```
 */
export function redactSecrets(text: string): string {
  // Most texts hold no URL with a password: no "@", no regular expression to run.
  let out = text.includes("@") ? text.replace(URL_PASSWORD, "$1:***@") : text;
  for (const s of known) if (out.includes(s)) out = out.split(s).join("***");
  return out;
}
