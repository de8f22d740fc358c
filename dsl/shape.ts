/**
 * Shape validation: the JSON Schemas in `schemas/` are the single source of
 * truth for what keys exist and what types they take. ajv's errors are turned
 * into one clear problem each, located by key path.
 * @module
 */

import type { Ajv2020, ErrorObject, ValidateFunction } from "../deps/ajv.ts";
import workflowSchema from "../schemas/workflow.schema.json" with { type: "json" };
import siteSchema from "../schemas/site.schema.json" with { type: "json" };
import * as precompiled from "../schemas/validators.generated.js";
import { error, type KeyPath, type Problem } from "./diagnostic.ts";
import { didYouMean } from "./suggest.ts";
import { ajvModule } from "./lazy_modules.ts";

/** Which of ferry's two file kinds a document is. */
export type DocumentKind = "workflow" | "site";

type Schema = Record<string, unknown>;

const SCHEMAS: Record<DocumentKind, Schema> = { workflow: workflowSchema, site: siteSchema };

let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

function validator(ref: string): ValidateFunction {
  let v = validators.get(ref);
  if (!v) {
    ajv ??= new (ajvModule().Ajv2020)({
      allErrors: true,
      verbose: true,
      strict: true,
      allowUnionTypes: true,
      // Checking our own schemas against the 2020-12 meta-schema costs ~70 ms per process;
      // dsl/shape_test.ts does it once instead.
      validateSchema: false,
      schemas: [workflowSchema, siteSchema],
    });
    v = (ref.endsWith("#") ? ajv.getSchema(ref) : undefined) ?? ajv.compile({ $ref: ref });
    validators.set(ref, v);
  }
  return v;
}

/**
 * Validate a document's shape against its schema; every problem at once.
 * A valid document is accepted by the ahead-of-time compiled check; ajv
 * compiles the schemas only to word the problems of one that is not.
 */
export function validateShape(value: unknown, kind: DocumentKind): Problem[] {
  if (precompiled[kind](value)) return [];
  return check(value, `${SCHEMAS[kind].$id}#`, SCHEMAS[kind], []);
}

function check(value: unknown, ref: string, root: Schema, base: KeyPath): Problem[] {
  const validate = validator(ref);
  if (validate(value)) return [];
  const errors = [...(validate.errors ?? [])];
  const problems: Problem[] = [];
  // anyOf branches are told apart by type: validate against the branch whose
  // type the value has, and report only that branch's problems.
  const handled: string[] = [];
  const anyOfs = errors.filter((e) => e.keyword === "anyOf")
    .sort((a, b) => a.instancePath.length - b.instancePath.length);
  for (const e of anyOfs) {
    if (handled.some((h) => within(e.instancePath, h))) continue;
    handled.push(e.instancePath);
    const path = toPath(value, e.instancePath);
    const branches = (e.schema as Schema[]).map((b) => resolve(root, b));
    const kind = jsonType(e.data);
    const i = branches.findIndex((b) => typeAllows(b, kind));
    if (i < 0) {
      const expected = oxford(branches.map(describeType));
      problems.push(
        at(
          error(
            "wrong-type",
            [...base, ...path],
            `Cannot use ${article(kind)} for ${label(base, path)}: expected ${expected}`,
          ),
        ),
      );
      continue;
    }
    const branchRef = `${root.$id}#${pointerOf(e.parentSchema as Schema)}/anyOf/${i}`;
    problems.push(...check(e.data, branchRef, root, [...base, ...path]));
  }
  for (const e of errors) {
    if (e.keyword === "anyOf" || handled.some((h) => within(e.instancePath, h))) continue;
    if (e.keyword === "pattern" && e.propertyName !== undefined) continue; // reported via propertyNames
    const p = describe(e, value, base);
    if (p) problems.push(p);
  }
  return problems;
}

function at(p: Problem): Problem {
  return p;
}

let pointers: WeakMap<object, string> | undefined;

/** The JSON pointer of a schema object inside its root schema. */
function pointerOf(schema: Schema): string {
  if (!pointers) {
    pointers = new WeakMap();
    const walk = (node: unknown, ptr: string) => {
      if (!node || typeof node !== "object") return;
      pointers!.set(node, ptr);
      for (const [k, v] of Object.entries(node)) {
        walk(v, `${ptr}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`);
      }
    };
    walk(workflowSchema, "");
    walk(siteSchema, "");
  }
  const p = pointers.get(schema);
  if (p === undefined) throw new Error("internal: schema object not found in ferry's schemas");
  return p;
}

function within(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + "/");
}

