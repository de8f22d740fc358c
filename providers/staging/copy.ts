/**
 * The `copy` staging provider: `file:` URLs copied between filesystems (the
 * default for local files on executors whose nodes do not see the
 * workspace). A fetch resumes from the partial file's size; an upload
 * writes a temporary file beside the destination and renames it.
 * @module
 */

import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { type FetchRequest, type PutRequest, StagingError, type StagingProvider } from "./types.ts";

function pathOf(url: string): string {
  try {
    return fileURLToPath(url);
  } catch {
    throw new StagingError(`${url} is not a local file URL`, { retryable: false });
  }
}

const CHUNK = 8 << 20;

/** Copy `from` into `to` starting at `offset` (both files open), reporting progress. */
async function copyRange(
  from: string,
  to: string,
  offset: number,
  progress: (bytes: number, total?: number) => void,
  signal: AbortSignal,
): Promise<number> {
  const total = Deno.statSync(from).size;
  if (offset === 0) {
    // Whole files: the kernel's copy (copy_file_range / reflink) is the fastest way.
    await Deno.copyFile(from, to);
    progress(total, total);
    return total;
  }
  using src = await Deno.open(from);
  using dst = await Deno.open(to, { write: true, create: true });
  await src.seek(offset, Deno.SeekMode.Start);
  await dst.seek(offset, Deno.SeekMode.Start);
  await dst.truncate(offset);
  const buf = new Uint8Array(CHUNK);
  let done = offset;
  for (;;) {
    if (signal.aborted) throw signal.reason;
    const n = await src.read(buf);
    if (n === null) break;
    for (let w = 0; w < n;) w += await dst.write(buf.subarray(w, n));
    done += n;
    progress(done, total);
  }
  return done;
}

function missing(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

/** The `copy` provider for `file:` URLs. */
export function copyStaging(): StagingProvider {
  return {
    name: "copy",
    async fetch(r: FetchRequest) {
      const from = pathOf(r.url);
      let info: Deno.FileInfo;
      try {
        info = Deno.statSync(from);
      } catch (e) {
        throw new StagingError(missing(e) ? `${from} does not exist` : (e as Error).message, {
          retryable: !missing(e),
        });
      }
      if (!info.isFile) throw new StagingError(`${from} is not a file`, { retryable: false });
      const validators = {
        size: info.size,
        ...(info.mtime ? { mtime: info.mtime.getTime() } : {}),
      };
      if (
        r.previous && r.previous.size === info.size && r.previous.mtime !== undefined &&
        r.previous.mtime === validators.mtime
      ) {
        return { status: "unchanged", validators };
      }
      let offset = 0;
      try {
        offset = Deno.statSync(r.partial).size;
      } catch { /* fresh start */ }
      if (offset > info.size) offset = 0;
      await copyRange(from, r.partial, offset, r.progress, r.signal);
      return { status: "fetched", validators };
    },
    async put(r: PutRequest) {
      const to = pathOf(r.url);
      Deno.mkdirSync(dirname(to), { recursive: true });
      const tmp = `${to}.ferry-part`;
      await copyRange(r.source, tmp, 0, r.progress, r.signal);
      Deno.renameSync(tmp, to);
      const info = Deno.statSync(to);
      return {
        validators: { size: info.size, ...(info.mtime ? { mtime: info.mtime.getTime() } : {}) },
      };
    },
  };
}
