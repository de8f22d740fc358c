/**
 * A JSON Schema as a Markdown reference: one section per object (the root,
 * each `$defs` entry, each inline object), one table row per key with its
 * type and allowed values, default and description. Everything shown comes
 * from the schema, so the page cannot say what the validator does not do.
 * @module
 */

import { code, slug, table, yamlValue } from "./markdown.ts";

/** The part of JSON Schema ferry's schemas use. */
export interface Schema {
  readonly title?: string;
  readonly description?: string;
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | Schema;
  readonly propertyNames?: Schema;
  readonly items?: Schema;
  readonly anyOf?: readonly Schema[];
  readonly oneOf?: readonly Schema[];
  readonly $ref?: string;
  readonly $defs?: Readonly<Record<string, Schema>>;
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly default?: unknown;
  readonly examples?: readonly unknown[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly minLength?: number;
  readonly minItems?: number;
  readonly minProperties?: number;
  readonly uniqueItems?: boolean;
  readonly pattern?: string;
}

/** Options for {@linkcode schemaReference}. */
export interface SchemaReferenceOptions {
  /** The title of the root object's section. */
  readonly rootTitle: string;
  /** Definitions documented on another page: definition name → its address. */
  readonly elsewhere?: Readonly<Record<string, string>>;
}

/** Patterns said in words; any other pattern is shown as it is. */
export const PATTERN_WORDS: Readonly<Record<string, string>> = {
  "^(?!__proto__$)[A-Za-z_][A-Za-z0-9_-]*$": "an identifier",
  "^[A-Za-z_][A-Za-z0-9_]*$": "a variable name",
};

/** A description's last sentence `Default: …` states a default that is no single value. */
const DEFAULT_SENTENCE = /(?:^|\s)Default: ([^]*)\.$/;

interface Section {
  readonly title: string;
  readonly schema: Schema;
  readonly level: number;
  /** Where its keys sit: "" for the root, a definition's name, or a key path. */
  readonly path: string;
}

/** The sections of `schema`, as Markdown (no page title). */
export function schemaReference(schema: Schema, options: SchemaReferenceOptions): string {
  const defs = schema.$defs ?? {};
  const elsewhere = options.elsewhere ?? {};
  const titleOf = (name: string) => defs[name]?.title ?? name;
  const ref = (pointer: string): { name: string; schema: Schema } => {
    const name = pointer.replace(/^#\/\$defs\//, "");
    const target = defs[name];
    if (target === undefined) throw new Error(`schema reference: no definition for ${pointer}`);
    return { name, schema: target };
  };
  const link = (pointer: string) => {
    const { name } = ref(pointer);
    const at = elsewhere[name];
    return `[${titleOf(name)}](${at ?? `#${slug(titleOf(name))}`})`;
  };

  const out: string[] = [];
  const render = (section: Section) => {
    const subsections: Section[] = [];
    // An inline object with keys gets a section of its own, named by its key path.
    const inline = (at: string, s: Schema): string | undefined => {
      if (s.properties === undefined) return undefined;
      const title = `\`${at}\``;
      subsections.push({ title, schema: s, level: section.level + 1, path: at });
      return `[${at}](#${slug(title)})`;
    };
    const path = (key: string) => section.path === "" ? key : `${section.path}.${key}`;
    const typeOf = (s: Schema, at: string): string => {
      if (s.$ref !== undefined) return link(s.$ref);
      const own = inline(at, s);
      if (own !== undefined) return own;
      if (s.const !== undefined) return code(yamlValue(s.const));
      if (s.enum !== undefined) return orList(s.enum.map((v) => code(yamlValue(v))));
      const alternatives = s.anyOf ?? s.oneOf;
      if (alternatives !== undefined) return orList(alternatives.map((a) => typeOf(a, at)));
      const types = typeof s.type === "string" ? [s.type] : s.type ?? [];
      if (types.length === 0) return "any value";
      return orList(types.map((t) => {
        if (t === "array") {
          return `list of ${s.items ? plurals(typeOf(s.items, `${at}[]`)) : "any values"}`;
        }
        if (t !== "object") return t;
        const values = s.additionalProperties;
        return typeof values === "object"
          ? `mapping: name → ${typeOf(values, `${at}.NAME`)}`
          : "mapping";
      }));
    };

    out.push(`${"#".repeat(section.level)} ${section.title}`, "");
    const { text } = splitDefault(section.schema.description);
    if (text) out.push(text, "");
    const s = section.schema;
    if (s.properties !== undefined) {
      const rows = Object.entries(s.properties).map(([key, p]) => {
        const target = p.$ref !== undefined ? ref(p.$ref).schema : undefined;
        const described = splitDefault(p.description ?? target?.description);
        const constraints = [
          ...(s.required?.includes(key) ? ["**required**"] : []),
          ...limits(p),
        ];
        const type = [typeOf(p, path(key)), ...constraints].join(", ");
        const shownDefault = p.default !== undefined
          ? code(yamlValue(p.default))
          : described.default ?? "—";
        if (p.default !== undefined && described.default !== undefined) {
          throw new Error(`schema reference: ${key} has a default twice`);
        }
        const examples = (p.examples ?? []).map((e) => code(`${key}: ${yamlValue(e)}`));
        const description = [
          described.text,
          ...(examples.length > 0 ? [`Example: ${examples.join(", ")}`] : []),
        ].filter((x) => x !== "").join(" ");
        return [code(key), type, shownDefault, description];
      });
      // Formats ferry writes (the plan, the event log) have no defaults: no empty column then.
      const withDefaults = rows.some((r) => r[2] !== "—");
      out.push(
        withDefaults
          ? table(["key", "type", "default", "description"], rows)
          : table(["key", "type", "description"], rows.map(([k, t, , d]) => [k!, t!, d!])),
        "",
      );
      const values = s.additionalProperties;
      if (typeof values === "object") out.push(`Other keys: ${typeOf(values, path("NAME"))}.`, "");
    } else {
      const alternatives = s.anyOf ?? s.oneOf;
      if (alternatives !== undefined) {
        out.push("One of:", "");
        for (const a of alternatives) {
          const about = a.description ? `: ${a.description}` : "";
          if (a.properties === undefined) {
            out.push(`- ${[typeOf(a, section.path), ...limits(a)].join(", ")}${about}`);
            continue;
          }
          // An object alternative gets its own table, named by its tag (`kind: shell`) if any.
          const tag = Object.entries(a.properties).find(([, p]) => p.const !== undefined);
          const title = tag
            ? code(`${tag[0]}: ${yamlValue(tag[1].const)}`)
            : `${code(section.path)} as a mapping`;
          subsections.push({ title, schema: a, level: section.level + 1, path: section.path });
          out.push(`- [${title}](#${slug(title)})${about}`);
        }
        out.push("");
      } else {
        out.push(`Type: ${[typeOf(s, section.path), ...limits(s)].join(", ")}.`, "");
      }
    }
    for (const sub of subsections) render(sub);
  };

  render({ title: options.rootTitle, schema, level: 2, path: "" });
  for (const [name, def] of Object.entries(defs)) {
    if (elsewhere[name] === undefined) {
      render({ title: titleOf(name), schema: def, level: 2, path: name });
    }
  }
  return out.join("\n");
}

/** The limits a schema puts on a value, in words. */
function limits(s: Schema): string[] {
  const out: string[] = [];
  if (s.minimum !== undefined && s.maximum !== undefined) {
    out.push(`${s.minimum} to ${s.maximum}`);
  } else if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
  else if (s.maximum !== undefined) out.push(`≤ ${s.maximum}`);
  if (s.exclusiveMinimum !== undefined) out.push(`> ${s.exclusiveMinimum}`);
  if (s.minLength === 1) out.push("not empty");
  else if (s.minLength !== undefined) out.push(`at least ${s.minLength} characters`);
  if (s.pattern !== undefined) out.push(PATTERN_WORDS[s.pattern] ?? `matching ${code(s.pattern)}`);
  if (s.minItems !== undefined) out.push(`at least ${s.minItems} ${plural(s.minItems, "item")}`);
  if (s.minProperties !== undefined) {
    out.push(`at least ${s.minProperties} ${plural(s.minProperties, "entry", "entries")}`);
  }
  if (s.uniqueItems === true) out.push("no duplicates");
  const names = s.propertyNames?.pattern;
  if (names !== undefined) {
    out.push(`each name ${PATTERN_WORDS[names] ?? `matching ${code(names)}`}`);
  }
  return out;
}

/** A description without its closing `Default: …` sentence, and that default. */
function splitDefault(description: string | undefined): { text: string; default?: string } {
  if (description === undefined) return { text: "" };
  const m = DEFAULT_SENTENCE.exec(description);
  if (m === null) return { text: description };
  return { text: description.slice(0, m.index).trim(), default: m[1]! };
}

function orList(items: readonly string[]): string {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}

/** "string or number" as "strings or numbers" (links and code stay as they are). */
function plurals(type: string): string {
  return type.replace(/\b(string|integer|number|boolean)\b(?![^[]*\])/g, "$1s");
}

function plural(n: number, one: string, many = `${one}s`): string {
  return n === 1 ? one : many;
}