function describe(e: ErrorObject, root: unknown, base: KeyPath): Problem | undefined {
  const path = [...base, ...toPath(root, e.instancePath)];
  const parent = e.parentSchema as Schema | undefined;
  const where = label(base, toPath(root, e.instancePath));
  switch (e.keyword) {
    case "additionalProperties": {
      const key = String(e.params.additionalProperty);
      const known = Object.keys((parent?.properties ?? {}) as Schema);
      return {
        ...error(
          "unknown-key",
          [...path, key],
          `Cannot use unknown key "${key}" in ${where}${
            didYouMean(key, known) || `: expected one of ${known.join(", ")}`
          }`,
        ),
        at: "key",
      };
    }
    case "required": {
      const key = String(e.params.missingProperty);
      return {
        ...error("missing-key", path, `Cannot find required key "${key}" in ${where}`),
        at: "key",
      };
    }
    case "propertyNames": {
      const name = String(e.params.propertyName);
      return {
        ...error(
          "invalid-name",
          [...path, name],
          `Cannot use "${name}" as a name in ${where}: names start with a letter or "_" and hold only letters, digits, "_" and "-"`,
        ),
        at: "key",
      };
    }
    case "type": {
      const expected = describeType(parent ?? {});
      return error(
        "wrong-type",
        path,
        `Cannot use ${article(jsonType(e.data))} for ${where}: expected ${expected}`,
      );
    }
    case "enum": {
      const allowed = (e.params.allowedValues as unknown[]).map(String);
      const hint = typeof e.data === "string" ? didYouMean(e.data, allowed) : "";
      return error(
        "invalid-value",
        path,
        `Cannot use ${JSON.stringify(e.data)} for ${where}${
          hint || `: expected one of ${allowed.join(", ")}`
        }`,
      );
    }
    case "pattern":
      return error(
        "invalid-value",
        path,
        `Cannot use ${JSON.stringify(e.data)} for ${where}: ${
          patternHint(e.params.pattern as string)
        }`,
      );
    case "minProperties":
      return error("invalid-value", path, `Cannot leave ${where} empty`);
    case "minItems":
      return error(
        "invalid-value",
        path,
        `Cannot leave ${where} empty: it needs at least ${e.params.limit} item${
          e.params.limit === 1 ? "" : "s"
        }`,
      );
    case "minLength":
      return error("invalid-value", path, `Cannot leave ${where} empty`);
    case "uniqueItems":
      return error(
        "invalid-value",
        [...path, e.params.i as number],
        `Cannot list ${
          JSON.stringify((e.data as unknown[])[e.params.i as number])
        } twice in ${where}`,
      );
    case "minimum":
    case "maximum":
      return error(
        "invalid-value",
        path,
        `Cannot use ${JSON.stringify(e.data)} for ${where}: it must be ${
          e.keyword === "minimum" ? "at least" : "at most"
        } ${e.params.limit}`,
      );
    default:
      return error(
        "invalid-value",
        path,
        `Cannot use ${JSON.stringify(e.data)} for ${where}: it ${e.message ?? "is invalid"}`,
      );
  }
}

const PATTERN_HINTS: [RegExp, string][] = [
  [/sha256\|sha512/, "write it as sha256:<hex> (or sha512:, sha1:, md5:)"],
  [/^\^\[\^#\]\+#/, "write it as ./module.ts#exportName"],
  [
    /^\^\(command\|params/,
    'expected "command", "params", "inputs", "env" or "version", optionally followed by ".NAME"',
  ],
  [
    /^\^\[A-Za-z_\]\[A-Za-z0-9_\]\*\$$/,
    "an environment variable name holds only letters, digits and _",
  ],
  [/^\^ssh:/, "write it as ssh://user@host[:port]"],
  [/^\^SHA256:/, "write it as SHA256:<base64>, as ssh-keygen -lf prints it"],
];

function patternHint(pattern: string): string {
  for (const [re, hint] of PATTERN_HINTS) if (re.test(pattern)) return hint;
  return `it must match ${pattern}`;
}

/** `app "align"`, `inputs.ref of app "align"`, or `the top level`, for messages. */
function label(base: KeyPath, rest: KeyPath): string {
  const path = [...base, ...rest];
  if (path.length === 0) return "the top level";
  if (path[0] === "apps" && path.length >= 2) {
    const inner = path.slice(2);
    return inner.length === 0 ? `app "${path[1]}"` : `"${dotted(inner)}" of app "${path[1]}"`;
  }
  if (path[0] === "executors" && path.length >= 2) {
    const inner = path.slice(2);
    return inner.length === 0
      ? `executor "${path[1]}"`
      : `"${dotted(inner)}" of executor "${path[1]}"`;
  }
  return `"${dotted(path)}"`;
}

function dotted(path: KeyPath): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

function toPath(root: unknown, pointer: string): KeyPath {
  if (pointer === "") return [];
  const out: (string | number)[] = [];
  let node: unknown = root;
  for (const raw of pointer.slice(1).split("/")) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(node)) {
      out.push(Number(seg));
      node = node[Number(seg)];
    } else {
      out.push(seg);
      node = (node as Record<string, unknown> | undefined)?.[seg];
    }
  }
  return out;
}

function resolve(root: Schema, s: Schema): Schema {
  const ref = s.$ref;
  if (typeof ref !== "string" || !ref.startsWith("#/")) return s;
  let node: unknown = root;
  for (const seg of ref.slice(2).split("/")) node = (node as Schema)[seg];
  return resolve(root, node as Schema);
}

function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function typeAllows(s: Schema, kind: string): boolean {
  const t = s.type;
  const types = Array.isArray(t) ? t as string[] : typeof t === "string" ? [t] : [];
  if (types.length === 0) return true;
  return types.includes(kind) || (kind === "integer" && types.includes("number"));
}

const NAMES: Record<string, string> = {
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "a boolean (true or false)",
  object: "a mapping",
  array: "a list",
  null: "a value",
};

function describeType(s: Schema): string {
  const t = s.type;
  const types = Array.isArray(t) ? t as string[] : typeof t === "string" ? [t] : [];
  if (types.length === 0 && Array.isArray(s.enum)) {
    return `one of ${(s.enum as unknown[]).join(", ")}`;
  }
  return oxford(types.map((x) => NAMES[x] ?? x)) || "a value";
}

function article(kind: string): string {
  return kind === "null"
    ? "empty"
    : kind === "object"
    ? "a mapping"
    : kind === "array"
    ? "a list"
    : NAMES[kind] ?? kind;
}

function oxford(words: string[]): string {
  return words.length <= 1 ? words.join("") : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`;
}
