import assert from "node:assert/strict";
import { describeFsFault, isDamagedDatabase, isNoSpace, isReadOnly } from "./fs_errors.ts";

Deno.test("fs_errors: classifies the faults of ferry's own files", () => {
  const enospc = Object.assign(new Error("No space left on device (os error 28)"), {
    code: "ENOSPC",
  });
  assert.deepStrictEqual(isNoSpace(enospc), true);
  assert.deepStrictEqual(isNoSpace(new Error("database or disk is full")), true);
  assert.deepStrictEqual(isNoSpace(new Error("file not found")), false);
  assert.deepStrictEqual(
    isReadOnly(new Deno.errors.PermissionDenied("Permission denied (os error 13)")),
    true,
  );
  assert.deepStrictEqual(isReadOnly(new Error("Read-only file system (os error 30)")), true);
  assert.deepStrictEqual(isReadOnly(new Error("No space left on device")), false);
  assert.deepStrictEqual(isDamagedDatabase(new Error("database disk image is malformed")), true);
  assert.deepStrictEqual(isDamagedDatabase(new Error("file is not a database")), true);
  assert.deepStrictEqual(
    describeFsFault(enospc, "recording a success", "/w/.ferry/state.db"),
    "no space left on device while recording a success (/w/.ferry/state.db)",
  );
  assert.deepStrictEqual(
    describeFsFault(
      new Error("Read-only file system (os error 30)"),
      "taking the lock",
      "/w/.ferry/lock",
    ),
    "cannot write /w/.ferry/lock while taking the lock: read-only file system",
  );
  assert.deepStrictEqual(
    describeFsFault(new TypeError("x is undefined"), "running", "/w"),
    undefined,
  );
});
