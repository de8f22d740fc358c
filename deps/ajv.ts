/**
 * npm:ajv, its JSON Schema 2020-12 build: words the problems of a file that
 * fails the precompiled schema check (see `README.md` here).
 * @module
 */

export { Ajv2020 } from "npm:ajv@8.20.0/dist/2020.js";
export type { ErrorObject, ValidateFunction } from "npm:ajv@8.20.0/dist/2020.js";
