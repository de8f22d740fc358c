/**
 * Raw document → typed model. Tolerant by design: a value of the wrong shape
 * (already reported by the schema) is left out, so semantic rules can still
 * run over everything else and report every problem at once.
 * @module
 */

import type {
  App,
  CachePolicy,
  ContainerEngine,
  ContainerRuntime,
  DeclaredFile,
  Endpoint,
  Executor,
  FileSlot,
  FilesystemModel,
  ForEachVar,
  ParamType,
  ParamValue,
  Permissions,
  PilotSettings,
  Replica,
  ResourceBound,
  ResourceRange,
  ResourceRequests,
  Run,
  Scalar,
  Site,
  SiteStore,
  StagingRule,
  Where,
  Workflow,
} from "./model.ts";
import { parseMemory, parseWalltime } from "./quantity.ts";
import { compact } from "./compact.ts";
import { entries } from "./records.ts";
import { PARAM_TYPES } from "./params.ts";

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
/** A mapping's own entries; `__proto__` (refused by the schema) is dropped so it cannot touch prototypes. */
const obj = (v: unknown): Obj => {
  if (!isObj(v)) return {};
  if (!Object.hasOwn(v, "__proto__")) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) if (k !== "__proto__") out[k] = x;
  return out;
};
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const int = (v: unknown): number | undefined => (Number.isInteger(v) ? v as number : undefined);
const isScalar = (v: unknown): v is Scalar =>
  typeof v === "string" || typeof v === "number" || typeof v === "boolean";
const scalarText = (v: Scalar): string => String(v);

/** Build the workflow model from a (shape-checked) raw value. */
export function toWorkflow(raw: Obj): Workflow {
  const defaults = obj(raw.defaults);
  const apps: Record<string, App> = {};
  for (const [name, a] of Object.entries(obj(raw.apps))) {
    if (isObj(a)) apps[name] = toApp(name, a, defaults);
  }
  const files: Record<string, DeclaredFile> = {};
  for (const [name, f] of Object.entries(obj(raw.files))) {
    const spec = toNamedFile(f, name) ?? toFile(f, ["files", name]);
    if (spec) files[name] = spec;
  }
  return compact<Workflow>({
    ferry: int(raw.ferry) ?? 0,
    name: str(raw.name) ?? "",
    description: str(raw.description),
    params: obj(raw.params) as Record<string, ParamValue>,
    paramTypes: isObj(raw.param_types) ? toParamTypes(raw.param_types) : undefined,
    files,
    executors: toExecutors(raw.executors),
    apps,
  });
}

function toParamTypes(v: Obj): Record<string, ParamType> {
  const out: Record<string, ParamType> = {};
  for (const [name, t] of Object.entries(obj(v))) {
    if (typeof t === "string" && (PARAM_TYPES as readonly string[]).includes(t)) {
      out[name] = t as ParamType;
    }
  }
  return out;
}

/** Build the site model from a (shape-checked) raw value. */
export function toSite(raw: Obj): Site {
  return {
    ferrySite: int(raw["ferry-site"]) ?? 0,
    executors: toExecutors(raw.executors),
    outputRoots: Array.isArray(raw.output_roots)
      ? raw.output_roots.filter((x) => typeof x === "string")
      : [],
    ...(toSiteStore(raw.store) ?? {}),
  };
}

/** A site's `store`: a URL, or a mapping with `url` and staging options. */
function toSiteStore(v: unknown): { store: SiteStore } | undefined {
  if (typeof v === "string") return { store: { url: v, options: {} } };
  if (!isObj(v) || typeof v.url !== "string") return undefined;
  const { url, ...options } = v;
  return { store: { url, options: options as Record<string, ParamValue> } };
}

function toFile(v: unknown, where: Where): DeclaredFile | undefined {
  if (typeof v === "string") return { kind: "file", value: v, where };
  if (!isObj(v)) return undefined;
  const key = (["path", "url", "glob", "dir"] as const).find((k) => typeof v[k] === "string");
  if (!key) return undefined;
  return compact<DeclaredFile>({
    kind: key === "glob" ? "glob" as const : key === "dir" ? "dir" as const : "file" as const,
    value: v[key] as string,
    temp: v.temp === true ? true : undefined,
    checksum: str(v.checksum),
    register: str(v.register),
    where: [...where, key],
  });
}

