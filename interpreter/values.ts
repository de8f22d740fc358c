/**
 * Run-time values of expressions: scalars, lists, maps, and files. A file
 * value knows its URL and derives `.path`, `.name`, `.stem`, `.url`.
 * @module
 */

import { workspaceRelative } from "./urls.ts";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import type { Scalar } from "../dsl/model.ts";

/** A file as an expression sees it. */
export class FileValue {
  #path: string | undefined;
  /**
   * A file for expressions.
   * @param url The file's normalised URL.
   * @param path What the task sees (defaults to the local path or the URL).
   */
  constructor(readonly url: string, path?: string) {
    this.#path = path;
  }
  /** What the task sees: the staged path, else the local path of a file: URL, else the URL. */
  get path(): string {
    return this.#path ??= localPath(this.url) ?? this.url;
  }
  /** The last path segment. */
  get name(): string {
    return basename(this.path);
  }
  /** The name without its last extension. */
  get stem(): string {
    const n = this.name;
    const dot = n.lastIndexOf(".");
    return dot > 0 ? n.slice(0, dot) : n;
  }
  /** Property access from an expression. */
  property(name: string): Value | undefined {
    if (name === "url") return this.url;
    if (name === "path") return this.path;
    if (name === "name") return this.name;
    if (name === "stem") return this.stem;
    return undefined;
  }
}

/** A marker for a list known only after a task ran (a glob or dir output). */
export class DynamicList {
  /**
   * The list an app's glob or dir output will hold.
   * @param producer The app whose output it is.
   * @param output The output's name.
   */
  constructor(readonly producer: string, readonly output: string) {}
}

/** Any value an expression can have. */
export type Value =
  | Scalar
  | null
  | FileValue
  | DynamicList
  | readonly Value[]
  | { readonly [key: string]: Value };

/** The local filesystem path of a `file:` URL, else undefined. */
export function localPath(url: string): string | undefined {
  if (!url.startsWith("file:")) return undefined;
  // Most URLs are plain: no escapes, no host. Skip the full parser for them.
  if (
    url.startsWith("file:///") && !url.includes("%") && !url.includes("?") && !url.includes("#")
  ) {
    return url.slice(7);
  }
  try {
    return fileURLToPath(url);
  } catch {
    return undefined;
  }
}

/** A short readable form for task ids: scalars as written, files by path. */
export function display(v: Value, workspaceUrl?: string): string {
  if (v instanceof FileValue) {
    return (workspaceUrl ? workspaceRelative(v.url, workspaceUrl) : undefined) ?? v.url;
  }
  if (v instanceof DynamicList) return `*`;
  if (v === null) return "null";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** Describe a value's kind for messages. */
export function kindOf(v: Value | undefined): string {
  if (v === undefined) return "nothing";
  if (v === null) return "empty";
  if (v instanceof FileValue) return "a file";
  if (v instanceof DynamicList) return "a list known only at run time";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `the ${typeof v} ${JSON.stringify(v)}`;
}
