/**
 * Secret redaction end to end, with no service but the test's own HTTP
 * server: a staging rule's password, read from the environment, ends up in a
 * real failure message (the server, once it has the credentials, redirects to
 * a URL holding the password), and neither what `ferry run`, `ferry status`
 * and `ferry report` print nor any file ferry keeps (the event log, the state
 * database, the report) holds it: the message is there with `***` instead.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "../deps/yaml.ts";
import { startHttpServer } from "./_http_server.ts";
import { ferryRun, withTemp, writeWorkflow } from "./_run.ts";

const PASSWORD = "Hunter2-redaction-Secret";
const USER = "ann";

/** Every file under `dir`, recursively. */
function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...allFiles(p));
    else if (e.isFile) out.push(p);
  }
  return out;
}

/** Whether `bytes` hold `text` (UTF-8), wherever it is: SQLite pages, WAL, logs. */
function holds(bytes: Uint8Array, text: string): boolean {
  // latin1 keeps one character per byte, so an ASCII secret is found at any offset.
  return new TextDecoder("latin1").decode(bytes).includes(text);
}

Deno.test("a password in a transfer's failure is redacted in everything ferry prints and keeps", async () => {
  const http = await startHttpServer({ files: { "/data.txt": "payload\n" } });
  try {
    await withTemp(async (ws) => {
      // Only a request with the credentials gets the redirect that echoes the password.
      http.fault(
        "/data.txt",
        { kind: "auth", authorization: `Basic ${btoa(`${USER}:${PASSWORD}`)}` },
        { kind: "redirect", location: `x-echo://127.0.0.1/seen?pw=${PASSWORD}` },
      );
      const site = join(ws, "site.yaml");
      await Deno.writeTextFile(
        site,
        stringify({
          "ferry-site": 1,
          executors: {
            local: {
              staging: [{
                match: `${http.origin}/*`,
                action: "http",
                user: USER,
                password_env: "FERRY_TEST_HTTP_PW",
              }],
            },
          },
        }),
      );
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "redacted",
        apps: {
          fetch: {
            inputs: { data: http.url("/data.txt") },
            outputs: { o: "o.txt" },
            shell: "cat ${{ inputs.data }} > ${{ outputs.o }}",
          },
        },
      });
      const env = { FERRY_TEST_HTTP_PW: PASSWORD };
      const run = await ferryRun(["--site", site, "--progress", "lines", wf], env);
      assert.equal(run.code, 1, run.stderr);
      assert.ok(http.requestsFor("/data.txt").some((r) => r.status === 302), "credentials sent");
      const shown =
        `Cannot fetch "${http.origin}/data.txt" with http after 1 attempt(s): ${http.host} redirected to "x-echo://127.0.0.1/seen?pw=***", which is not an http or https URL`;
      assert.ok(run.stderr.includes(`✗ fetch: ${shown}\n`), run.stderr);

      // Other processes, which never read the secret: only what was stored.
      const status = await ferryRun(["--workspace", ws], {}, "status");
      const json = await ferryRun(["--workspace", ws, "--format", "json"], {}, "status");
      const report = join(ws, "report.html");
      const rep = await ferryRun(["--workspace", ws, "-o", report], {}, "report");
      assert.equal(rep.code, 0, rep.stderr);
      assert.ok(status.stdout.includes(shown), status.stdout);
      assert.ok(json.stdout.includes(JSON.stringify(shown).slice(1, -1)), json.stdout);
      const html = await Deno.readTextFile(report);
      assert.ok(html.includes("seen?pw=***"), "the report shows the failure");

      const printed = { run, status, json, rep };
      for (const [name, r] of Object.entries(printed)) {
        assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), `the password in ${name}'s output`);
      }
      const files = allFiles(join(ws, ".ferry"));
      for (const kept of ["events.jsonl", "state.db"]) {
        assert.ok(files.some((f) => f.endsWith(kept)), `${kept} among ${files.join(" ")}`);
      }
      for (const f of [...files, report]) {
        assert.ok(!holds(await Deno.readFile(f), PASSWORD), `the password in ${f}`);
      }
      // Its events hold the message, redacted.
      const events = files.find((f) => f.endsWith("events.jsonl"))!;
      assert.ok((await Deno.readTextFile(events)).includes("seen?pw=***"), "events.jsonl");
    });
  } finally {
    await http.close();
  }
});
