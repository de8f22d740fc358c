import assert from "node:assert/strict";
import { join } from "node:path";
import { errorLog } from "./error_log.ts";

Deno.test("errorLog() picks the log that holds a failed attempt's error", async () => {
  const work = await Deno.makeTempDir();
  try {
    const file = async (rel: string, text: string, mtime?: number) => {
      const path = join(work, rel);
      await Deno.mkdir(join(path, ".."), { recursive: true });
      await Deno.writeTextFile(path, text);
      if (mtime !== undefined) await Deno.utime(path, mtime, mtime);
      return path;
    };
    const stderr = await file("stderr.log", "");
    const stdout = await file("stdout.log", "");
    const outputs = [
      { name: "bam", path: "out/A.bam" },
      { name: "log", path: "logs/a.txt" },
      { name: "qc", path: "logs/qc.log" },
      { name: "err", path: "/elsewhere/x.err" },
    ];
    const a = { work, stderrPath: stderr, stdoutPath: stdout, outputs };
    // Nothing written anywhere: stderr is what there is.
    assert.equal(await errorLog(a), undefined);
    // A non-log output is never shown, however it ends.
    await file("out/A.bam", "BAM\u0001");
    assert.equal(await errorLog(a), undefined);
    // Standard output, when nothing else holds more.
    await file("stdout.log", "error on stdout\n");
    assert.equal(await errorLog(a), stdout);
    // A declared log output (by name or by file name) wins; the newest of two.
    const older = await file("logs/a.txt", "first\n", 1_000);
    assert.equal(await errorLog(a), older);
    const newer = await file("logs/qc.log", "[E::hts_open] fail\n", 2_000);
    assert.equal(await errorLog(a), newer);
    // Something on stderr: stderr it is.
    await file("stderr.log", "boom\n");
    assert.equal(await errorLog(a), undefined);
    // Standard output redirected to a data output is not a log.
    const data = await file("out/n.txt", "42\n");
    const quiet = await file("quiet.err", "");
    assert.equal(
      await errorLog({
        work,
        stderrPath: quiet,
        stdoutPath: data,
        outputs: [{ name: "n", path: "out/n.txt" }],
      }),
      undefined,
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
