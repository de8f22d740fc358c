import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/2020";
import workflowSchema from "../schemas/workflow.schema.json" with { type: "json" };
import siteSchema from "../schemas/site.schema.json" with { type: "json" };
import planSchema from "../schemas/plan.schema.json" with { type: "json" };

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
