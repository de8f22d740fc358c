import assert from "node:assert/strict";
import { haveService } from "../../tests/_services.ts";
import {
  fingerprint,
  hostKeyPolicy,
  keyIsEncrypted,
  keyType,
  knownHostKeys,
  sshCredentials,
  sshEndpoint,
  SshSetupError,
} from "./ssh_auth.ts";

const haveKeygen = haveService("ssh-keygen", ["ssh-keygen"]);

// A throwaway ed25519 public key and what `ssh-keygen -l -E sha256` prints for it.
const KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIJaMHEt3Hzw5X0nGC10Wg6OU6eoH8abqiqgSJicV7Foe";
const KEY_FP = "SHA256:paMCT6XjcD8hnoynZe72g7zZgP4+slmev0kaxQSzp5k";
const BLOB = Uint8Array.from(atob(KEY), (c) => c.charCodeAt(0));
// Another one, to be the wrong key.
const OTHER = "AAAAC3NzaC1lZDI1NTE5AAAAID+0jp2JcyFFJxrsT2EFLqP5mUlfV7qU4gu7FdRouLZX";
const OTHER_BLOB = Uint8Array.from(atob(OTHER), (c) => c.charCodeAt(0));

const ENDPOINT = { host: "127.0.0.1", port: 2222, user: "ann" };

Deno.test("fingerprint() and keyType() match OpenSSH", () => {
  assert.equal(fingerprint(BLOB), KEY_FP);
  assert.equal(keyType(BLOB), "ssh-ed25519");
});

Deno.test("knownHostKeys() finds [host]:port, port-22, pattern and hashed entries", () => {
  const text = [
    "# comment",
    "",
    `[127.0.0.1]:2222 ssh-ed25519 ${KEY}`,
    `127.0.0.1 ssh-ed25519 ${OTHER}`,
    `*.example.org,!bad.example.org ssh-ed25519 ${KEY} comment`,
    `@cert-authority *.example.org ssh-ed25519 ${OTHER}`,
    `@revoked [127.0.0.1]:2222 ssh-ed25519 ${OTHER}`,
    // `ssh-keygen -H` of "[127.0.0.1]:2222" and "example.org"
    `|1|b6bZY2gAL5XyeP9++2SMpy57Dss=|TBqeoT8yTgmqUGsuQs+Wjgpsu9M= ssh-ed25519 ${KEY}`,
    `|1|EsAcD6PT5WhwY/mV+4LOTLWm1kg=|dWIx24sl8rAGeEPpZ5+mU8M65mc= ssh-ed25519 ${KEY}`,
    "broken line",
  ].join("\n");
  const fps = (host: string, port: number) =>
    knownHostKeys(text, host, port).map((k) =>
      `${k.revoked ? "revoked " : ""}${fingerprint(k.blob)}`
    );
  assert.deepEqual(fps("127.0.0.1", 2222), [KEY_FP, `revoked ${fingerprint(OTHER_BLOB)}`, KEY_FP]);
  assert.deepEqual(fps("127.0.0.1", 22), [fingerprint(OTHER_BLOB)]);
  assert.deepEqual(fps("EXAMPLE.org", 22), [KEY_FP]);
  assert.deepEqual(fps("www.example.org", 22), [KEY_FP]);
  assert.deepEqual(fps("bad.example.org", 22), []);
  assert.deepEqual(fps("www.example.org", 2200), []);
});

Deno.test("hostKeyPolicy() accepts a pinned fingerprint and explains a wrong one", () => {
  const pinned = hostKeyPolicy({ host_key: KEY_FP }, ENDPOINT);
  assert.equal(pinned.check(BLOB), undefined);
  assert.equal(
    pinned.check(OTHER_BLOB),
    `the host key of 127.0.0.1:2222 is ssh-ed25519 ${
      fingerprint(OTHER_BLOB)
    }, not the pinned host_key ${KEY_FP}: if the server's key really changed, pin the new one with host_key: "${
      fingerprint(OTHER_BLOB)
    }"`,
  );
  assert.throws(
    () => hostKeyPolicy({ host_key: "MD5:aa:bb" }, ENDPOINT),
    new SshSetupError(
      `the rule option host_key must be an OpenSSH SHA256 fingerprint like "SHA256:" and 43 base64 characters (\`ssh-keygen -lf KEY.pub\` prints it), not "MD5:aa:bb"`,
    ),
  );
});

