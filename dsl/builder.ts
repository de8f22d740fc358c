/**
 * Workflows in TypeScript: {@linkcode workflow}, {@linkcode app} and
 * {@linkcode file} build the same document a YAML or TOML file holds, so
 * checking, planning and running are exactly those of the CLI. References are
 * typed: `count.outputs.n` exists only when `count` declared an output `n`,
 * and becomes the expression `${{ apps.count.outputs.n }}`. An unknown output
 * or param name also fails at run time, naming the script's line and the
 * names that exist (exit code 2), for scripts run without type-checking.
 *
 * A script that builds a workflow is also its command line:
 * `deno run --check -A my_workflow.ts plan|run|check [options]` (see
 * {@linkcode WorkflowBuilder.main}); `--check` type-checks it first.
 *
 * @example
 * ```ts
 * import { workflow } from "./builder.ts";
 * import assert from "node:assert/strict";
 * const wf = workflow("words", { params: { words: ["alpha", "beta"] } });
 * const count = wf.app("count", {
 *   forEach: { word: wf.param("words") },
 *   outputs: { n: "counts/${{ word }}.txt" },
 *   shell: "echo ${{ word }} | wc -c > ${{ outputs.n }}",
 * });
 * wf.app("total", {
 *   inputs: { counts: count.outputs.n },
 *   outputs: { sum: "total.txt" },
 *   shell: "cat ${{ inputs.counts }} > ${{ outputs.sum }}",
 * });
 * const doc = wf.toDocument();
 * const apps = doc.apps as { total: { inputs: unknown } };
 * assert.deepEqual(apps.total.inputs, { counts: "${{ apps.count.outputs.n }}" });
 * assert.deepEqual(wf.validate().problems, []);
 * ```
 * @module
 */

import type { ParamType, ParamValue, Workflow } from "./model.ts";
import { type Validated, validateWorkflow } from "./validate.ts";
import { exportedNames } from "./exported_names.ts";
import { checkedRecord, unknownName } from "./builder_refs.ts";

// The types the builder's API names, so that the "./builder" entry point documents itself whole.
export type * from "./model.ts";
export type { Validated } from "./validate.ts";
export type { KeyPath, Problem, Severity } from "./diagnostic.ts";
export { BuilderError } from "./builder_refs.ts";

/**
 * An expression (`${{ ... }}`) standing for a param, a named file or an app's output.
 *
 * @example
 * ```ts
 * import { Ref } from "./builder.ts";
 * import assert from "node:assert/strict";
 * const samples = new Ref("params.samples");
 * assert.equal(`${samples}`, "${{ params.samples }}");
 * assert.equal(JSON.stringify({ for_each: { s: samples } }), '{"for_each":{"s":"${{ params.samples }}"}}');
 * ```
 */
export class Ref {
  /** The expression text. */
  readonly expr: string;
  /** Make a reference to an expression (`params.x`, `apps.a.outputs.o`). */
  constructor(expression: string) {
    this.expr = `\${{ ${expression} }}`;
  }
  /** The expression text, so that a reference can be used inside strings. */
  toString(): string {
    return this.expr;
  }
  /** The expression text in the document. */
  toJSON(): string {
    return this.expr;
  }
}

/** A file in long form (exactly one of `path`, `url`, `glob`, `dir`). */
export interface FileObject {
  /** A workspace-relative path or a URL. */
  readonly path?: string;
  /** A URL. */
  readonly url?: string;
  /** Outputs only: a glob collected after the task ran. */
  readonly glob?: string;
  /** Outputs only: a directory the task fills. */
  readonly dir?: string;
  /** Outputs only: an intermediate file. */
  readonly temp?: boolean;
  /** Inputs only: the expected digest, `sha256:<hex>`. */
  readonly checksum?: string;
}

/** One file: a path or URL (expressions allowed), a long form, or a reference. */
export type FileSpec = string | FileObject | Ref;
/** One file or a list of files. */
export type FilesSpec = FileSpec | readonly FileSpec[];

