/**
 * The typed model (IR) that both front ends (YAML/TOML files and the
 * TypeScript builder) produce. Plain readonly data: templates stay strings
 * and are parsed where they are evaluated.
 * @module
 */

/** A key path into the source document. */
export type Where = readonly (string | number)[];

/** A param's type, as `param_types` declares it. */
export type ParamType = "string" | "number" | "integer" | "boolean" | "list" | "mapping";

/** A scalar parameter or argv value. */
export type Scalar = string | number | boolean;

/** Any parameter value (what YAML/TOML can hold). */
export type ParamValue =
  | Scalar
  | null
  | readonly ParamValue[]
  | { readonly [key: string]: ParamValue };

/** One file named in `files`, `inputs` or `outputs`. */
export interface DeclaredFile {
  /** `file`: a path or URL; `glob`/`dir`: a dynamic output known after the task ran. */
  readonly kind: "file" | "glob" | "dir";
  /** The path, URL, glob or directory, as a template string. */
  readonly value: string;
  /** An intermediate output, deleted after its consumers ran. */
  readonly temp?: boolean;
  /** Expected digest, `sha256:<hex>`. */
  readonly checksum?: string;
  /** Outputs: a replica catalog (`.csv`, `.yaml`, `.yml`, `.toml`; relative to the workflow file) to register it in. */
  readonly register?: string;
  /** Where the value sits in the source document. */
  readonly where: Where;
  /** A named logical file: its copies, in order of preference (`value` is the first's). */
  readonly replicas?: readonly Replica[];
  /** A named logical file whose replicas a catalog lists (filled in when the catalog is read). */
  readonly catalog?: { readonly file: string; readonly name: string; readonly where: Where };
}

/** One copy of a logical file. */
export interface Replica {
  /** Its URL or path, as a template string (a catalog's: a literal URL). */
  readonly value: string;
  /** The site holding it (an executor's `site`, else its name). */
  readonly site?: string;
  /** Where it sits in the workflow (for a catalog's, the `catalog` key). */
  readonly where: Where;
  /** From a catalog: `value` is an absolute URL, not a template. */
  readonly literal?: boolean;
}

/** Storage an executor's nodes see under another name: files under `url` are under `path`. */
export interface Endpoint {
  /** The remote name, a URL prefix ending in `/`. */
  readonly url: string;
  /** The local name on the nodes, an absolute directory ending in `/`. */
  readonly path: string;
}

/** A file of ferry's own that no output may be, hold or lie under: the workflow or site file. */
export interface OwnFile {
  /** Its absolute path. */
  readonly path: string;
  /** What it is, for messages: "workflow file", "site file". */
  readonly what: string;
}

/** An input or output slot: one file or a list. */
export interface FileSlot {
  /** Written as a list (or may expand to one). */
  readonly many: boolean;
  /** The files. */
  readonly files: readonly DeclaredFile[];
}

/** What a task runs. */
export type Run =
  | { readonly kind: "command"; readonly argv: readonly string[] }
  | { readonly kind: "shell"; readonly script: string }
  | { readonly kind: "function"; readonly module: string; readonly export: string }
  | { readonly kind: "script"; readonly path: string };

/**
 * What an app's Deno process (a `function:` app, a `.ts`/`.js` script) may do beyond what ferry
 * derives from its plan, as the app's `permissions:` writes it (paths relative to the workflow
 * file).
 */
export interface Permissions {
  /** More paths it may read. */
  readonly read: readonly string[];
  /** More paths it may write. */
  readonly write: readonly string[];
  /** Hosts it may reach. */
  readonly net: readonly string[];
  /** More environment variables it may read. */
  readonly env: readonly string[];
  /** Programs it may start. */
  readonly run: readonly string[];
  /** Every permission (Deno's `-A`). */
  readonly all: boolean;
}

/** Resource needs of one task, as granted: memory in bytes, walltime in seconds. */
export interface Resources {
  /** Cores per task (per rank). */
  readonly cores?: number;
  /** Bytes. */
  readonly memory?: number;
  /** Seconds. */
  readonly walltime?: number;
  /** GPUs per task. */
  readonly gpus?: number;
  /** MPI ranks. */
  readonly ranks?: number;
}

