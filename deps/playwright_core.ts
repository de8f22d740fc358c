/**
 * npm:playwright-core, headless Chromium for the report's tests and benchmark
 * only; not part of the published package (see `README.md` here).
 * @module
 */

export * from "npm:playwright-core@1.65.1";