/**
 * A file in long form: a path, or a URL when it has a scheme.
 *
 * @example
 * ```ts
 * import { file } from "./builder.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(file("data/ref.fa"), { path: "data/ref.fa" });
 * assert.deepEqual(file("https://example.org/ref.fa", { checksum: "sha256:ab" }), {
 *   url: "https://example.org/ref.fa",
 *   checksum: "sha256:ab",
 * });
 * ```
 */
export function file(
  pathOrUrl: string,
  options: Omit<FileObject, "path" | "url"> = {},
): FileObject {
  return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(pathOrUrl) && !/^[A-Za-z]:[\\/]/.test(pathOrUrl)
    ? { url: pathOrUrl, ...options }
    : { path: pathOrUrl, ...options };
}

/** What one task needs. */
export interface ResourcesSpec {
  /**
   * Cores per task: N (up to N, as many as the executor has), a `${{ }}` expression, or a range
   * `{ min, max }` (`max` defaults to `min`).
   */
  readonly cores?: number | string | Ref | {
    readonly min?: number | string | Ref;
    readonly max?: number | string | Ref;
  };
  /** Memory with a unit (`512M`, `4GiB`), needed whole; or a range `{ min, max }` granted up to max. */
  readonly memory?: string | Ref | { readonly min?: string | Ref; readonly max?: string | Ref };
  /** Time limit: `90s`, `30m`, `1h30m`, `HH:MM:SS`. */
  readonly walltime?: string | number;
  /** GPUs per task. */
  readonly gpus?: number;
  /** MPI ranks. */
  readonly ranks?: number;
}

/** An app, as {@linkcode WorkflowBuilder.app} takes it (the YAML keys, `forEach` for `for_each`). */
export interface AppSpec<O extends Record<string, FilesSpec> = Record<string, FilesSpec>> {
  /** Free text. */
  readonly description?: string;
  /** A label per task; may hold expressions. */
  readonly label?: string;
  /** The executor's name. */
  readonly executor?: string;
  /** Fan-out: one task per combination of these lists (of values or records), or references to lists or mappings. */
  readonly forEach?: Readonly<
    Record<
      string,
      readonly (string | number | boolean | Readonly<Record<string, ParamValue>>)[] | Ref | string
    >
  >;
  /** The part of each task's id between the brackets, as a template: `${{ sample.name }}`. */
  readonly id?: string;
  /** Apps (or their names) whose every task must finish first. */
  readonly after?: readonly (string | AppRef)[];
  /** Files the task reads, by name. */
  readonly inputs?: Readonly<Record<string, FilesSpec>>;
  /** Files the task writes, by name. */
  readonly outputs?: O;
  /** The argv, without a shell. */
  readonly command?: readonly (string | number | boolean | Ref)[];
  /** A bash script, run with `set -euo pipefail`. */
  readonly shell?: string;
  /**
   * A TypeScript function: `./module.ts#exportName` relative to the script, or the function
   * itself when the script exports it (it runs in its own Deno process, see {@linkcode
   * WorkflowBuilder.main}).
   */
  // deno-lint-ignore no-explicit-any
  readonly function?: string | ((args: any) => unknown);
  /**
   * A script file relative to the script that builds the workflow (`scripts/plot.py`), run by the
   * interpreter its extension or `#!` line names; its task is described in the JSON file named by
   * `FERRY_TASK`.
   */
  readonly script?: string;
  /** What the Deno process of a function (or a Deno script) may do beyond what ferry derives. */
  readonly permissions?: PermissionsSpec;
  /** Send standard output to this file. */
  readonly stdout?: string | Ref;
  /** Send standard error to this file. */
  readonly stderr?: string | Ref;
  /** Write what each task used to this file (Snakemake's benchmark TSV). */
  readonly benchmark?: string;
  /** Environment variables. */
  readonly env?: Readonly<Record<string, string | number | boolean>>;
  /** What one task needs. */
  readonly resources?: ResourcesSpec;
  /** Retries after a failure. */
  readonly retries?: number;
  /** Caching: `false`, or parts to leave out of the key. */
  readonly cache?: boolean | { readonly ignore: readonly string[] };
  /** Bump to invalidate cached results. */
  readonly version?: string | number;
  /**
   * The container image the task runs in (its executor's `container_runtime` runs it), or
   * `false` to run outside the default's image.
   */
  readonly container?: string | false;
}