/** A bound of an elastic resource: a number (cores; memory in bytes), or a template evaluated per task. */
export type ResourceBound = number | string;

/**
 * An elastic resource as written (`cores`, `memory`): a task is granted as much as its executor
 * has, from `min` to `max`. `cores: 8` is `{ min: 1, max: 8 }`; `memory: 4GiB` is
 * `{ min: 4GiB, max: 4GiB }`.
 */
export interface ResourceRange {
  /** The least the task runs with: more than its executor has is a `check` error. */
  readonly min: ResourceBound;
  /** The most the task can use. */
  readonly max: ResourceBound;
  /** Where the minimum was written (or the whole value, for a single one). */
  readonly minWhere: Where;
  /** Where the maximum was written. */
  readonly maxWhere: Where;
}

/** An app's resources as written: cores and memory as ranges, the rest as values. */
export interface ResourceRequests {
  /** Cores per task (per rank). */
  readonly cores?: ResourceRange;
  /** Memory: bounds in bytes, or templates giving a quantity. */
  readonly memory?: ResourceRange;
  /** Seconds. */
  readonly walltime?: number;
  /** GPUs per task. */
  readonly gpus?: number;
  /** MPI ranks. */
  readonly ranks?: number;
  /** Where `ranks` was written. */
  readonly ranksWhere?: Where;
}

/** Cache policy of an app. */
export interface CachePolicy {
  /** False: always run. */
  readonly enabled: boolean;
  /** Parts of the cache key left out. */
  readonly ignore: readonly string[];
}

/** One `for_each` variable: a literal list or an expression string. */
export interface ForEachVar {
  /** The variable's name. */
  readonly name: string;
  /**
   * A literal list (of scalars or records; a literal mapping becomes its entries `{ key, value }`),
   * or a template that must name a list or a mapping.
   */
  readonly source: string | readonly ParamValue[];
}

/** An app: one step, maybe fanned out into many tasks. */
export interface App {
  /** The app's name. */
  readonly name: string;
  /** Free text. */
  readonly description?: string;
  /** Label template. */
  readonly label?: string;
  /** Task id template: the part between the brackets of `app[…]`. */
  readonly id?: string;
  /** Executor name (defaults resolved); the first of `placeAmong` when it has several. */
  readonly executor: string;
  /** Several executors (`executor: any` or a list): each task goes where its inputs are. */
  readonly placeAmong?: readonly string[] | "any";
  /** Fan-out variables, in order. */
  readonly forEach: readonly ForEachVar[];
  /** App dependencies. */
  readonly after: readonly string[];
  /** Inputs by name. */
  readonly inputs: Readonly<Record<string, FileSlot>>;
  /** Outputs by name. */
  readonly outputs: Readonly<Record<string, FileSlot>>;
  /** What runs, if the app says (exactly one kind; a rule reports otherwise). */
  readonly run?: Run;
  /** What its Deno process may do beyond what ferry derives (function apps, Deno scripts). */
  readonly permissions?: Permissions;
  /** Standard output redirect template. */
  readonly stdout?: string;
  /** Standard error redirect template. */
  readonly stderr?: string;
  /** Where each task's usage figures go (a workspace-relative path template). */
  readonly benchmark?: string;
  /** Environment, values as templates. */
  readonly env: Readonly<Record<string, string>>;
  /** Resource needs as written (defaults merged); each task is granted its own {@linkcode Resources}. */
  readonly resources: ResourceRequests;
  /** Retries after the first attempt. */
  readonly retries: number;
  /** Cache policy. */
  readonly cache: CachePolicy;
  /** Cache-busting version. */
  readonly version?: string;
  /** The container image the task runs in (`container:`, else `defaults.container`; `false`: none). */
  readonly container?: string;
}

/** A staging rule of an executor. */
export interface StagingRule {
  /** URLPattern text. */
  readonly match: string;
  /** Action name or module path. */
  readonly action: string;
  /** Rewrite target template. */
  readonly to?: string;
  /** Every other option, as written. */
  readonly options: Readonly<Record<string, ParamValue>>;
}

/** A container engine ferry knows how to call. */
export type ContainerEngine = "podman" | "docker" | "apptainer" | "singularity";