Deno.test("hostKeyPolicy() checks known_hosts: trusted, revoked, unknown, missing file", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/known_hosts`;
    Deno.writeTextFileSync(
      file,
      `[127.0.0.1]:2222 ssh-ed25519 ${KEY}\n@revoked * ssh-ed25519 ${OTHER}\n`,
    );
    const policy = hostKeyPolicy({ known_hosts: file }, ENDPOINT);
    assert.deepEqual(policy.keyTypes, ["ssh-ed25519"]);
    assert.equal(policy.check(BLOB), undefined);
    assert.equal(
      policy.check(OTHER_BLOB),
      `the host key of 127.0.0.1:2222 (ssh-ed25519 ${
        fingerprint(OTHER_BLOB)
      }) is marked @revoked in ${file}`,
    );
    const missing = hostKeyPolicy({ known_hosts: `${dir}/nope` }, ENDPOINT);
    assert.deepEqual(missing.keyTypes, []);
    assert.equal(
      missing.check(BLOB),
      `the host key of 127.0.0.1:2222 is not in ${dir}/nope (no such file): the server offers ssh-ed25519 ${KEY_FP}; check it with the server's administrator, then pin it with the rule option host_key: "${KEY_FP}" or add the key to ${dir}/nope`,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("sshEndpoint() takes the URL's user, else the rule's, else the local one", () => {
  assert.deepEqual(sshEndpoint(new URL("sftp://bob@h.example:2200/x"), { user: "ann" }), {
    host: "h.example",
    port: 2200,
    user: "bob",
  });
  assert.equal(sshEndpoint(new URL("sftp://h.example/x"), { user: "ann" }).user, "ann");
  assert.ok(sshEndpoint(new URL("sftp://h.example/x"), {}).user.length > 0);
  assert.deepEqual(sshEndpoint(new URL("sftp://[::1]/x"), { user: "ann" }), {
    host: "::1",
    port: 22,
    user: "ann",
  });
  assert.throws(() => sshEndpoint(new URL("sftp://h/x"), { user: 7 }), SshSetupError);
});

Deno.test({
  name: "sshCredentials() reads a key, asks for passphrase_env when encrypted, never shows it",
  ignore: !haveKeygen,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const saved = Deno.env.get("SSH_AUTH_SOCK");
    try {
      const keygen = (file: string, pass: string) =>
        new Deno.Command("ssh-keygen", {
          args: ["-q", "-t", "ed25519", "-N", pass, "-f", `${dir}/${file}`],
        }).output();
      await keygen("plain", "");
      await keygen("locked", "p4ssphrase words");
      assert.equal(keyIsEncrypted(await Deno.readTextFile(`${dir}/plain`)), false);
      assert.equal(keyIsEncrypted(await Deno.readTextFile(`${dir}/locked`)), true);
      const secret = (n: string) => (n === "PASS" ? "p4ssphrase words" : undefined);
      const plain = sshCredentials({ identity_file: `${dir}/plain` }, secret, ENDPOINT);
      assert.ok("identity" in plain && plain.identity.passphrase === undefined);
      const locked = sshCredentials(
        { identity_file: `${dir}/locked`, passphrase_env: "PASS" },
        secret,
        ENDPOINT,
      );
      assert.ok("identity" in locked && locked.identity.passphrase === "p4ssphrase words");
      const messages: string[] = [];
      const fails = (options: Record<string, string>, message: string) => {
        let caught: unknown;
        try {
          sshCredentials(options, secret, ENDPOINT);
        } catch (e) {
          caught = e;
        }
        assert.ok(caught instanceof SshSetupError, `expected an SshSetupError, got ${caught}`);
        assert.equal(caught.message, message);
        messages.push(caught.message);
      };
      fails(
        { identity_file: `${dir}/locked` },
        `identity_file "${dir}/locked" is encrypted: set the rule option passphrase_env to the name of an environment variable that holds its passphrase`,
      );
      fails(
        { identity_file: `${dir}/locked`, passphrase_env: "UNSET" },
        `identity_file "${dir}/locked" is encrypted and passphrase_env names UNSET, which is not set`,
      );
      fails(
        { identity_file: `${dir}/gone` },
        `cannot read identity_file "${dir}/gone": no such file`,
      );
      Deno.env.delete("SSH_AUTH_SOCK");
      fails(
        {},
        "no credentials to log in as ann on 127.0.0.1:2222: set the rule option identity_file to a private key (and passphrase_env if it is encrypted), or start an ssh agent (SSH_AUTH_SOCK is not set)",
      );
      Deno.env.set("SSH_AUTH_SOCK", `${dir}/agent.sock`);
      assert.deepEqual(sshCredentials({}, secret, ENDPOINT), { agent: `${dir}/agent.sock` });
      for (const m of messages) assert.ok(!m.includes("p4ssphrase"), m);
    } finally {
      if (saved === undefined) Deno.env.delete("SSH_AUTH_SOCK");
      else Deno.env.set("SSH_AUTH_SOCK", saved);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
