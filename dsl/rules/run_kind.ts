/** Rule: an app has exactly one of `command`, `shell`, `function` or `script`. @module */

import { error, type Problem } from "../diagnostic.ts";
import type { WorkflowRule } from "./_context.ts";

const KINDS = ["command", "shell", "function", "script"] as const;

/** Exactly one of command, shell, function or script per app. */
export const runKind: WorkflowRule = ({ raw }) => {
  const out: Problem[] = [];
  const apps = raw.apps;
  if (!apps || typeof apps !== "object" || Array.isArray(apps)) return out;
  for (const [name, app] of Object.entries(apps as Record<string, unknown>)) {
    if (!app || typeof app !== "object" || Array.isArray(app)) continue;
    const present = KINDS.filter((k) => (app as Record<string, unknown>)[k] !== undefined);
    if (present.length === 0) {
      out.push({
        ...error(
          "missing-command",
          ["apps", name],
          `Cannot run app "${name}": give it one of command, shell, function or script`,
        ),
        at: "key",
      });
    } else if (present.length > 1) {
      out.push({
        ...error(
          "conflicting-command",
          ["apps", name, present[1]!],
          `Cannot run app "${name}": it has ${
            present.length === 2
              ? `both ${present.join(" and ")}`
              : `${present.slice(0, -1).join(", ")} and ${present.at(-1)}`
          }; keep exactly one`,
        ),
        at: "key",
      });
    }
  }
  return out;
};