/** How an executor runs apps in containers (`container_runtime:`). */
export interface ContainerRuntime {
  /** The engine. */
  readonly engine: ContainerEngine;
  /** Its executable (a path, or a name on PATH). @default the engine's name */
  readonly command: string;
  /** Options of the engine itself, before its subcommand. @default [] */
  readonly args: readonly string[];
  /** Options of its `run` (podman, docker) or `exec` (apptainer, singularity), before the image. */
  readonly runArgs: readonly string[];
}

/** Shared-storage model of an executor (Parsl's three). */
export type FilesystemModel = "shared" | "executor-shared" | "none";

/** An executor: where tasks run and how files reach them. */
export interface Executor {
  /** Its name. */
  readonly name: string;
  /** Batch provider name or module path. */
  readonly provider: string;
  /** Provider options. */
  readonly options: Readonly<Record<string, ParamValue>>;
  /** Shell run before each task on the node. */
  readonly workerInit?: string;
  /** How apps with a `container` run here; none: such apps cannot use this executor. */
  readonly containerRuntime?: ContainerRuntime;
  /** Storage model. */
  readonly filesystem: FilesystemModel;
  /** The site it belongs to, for choosing replicas. @default its name */
  readonly site?: string;
  /** Storage its nodes see under another name (endpoint mapping). */
  readonly endpoints?: readonly Endpoint[];
  /** Node-local scratch directory. */
  readonly scratch?: string;
  /** Job bundling: one job per task, job arrays, or pilot blocks whose workers take the tasks. */
  readonly bundle: "none" | "array" | "pilot";
  /** Pilot blocks (`pilot:`), with defaults filled in; present when the document writes it. */
  readonly pilot?: PilotSettings;
  /** Concurrent tasks. */
  readonly maxWorkers?: number;
  /** Concurrent jobs. */
  readonly maxJobs?: number;
  /** Capacity in cores. */
  readonly cores?: number;
  /** Capacity in bytes. */
  readonly memory?: number;
  /** Login node for submission. */
  readonly via?: string;
  /** Remote host for the ssh provider. */
  readonly host?: string;
  /** Environment for every task. */
  readonly env: Readonly<Record<string, string>>;
  /** Ordered staging rules. */
  readonly staging: readonly StagingRule[];
}

/** How an executor with `bundle: pilot` sizes and scales its blocks (`pilot:`). */
export interface PilotSettings {
  /** Nodes of one block. @default 1 */
  readonly nodesPerBlock: number;
  /** Workers on each node of a block (tasks it runs at once). @default 1 */
  readonly workersPerNode: number;
  /** Blocks submitted when the first task arrives. @default 1 */
  readonly initBlocks: number;
  /** Blocks kept while tasks remain. @default 0 */
  readonly minBlocks: number;
  /** Blocks at most, queued or running. @default 10 */
  readonly maxBlocks: number;
  /** A block's walltime, seconds. @default 3600 */
  readonly walltime: number;
  /** Seconds a worker waits for a task before it exits. @default 120 */
  readonly idleTimeout: number;
}

/** A workflow, whichever front end wrote it. */
export interface Workflow {
  /** Format version. */
  readonly ferry: number;
  /** Name. */
  readonly name: string;
  /** Free text. */
  readonly description?: string;
  /** Parameters. */
  readonly params: Readonly<Record<string, ParamValue>>;
  /** Declared types of params (`param_types`), by name. */
  readonly paramTypes?: Readonly<Record<string, ParamType>>;
  /** Named files. */
  readonly files: Readonly<Record<string, DeclaredFile>>;
  /** Executors declared in the workflow itself. */
  readonly executors: Readonly<Record<string, Executor>>;
  /** Apps in declaration order. */
  readonly apps: Readonly<Record<string, App>>;
}

/** A site file. */
export interface Site {
  /** Format version. */
  readonly ferrySite: number;
  /** Executors by name. */
  readonly executors: Readonly<Record<string, Executor>>;
  /** Roots outside the workspace that outputs may be written to. */
  readonly outputRoots: readonly string[];
  /** The result store (`store`): its URL and the options of the provider moving its bytes. */
  readonly store?: SiteStore;
}

/** A site file's `store`. */
export interface SiteStore {
  /** The store's URL. */
  readonly url: string;
  /** Staging options (`identity_file`, `known_hosts`, ...), as written. */
  readonly options: Readonly<Record<string, ParamValue>>;
}
