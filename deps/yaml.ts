/**
 * npm:yaml, the YAML parser that keeps positions (see `README.md` here for why
 * each npm dependency has a module of its own with its pinned `npm:` specifier).
 * @module
 */

export * from "npm:yaml@2.9.1";
