import assert from "node:assert/strict";
import { join } from "node:path";
import { Spawner } from "./spawner.ts";
import { signalGroup } from "./local.ts";

for (const kind of ["python", "perl"] as const) {
  Deno.test(`Spawner (${kind}) starts tasks in their own session, with env, directories and exit status`, async () => {
    const spawner = Spawner.start(kind);
    assert.ok(spawner, `${kind} is needed for this test`);
    const dir = await Deno.makeTempDir();
    try {
      const work = join(dir, "a b", "deep ☃");
      const ok = spawner.spawn(
        ["sh", "-c", 'printf "%s|%s" "$X" "$(pwd)" > out.txt; ps -o sid= -p $$ > sid.txt'],
        work,
        { X: "va=lue\nz" },
        [work],
      );
      const pid = await ok.pid;
      assert.deepEqual(await ok.status, { code: 0 });
      assert.equal(await Deno.readTextFile(join(work, "out.txt")), `va=lue\nz|${work}`);
      assert.equal(
        (await Deno.readTextFile(join(work, "sid.txt"))).trim(),
        String(pid),
        "the task leads its own session",
      );
      assert.deepEqual(await spawner.spawn(["sh", "-c", "exit 7"], dir, {}).status, { code: 7 });
      const slow = spawner.spawn(["sleep", "30"], dir, {});
      signalGroup(await slow.pid, "SIGTERM");
      assert.deepEqual(await slow.status, { code: 143, signal: "SIGTERM" });
      const missing = await spawner.spawn(["/no/such/program"], dir, {}).status;
      assert.equal(missing.code, 127);
    } finally {
      await spawner.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
