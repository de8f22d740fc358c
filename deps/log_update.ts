/**
 * npm:log-update, the live progress display on terminals (see `README.md` here).
 * @module
 */

export * from "npm:log-update@8.0.0";
