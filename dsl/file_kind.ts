/**
 * What a path is when it is neither a regular file nor a directory: a FIFO,
 * a device or a socket. ferry refuses such paths as workflow files, site
 * files and inputs: reading one blocks (a FIFO with no writer) or never ends
 * (`/dev/zero`).
 * @module
 */

/**
 * The kind of a file that is neither a regular file nor a directory, in words
 * ("a FIFO (named pipe)"); undefined for a regular file or a directory.
 *
 * @example
 * ```ts
 * import { irregularKind } from "./file_kind.ts";
 * import assert from "node:assert/strict";
 * assert.equal(irregularKind(Deno.statSync("/dev/null")), "a character device");
 * assert.equal(irregularKind(Deno.statSync("/")), undefined);
 * ```
 */
export function irregularKind(info: Deno.FileInfo): string | undefined {
  if (info.isFile || info.isDirectory) return undefined;
  if (info.isFifo) return "a FIFO (named pipe)";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}
