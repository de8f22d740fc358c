/** Rule: an app with a `container` runs on an executor that has a `container_runtime`. @module */

import { error, type Problem } from "../diagnostic.ts";
import type { Executor, Where } from "../model.ts";
import type { WorkflowRule } from "./_context.ts";
import { visible } from "../visible.ts";

/** Why an image name cannot be used as one, or undefined. */
function badImage(image: string): string | undefined {
  if (image.includes("${{")) return "it is a literal name, not an expression";
  if (image.startsWith("-")) return 'a name cannot start with "-"';
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(image)) return "it holds a control character";
  return undefined;
}

/**
 * Each app with an image: its executor says how to run it (`container_runtime`), it is no
 * function app (those run in ferry's own Deno), and the image is a literal (no expression).
 */
export const containerRuntimes: WorkflowRule = (ctx) => {
  const out: Problem[] = [];
  const raw = ctx.raw as { apps?: Record<string, { container?: unknown }> };
  // The site's executors override the workflow's, as when the plan is built.
  const executors: Record<string, Executor> = {
    ...ctx.workflow.executors,
    ...(ctx.site?.executors ?? {}),
  };
  const reported = new Set<string>();
  for (const app of Object.values(ctx.workflow.apps)) {
    const image = app.container;
    if (image === undefined) continue;
    const own = raw.apps?.[app.name]?.container !== undefined;
    const where: Where = own ? ["apps", app.name, "container"] : ["defaults", "container"];
    const bad = badImage(image);
    if (bad !== undefined) {
      if (!reported.has(where.join("."))) {
        reported.add(where.join("."));
        out.push(
          error(
            "invalid-value",
            where,
            `Cannot use "${visible(image)}" as a container image: ${bad}`,
          ),
        );
      }
      continue;
    }
    const denoScript = app.run?.kind === "script" && /\.(ts|js|mjs)$/i.test(app.run.path);
    if (app.run?.kind === "function" || denoScript) {
      const kind = denoScript ? "script" : "function";
      out.push(error(
        "container-function",
        own ? where : ["apps", app.name, kind],
        `Cannot run ${kind} app "${app.name}" in container "${visible(image)}": a ${
          denoScript ? "Deno script" : "function"
        } runs in ferry's own Deno process${own ? "" : "; set `container: false` on the app"}`,
      ));
      continue;
    }
    const ex = executors[app.executor];
    if (ex === undefined && app.executor !== "local") continue; // unknown-executor says so
    if (ex?.containerRuntime !== undefined) continue;
    const file = ctx.site !== undefined && !(app.executor in ctx.workflow.executors)
      ? "the site file"
      : "the site file (or the workflow's `executors`)";
    out.push(error(
      "no-container-runtime",
      where,
      `Cannot run app "${app.name}" in container "${
        visible(image)
      }": executor "${app.executor}" has no container_runtime; add \`container_runtime: podman\` (or docker, apptainer, singularity) to executor "${app.executor}" in ${file}`,
    ));
  }
  return out;
};
