/** Plain-data helper shared by the model builders. @module */

/** Drop undefined fields so optional properties are absent, not undefined (exactOptionalPropertyTypes). */
export function compact<T extends object>(o: { [K in keyof T]: T[K] | undefined }): T {
  // A fresh object rather than `delete`: deleting keys turns objects into slow dictionaries.
  const out: Record<string, unknown> = {};
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out as T;
}
