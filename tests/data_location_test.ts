/**
 * Where data lives, against a real sshd: an executor whose `endpoints` say
 * that an sftp URL prefix is its own storage reads such an input in place
 * (the server's log shows no read for it), while another executor fetches
 * the same URL over sftp.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "../deps/yaml.ts";
import { runCli } from "./_cli.ts";
import { haveService, sha256 } from "./_services.ts";
import { startHttpServer } from "./_http_server.ts";
import { startGlobusServer } from "./_globus_server.ts";
import { type Sshd, startSshd } from "./_sshd.ts";
import { exists, ferryRun, runDirOf, withTemp, writeWorkflow } from "./_run.ts";

const SSH_OK = haveService("sshd", ["/usr/sbin/sshd", "ssh-keygen", "ssh"]);

/** A scratch directory on the sshd's host, the sftp URL prefix naming it, and a rule reaching it. */
async function sftpScratch(sshd: Sshd) {
  const scratch = join(sshd.root, "scratch");
  await Deno.mkdir(scratch);
  const sftpRule = {
    match: "sftp://*:*",
    action: "sftp",
    identity_file: sshd.identity,
    known_hosts: sshd.knownHosts,
  };
  return { scratch, prefix: `sftp://${sshd.user}@127.0.0.1:${sshd.port}${scratch}/`, sftpRule };
}

/** A site file `site.yaml` in `ws` with these executors; its path. */
async function writeSite(ws: string, executors: Record<string, unknown>): Promise<string> {
  const site = join(ws, "site.yaml");
  await Deno.writeTextFile(site, stringify({ "ferry-site": 1, executors }));
  return site;
}