/** An app's `permissions:`: more of what its Deno process may do. */
export interface PermissionsSpec {
  /** More paths it may read. */
  readonly read?: readonly string[];
  /** More paths it may write. */
  readonly write?: readonly string[];
  /** Hosts it may reach. */
  readonly net?: readonly string[];
  /** More environment variables it may read. */
  readonly env?: readonly string[];
  /** Programs it may start. */
  readonly run?: readonly string[];
  /** Every permission (Deno's `-A`). */
  readonly all?: boolean;
}

/** An app of a workflow: its name, and a reference to each of its outputs. */
export interface AppRef<O extends Record<string, FilesSpec> = Record<string, FilesSpec>> {
  /** The app's name. */
  readonly name: string;
  /** `${{ apps.NAME.outputs.OUTPUT }}` for each declared output. */
  readonly outputs: { readonly [K in keyof O]: Ref };
  /** The app as the document holds it. */
  readonly spec: AppSpec<O>;
}

/**
 * An app made on its own, to add to a workflow with `workflow(name, { apps: [...] })`.
 *
 * @example
 * ```ts
 * import { app, workflow } from "./builder.ts";
 * import assert from "node:assert/strict";
 * const fetch = app("fetch", { outputs: { page: "page.html" }, command: ["curl", "-o", "page.html", "https://example.org"] });
 * const wf = workflow("site", { apps: [fetch] });
 * assert.equal(String(fetch.outputs.page), "${{ apps.fetch.outputs.page }}");
 * assert.deepEqual(Object.keys(wf.toDocument().apps as object), ["fetch"]);
 * ```
 */
export function app<O extends Record<string, FilesSpec>>(
  name: string,
  spec: AppSpec<O>,
): AppRef<O> {
  const outputs = {} as { [K in keyof O]: Ref };
  for (const k of Object.keys(spec.outputs ?? {}) as (keyof O & string)[]) {
    outputs[k] = new Ref(`apps.${name}.outputs.${k}`);
  }
  // An unknown output name throws where the script wrote it (deno run does not type-check).
  const checked = checkedRecord(outputs, {
    subject: (o) => `output "${o}" of app "${name}"`,
    collection: `outputs of app "${name}"`,
    empty: `app "${name}" has no outputs`,
  });
  return { name, outputs: checked, spec };
}

/** The rest of a workflow file's top level. */
export interface WorkflowOptions {
  /** Free text. */
  readonly description?: string;
  /** Parameters (`--params` files and `--param` override them). */
  readonly params?: Readonly<Record<string, ParamValue>>;
  /** Types of params whose default cannot show one (`param_types`). */
  readonly paramTypes?: Readonly<Record<string, ParamType>>;
  /** Named files. */
  readonly files?: Readonly<Record<string, FileSpec>>;
  /** Defaults every app inherits. */
  readonly defaults?: {
    readonly executor?: string;
    readonly retries?: number;
    readonly resources?: ResourcesSpec;
    readonly cache?: boolean | { readonly ignore: readonly string[] };
    readonly env?: Readonly<Record<string, string | number | boolean>>;
    /** The container image of apps that name none. */
    readonly container?: string | false;
  };
  /** Executors, as a site file holds them (a site file given with --site overrides them). */
  readonly executors?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Apps made with {@linkcode app}. */
  readonly apps?: readonly AppRef[];
}

/** A workflow being built. */
export class WorkflowBuilder {
  readonly #name: string;
  readonly #options: WorkflowOptions;
  readonly #apps = new Map<string, AppRef>();
  readonly #files = new Map<string, FileSpec>();

