/**
 * npm modules needed only off the common path: ajv words the problems of a
 * file that fails the precompiled schema check, and npm:yaml parses what the
 * fast YAML reader declines and finds the positions of reported problems.
 * They load on first use, synchronously (through `require`, which resolves
 * them like the static imports do), so that a valid workflow does not pay for
 * them: ~55 ms per process.
 * @module
 */

import { createRequire } from "node:module";
import type * as Yaml from "yaml";
import type * as Ajv from "ajv/2020";

const require = createRequire(import.meta.url);
let yaml: typeof Yaml | undefined;
let ajv: typeof Ajv | undefined;

/** npm:yaml, loaded on first use. */
export function yamlModule(): typeof Yaml {
  return yaml ??= require("yaml") as typeof Yaml;
}

/** ajv's JSON Schema 2020-12 build, loaded on first use. */
export function ajvModule(): typeof Ajv {
  return ajv ??= require("ajv/dist/2020.js") as typeof Ajv;
}