/** A logical file: `{ replicas: [...] }` or `{ catalog, name }` (its replicas read later). */
function toNamedFile(v: unknown, name: string): DeclaredFile | undefined {
  if (!isObj(v)) return undefined;
  const where = ["files", name];
  const checksum = str(v.checksum);
  if (Array.isArray(v.replicas)) {
    const replicas: Replica[] = [];
    v.replicas.forEach((r, i) => {
      if (typeof r === "string") replicas.push({ value: r, where: [...where, "replicas", i] });
      else if (isObj(r) && typeof r.url === "string") {
        replicas.push(compact<Replica>({
          value: r.url,
          site: str(r.site),
          where: [...where, "replicas", i, "url"],
        }));
      }
    });
    const first = replicas[0];
    if (!first) return undefined;
    return compact<DeclaredFile>({
      kind: "file",
      value: first.value,
      checksum,
      where: first.where,
      replicas,
    });
  }
  if (typeof v.catalog !== "string") return undefined;
  return compact<DeclaredFile>({
    kind: "file",
    value: "",
    checksum,
    where: [...where, "catalog"],
    catalog: { file: v.catalog, name: str(v.name) ?? name, where: [...where, "catalog"] },
  });
}

function toSlots(v: unknown, base: Where): Record<string, FileSlot> {
  const out: Record<string, FileSlot> = {};
  for (const [name, value] of Object.entries(obj(v))) {
    const where = [...base, name];
    if (Array.isArray(value)) {
      const files = value.map((f, i) => toFile(f, [...where, i])).filter((f): f is DeclaredFile =>
        !!f
      );
      out[name] = { many: true, files };
    } else {
      const f = toFile(value, where);
      if (f) out[name] = { many: false, files: [f] };
    }
  }
  return out;
}

function toRun(a: Obj): Run | undefined {
  const kinds = ["command", "shell", "function", "script"].filter((k) => a[k] !== undefined);
  if (kinds.length !== 1) return undefined;
  if (Array.isArray(a.command)) {
    return { kind: "command", argv: a.command.filter(isScalar).map(scalarText) };
  }
  if (typeof a.shell === "string") return { kind: "shell", script: a.shell };
  if (typeof a.script === "string") return { kind: "script", path: a.script };
  if (typeof a.function === "string") {
    const hash = a.function.lastIndexOf("#");
    if (hash <= 0) return undefined; // the schema reports the missing "#export"
    return {
      kind: "function",
      module: a.function.slice(0, hash),
      export: a.function.slice(hash + 1),
    };
  }
  return undefined;
}

function toPermissions(v: unknown): Permissions | undefined {
  if (!isObj(v)) return undefined;
  const list = (x: unknown) =>
    Array.isArray(x) ? x.filter((s): s is string => typeof s === "string") : [];
  return {
    read: list(v.read),
    write: list(v.write),
    net: list(v.net),
    env: list(v.env),
    run: list(v.run),
    all: v.all === true,
  };
}

function toResources(layers: readonly [unknown, Where][]): ResourceRequests {
  const merged: Obj = {};
  const from: Record<string, Where> = {};
  for (const [l, where] of layers) {
    for (const [k, v] of Object.entries(obj(l))) {
      merged[k] = v;
      from[k] = [...where, k];
    }
  }
  const wall = typeof merged.walltime === "string" || typeof merged.walltime === "number"
    ? parseWalltime(merged.walltime)
    : undefined;
  return compact<ResourceRequests>({
    cores: from.cores && toRange(merged.cores, from.cores, coreBound, 1),
    memory: from.memory && toRange(merged.memory, from.memory, memoryBound, undefined),
    walltime: wall && "value" in wall ? wall.value : undefined,
    gpus: int(merged.gpus),
    ranks: int(merged.ranks),
    ranksWhere: int(merged.ranks) === undefined ? undefined : from.ranks,
  });
}

const isTemplate = (v: unknown): v is string => typeof v === "string" && v.includes("${{");
const coreBound = (v: unknown) => isTemplate(v) ? v : int(v);
const memoryBound = (v: unknown) => {
  if (isTemplate(v)) return v;
  const q = typeof v === "string" || typeof v === "number" ? parseMemory(v) : undefined;
  return q && "value" in q ? q.value : undefined;
};

