/**
 * npm:js-yaml, the fast YAML reader for well-formed files (see `README.md` here).
 * @module
 */

export { default } from "npm:js-yaml@4.1.0";
