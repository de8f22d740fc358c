/** Plain-data helper shared by the model builders. @module */

/** Drop undefined fields so optional properties are absent, not undefined (exactOptionalPropertyTypes). */
export function compact<T extends object>(o: { [K in keyof T]: T[K] | undefined }): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o as T;
}