Deno.test({
  name:
    "endpoints: an sftp input is read in place on the executor whose storage it is (no sftp read in the server's log), and fetched over sftp elsewhere",
  ignore: !SSH_OK,
  async fn() {
    const sshd = await startSshd();
    try {
      await withTemp(async (ws) => {
        const { scratch, prefix, sftpRule } = await sftpScratch(sshd);
        await Deno.writeTextFile(join(scratch, "in put.txt"), "on the cluster's scratch\n");
        const site = await writeSite(ws, {
          local: { staging: [sftpRule] },
          cluster: {
            provider: "local",
            filesystem: "executor-shared",
            endpoints: [{ url: prefix, path: `file://${scratch}/` }],
            // The endpoint wins over a rule that would fetch the file onto itself.
            staging: [sftpRule],
          },
        });
        const wf = await writeWorkflow(ws, {
          ferry: 1,
          name: "endpoints",
          files: { data: `${prefix}in%20put.txt` },
          apps: {
            there: {
              executor: "cluster",
              inputs: { d: "${{ files.data }}" },
              outputs: { o: "there.txt" },
              shell: "{ echo ${{ inputs.d }}; cat ${{ inputs.d }}; } > ${{ outputs.o }}",
            },
            here: {
              inputs: { d: "${{ files.data }}" },
              outputs: { o: "here.txt" },
              command: ["cp", "${{ inputs.d }}", "${{ outputs.o }}"],
            },
          },
        });
        const plan = await ferryRun(["--site", site, wf], {}, "plan");
        assert.equal(plan.code, 0, plan.stderr);
        assert.ok(
          plan.stdout.includes(
            `    in  d  ${prefix}in%20put.txt  ⇒ in place, endpoint ${prefix} = ${scratch}/ → ${scratch}/in put.txt\n`,
          ),
          plan.stdout,
        );
        assert.match(
          plan.stdout,
          /· 1 transfer · cluster: 1 task, 0 transfers · local: 1 task, 1 transfer\n$/,
        );
        const r = await ferryRun(["--progress", "lines", "--site", site, wf]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(
          await Deno.readTextFile(join(ws, "there.txt")),
          `${scratch}/in put.txt\non the cluster's scratch\n`,
        );
        assert.equal(await Deno.readTextFile(join(ws, "here.txt")), "on the cluster's scratch\n");
        // sftp-server logs each file it closes: one read, for `here`; none for `there`.
        const reads = sshd.log().split("\n").filter((l) =>
          /close ".*in put\.txt" bytes read/.test(l)
        );
        assert.equal(reads.length, 1, sshd.log());
        assert.match(r.stderr, /transfers: 1 fetched, /);
      });
    } finally {
      await sshd.stop();
    }
  },
});

Deno.test({
  name:
    "endpoints: an output to an sftp URL on the executor's own storage is moved there, never uploaded (no sftp write in the server's log), and uploaded elsewhere",
  ignore: !SSH_OK,
  async fn() {
    const sshd = await startSshd();
    try {
      await withTemp(async (ws) => {
        const { scratch, prefix, sftpRule } = await sftpScratch(sshd);
        await Deno.writeTextFile(join(scratch, "out put.txt"), "the old copy\n");
        const endpoints = [{ url: prefix, path: scratch }];
        const site = await writeSite(ws, {
          local: { staging: [sftpRule] },
          cluster: {
            provider: "local",
            filesystem: "executor-shared",
            endpoints,
            staging: [sftpRule],
          },
          // No shared filesystem: the file is moved where the task ran, after it.
          bare: { provider: "local", filesystem: "none", endpoints, staging: [sftpRule] },
        });
        const wf = await writeWorkflow(ws, {
          ferry: 1,
          name: "endpoint-outputs",
          apps: {
            make: {
              executor: "cluster",
              outputs: { o: `${prefix}sub/out%20put.txt` },
              shell: "echo made on the cluster > ${{ outputs.o }}",
            },
            read: {
              executor: "cluster",
              inputs: { i: "${{ apps.make.outputs.o }}" },
              outputs: { o: "read.txt" },
              shell: "{ echo ${{ inputs.i }}; cat ${{ inputs.i }}; } > ${{ outputs.o }}",
            },
            bare: {
              executor: "bare",
              outputs: { o: `${prefix}bare.txt` },
              shell: "echo made bare > ${{ outputs.o }}",
            },
            away: {
              outputs: { o: `${prefix}away.txt` },
              shell: "echo made here > ${{ outputs.o }}",
            },
          },
        });
        const plan = await ferryRun(["--site", site, wf], {}, "plan");
        assert.equal(plan.code, 0, plan.stderr);
        assert.ok(
          plan.stdout.includes(
            `    out o  _outputs/o/out put.txt  ⇒ moved into place, endpoint ${prefix} = ${scratch}/ → ${scratch}/sub/out put.txt (${prefix}sub/out%20put.txt)\n`,
          ),
          plan.stdout,
        );
        assert.ok(
          plan.stdout.includes(
            `    in  i  ${prefix}sub/out%20put.txt  ⇒ in place, endpoint ${prefix} = ${scratch}/ → ${scratch}/sub/out put.txt\n`,
          ),
          plan.stdout,
        );
        assert.match(
          plan.stdout,
          /· 1 transfer · bare: 1 task, 0 transfers · cluster: 2 tasks, 0 transfers · local: 1 task, 1 transfer\n$/,
        );
        const json = JSON.parse(
          (await ferryRun(["--site", site, "--format", "json", wf], {}, "plan")).stdout,
        );
        const out = json.tasks.find((t: { id: string }) => t.id === "make").outputs[0];
        assert.deepEqual(
          [out.staging, out.provider, out.local, out.endpoint, out.transfer],
          [
            "in-place",
            "endpoint",
            `${scratch}/sub/out put.txt`,
            `${prefix} = ${scratch}/`,
            undefined,
          ],
        );
        const r = await ferryRun(["--progress", "lines", "--site", site, wf]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(
          await Deno.readTextFile(join(scratch, "sub/out put.txt")),
          "made on the cluster\n",
        );
        assert.equal(await Deno.readTextFile(join(scratch, "away.txt")), "made here\n");
        assert.equal(await Deno.readTextFile(join(scratch, "bare.txt")), "made bare\n");
        assert.equal(
          await Deno.readTextFile(join(ws, "read.txt")),
          `${scratch}/sub/out put.txt\nmade on the cluster\n`,
        );
        // sftp-server logs each file it opens: the upload of away.txt, nothing of out put.txt.
        const log = sshd.log();
        assert.equal(
          log.split("\n").filter((l) => /out put\.txt|bare\.txt/.test(l)).length,
          0,
          log,
        );
        assert.match(log, /away\.txt/);
        assert.match(r.stderr, /transfers: 1 uploaded/);

        // A directory is not moved on a node without a shared filesystem: said before the run.
        const dirs = await writeWorkflow(ws, {
          ferry: 1,
          name: "endpoint-dir",
          apps: {
            d: {
              executor: "bare",
              outputs: { d: { dir: `${prefix}dir` } },
              command: ["mkdir", "${{ outputs.d }}"],
            },
          },
        }, "dirs.yaml");
        const c = await runCli(["check", "--site", site, dirs]);
        assert.equal(c.code, 2);
        assert.deepEqual(
          (c.stdout + c.stderr).split("\n").filter((l) => l.includes("error[")),
          [
            `${ws}/dirs.yaml:8:14: error[endpoint-output]: Cannot move output "d" to "${scratch}/dir" on executor "bare": on a node without a shared filesystem only a file output is moved onto the executor's storage (its endpoints); name a file, or write it to the workspace`,
          ],
        );
      });
    } finally {
      await sshd.stop();
    }
  },
});

Deno.test("endpoints: a replica on the executor's own storage is used in place before any transfer, and bad endpoints are located errors", async () => {
  await withTemp(async (ws) => {
    await Deno.mkdir(join(ws, "scratch"));
    await Deno.writeTextFile(join(ws, "scratch", "ref.fa"), ">r\n");
    const cluster = {
      provider: "local",
      filesystem: "executor-shared",
      endpoints: [{ url: "sftp://login.example.org/scratch/", path: `${ws}/scratch` }],
    };
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "endpoint-replica",
      executors: { cluster },
      files: {
        ref: {
          replicas: [
            "https://mirror.example.org/ref.fa",
            "sftp://login.example.org/scratch/ref.fa",
          ],
        },
      },
      apps: {
        a: {
          executor: "cluster",
          inputs: { r: "${{ files.ref }}" },
          outputs: { o: "o.txt" },
          command: ["cp", "${{ inputs.r }}", "${{ outputs.o }}"],
        },
      },
    });
    const r = await runCli(["plan", "--format", "json", wf]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout);
    const input = plan.tasks[0].inputs[0];
    assert.deepEqual(
      [input.url, input.staging, input.provider, input.path, input.endpoint],
      [
        "sftp://login.example.org/scratch/ref.fa",
        "in-place",
        "endpoint",
        `${ws}/scratch/ref.fa`,
        `sftp://login.example.org/scratch/ = ${ws}/scratch/`,
      ],
    );
    assert.deepEqual(input.replicas.map((x: { reach: string }) => x.reach), [
      "transfer",
      "in-place",
    ]);
    assert.equal(plan.transfers.length, 0);

    const bad = await writeWorkflow(ws, {
      ferry: 1,
      name: "bad-endpoints",
      executors: {
        cluster: {
          ...cluster,
          staging: [
            { match: "https://*", action: "https", via_storage: "stage/" },
            { match: "file:///x/*", action: "skip", via_storage: "/stage/" },
          ],
          endpoints: [{ url: "file:///scratch/", path: "scratch/" }, {
            url: "sftp:///x/",
            path: "/x/",
          }],
        },
      },
      apps: { a: { executor: "cluster", command: ["true"] } },
    }, "bad.yaml");
    const c = await runCli(["check", bad]);
    assert.equal(c.code, 2);
    const diags = (c.stdout + c.stderr).split("\n").filter((l) => l.includes("error["))
      .map((l) => l.replace(`${ws}/`, ""));
    assert.deepEqual(diags, [
      'bad.yaml:8:14: error[invalid-url]: Cannot use endpoint "file:///scratch/": give a remote URL with a host, such as sftp://login.example.org/scratch/',
      'bad.yaml:9:15: error[invalid-value]: Cannot use endpoint path "scratch/": give an absolute directory or a file:/// URL',
      'bad.yaml:10:14: error[invalid-url]: Cannot use endpoint "sftp:///x/": give a remote URL with a host, such as sftp://login.example.org/scratch/',
      'bad.yaml:15:22: error[invalid-value]: Cannot stage through "stage/": give an absolute directory or a file:/// URL',
      'bad.yaml:18:22: error[invalid-value]: Cannot stage through "/stage/": a skip rule moves nothing to stage through',
    ]);
  });
});

