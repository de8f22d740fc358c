import assert from "node:assert/strict";
import { DIAGNOSTIC_CODES } from "../dsl/codes.ts";
import { ROOT } from "./_cli.ts";

Deno.test("the README's table lists every diagnostic code", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const missing = Object.keys(DIAGNOSTIC_CODES).filter((c) => !readme.includes(`| \`${c}\``));
  assert.deepEqual(missing, []);
});

Deno.test("the README's set-up commands are the deno.json tasks they name", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;
  for (const task of ["demo", "test"]) {
    assert.ok(readme.includes(`npx -y deno@2.9.6 task ${task}`), task);
    assert.equal(typeof tasks[task], "string", task);
  }
});
