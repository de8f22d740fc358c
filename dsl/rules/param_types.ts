/** Rule: `param_types` names declared params, and each default has its declared type. @module */

import { error, type Problem } from "../diagnostic.ts";
import { paramTypeProblem } from "../params.ts";
import { didYouMean } from "../suggest.ts";
import type { WorkflowRule } from "./_context.ts";

/** Check `param_types` against `params`. */
export const paramTypes: WorkflowRule = ({ workflow }) => {
  const out: Problem[] = [];
  const declared = Object.keys(workflow.params);
  for (const [name, type] of Object.entries(workflow.paramTypes ?? {})) {
    if (!Object.hasOwn(workflow.params, name)) {
      out.push({
        ...error(
          "unknown-param",
          ["param_types", name],
          `Cannot give param "${name}" a type: the workflow has no such param${
            didYouMean(name, declared) || "; declare it under params"
          }`,
        ),
        at: "key",
      });
      continue;
    }
    const why = paramTypeProblem(workflow.params[name]!, undefined, type);
    if (why !== undefined) {
      out.push(
        error("wrong-type", ["params", name], `Cannot use the default of param "${name}": ${why}`),
      );
    }
  }
  return out;
};
