/** `ferry store push|pull|verify|gc`: look after a result store shared between workspaces. @module */

import { Argument, type Command } from "../deps/commander.ts";
import { runWorkflowFile } from "../interpreter/execute.ts";
import {
  renderGc,
  renderPush,
  renderVerify,
  storeGc,
  storePush,
  storeVerify,
} from "../interpreter/store_commands.ts";
import { type CommandContext, UsageError } from "./context.ts";
import {
  paramOption,
  siteOption,
  storeOption,
  workflowOptions,
  workspaceOption,
} from "./options.ts";
import { workspaceOf } from "./workspace.ts";

interface StoreFlags {
  store?: string;
  site?: string;
  workspace?: string;
  param?: string[];
  olderThan?: number;
  dryRun?: boolean;
}

type Action = "push" | "pull" | "verify" | "gc";

/** A date (`2026-11-30`, or any ISO 8601 time) as ms since the epoch. */
function parseDate(value: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(value)
    ? Date.parse(value)
    : NaN;
  if (Number.isNaN(ms)) {
    throw new UsageError(
      `Cannot use --older-than "${value}": write a date as YYYY-MM-DD or an ISO 8601 time`,
    );
  }
  return ms;
}

/** Add `store` to `program`. */
export function storeCommand(program: Command, context: CommandContext): void {
  program.command("store")
    .summary("push to, pull from, verify or collect a result store shared between workspaces")
    .description(
      "A result store holds each task's outputs as content-addressed blobs and a manifest per cache key, so a run in another workspace (another machine, a CI job, a colleague) restores what was already computed instead of running it. run and plan use it with --store (or the site file's store). push uploads every success the workspace recorded that the store lacks; pull fills the workspace from the store for a workflow's plan without running anything (a task the store does not hold is left, and what depends on it); verify reads every blob and checks its content against its name, and every manifest; gc drops the entries the workflow's plan does not need (given a workflow) or stored before --older-than, then the blobs no entry names. verify and gc list the store: they need a file: or sftp: store.",
    )
    .addArgument(new Argument("<action>", "what to do").choices(["push", "pull", "verify", "gc"]))
    .argument("[workflow]", "workflow file (pull, gc: its plan; push: its folder is the workspace)")
    .addOption(storeOption())
    .addOption(siteOption())
    .addOption(workspaceOption("state"))
    .addOption(paramOption())
    .option("--older-than <date>", "gc: drop the entries stored before this date", parseDate)
    .option("-n, --dry-run", "gc: only list what would be dropped")
    .addHelpText(
      "after",
      `
Examples:
  ferry store push --store file:///shared/cache          # what this workspace has, uploaded
  ferry store pull --store file:///shared/cache workflow.yaml
  ferry store verify --store file:///shared/cache
  ferry store gc --dry-run --store file:///shared/cache workflow.yaml
  ferry store gc --older-than 2026-11-01 --store file:///shared/cache

Exit codes: 0 done · 1 verify found a damaged blob or entry, or an upload failed · 2 usage, no store, a bad URL
`,
    )
    .action((action: Action, workflow: string | undefined, opts: StoreFlags) =>
      store(action, workflow, opts, context)
    );
}

async function store(
  action: Action,
  workflow: string | undefined,
  opts: StoreFlags,
  { io, setExit }: CommandContext,
): Promise<void> {
  const common = workflowOptions(opts);
  const named = {
    ...(opts.store !== undefined ? { store: opts.store } : {}),
    ...(opts.site !== undefined ? { site: opts.site } : {}),
  };
  if (action !== "gc" && (opts.olderThan !== undefined || opts.dryRun)) {
    throw new UsageError(
      `Cannot use --older-than or --dry-run with store ${action}: only gc takes them`,
    );
  }
  if (action === "pull") {
    if (workflow === undefined) {
      throw new UsageError("Cannot pull: name the workflow file whose plan to fill");
    }
    const r = await runWorkflowFile(workflow, {
      ...common,
      ...named,
      storeOnly: true,
      keepGoing: true,
      progress: "quiet",
      signal: new AbortController().signal,
      io: { write: io.stderr, out: io.stdout, color: io.color, terminal: false },
    });
    setExit(r.code);
    return;
  }
  if (action === "verify") {
    const r = await storeVerify(named);
    if (!r.ok) throw new UsageError(r.message);
    io.stdout(renderVerify(r.value));
    setExit(r.value.bad.length > 0 ? 1 : 0);
    return;
  }
  if (action === "push") {
    const workspace = workspaceOf("push", workflow, opts.workspace);
    const r = await storePush({ ...named, workspace });
    if (!r.ok) throw new UsageError(r.message);
    io.stdout(renderPush(r.value));
    setExit(r.value.failed.length > 0 ? 1 : 0);
    return;
  }
  if (workflow === undefined && opts.olderThan === undefined) {
    throw new UsageError(
      "Cannot collect the store: name a workflow (keep what its plan needs) or --older-than DATE",
    );
  }
  const r = await storeGc({
    ...named,
    ...(workflow !== undefined ? { workflow } : {}),
    ...(opts.workspace !== undefined ? { workspace: opts.workspace } : {}),
    params: common.params,
    ...(opts.olderThan !== undefined ? { before: opts.olderThan } : {}),
    dryRun: opts.dryRun === true,
  });
  if (!r.ok) throw new UsageError(r.message);
  io.stdout(renderGc(r.value, opts.dryRun === true));
  setExit(0);
}
