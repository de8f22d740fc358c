/**
 * ferry's import layering as data: which layer a file belongs to (by its
 * path), which layers each may import, and the local edges of a
 * `deno info --json` graph. Used by `layering_test.ts`.
 *
 * cli → api → interpreter → providers → dsl → schemas: each layer may import
 * itself and any lower one. providers/staging and providers/batch never import
 * each other; providers/_shared is a leaf beside them (itself and deps/ only);
 * deps/ (one module per npm package) imports only npm: and node:.
 * @module
 */

/** The layers, by the paths that belong to them. */
export type Layer =
  | "cli"
  | "api"
  | "interpreter"
  | "providers/staging"
  | "providers/batch"
  | "providers/_shared"
  | "dsl"
  | "schemas"
  | "deps";

/** The layer of a repo-relative path, or undefined when it belongs to none. */
export function layerOf(path: string): Layer | undefined {
  if (path === "main.ts" || path.startsWith("cli/")) return "cli";
  if (path === "mod.ts") return "api";
  for (
    const layer of [
      "interpreter",
      "providers/staging",
      "providers/batch",
      "providers/_shared",
      "dsl",
      "schemas",
      "deps",
    ] as const
  ) {
    if (path.startsWith(layer + "/")) return layer;
  }
  return undefined;
}

const BELOW_PROVIDERS: readonly Layer[] = ["providers/_shared", "dsl", "schemas", "deps"];
const PROVIDERS: readonly Layer[] = ["providers/staging", "providers/batch", ...BELOW_PROVIDERS];

/** What each layer may import (besides npm: and node:). */
const MAY_IMPORT: Readonly<Record<Layer, readonly Layer[]>> = {
  cli: ["cli", "api", "interpreter", ...PROVIDERS],
  api: ["api", "interpreter", ...PROVIDERS],
  interpreter: ["interpreter", ...PROVIDERS],
  "providers/staging": ["providers/staging", ...BELOW_PROVIDERS],
  "providers/batch": ["providers/batch", ...BELOW_PROVIDERS],
  "providers/_shared": ["providers/_shared", "deps"],
  dsl: ["dsl", "schemas", "deps"],
  schemas: ["schemas", "deps"],
  deps: [],
};

/** One import between two local modules, as repo-relative paths. */
export interface Edge {
  /** The importing module. */
  readonly from: string;
  /** The imported module. */
  readonly to: string;
}

/** Every edge against the rules, one line each, e.g. `a.ts imports b.ts: dsl may not import cli`. */
export function violations(edges: Iterable<Edge>): string[] {
  const out: string[] = [];
  for (const { from, to } of edges) {
    const a = layerOf(from);
    const b = layerOf(to);
    if (a === undefined) out.push(`${from} imports ${to}: ${from} is in no layer`);
    else if (b === undefined) out.push(`${from} imports ${to}: ${to} is in no layer`);
    else if (!MAY_IMPORT[a].includes(b)) {
      out.push(`${from} imports ${to}: ${a} may not import ${b}`);
    }
  }
  return out.sort();
}

/** The part of `deno info --json` output read here. */
export interface DenoInfo {
  /** Every module of the graph. */
  readonly modules: readonly {
    readonly specifier: string;
    readonly kind?: string;
    readonly dependencies?: readonly {
      readonly code?: { readonly specifier?: string };
      readonly type?: { readonly specifier?: string };
    }[];
  }[];
  /** Specifier → where it redirects. */
  readonly redirects?: Readonly<Record<string, string>>;
}

/** `deno info --json entry`, run in `cwd`; throws with deno's message when it fails. */
export async function denoInfo(entry: string, cwd: string | URL): Promise<DenoInfo> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`deno info ${entry}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Source modules whose imports are layered; other files (wrapper.sh, JSON) are data. */
const SOURCE = /\.(ts|tsx|mts|js|jsx|mjs)$/;

/**
 * The imports between source modules under `root` (a `file:` URL ending in
 * `/`): code and type-only imports, static and dynamic. npm:, node:, remote
 * modules and text or JSON assets are left out.
 */
export function localEdges(info: DenoInfo, root: string): Edge[] {
  const local = (specifier: string | undefined): string | undefined => {
    if (specifier === undefined) return undefined;
    const s = info.redirects?.[specifier] ?? specifier;
    if (!s.startsWith(root)) return undefined;
    const path = decodeURIComponent(s.slice(root.length));
    return SOURCE.test(path) ? path : undefined;
  };
  const seen = new Set<string>();
  const out: Edge[] = [];
  for (const m of info.modules) {
    const from = local(m.specifier);
    if (from === undefined) continue;
    for (const d of m.dependencies ?? []) {
      for (const to of [local(d.code?.specifier), local(d.type?.specifier)]) {
        if (to === undefined || to === from || seen.has(`${from}\0${to}`)) continue;
        seen.add(`${from}\0${to}`);
        out.push({ from, to });
      }
    }
  }
  return out;
}
