import assert from "node:assert/strict";
import { MAX_DOTS_PER_APP, MAX_FLAGGED_LISTED, renderUsage } from "./report_usage.ts";
import type { TaskStatus } from "./status_types.ts";

/** Tasks of `app` whose peak memory is 1..n MiB (the fields renderUsage reads). */
function tasks(app: string, n: number): TaskStatus[] {
  return Array.from({ length: n }, (_, i) =>
    ({
      id: `${app}[i=${i}]`,
      attempts: [{
        usage: {
          wallSeconds: 2,
          userSeconds: 1,
          systemSeconds: 0,
          maxRssBytes: (i + 1) * 2 ** 20,
          measuredBy: "wait4",
        },
      }],
    }) as unknown as TaskStatus);
}

Deno.test("renderUsage draws a dot per task up to the cap, then a box plot with quartiles", () => {
  const few = tasks("few", 3);
  const many = tasks("many", MAX_DOTS_PER_APP + 1);
  const graph = [
    { name: "few", executor: "local", deps: [], tasks: 3 },
    { name: "many", executor: "local", deps: [], tasks: many.length, memory: 2 ** 40 },
  ];
  const html = renderUsage([...few, ...many], graph);
  // Three plots (wall, CPU, memory): three dots each for "few", one box each for "many".
  assert.equal(html.match(/<circle class="usage-dot"/g)?.length, 9);
  assert.equal(html.match(/<g class="usage-box">/g)?.length, 3);
  assert.match(
    html,
    /<title>401 tasks: least 1\.0 MiB, quartiles 101\.0 MiB \/ 201\.0 MiB \/ 301\.0 MiB, largest 401\.0 MiB<\/title>/,
  );
  // Every task of "many" asked for 1 TiB: the list stops at the cap and counts the rest.
  assert.equal(html.match(/<li class="over-request"/g)?.length, MAX_FLAGGED_LISTED);
  assert.match(
    html,
    new RegExp(`<li class="more">and ${many.length - MAX_FLAGGED_LISTED} more tasks</li>`),
  );
});
