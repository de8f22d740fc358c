/**
 * The state's migration to version 2: recorded successes name workspace files relative to the
 * workspace (`./out/a.txt`), so that a workspace copied or moved elsewhere keeps its cache. Each
 * success recorded by an earlier ferry has its output URLs rewritten and its key computed again
 * from its recorded parts; a glob output's hash (over its files' URLs and contents) is computed
 * again from the file hashes the state remembers. A record whose key cannot be computed again
 * from its parts is left as it was: its task runs once more, saying its outputs changed.
 * @module
 */

import { resolve } from "node:path";
import { canonical, sha256 } from "./canonical.ts";
import type { DatabaseSync, OutputRecord } from "./state.ts";
import { toRecordedUrl, workspaceUrl } from "./urls.ts";
import { localPath } from "./values.ts";

type Row = [string, string, string, string, string];

/** Rewrite every success of `db`, a state in the workspace `workspace`, for version 2. */
export function relativizeSuccesses(db: DatabaseSync, workspace: string): void {
  const update = db.prepare(
    "UPDATE successes SET key = ?, parts = ?, outputs = ? WHERE task_id = ?",
  );
  const read = db.prepare("SELECT task_id, key, parts, outputs, run_id FROM successes");
  read.setReturnArrays(true);
  const memo = db.prepare("SELECT sha256 FROM file_hashes WHERE path = ?");
  const runs = new Map<string, string>();
  for (const r of db.prepare("SELECT id, dir FROM runs").all() as { id: string; dir: string }[]) {
    runs.set(r.id, r.dir);
  }
  const fileHash = (path: string) => (memo.get(path) as { sha256: string } | undefined)?.sha256;
  for (const [taskId, key, partsText, outputsText, runId] of read.all() as unknown as Row[]) {
    // The workspace the record was written in: its run's folder is WORKSPACE/.ferry/runs/ID.
    const dir = runs.get(runId);
    const base = workspaceUrl(dir !== undefined ? resolve(dir, "../../..") : workspace);
    const parts = JSON.parse(partsText) as Record<string, unknown>;
    let newKey = key;
    if (sha256(canonical(parts)) === key && Array.isArray(parts.outputs)) {
      parts.outputs = (parts.outputs as string[]).map((u) => toRecordedUrl(u, base));
      newKey = sha256(canonical(parts));
    }
    const outputs = (JSON.parse(outputsText) as OutputRecord[]).map((o) =>
      relativized(o, base, fileHash)
    );
    update.run(newKey, JSON.stringify(parts), JSON.stringify(outputs), taskId);
  }
}

/** One output record with its URLs relative, a glob's hash computed again when it can be. */
function relativized(
  o: OutputRecord,
  base: string,
  fileHash: (path: string) => string | undefined,
): OutputRecord {
  const files = o.files?.map((f) => toRecordedUrl(f, base));
  let hash = o.sha256;
  if (o.glob && o.files) {
    const lines = o.files.map((f, i) => {
      const path = localPath(f);
      const h = path !== undefined ? fileHash(path) : undefined;
      return h === undefined ? undefined : `${files![i]}\0${h}\n`;
    });
    if (lines.every((l) => l !== undefined)) hash = sha256(lines.join(""));
  }
  return {
    ...o,
    url: toRecordedUrl(o.url, base),
    sha256: hash,
    ...(files ? { files } : {}),
  };
}
