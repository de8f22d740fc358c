/** Rules: `after` names existing apps, and every app's executor exists. @module */

import { error, type Problem } from "../diagnostic.ts";
import { didYouMean } from "../suggest.ts";
import type { WorkflowRule } from "./_context.ts";

/** `after:` lists apps that exist, and not the app itself. */
export const afterApps: WorkflowRule = ({ workflow }) => {
  const out: Problem[] = [];
  const names = Object.keys(workflow.apps);
  for (const app of Object.values(workflow.apps)) {
    app.after.forEach((other, i) => {
      const path = ["apps", app.name, "after", i];
      if (other === app.name) {
        out.push(
          error(
            "cycle",
            path,
            `Cannot wait for app "${other}" after itself: a cycle ${other} → ${other}`,
          ),
        );
      } else if (!Object.hasOwn(workflow.apps, other)) {
        out.push(
          error(
            "unknown-after",
            path,
            `Cannot wait for app "${other}": there is no such app${didYouMean(other, names)}`,
          ),
        );
      }
    });
  }
  return out;
};

/** Names of the executors a workflow can use: its own, the site's, and `local`. */
export function executorNames(ctx: Parameters<WorkflowRule>[0]): string[] {
  return [
    ...new Set([
      "local",
      ...Object.keys(ctx.workflow.executors),
      ...Object.keys(ctx.site?.executors ?? {}),
    ]),
  ];
}

/** Every app's executor is defined. */
export const knownExecutors: WorkflowRule = (ctx) => {
  const out: Problem[] = [];
  const known = executorNames(ctx);
  const raw = ctx.raw as {
    defaults?: { executor?: unknown };
    apps?: Record<string, { executor?: unknown }>;
  };
  const reported = new Set<string>();
  const def = raw.defaults?.executor;
  if (typeof def === "string" && !known.includes(def)) {
    reported.add(def);
    out.push(
      error(
        "unknown-executor",
        ["defaults", "executor"],
        unknownExecutor(def, known, ctx.site !== undefined),
      ),
    );
  }
  for (const app of Object.values(ctx.workflow.apps)) {
    const own = raw.apps?.[app.name]?.executor;
    if (Array.isArray(own)) {
      own.forEach((name, i) => {
        if (typeof name !== "string" || known.includes(name)) return;
        out.push(error(
          "unknown-executor",
          ["apps", app.name, "executor", i],
          unknownExecutor(name, known, ctx.site !== undefined),
        ));
      });
      continue;
    }
    if (known.includes(app.executor)) continue;
    if (typeof own !== "string") continue; // inherited from defaults: reported there once
    out.push(
      error(
        "unknown-executor",
        ["apps", app.name, "executor"],
        unknownExecutor(own, known, ctx.site !== undefined),
      ),
    );
  }
  return out;
};

function unknownExecutor(name: string, known: string[], haveSite: boolean): string {
  const hint = didYouMean(name, known);
  return `Cannot find executor "${name}"${
    hint ||
    `: known executors are ${known.join(", ")}${haveSite ? "" : " (pass a site file with --site)"}`
  }`;
}
