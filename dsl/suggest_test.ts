import assert from "node:assert/strict";
import { closest, didYouMean, editDistance } from "./suggest.ts";

Deno.test("editDistance() counts a transposition as one edit", () => {
  assert.equal(editDistance("comand", "command"), 1);
  assert.equal(editDistance("ouptuts", "outputs"), 1);
  assert.equal(editDistance("", "abc"), 3);
});

Deno.test("closest() suggests only plausible typos", () => {
  assert.equal(closest("comand", ["command", "shell", "function"]), "command");
  assert.equal(closest("Shell", ["command", "shell"]), "shell");
  assert.equal(closest("xyz", ["command", "shell"]), undefined);
  assert.equal(didYouMean("slrum", ["local", "slurm"]), ': did you mean "slurm"?');
  assert.equal(didYouMean("zzz", ["local"]), "");
});
