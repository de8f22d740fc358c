/**
 * A throwaway container image for the container tests: busybox-static in an
 * empty root, imported with `podman import` under a tag of its own (no
 * registry is reachable here), removed by `remove()` together with every
 * container made from it. The site file's runtime options are the ones this
 * machine needs (crun fails here: runc, and two rlimits it may set).
 * @module
 */

import { join } from "node:path";

/** Busybox applets the images hold (the shell apps' `sh` among them). */
const APPLETS = ["sh", "echo", "cat", "ls", "wc", "tr", "sleep", "env", "cp", "printf", "test"];

/** podman's options on this machine, as a site file's `container_runtime` gives them. */
export const PODMAN_RUNTIME = {
  engine: "podman",
  args: ["--runtime", "runc"],
  run_args: ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"],
} as const;

/** A test image. */
export interface TestImage {
  /** Its reference: `localhost/ferry-test-HEX:1`. */
  readonly tag: string;
  /** Its ID now (`sha256:...`). */
  id(): Promise<string>;
  /** Import it again under the same tag, with one more file: a new ID. */
  reimport(): Promise<void>;
  /** Containers made from it (running or not): their names. */
  containers(): Promise<string[]>;
  /** Remove its containers and the image. */
  remove(): Promise<void>;
}

/** Run podman; its standard output, or throw with its standard error. */
export async function podman(...args: string[]): Promise<string> {
  const out = await new Deno.Command("podman", { args, stdout: "piped", stderr: "piped" })
    .output();
  const d = new TextDecoder();
  if (!out.success) throw new Error(`podman ${args.join(" ")}: ${d.decode(out.stderr)}`);
  return d.decode(out.stdout);
}

/** Build an image from busybox in `dir` (a test's temp directory) under a new tag. */
export async function makeImage(dir: string): Promise<TestImage> {
  const root = join(dir, "image-root");
  const tag = `localhost/ferry-test-${crypto.randomUUID().slice(0, 8)}:1`;
  await Deno.mkdir(join(root, "bin"), { recursive: true });
  await Deno.copyFile("/bin/busybox", join(root, "bin", "busybox"));
  await Deno.chmod(join(root, "bin", "busybox"), 0o755);
  for (const a of APPLETS) await Deno.symlink("busybox", join(root, "bin", a));
  let version = 0;
  const ids: string[] = [];
  const idOf = async () =>
    `sha256:${(await podman("image", "inspect", "--format", "{{.Id}}", tag)).trim()}`;
  const importImage = async () => {
    await Deno.writeTextFile(join(root, "version"), `${version++}\n`);
    const tar = new Deno.Command("tar", { args: ["-C", root, "-c", "."], stdout: "piped" })
      .spawn();
    const imp = new Deno.Command("podman", {
      args: ["import", "-", tag],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    await tar.stdout.pipeTo(imp.stdin);
    const [t, i] = await Promise.all([tar.status, imp.output()]);
    if (!t.success || !i.success) {
      throw new Error(`Cannot import ${tag}: ${new TextDecoder().decode(i.stderr)}`);
    }
    ids.push(await idOf());
  };
  await importImage();
  const containers = async () =>
    (await podman("ps", "-a", "--filter", `ancestor=${tag}`, "--format", "{{.Names}}"))
      .split("\n").filter((l) => l !== "");
  return {
    tag,
    id: idOf,
    reimport: importImage,
    containers,
    async remove() {
      for (const c of await containers()) await podman("rm", "-f", "-t", "0", c).catch(() => {});
      // Earlier imports under the tag are untagged now: each goes by its ID.
      await podman("rmi", "-f", tag).catch(() => {});
      for (const id of ids) await podman("rmi", "-f", id.slice("sha256:".length)).catch(() => {});
    },
  };
}
