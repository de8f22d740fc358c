import assert from "node:assert/strict";
import {
  describeFsFault,
  FerryFileError,
  isDamagedDatabase,
  isNoSpace,
  isReadOnly,
  throwAsFsFault,
} from "./fs_errors.ts";

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

Deno.test("fs_errors: node:sqlite's errcode names the fault, whatever its message", () => {
  const sqlite = (errcode: number, message: string) =>
    Object.assign(new Error(message), { code: "ERR_SQLITE_ERROR", errcode });
  assert.equal(isNoSpace(sqlite(13, "disk I/O")), true);
  assert.equal(isReadOnly(sqlite(8 | (3 << 8), "x")), true); // SQLITE_READONLY_ROLLBACK
  assert.equal(isDamagedDatabase(sqlite(11, "x")), true);
  assert.equal(isDamagedDatabase(sqlite(26, "x")), true);
  assert.equal(isDamagedDatabase(sqlite(1, "SQL logic error")), false);
});

Deno.test("fs_errors: throwAsFsFault throws a FerryFileError that keeps the fault's code, or the error as it was", () => {
  const erofs = Object.assign(new Error("Read-only file system (os error 30): writefile 'x'"), {
    code: "EROFS",
  });
  assert.throws(
    () => throwAsFsFault(erofs, "taking the lock", "/w/.ferry/lock"),
    (e: unknown) => {
      assert.ok(e instanceof FerryFileError);
      assert.equal(
        e.message,
        "cannot write /w/.ferry/lock while taking the lock: read-only file system",
      );
      assert.equal(e.code, "EROFS");
      assert.equal(e.cause, erofs);
      // Still recognised by the checks (the engine classifies what the store throws).
      assert.equal(isReadOnly(e), true);
      return true;
    },
  );
  const full = new FerryFileError(
    "no space left on device while x (/w)",
    new Error("database or disk is full"),
  );
  assert.equal(full.code, "ENOSPC");
  assert.equal(isNoSpace(full), true);
  // A FerryFileError already says it all: thrown again as it is.
  assert.throws(() => throwAsFsFault(full, "y", "/z"), (e) => e === full);
  const bug = new TypeError("x is undefined");
  assert.throws(() => throwAsFsFault(bug, "y", "/z"), (e) => e === bug);
  assert.equal(
    describeFsFault(
      new Deno.errors.NotADirectory("Not a directory (os error 20)"),
      "making ferry's folder",
      "/etc/passwd/.ferry",
    ),
    "cannot write /etc/passwd/.ferry while making ferry's folder: a part of that path is a file, not a directory",
  );
});
