/**
 * npm modules needed only off the common path: ajv words the problems of a
 * file that fails the precompiled schema check, and npm:yaml parses what the
 * fast YAML reader declines and finds the positions of reported problems.
 * They load on first use, synchronously, so that a valid workflow does not pay
 * for them: ~55 ms per process.
 *
 * The synchronous load is `require()` of ferry's own `deps/` module (Deno
 * requires ES modules), which names its package by its pinned `npm:`
 * specifier: no import map is involved, so a script that imports ferry by path
 * needs no `--config`. `require` wants a `file:` referrer; when ferry itself is
 * loaded from `https:` or `jsr:`, both modules load at start instead.
 * @module
 */

import { createRequire } from "node:module";
import type * as Yaml from "../deps/yaml.ts";
import type * as Ajv from "../deps/ajv.ts";

const LOCAL = import.meta.url.startsWith("file:");
const require = LOCAL ? createRequire(import.meta.url) : undefined;
let yaml: typeof Yaml | undefined = LOCAL ? undefined : await import("../deps/yaml.ts");
let ajv: typeof Ajv | undefined = LOCAL ? undefined : await import("../deps/ajv.ts");

/** npm:yaml, loaded on first use. */
export function yamlModule(): typeof Yaml {
  return yaml ??= require!("../deps/yaml.ts") as typeof Yaml;
}

/** ajv's JSON Schema 2020-12 build, loaded on first use. */
export function ajvModule(): typeof Ajv {
  return ajv ??= require!("../deps/ajv.ts") as typeof Ajv;
}
