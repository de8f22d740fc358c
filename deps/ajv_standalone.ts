/**
 * npm:ajv's standalone code generator, for `deno task gen` only (see `README.md` here).
 * @module
 */

export { default } from "npm:ajv@8.20.0/dist/standalone/index.js";
