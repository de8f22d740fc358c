/**
 * Whether a process of this host lives, for every layer (the run lock, ssh
 * master connections). A leaf: it imports nothing.
 * @module
 */

/** Whether process `pid` of this host is alive. */
export function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    // No /proc (not Linux): ask the kernel whether the pid exists.
    if (Deno.build.os === "linux") return false;
    try {
      Deno.kill(pid, "SIGCONT");
      return true;
    } catch (e) {
      return !(e instanceof Deno.errors.NotFound);
    }
  }
}
