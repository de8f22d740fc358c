/**
 * npm:commander, the CLI parser (see `README.md` here).
 * @module
 */

export * from "npm:commander@15.1.0";
