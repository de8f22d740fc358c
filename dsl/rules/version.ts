/** Rule: the file says which format version it is, and ferry reads that version. @module */

import { error, type Problem } from "../diagnostic.ts";

/** The format versions this ferry reads. */
export const SUPPORTED_VERSION = 1;

/** `ferry: 1` (or `ferry-site: 1`) is the only version this ferry reads. */
export function checkVersion(
  raw: Readonly<Record<string, unknown>>,
  key: "ferry" | "ferry-site",
): Problem[] {
  const v = raw[key];
  if (v === undefined || typeof v !== "number" || !Number.isInteger(v)) return []; // the schema says so
  if (v === SUPPORTED_VERSION) return [];
  return [error(
    "unsupported-version",
    [key],
    `Cannot read format version ${v}: this ferry reads "${key}: ${SUPPORTED_VERSION}"${
      v > SUPPORTED_VERSION ? "; upgrade ferry to read newer files" : ""
    }`,
  )];
}
