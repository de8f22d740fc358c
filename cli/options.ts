/**
 * Options and arguments more than one command takes, each declared once, and
 * the parsers of option values. A command adds them in the order its help
 * lists them.
 * @module
 */

import { Argument, Option } from "../deps/commander.ts";
import type { ParamValue } from "../dsl/model.ts";
import { parseParamOverrides } from "../dsl/params.ts";
import { UsageError } from "./context.ts";
import { checkWorkspaceOption } from "./workspace.ts";

// No default list: commander would print "(default: [])" in the help of every repeatable option.
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `-s, --site <file>` (check, plan, run). */
export const siteOption = (): Option =>
  new Option("-s, --site <file>", "site file describing the executors");

/** `--store <url>` (plan, run, store). */
export const storeOption = (): Option =>
  new Option(
    "--store <url>",
    "result store shared between workspaces: file:///dir, sftp://host/dir, rsync+ssh://host/dir or https://host/dir (wins over the site file's store)",
  );

/** `-f, --format <format>` with the formats a command writes; the first is the default. */
export const formatOption = (formats: readonly [string, ...string[]]): Option =>
  new Option("-f, --format <format>", "output format").choices(formats).default(formats[0]);

/**
 * `-w, --workspace <dir>`. Commands that read a workflow default to its
 * folder; those that only read the state (status, report, clean) also work
 * without one, in the current directory.
 */
export const workspaceOption = (without: "workflow" | "state"): Option =>
  new Option(
    "-w, --workspace <dir>",
    without === "workflow"
      ? "workspace directory (default: the workflow file's folder)"
      : "workspace directory (default: the workflow file's folder, else the current directory)",
  );

/** `-p, --param <name=value>`, repeatable (check, plan, run). */
export const paramOption = (): Option =>
  new Option("-p, --param <name=value>", "override a param; the value is read as YAML (repeatable)")
    .argParser(collect);

/** `--params <file>`, repeatable (check, plan, run). */
export const paramsFileOption = (): Option =>
  new Option(
    "--params <file>",
    "read params from a YAML, TOML or JSON file (repeatable; later files and --param win)",
  ).argParser(collect);

/** `--assume-inputs` (check, plan). */
export const assumeInputsOption = (): Option =>
  new Option(
    "--assume-inputs",
    "treat absent local input files as present (CI without data) and warn about each",
  );

/** `--rerun <app>`, repeatable (plan, run). */
export const rerunOption = (): Option =>
  new Option(
    "--rerun <app>",
    "run this app (or task id) again, and what depends on it (repeatable)",
  ).argParser(collect);

/** `--no-cache` (plan, run): `what` says what the command then does. */
export const noCacheOption = (what: string): Option =>
  new Option("--no-cache", `${what}, ignoring the state of earlier runs`);

/** `<workflow>` (plan, run). */
export const workflowArgument = (): Argument =>
  new Argument("<workflow>", "workflow file (.yaml, .yml or .toml)");

/** `[run]` (status, report). */
export const runArgument = (): Argument =>
  new Argument("[run]", "a run id, or the start of exactly one (default: the latest run)");

/** What `check`, `plan` and `run` take from their options: site, workspace, params and params files. */
export function workflowOptions(
  opts: { site?: string; workspace?: string; param?: string[]; params?: string[] },
): {
  site?: string;
  workspace?: string;
  params: Readonly<Record<string, ParamValue>>;
  paramFiles: readonly string[];
} {
  const overrides = parseParamOverrides(opts.param ?? []);
  if (!overrides.ok) throw new UsageError(overrides.message);
  checkWorkspaceOption(opts.workspace);
  return {
    ...(opts.site !== undefined ? { site: opts.site } : {}),
    ...(opts.workspace !== undefined ? { workspace: opts.workspace } : {}),
    params: overrides.params,
    paramFiles: opts.params ?? [],
  };
}

/** A whole number of 1 or more (`--jobs`, `--transfers`). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`Cannot use "${value}" as a count: write a whole number of 1 or more`);
  }
  return n;
}

/**
 * A parser of seconds from `min` to `max` for option `name`; the value it
 * gives is in milliseconds, as the library takes it.
 */
export function secondsAsMs(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = value.trim() === "" ? NaN : Number(value);
    if (!(n >= min && n <= max)) {
      throw new UsageError(
        `Cannot use ${name} "${value}": write a number of seconds from ${min} to ${max}`,
      );
    }
    return Math.round(n * 1000);
  };
}