Deno.test({
  name:
    "multi-hop: sftp → a shared directory → the executor's storage moves the file once per hop for three readers, and the intermediate copy is deleted once they succeeded",
  ignore: !SSH_OK,
  async fn() {
    const sshd = await startSshd();
    try {
      await withTemp(async (ws) => {
        await Deno.mkdir(join(sshd.root, "data"));
        await Deno.writeTextFile(join(sshd.root, "data", "in.txt"), "remote bytes\n");
        const shared = join(ws, "shared");
        await Deno.mkdir(shared);
        const url = `sftp://${sshd.user}@127.0.0.1:${sshd.port}${sshd.root}/data/in.txt`;
        const wf = await writeWorkflow(ws, {
          ferry: 1,
          name: "multi-hop",
          executors: {
            cluster: {
              provider: "local",
              filesystem: "executor-shared",
              staging: [
                {
                  match: "sftp://*:*",
                  action: "sftp",
                  identity_file: sshd.identity,
                  known_hosts: sshd.knownHosts,
                  via_storage: shared,
                },
                { match: `file://${shared}/*`, action: "copy" },
              ],
            },
          },
          files: { data: url },
          apps: {
            use: {
              executor: "cluster",
              for_each: { n: [1, 2, 3] },
              inputs: { d: "${{ files.data }}" },
              outputs: { o: "out/${{ n }}.txt" },
              command: ["cp", "${{ inputs.d }}", "${{ outputs.o }}"],
            },
          },
        });
        const plan = JSON.parse((await runCli(["plan", "--format", "json", wf])).stdout);
        assert.deepEqual(
          plan.transfers.map((t: { provider: string; consumers: string[]; after?: string }) => [
            t.provider,
            t.consumers.length,
            t.after === undefined ? "first" : "after",
          ]),
          [["sftp", 3, "first"], ["copy", 3, "after"]],
        );
        const hop1 = plan.transfers[0];
        assert.equal(hop1.path.startsWith(`${shared}/.ferry/staged/`), true, hop1.path);
        assert.equal(plan.transfers[1].after, hop1.id);
        assert.deepEqual(plan.tasks[0].inputs[0].via, { transfer: hop1.id, path: hop1.path });
        const r = await ferryRun(["--progress", "lines", wf]);
        assert.equal(r.code, 0, r.stderr);
        for (const n of [1, 2, 3]) {
          assert.equal(await Deno.readTextFile(join(ws, `out/${n}.txt`)), "remote bytes\n");
        }
        const reads = sshd.log().split("\n").filter((l) => /close ".*in\.txt" bytes read/.test(l));
        assert.equal(reads.length, 1, sshd.log());
        const events = (await Deno.readTextFile(join(runDirOf(r), "events.jsonl"))).trim()
          .split("\n").map((l) => JSON.parse(l));
        assert.deepEqual(
          events.filter((e) => e.event === "transfer-finished").map((e) => [e.provider, e.error]),
          [["sftp", undefined], ["copy", undefined]],
        );
        assert.deepEqual(
          events.filter((e) => e.event === "temp-deleted").map((e) => e.url),
          [`file://${hop1.path}`],
        );
        assert.equal(await exists(hop1.path), false);
        assert.equal(await exists(`${hop1.path}.ferry-meta.json`), false);
      });
    } finally {
      await sshd.stop();
    }
  },
});

