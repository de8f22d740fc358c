import assert from "node:assert/strict";
import { Ajv2020 } from "../deps/ajv.ts";
import workflowSchema from "../schemas/workflow.schema.json" with { type: "json" };
import siteSchema from "../schemas/site.schema.json" with { type: "json" };
import planSchema from "../schemas/plan.schema.json" with { type: "json" };
import * as precompiled from "../schemas/validators.generated.js";
import { GENERATED, generateValidators } from "../schemas/generate_validators.ts";
import { loadText } from "./load.ts";

Deno.test("the schemas are valid JSON Schema 2020-12 (ferry itself skips this check at run time)", () => {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, validateSchema: true });
  for (const schema of [workflowSchema, siteSchema, planSchema]) {
    assert.equal(ajv.validateSchema(schema), true, JSON.stringify(ajv.errors));
    ajv.addSchema(schema);
  }
  // Strict mode also compiles each one without unknown keywords or ambiguous types.
  for (const schema of [workflowSchema, siteSchema, planSchema]) {
    assert.equal(typeof ajv.getSchema(`${schema.$id}#`), "function");
  }
});

Deno.test("schemas/validators.generated.js is what `deno task gen` writes from the schemas now", () => {
  const committed = Deno.readTextFileSync(GENERATED);
  assert.ok(
    committed === generateValidators(),
    "schemas/validators.generated.js is stale: run `deno task gen` and commit it",
  );
});

Deno.test("the precompiled checks accept and refuse exactly what ajv does, on every example and fixture", () => {
  const ajv = new Ajv2020({
    strict: true,
    allowUnionTypes: true,
    schemas: [workflowSchema, siteSchema],
  });
  const seen = { workflow: [0, 0], site: [0, 0] };
  const files = [...walkFiles("examples"), ...walkFiles("tests/testdata")]
    .filter((f) => /\.(ya?ml|toml)$/.test(f));
  for (const file of files) {
    const value = loadText(file, Deno.readTextFileSync(file)).document?.value;
    if (value === undefined) continue;
    for (const kind of ["workflow", "site"] as const) {
      const schema = kind === "workflow" ? workflowSchema : siteSchema;
      const expected: boolean = ajv.validate(`${schema.$id}#`, value);
      assert.equal(precompiled[kind](value), expected, `${kind} check of ${file}`);
      seen[kind][expected ? 0 : 1]!++;
    }
  }
  // Both outcomes are exercised for both kinds, or this test proves nothing.
  for (const kind of ["workflow", "site"] as const) {
    assert.ok(seen[kind][0]! > 3 && seen[kind][1]! > 3, `${kind}: ${seen[kind]}`);
  }
});

function* walkFiles(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walkFiles(p);
    else if (e.isFile) yield p;
  }
}