/**
 * A resource as a range. A single core count N is "up to N" (`min` 1); a single memory size is
 * what the task needs (`min` = `max`). In a range, `max` defaults to `min`.
 */
function toRange(
  v: unknown,
  where: Where,
  bound: (v: unknown) => ResourceBound | undefined,
  singleMin: number | undefined,
): ResourceRange | undefined {
  if (!isObj(v)) {
    const b = bound(v);
    if (b === undefined) return undefined;
    return { min: singleMin ?? b, max: b, minWhere: where, maxWhere: where };
  }
  const min = v.min === undefined ? singleMin ?? 0 : bound(v.min);
  const max = v.max === undefined ? min : bound(v.max);
  if (min === undefined || max === undefined) return undefined;
  const minWhere = v.min === undefined ? where : [...where, "min"];
  return { min, max, minWhere, maxWhere: v.max === undefined ? minWhere : [...where, "max"] };
}

function toCache(v: unknown): CachePolicy {
  if (v === false) return { enabled: false, ignore: [] };
  if (isObj(v) && Array.isArray(v.ignore)) {
    return { enabled: true, ignore: v.ignore.filter((x): x is string => typeof x === "string") };
  }
  return { enabled: true, ignore: [] };
}

function toEnv(...layers: unknown[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of layers) {
    for (const [k, v] of Object.entries(obj(l))) if (isScalar(v)) out[k] = scalarText(v);
  }
  return out;
}

function toForEach(v: unknown): ForEachVar[] {
  const out: ForEachVar[] = [];
  for (const [name, source] of Object.entries(obj(v))) {
    if (typeof source === "string") out.push({ name, source });
    else if (Array.isArray(source)) {
      out.push({ name, source: source.filter((x) => isScalar(x) || isObj(x)) as ParamValue[] });
    } else if (isObj(source)) {
      out.push({ name, source: entries(source as Record<string, ParamValue>) });
    }
  }
  return out;
}

function toApp(name: string, a: Obj, defaults: Obj): App {
  const version = a.version;
  return compact<App>({
    name,
    description: str(a.description),
    label: str(a.label),
    id: str(a.id),
    ...placement(a.executor, str(defaults.executor) ?? "local"),
    forEach: toForEach(a.for_each),
    after: Array.isArray(a.after) ? a.after.filter((x): x is string => typeof x === "string") : [],
    inputs: toSlots(a.inputs, ["apps", name, "inputs"]),
    outputs: toSlots(a.outputs, ["apps", name, "outputs"]),
    run: toRun(a),
    permissions: toPermissions(a.permissions),
    stdout: str(a.stdout),
    stderr: str(a.stderr),
    benchmark: str(a.benchmark),
    env: toEnv(defaults.env, a.env),
    resources: toResources([[defaults.resources, ["defaults", "resources"]], [
      a.resources,
      ["apps", name, "resources"],
    ]]),
    retries: int(a.retries) ?? int(defaults.retries) ?? 0,
    cache: toCache(a.cache ?? defaults.cache),
    version: typeof version === "string" || typeof version === "number"
      ? String(version)
      : undefined,
    container: toContainer(a.container, defaults.container),
  });
}

/** The app's image: its own, else the default's; `false` (either level) is none. */
function toContainer(own: unknown, fallback: unknown): string | undefined {
  const v = own !== undefined ? own : fallback;
  return typeof v === "string" && v !== "" ? v : undefined;
}

const ENGINES: readonly string[] = ["podman", "docker", "apptainer", "singularity"];
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];

/** `container_runtime`: an engine's name, or a mapping with `engine` and options. */
function toContainerRuntime(v: unknown): ContainerRuntime | undefined {
  const o = typeof v === "string" ? { engine: v } : obj(v);
  const engine = str(o.engine);
  if (engine === undefined || !ENGINES.includes(engine)) return undefined;
  return {
    engine: engine as ContainerEngine,
    command: str(o.command) || engine,
    args: strings(o.args),
    runArgs: strings(o.run_args),
  };
}