Deno.test("multi-hop: a chain HTTP → a shared directory → a project directory → the executor's storage moves the file once per hop for three readers (resumed and verified per hop), and both intermediate copies are deleted once they succeeded", async () => {
  const body = "remote bytes, ".repeat(20_000);
  const server = await startHttpServer({ files: { "/data/in.txt": body } });
  server.fault("/data/in.txt", { kind: "drop", afterBytes: 100_000, times: 1 });
  try {
    await withTemp(async (ws) => {
      const [shared, project] = [join(ws, "shared"), join(ws, "project")];
      await Deno.mkdir(shared);
      await Deno.mkdir(project);
      const url = server.url("/data/in.txt");
      const checksum = `sha256:${sha256(body)}`;
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "chain",
        executors: {
          cluster: {
            provider: "local",
            filesystem: "executor-shared",
            staging: [
              { match: "http://*:*", action: "http", via_storage: [shared, `file://${project}/`] },
              { match: `file://${project}/*`, action: "copy" },
            ],
          },
        },
        files: { data: { url, checksum } },
        apps: {
          use: {
            executor: "cluster",
            for_each: { n: [1, 2, 3] },
            inputs: { d: "${{ files.data }}" },
            outputs: { o: "out/${{ n }}.txt" },
            command: ["cp", "${{ inputs.d }}", "${{ outputs.o }}"],
          },
        },
      });
      const plan = JSON.parse((await runCli(["plan", "--format", "json", wf])).stdout);
      type T = {
        id: string;
        provider: string;
        consumers: string[];
        after?: string;
        checksum?: string;
      };
      assert.deepEqual(
        plan.transfers.map((t: T) => [t.provider, t.consumers.length, t.checksum]),
        [["http", 3, checksum], ["copy", 3, checksum], ["copy", 3, checksum]],
      );
      const [hop1, hop2, last] = plan.transfers as (T & { path: string })[];
      assert.ok(hop1!.path.startsWith(`${shared}/.ferry/staged/`), hop1!.path);
      assert.ok(hop2!.path.startsWith(`${project}/.ferry/staged/`), hop2!.path);
      assert.deepEqual([hop1!.after, hop2!.after, last!.after], [undefined, hop1!.id, hop2!.id]);
      const hops = [{ transfer: hop1!.id, path: hop1!.path }, {
        transfer: hop2!.id,
        path: hop2!.path,
      }];
      assert.deepEqual(plan.tasks[0].inputs[0].hops, hops);
      assert.deepEqual(plan.tasks[0].inputs[0].via, hops[1]);
      const text = (await runCli(["plan", wf])).stdout;
      assert.ok(
        text.includes(
          `        through ${hop1!.path} (hop 1: ${hop1!.id})\n        then ${hop2!.path} (hop 2: ${
            hop2!.id
          })\n`,
        ),
        text,
      );

      const r = await ferryRun(["--progress", "lines", wf]);
      assert.equal(r.code, 0, r.stderr);
      for (const n of [1, 2, 3]) {
        assert.equal(await Deno.readTextFile(join(ws, `out/${n}.txt`)), body);
      }
      // The server saw the first hop only: once, resumed once after the drop.
      assert.deepEqual(server.requestsFor("/data/in.txt").map((q) => q.range), [
        null,
        "bytes=100000-",
      ]);
      const events = (await Deno.readTextFile(join(runDirOf(r), "events.jsonl"))).trim()
        .split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(
        events.filter((e) => e.event === "transfer-finished")
          .map((e) => [e.id, e.provider, e.error, e.attempts]),
        [[hop1!.id, "http", undefined, 2], [hop2!.id, "copy", undefined, 1], [
          last!.id,
          "copy",
          undefined,
          1,
        ]],
      );
      assert.deepEqual(
        events.filter((e) => e.event === "temp-deleted").map((e) => e.url).sort(),
        [`file://${hop1!.path}`, `file://${hop2!.path}`].sort(),
      );
      for (const h of [hop1!, hop2!]) {
        assert.equal(await exists(h.path), false);
        assert.equal(await exists(`${h.path}.ferry-meta.json`), false);
      }

      const bad = await writeWorkflow(ws, {
        ferry: 1,
        name: "bad-chains",
        executors: {
          cluster: {
            provider: "local",
            filesystem: "executor-shared",
            staging: [
              { match: "http://a.org/*", action: "http", via_storage: [] },
              { match: "http://b.org/*", action: "http", via_storage: ["/s/", "rel/", "/s/"] },
              { match: "http://c.org/*", action: "rewrite", to: "/x", via_storage: ["/s/"] },
            ],
          },
        },
        apps: { a: { executor: "cluster", command: ["true"] } },
      }, "bad.yaml");
      const c = await runCli(["check", bad]);
      assert.equal(c.code, 2);
      assert.deepEqual(
        (c.stdout + c.stderr).split("\n").filter((l) => l.includes("error[")),
        [
          `${ws}/bad.yaml:10:22: error[invalid-value]: Cannot stage through an empty list: give one or more absolute directories or file:/// URLs`,
          `${ws}/bad.yaml:15:13: error[invalid-value]: Cannot stage through "rel/": give an absolute directory or a file:/// URL`,
          `${ws}/bad.yaml:16:13: error[invalid-value]: Cannot stage through "/s/" twice: each hop goes to another storage`,
          `${ws}/bad.yaml:21:11: error[invalid-value]: Cannot stage through "/s/": a rewrite rule moves nothing to stage through`,
        ],
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("placement: an app with executor: any runs each task where its input already is, and a list's tie goes to the first; the plan says why", async () => {
  const server = await startHttpServer({ files: { "/data/in.txt": "served\n" } });
  try {
    await withTemp(async (ws) => {
      const data = join(ws, "mount", "data");
      await Deno.mkdir(data, { recursive: true });
      await Deno.writeTextFile(join(data, "in.txt"), "on the cluster's disk\n");
      await Deno.writeTextFile(join(ws, "local.txt"), "workspace\n");
      const wf = await writeWorkflow(ws, {
        ferry: 1,
        name: "placement",
        executors: {
          cluster: {
            provider: "local",
            filesystem: "executor-shared",
            endpoints: [{ url: server.url("/data/"), path: `${data}/` }],
          },
        },
        files: { remote: server.url("/data/in.txt") },
        apps: {
          near: {
            executor: "any",
            inputs: { d: "${{ files.remote }}" },
            outputs: { o: "near.txt" },
            command: ["cp", "${{ inputs.d }}", "${{ outputs.o }}"],
          },
          tie: {
            executor: ["local", "cluster"],
            inputs: { d: "local.txt" },
            outputs: { o: "tie.txt" },
            command: ["cp", "${{ inputs.d }}", "${{ outputs.o }}"],
          },
        },
      });
      const text = await runCli(["plan", wf]);
      assert.equal(text.code, 0, text.stderr);
      assert.ok(
        text.stdout.includes(
          "near · 1 task on cluster\n  near  [run: new]\n    placed on cluster: its inputs are there: 0 transfers (local: 1)\n",
        ),
        text.stdout,
      );
      assert.ok(
        text.stdout.includes(
          "tie · 1 task on local\n  tie  [run: new]\n    placed on local: the first of equals: 0 transfers (cluster: 0)\n",
        ),
        text.stdout,
      );
      const plan = JSON.parse((await runCli(["plan", "--format", "json", wf])).stdout);
      assert.deepEqual(plan.tasks[0].placement, {
        among: ["local", "cluster"],
        transfers: { local: 1, cluster: 0 },
        reason: "its inputs are there: 0 transfers (local: 1)",
      });
      assert.equal(plan.transfers.length, 0);
      const r = await ferryRun(["--progress", "lines", wf]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(join(ws, "near.txt")), "on the cluster's disk\n");
      assert.equal(server.requestsFor("/data/in.txt").length, 0);
    });
  } finally {
    await server.close();
  }
});

Deno.test("placement: an unknown executor in a list is located", async () => {
  await withTemp(async (ws) => {
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "placement-bad",
      apps: { a: { executor: ["local", "clustr"], command: ["true"] } },
    });
    const r = await runCli(["check", wf]);
    assert.equal(r.code, 2);
    assert.match(
      r.stdout + r.stderr,
      /workflow\.yaml:7:9: error\[unknown-executor\]: Cannot find executor "clustr": known executors are local \(pass a site file with --site\)\n/,
    );
  });
});

Deno.test("globus: the plan is made offline; a run fetches and stages out through the Transfer API (token from the environment, shown nowhere) where the endpoint is remote, and reads in place where it is the cluster's filesystem", async () => {
  const SRC = "0f0e0d0c-1111-4222-8333-444455556666",
    LOCAL = "0f0e0d0c-1111-4222-8333-777788889999";
  const token = "Ag-globus-secret-token-0042";
  await withTemp(async (ws) => {
    const remote = join(ws, "remote");
    await Deno.mkdir(join(remote, "project"), { recursive: true });
    await Deno.writeTextFile(join(remote, "project", "ref.fa"), ">chr1\nACGT\n");
    const server = await startGlobusServer({
      endpoints: { [SRC]: remote, [LOCAL]: ws },
      token,
    });
    try {
      const rule = (api: string) => ({
        match: "globus://*",
        action: "globus",
        token_env: "GLOBUS_TOKEN",
        local_endpoint: LOCAL,
        local_root: ws,
        api_url: api,
        poll_interval: 0.01,
      });
      const workflow = (api: string) => ({
        ferry: 1,
        name: "globus",
        executors: {
          local: { staging: [rule(api)] },
          cluster: {
            provider: "local",
            filesystem: "executor-shared",
            endpoints: [{ url: `globus://${SRC}/project/`, path: `${remote}/project/` }],
            staging: [rule(api)],
          },
        },
        files: { ref: `globus://${SRC}/project/ref.fa` },
        apps: {
          fetched: {
            inputs: { r: "${{ files.ref }}" },
            outputs: { o: "fetched.txt", back: `globus://${SRC}/project/results/copy.fa` },
            shell: "cp ${{ inputs.r }} ${{ outputs.o }} && cp ${{ inputs.r }} ${{ outputs.back }}",
          },
          there: {
            executor: "cluster",
            inputs: { r: "${{ files.ref }}" },
            outputs: { o: "there.txt" },
            command: ["cp", "${{ inputs.r }}", "${{ outputs.o }}"],
          },
        },
      });
      // Offline: an API address nothing listens on, and no token in the environment.
      const offline = await writeWorkflow(ws, workflow("http://127.0.0.1:9/v0.10"), "offline.yaml");
      const plan = await ferryRun([offline], {}, "plan");
      assert.equal(plan.code, 0, plan.stderr);
      const lines = plan.stdout.split("\n");
      assert.match(
        lines.find((l) => l.includes("⇒ globus transfer")) ?? "",
        /^ {4}in {2}r {5}globus:\/\/0f0e0d0c-1111-4222-8333-444455556666\/project\/ref\.fa {2}⇒ globus transfer, rule 1 → _inputs\/[0-9a-f]{16}\/ref\.fa$/,
      );
      assert.ok(
        lines.includes(
          `    in  r  globus://${SRC}/project/ref.fa  ⇒ in place, endpoint globus://${SRC}/project/ = ${remote}/project/ → ${remote}/project/ref.fa`,
        ),
        plan.stdout,
      );
      const wf = await writeWorkflow(ws, workflow(server.url));
      const r = await ferryRun(["--progress", "lines", wf], { GLOBUS_TOKEN: token });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(join(ws, "fetched.txt")), ">chr1\nACGT\n");
      assert.equal(await Deno.readTextFile(join(ws, "there.txt")), ">chr1\nACGT\n");
      // One transfer in, one out (under a temporary name, then renamed on the endpoint).
      assert.equal(server.requests.filter((q) => q.path === "/transfer").length, 2);
      assert.equal(
        await Deno.readTextFile(join(remote, "project", "results", "copy.fa")),
        ">chr1\nACGT\n",
      );
      assert.equal(await exists(join(remote, "project", "results", "copy.fa.ferry-part")), false);
      const events = await Deno.readTextFile(join(runDirOf(r), "events.jsonl"));
      for (const text of [r.stdout, r.stderr, events]) assert.ok(!text.includes(token));
    } finally {
      await server.close();
    }
  });
});

Deno.test("placement: a file a task made counts as being where that task ran", async () => {
  await withTemp(async (ws) => {
    const shared = { provider: "slurm", filesystem: "executor-shared" };
    const wf = await writeWorkflow(ws, {
      ferry: 1,
      name: "affinity",
      executors: { east: shared, west: shared },
      apps: {
        make: { executor: "west", outputs: { o: "made.txt" }, shell: "echo hi > ${{ outputs.o }}" },
        use: {
          executor: ["east", "west"],
          inputs: { m: "${{ apps.make.outputs.o }}" },
          outputs: { o: "used.txt" },
          command: ["cp", "${{ inputs.m }}", "${{ outputs.o }}"],
        },
      },
    });
    const plan = JSON.parse((await runCli(["plan", "--format", "json", wf])).stdout);
    const use = plan.tasks.find((t: { id: string }) => t.id === "use");
    assert.equal(use.executor, "west");
    assert.deepEqual(use.placement.transfers, { east: 1, west: 0 });
  });
});
