/**
 * The reference for `bench/check.ts`: the bare cost of reading and parsing a
 * file in a fresh `deno run` process, and nothing else. YAML is parsed with
 * npm:yaml (`YAML.parse`, default options), or with npm:js-yaml when
 * `--js-yaml` is given; TOML with npm:smol-toml.
 *
 * `deno run -A bench/_parse_only.ts [--js-yaml] FILE`
 * @module
 */

import { parse as parseYaml } from "../deps/yaml.ts";
import jsyaml from "../deps/js_yaml.ts";
import { parse as parseToml } from "../deps/smol_toml.ts";

const js = Deno.args[0] === "--js-yaml";
const file = Deno.args[js ? 1 : 0];
if (!file) {
  console.error("usage: deno run -A bench/_parse_only.ts [--js-yaml] FILE");
  Deno.exit(2);
}
const text = await Deno.readTextFile(file);
const value = file.toLowerCase().endsWith(".toml")
  ? parseToml(text)
  : js
  ? jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA })
  : parseYaml(text);
if (value === null || typeof value !== "object") Deno.exit(1);
