import assert from "node:assert/strict";
const assertEquals = assert.deepStrictEqual;
import { describeFsFault, isDamagedDatabase, isNoSpace, isReadOnly } from "./fs_errors.ts";

Deno.test("fs_errors: classifies the faults of ferry's own files", () => {
  const enospc = Object.assign(new Error("No space left on device (os error 28)"), {
    code: "ENOSPC",
  });
  assertEquals(isNoSpace(enospc), true);
  assertEquals(isNoSpace(new Error("database or disk is full")), true);
  assertEquals(isNoSpace(new Error("file not found")), false);
  assertEquals(
    isReadOnly(new Deno.errors.PermissionDenied("Permission denied (os error 13)")),
    true,
  );
  assertEquals(isReadOnly(new Error("Read-only file system (os error 30)")), true);
  assertEquals(isReadOnly(new Error("No space left on device")), false);
  assertEquals(isDamagedDatabase(new Error("database disk image is malformed")), true);
  assertEquals(isDamagedDatabase(new Error("file is not a database")), true);
  assertEquals(
    describeFsFault(enospc, "recording a success", "/w/.ferry/state.db"),
    "no space left on device while recording a success (/w/.ferry/state.db)",
  );
  assertEquals(
    describeFsFault(
      new Error("Read-only file system (os error 30)"),
      "taking the lock",
      "/w/.ferry/lock",
    ),
    "cannot write /w/.ferry/lock while taking the lock: read-only file system",
  );
  assertEquals(describeFsFault(new TypeError("x is undefined"), "running", "/w"), undefined);
});
