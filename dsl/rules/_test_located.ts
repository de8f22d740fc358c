/** Test helper for rule tests: a workflow's diagnostics of some codes, located. @module */

import assert from "node:assert/strict";
import { locate } from "../diagnostic.ts";
import { loadText } from "../load.ts";
import { validateWorkflow } from "../validate.ts";

/** `line:column message` of each diagnostic of `codes` that the workflow `yaml` gets. */
export function located(yaml: string, codes: readonly string[]): string[] {
  const { document } = loadText("w.yaml", yaml);
  assert.ok(document, "test input must parse");
  return validateWorkflow(document.value).problems
    .filter((p) => codes.includes(p.code))
    .map((p) => {
      const d = locate(p, "w.yaml", document.index);
      return `${d.line}:${d.column} ${d.message}`;
    });
}
