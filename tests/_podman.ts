/**
 * A throwaway container image for the container tests: busybox-static in an
 * empty root, imported with `podman import` under a tag of its own (no
 * registry is reachable here), removed by `remove()` together with every
 * container made from it. The site file's runtime options are the ones this
 * machine needs (crun fails here: runc, and two rlimits it may set).
 * @module
 */

import { dirname, join } from "node:path";

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

/** What an image holds besides busybox: the host's own files, at the same paths. */
export interface ImageExtras {
  /** Host programs (absolute paths), each with every shared library `ldd` lists for it. */
  readonly programs?: readonly string[];
  /** Host directories copied whole (their symbolic links kept, `__pycache__` left out). */
  readonly trees?: readonly string[];
}

/** `paths` from the host's root into `root` at the same paths; `-h` copies what links point to. */
async function copyFromHost(root: string, paths: readonly string[], follow: boolean) {
  if (paths.length === 0) return;
  const flags = follow ? ["-h"] : ["--exclude=__pycache__"];
  const out = new Deno.Command("tar", {
    args: ["-C", "/", "-c", ...flags, "--", ...paths.map((p) => p.slice(1))],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const into = new Deno.Command("tar", {
    args: ["-C", root, "-x"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const [, o, outErr, i] = await Promise.all([
    out.stdout.pipeTo(into.stdin),
    out.status,
    new Response(out.stderr).text(),
    into.output(),
  ]);
  if (!o.success || !i.success) {
    const why = outErr + new TextDecoder().decode(i.stderr);
    throw new Error(`Cannot copy ${paths.join(", ")}: ${why}`);
  }
}

/** The shared libraries `ldd` lists for `program`, the dynamic loader among them. */
async function sharedLibraries(program: string): Promise<string[]> {
  const out = await new Deno.Command("ldd", { args: [program], stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`ldd ${program}: ${new TextDecoder().decode(out.stderr)}`);
  // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)".
  return [...new TextDecoder().decode(out.stdout).matchAll(/^\s*(?:\S+ => )?(\/\S+) \(0x/gm)]
    .map((m) => m[1]!);
}

/** Copy `extras` from the host into the image's `root`. */
async function addExtras(root: string, extras: ImageExtras) {
  const programs = extras.programs ?? [];
  const libraries = (await Promise.all(programs.map(sharedLibraries))).flat();
  // glibc loads libgcc_s when a thread exits (bwa's do): no ldd lists it.
  const libc = libraries.find((l) => /\/libc\.so\.6$/.test(l));
  const libgcc = libc && join(dirname(libc), "libgcc_s.so.1");
  if (libgcc && await Deno.stat(libgcc).then(() => true, () => false)) libraries.push(libgcc);
  await copyFromHost(root, [...new Set([...programs, ...libraries])], true);
  await copyFromHost(root, extras.trees ?? [], false);
}

/**
 * Build an image from busybox (and `extras` from the host) in `dir` (a test's
 * temp directory) under a new tag.
 */
export async function makeImage(dir: string, extras: ImageExtras = {}): Promise<TestImage> {
  const root = join(dir, "image-root");
  const tag = `localhost/ferry-test-${crypto.randomUUID().slice(0, 8)}:1`;
  await Deno.mkdir(join(root, "bin"), { recursive: true });
  await addExtras(root, extras);
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
