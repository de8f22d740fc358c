/**
 * An example custom staging provider: `tar:` URLs name one member of a tar
 * archive on a filesystem the executor can read, e.g.
 * `tar:///data/refs/genome-v3.tar.gz!/chr1.fa`. The member is extracted with
 * the system's `tar` straight into ferry's partial file; ferry does the rest
 * (temporary name, size check, checksum when declared, the cache under
 * `.ferry/staged/`, retries). A site file uses it with
 * `{ match: "tar:*", action: ./tar_member.ts }` (the path is relative to the
 * file holding the rule).
 *
 * The interface is in providers/staging/types.ts: a default export returning
 * `{ name, fetch?, put?, close? }`. This provider only fetches, so an output
 * sent to a `tar:` URL fails with a clear message.
 * @module
 */

import type { FetchRequest, StagingProvider } from "../../providers/staging/types.ts";
import { StagingError } from "../../providers/staging/types.ts";

/** Split `tar:///a/b.tar.gz!/member` into the archive path and the member name. */
export function parseTarUrl(url: string): { archive: string; member: string } {
  const u = new URL(url);
  const path = decodeURIComponent(u.pathname);
  const bang = path.indexOf("!/");
  if (u.protocol !== "tar:" || bang < 0) {
    throw new StagingError(
      `${url} is not a tar member URL: write tar:///path/to/archive.tar!/member`,
      { retryable: false },
    );
  }
  return { archive: path.slice(0, bang), member: path.slice(bang + 2) };
}

/** The provider factory (the module's default export). */
export default function tarMember(): StagingProvider {
  return {
    name: "tar-member",
    async fetch(r: FetchRequest) {
      const { archive, member } = parseTarUrl(r.url);
      let info: Deno.FileInfo;
      try {
        info = await Deno.stat(archive);
      } catch {
        throw new StagingError(`archive ${archive} does not exist`, { retryable: false });
      }
      // The archive's modification time identifies the member's version well enough.
      const mtime = info.mtime?.getTime() ?? 0;
      if (r.previous?.mtime === mtime) return { status: "unchanged", validators: { mtime } };
      using out = await Deno.open(r.partial, { write: true, create: true, truncate: true });
      const child = new Deno.Command("tar", {
        args: ["-xOf", archive, "--", member],
        stdout: "piped",
        stderr: "piped",
        signal: r.signal,
      }).spawn();
      const copy = async () => {
        let bytes = 0;
        for await (const chunk of child.stdout) {
          for (let w = 0; w < chunk.length;) w += await out.write(chunk.subarray(w));
          bytes += chunk.length;
          r.progress(bytes);
        }
        return bytes;
      };
      const [bytes, status, err] = await Promise.all([
        copy(),
        child.status,
        new Response(child.stderr).text(),
      ]);
      if (!status.success) {
        // tar's first line says what went wrong; the last only that it gave up.
        const first = err.trim().split("\n")[0]?.replace(/^\S*tar: /, "");
        const why = first || `tar exited with ${status.code}`;
        throw new StagingError(`cannot extract ${member} from ${archive}: ${why}`, {
          retryable: false,
        });
      }
      return { status: "fetched", validators: { size: bytes, mtime } };
    },
  };
}
