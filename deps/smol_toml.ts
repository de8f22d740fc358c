/**
 * npm:smol-toml, the TOML parser (see `README.md` here).
 * @module
 */

export * from "npm:smol-toml@1.9.1";
