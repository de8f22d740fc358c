import assert from "node:assert/strict";
import { join } from "node:path";
import { startGlobusServer } from "../../tests/_globus_server.ts";
import { globusStaging, parseGlobusUrl } from "./globus.ts";
import { stageIn, stageOut } from "./transfer.ts";

const SRC = "a1b2c3d4-0000-4000-8000-00000000000a";
const LOCAL = "a1b2c3d4-0000-4000-8000-00000000000b";
const TOKEN = "globus-Token-$(id)-`x`-secret";
const ENV = "FERRY_TEST_GLOBUS_TOKEN";

async function world() {
  const root = await Deno.makeTempDir({ prefix: "ferry-globus-" });
  const remote = join(root, "remote"), local = join(root, "local");
  await Deno.mkdir(join(remote, "project"), { recursive: true });
  await Deno.mkdir(local);
  await Deno.writeTextFile(join(remote, "project", "ref.fa"), ">chr1\nACGT\n");
  const server = await startGlobusServer({
    endpoints: { [SRC]: remote, [LOCAL]: local },
    token: TOKEN,
    activePolls: 2,
  });
  const options = {
    token_env: ENV,
    local_endpoint: LOCAL,
    local_root: local,
    api_url: server.url,
    poll_interval: 0.01,
  };
  return {
    root,
    local,
    server,
    options,
    async [Symbol.asyncDispose]() {
      await server.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test("globus: a transfer task is submitted with checksums verified, polled to success, and the file lands at its final path", async () => {
  Deno.env.set(ENV, TOKEN);
  await using w = await world();
  const dest = join(w.local, "staged", "ref.fa");
  const r = await stageIn(globusStaging(), {
    url: `globus://${SRC}/project/ref.fa`,
    dest,
    options: w.options,
    retryBaseMs: 0,
  });
  assert.equal(await Deno.readTextFile(dest), ">chr1\nACGT\n");
  assert.equal(r.bytes, 11);
  const seen = w.server.requests.map((q) => `${q.method} ${q.path.replace(/[0-9a-f-]{36}/, "ID")}`);
  assert.deepEqual(seen, [
    "GET /submission_id",
    "POST /transfer",
    "GET /task/ID",
    "GET /task/ID",
    "GET /task/ID",
  ]);
  assert.ok(w.server.requests.every((q) => q.authorization === `Bearer ${TOKEN}`));
  const doc = w.server.requests[1]!.body as Record<string, unknown>;
  assert.deepEqual({ ...doc, submission_id: "S" }, {
    DATA_TYPE: "transfer",
    submission_id: "S",
    label: "ferry",
    source_endpoint: SRC,
    destination_endpoint: LOCAL,
    verify_checksum: true,
    DATA: [{
      DATA_TYPE: "transfer_item",
      source_path: "/project/ref.fa",
      // Globus writes the partial file; the runtime renames it once checked.
      destination_path: "/staged/ref.fa.ferry-part",
    }],
  });
});

Deno.test("globus: a FAILED task's fatal error is the transfer's error, and the token appears nowhere", async () => {
  Deno.env.set(ENV, TOKEN);
  await using w = await world();
  w.server.failNext({
    code: "PERMISSION_DENIED",
    description:
      "Error (transfer)\nEndpoint: Cluster\nServer: gridftp1\nCommand: RETR /project/ref.fa\nMessage: 550 Permission denied",
  });
  await assert.rejects(
    stageIn(globusStaging(), {
      url: `globus://${SRC}/project/ref.fa`,
      dest: join(w.local, "ref.fa"),
      options: w.options,
      retryBaseMs: 0,
    }),
    (e: Error) => {
      assert.match(
        e.message,
        /^Cannot fetch "globus:\/\/a1b2c3d4-0000-4000-8000-00000000000a\/project\/ref\.fa" with globus after 1 attempt\(s\): Globus task [0-9a-f-]{36} failed: PERMISSION_DENIED: Error \(transfer\)\nEndpoint: Cluster\nServer: gridftp1\nCommand: RETR \/project\/ref\.fa\nMessage: 550 Permission denied$/,
      );
      assert.ok(!e.message.includes(TOKEN));
      return true;
    },
  );
});

Deno.test("globus: stopping the run cancels the task on the service", async () => {
  Deno.env.set(ENV, TOKEN);
  await using w = await world();
  w.server.holdNext(true);
  const stop = new AbortController();
  const p = stageIn(globusStaging(), {
    url: `globus://${SRC}/project/ref.fa`,
    dest: join(w.local, "ref.fa"),
    options: w.options,
    signal: stop.signal,
    retryBaseMs: 0,
  });
  while (!w.server.requests.some((q) => q.path.startsWith("/task/"))) {
    await new Promise((r) => setTimeout(r, 5));
  }
  stop.abort(new Error("interrupted"));
  await assert.rejects(p);
  const cancel = w.server.requests.filter((q) => q.method === "POST" && q.path.endsWith("/cancel"));
  assert.equal(cancel.length, 1);
  assert.equal(cancel[0]!.authorization, `Bearer ${TOKEN}`);
});

Deno.test("globus: a missing token, a refused token and a bad URL fail at once with what to do", async () => {
  await using w = await world();
  const fetchWith = (env: string | undefined, url = `globus://${SRC}/project/ref.fa`) => {
    if (env === undefined) Deno.env.delete(ENV);
    else Deno.env.set(ENV, env);
    return stageIn(globusStaging(), {
      url,
      dest: join(w.local, "x"),
      options: w.options,
      retryBaseMs: 0,
    });
  };
  await assert.rejects(
    fetchWith(undefined),
    /with globus after 1 attempt\(s\): Cannot use Globus: the environment variable FERRY_TEST_GLOBUS_TOKEN \(token_env\) is not set$/,
  );
  await assert.rejects(
    fetchWith("wrong-token"),
    /with globus after 1 attempt\(s\): Globus GET \/submission_id failed: AuthenticationFailed: Token is not active$/,
  );
  assert.throws(
    () => parseGlobusUrl("globus:///x"),
    /Cannot use "globus:\/\/\/x": write globus:\/\/ENDPOINT_ID\/path/,
  );
});

Deno.test("globus: an upload lands under a temporary name on the destination endpoint and is renamed there once Globus finished", async () => {
  Deno.env.set(ENV, TOKEN);
  await using w = await world();
  const source = join(w.local, "out", "calls.vcf");
  await Deno.mkdir(join(w.local, "out"));
  await Deno.writeTextFile(source, "##fileformat=VCFv4.2\n");
  await stageOut(globusStaging(), {
    url: `globus://${SRC}/project/results/calls.vcf`,
    source,
    options: w.options,
    retryBaseMs: 0,
  });
  assert.equal(
    await Deno.readTextFile(join(w.root, "remote", "project", "results", "calls.vcf")),
    "##fileformat=VCFv4.2\n",
  );
  const transfer = w.server.requests.find((q) => q.path === "/transfer")!.body as {
    DATA: { source_path: string; destination_path: string }[];
  };
  assert.deepEqual(transfer.DATA[0], {
    DATA_TYPE: "transfer_item",
    source_path: "/out/calls.vcf",
    destination_path: "/project/results/calls.vcf.ferry-part",
  });
  const rename = w.server.requests.at(-1)!;
  assert.equal(rename.path, `/operation/endpoint/${SRC}/rename`);
  assert.deepEqual(rename.body, {
    DATA_TYPE: "rename",
    old_path: "/project/results/calls.vcf.ferry-part",
    new_path: "/project/results/calls.vcf",
  });
});