function toExecutors(v: unknown): Record<string, Executor> {
  const out: Record<string, Executor> = {};
  for (const [name, e] of Object.entries(obj(v))) if (isObj(e)) out[name] = toExecutor(name, e);
  return out;
}

/** An app's executor: one name, `any`, or a list of names (the first is its `executor`). */
function placement(v: unknown, fallback: string): Pick<App, "executor" | "placeAmong"> {
  if (v === "any") return { executor: fallback, placeAmong: "any" };
  if (typeof v === "string") return { executor: v };
  const names = Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  if (names.length > 1) return { executor: names[0]!, placeAmong: names };
  return { executor: names[0] ?? fallback };
}

/** `endpoints:` entries, each side ending in `/` (a `file:` URL read as its path). */
function toEndpoints(v: unknown): Endpoint[] | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const slash = (x: string) => x.endsWith("/") ? x : `${x}/`;
  const out: Endpoint[] = [];
  for (const e of v) {
    if (!isObj(e) || typeof e.url !== "string" || typeof e.path !== "string") continue;
    let path = e.path;
    if (path.startsWith("file:")) {
      try {
        path = decodeURIComponent(new URL(path).pathname);
      } catch { /* reported by the staging_rules check */ }
    }
    out.push({ url: slash(e.url), path: slash(path) });
  }
  return out;
}

const FILESYSTEMS: readonly string[] = ["shared", "executor-shared", "none"];

/** Defaults of `pilot:` (schemas/site.schema.json says the same). */
export const PILOT_DEFAULTS: PilotSettings = {
  nodesPerBlock: 1,
  workersPerNode: 1,
  initBlocks: 1,
  minBlocks: 0,
  maxBlocks: 10,
  walltime: 3600,
  idleTimeout: 120,
};

function toPilot(p: Obj): PilotSettings {
  const d = PILOT_DEFAULTS;
  const seconds = (v: unknown, dflt: number) => {
    const q = typeof v === "string" ? parseWalltime(v) : undefined;
    return q && "value" in q ? q.value : dflt;
  };
  return {
    nodesPerBlock: int(p.nodes_per_block) ?? d.nodesPerBlock,
    workersPerNode: int(p.workers_per_node) ?? d.workersPerNode,
    initBlocks: int(p.init_blocks) ?? d.initBlocks,
    minBlocks: int(p.min_blocks) ?? d.minBlocks,
    maxBlocks: int(p.max_blocks) ?? d.maxBlocks,
    walltime: seconds(p.walltime, d.walltime),
    idleTimeout: seconds(p.idle_timeout, d.idleTimeout),
  };
}

function toExecutor(name: string, e: Obj): Executor {
  const mem = typeof e.memory === "string" || typeof e.memory === "number"
    ? parseMemory(e.memory)
    : undefined;
  const staging: StagingRule[] = [];
  for (const r of Array.isArray(e.staging) ? e.staging : []) {
    if (!isObj(r) || typeof r.match !== "string" || typeof r.action !== "string") continue;
    const { match, action, to, ...options } = r;
    staging.push(
      compact<StagingRule>({
        match,
        action,
        to: str(to),
        options: options as Record<string, ParamValue>,
      }),
    );
  }
  const fs = str(e.filesystem);
  return compact<Executor>({
    name,
    provider: str(e.provider) ?? "local",
    options: obj(e.options) as Record<string, ParamValue>,
    workerInit: str(e.worker_init),
    containerRuntime: toContainerRuntime(e.container_runtime),
    filesystem: (fs && FILESYSTEMS.includes(fs) ? fs : "shared") as FilesystemModel,
    site: str(e.site),
    endpoints: toEndpoints(e.endpoints),
    scratch: str(e.scratch),
    bundle: e.bundle === "array" || e.bundle === "pilot" ? e.bundle : "none" as const,
    pilot: isObj(e.pilot) ? toPilot(e.pilot) : e.bundle === "pilot" ? toPilot({}) : undefined,
    maxWorkers: int(e.max_workers),
    maxJobs: int(e.max_jobs),
    cores: int(e.cores),
    memory: mem && "value" in mem ? mem.value : undefined,
    via: str(e.via),
    host: str(e.host),
    env: toEnv(e.env),
    staging,
  });
}