  /** Start a workflow; {@linkcode workflow} is the usual way. */
  constructor(name: string, options: WorkflowOptions = {}) {
    this.#name = name;
    this.#options = options;
    for (const a of options.apps ?? []) this.add(a);
    for (const [k, v] of Object.entries(options.files ?? {})) this.#files.set(k, v);
  }

  /** `${{ params.NAME }}`; throws a located error when the workflow declares no such param. */
  param(name: string): Ref {
    const known = Object.keys(this.#options.params ?? {});
    if (!known.includes(name)) {
      unknownName(name, known, {
        subject: (p) => `param "${p}"`,
        collection: `params of workflow "${this.#name}"`,
        empty: `workflow "${this.#name}" declares no params`,
      });
    }
    return new Ref(`params.${name}`);
  }

  /** Declare a named file; returns `${{ files.NAME }}`. */
  file(name: string, spec: FileSpec): Ref {
    this.#files.set(name, spec);
    return new Ref(`files.${name}`);
  }

  /** Add an app; returns references to its outputs. */
  app<O extends Record<string, FilesSpec>>(name: string, spec: AppSpec<O>): AppRef<O> {
    return this.add(app(name, spec));
  }

  /** Add an app made with {@linkcode app}. */
  add<O extends Record<string, FilesSpec>>(a: AppRef<O>): AppRef<O> {
    if (this.#apps.has(a.name)) {
      throw new Error(`workflow "${this.#name}" already has an app "${a.name}"`);
    }
    this.#apps.set(a.name, a as unknown as AppRef);
    return a;
  }

  /**
   * The document, exactly as a YAML file with the same content would parse.
   * `baseDir` makes `function:` module, `script:` and `permissions:` paths absolute (for a
   * document that will live elsewhere than the script).
   */
  toDocument(
    options: {
      readonly baseDir?: string;
      /** Where function references are exported: function → `module#name`. */
      readonly functions?: ReadonlyMap<unknown, string>;
    } = {},
  ): Record<string, unknown> {
    const o = this.#options;
    const apps: Record<string, unknown> = {};
    for (const [name, a] of this.#apps) {
      const { forEach, after, function: fn, script, permissions, ...rest } = a.spec;
      const at = (path: string) => absoluteModule(path, options.baseDir);
      apps[name] = {
        ...rest,
        ...(forEach !== undefined ? { for_each: forEach } : {}),
        ...(after !== undefined
          ? { after: after.map((x) => (typeof x === "string" ? x : x.name)) }
          : {}),
        ...(fn !== undefined
          ? { function: absoluteModule(functionName(name, fn, options.functions), options.baseDir) }
          : {}),
        ...(script !== undefined ? { script: at(script) } : {}),
        ...(permissions !== undefined
          ? {
            permissions: {
              ...permissions,
              ...(permissions.read ? { read: permissions.read.map(at) } : {}),
              ...(permissions.write ? { write: permissions.write.map(at) } : {}),
            },
          }
          : {}),
      };
    }
    const doc = {
      ferry: 1,
      name: this.#name,
      ...(o.description !== undefined ? { description: o.description } : {}),
      ...(o.params !== undefined ? { params: o.params } : {}),
      ...(o.paramTypes !== undefined ? { param_types: o.paramTypes } : {}),
      ...(this.#files.size > 0 ? { files: Object.fromEntries(this.#files) } : {}),
      ...(o.defaults !== undefined ? { defaults: o.defaults } : {}),
      ...(o.executors !== undefined ? { executors: o.executors } : {}),
      apps,
    };
    // References become their expression text; the result is plain JSON data.
    return JSON.parse(JSON.stringify(doc));
  }

  /** Check the document's shape and meaning, as `ferry check` does before the DAG phase. */
  validate(): Validated<Workflow> {
    return validateWorkflow(this.toDocument());
  }

  /**
   * Run the CLI on this workflow: `deno run --check -A my_workflow.ts
   * plan|run|check [options] [targets]`. The document is written to
   * `.ferry/generated/NAME.yaml` in the workspace (diagnostics point there),
   * `function:` paths stay relative to the script, and the workspace is the
   * script's folder unless `options.workspace` or `--workspace` says
   * otherwise. Returns the exit code; exits with it when `exit` is true (the
   * default when the script is the main module).
   */
  async main(
    args: readonly string[] = Deno.args,
    options: {
      readonly script?: string | URL;
      readonly workspace?: string | URL;
      readonly exit?: boolean;
    } = {},
  ): Promise<number> {
    const { dirname, basename, join } = await import("node:path");
    const { fileURLToPath } = await import("node:url");
    const path = (
      p: string | URL,
    ) => (p instanceof URL || p.startsWith("file:") ? fileURLToPath(p) : p);
    const script = path(options.script ?? Deno.mainModule);
    const workspace = options.workspace !== undefined ? path(options.workspace) : dirname(script);
    const generated = join(workspace, ".ferry", "generated", `${basename(script, ".ts")}.yaml`);
    await Deno.mkdir(dirname(generated), { recursive: true });
    await Deno.writeTextFile(
      generated,
      `# Generated by ${
        basename(script)
      } (ferry's TypeScript builder); edit the script instead.\n` +
        JSON.stringify(
          this.toDocument({
            baseDir: dirname(script),
            functions: exportsOf(script, this.#apps.values()),
          }),
          null,
          2,
        ) + "\n",
    );
    const [command, ...rest] = args;
    // The CLI is a later layer than this builder: it loads only when a script runs as its own
    // CLI, through a specifier the module graph does not follow, so a library user's graph (and
    // mod.ts's) stays free of it.
    const cliModule = new URL("../cli/mod.ts", import.meta.url).href;
    const { cli } = await import(cliModule) as {
      cli(args: readonly string[]): Promise<number>;
    };
    let code: number;
    if (command === undefined || !WORKFLOW_COMMANDS.has(command)) {
      code = await cli(command === undefined ? ["--help"] : [...args]);
    } else {
      const hasWorkspace = rest.some((a) => a === "-w" || a.startsWith("--workspace"));
      code = await cli([
        command,
        ...(hasWorkspace ? [] : ["--workspace", workspace]),
        generated,
        ...rest,
      ]);
    }
    if (options.exit ?? script === path(Deno.mainModule)) Deno.exit(code);
    return code;
  }
}

/** A `function:` value as text: a reference becomes the `module#export` it was found under. */
function functionName(
  app: string,
  fn: string | ((args: never) => unknown),
  found: ReadonlyMap<unknown, string> | undefined,
): string {
  if (typeof fn === "string") return fn;
  const name = found?.get(fn);
  if (name === undefined) {
    throw new Error(
      `app "${app}": its function ${
        fn.name || "(anonymous)"
      } must be exported by the script that ` +
        `calls main() (it runs in its own Deno process, which imports it), or be given as "./module.ts#name"`,
    );
  }
  return name;
}

/** Commands that take the workflow file as their first argument. */
const WORKFLOW_COMMANDS = new Set(["check", "plan", "run", "status", "clean"]);

function absoluteModule(fn: string, baseDir: string | undefined): string {
  if (baseDir === undefined || fn.startsWith("/")) return fn;
  return `${baseDir.replace(/\/$/, "")}/${fn.replace(/^\.\//, "")}`;
}

/** Start building a workflow named `name`. */
export function workflow(name: string, options: WorkflowOptions = {}): WorkflowBuilder {
  return new WorkflowBuilder(name, options);
}

/** Function references of `apps` that `script` exports under their own name: fn → `script#name`. */
function exportsOf(script: string, apps: Iterable<AppRef>): Map<unknown, string> {
  const found = new Map<unknown, string>();
  let names: Set<string>;
  try {
    names = exportedNames(Deno.readTextFileSync(script));
  } catch {
    return found;
  }
  for (const a of apps) {
    const fn = a.spec.function;
    if (typeof fn === "function" && fn.name && names.has(fn.name)) {
      found.set(fn, `${script}#${fn.name}`);
    }
  }
  return found;
}
