# shellcheck shell=bash
# ferry's container launcher, run by the local provider (`bash -c`) and held by every job wrapper
# that runs a task in a container (providers/batch/container.ts writes the call). Checked
# by ShellCheck (deno task check).

# ferry_container N STOP... RUN...: run the engine's command RUN (`podman run ...`) as a child and
# wait for it. On SIGTERM, SIGINT or SIGHUP (a cancel, a walltime, Ctrl-C) it runs STOP, its N
# words (`podman kill NAME`), then waits for RUN to end: a container's first process ignores
# SIGTERM when it has no handler for it, and the engine's own process ending would leave the
# container running. N = 0 (apptainer, singularity: the task is a child of the engine's
# process, in the task's process group) runs RUN in its place. Exits with RUN's status.
ferry_container() {
  local n=$1 pid rc
  ferry_stop_cmd=("${@:2:n}")
  shift $((n + 1))
  if [ "$n" -eq 0 ]; then exec "$@"; fi
  trap '"${ferry_stop_cmd[@]}" >/dev/null 2>&1 </dev/null' TERM INT HUP
  "$@" &
  pid=$!
  wait "$pid"
  rc=$?
  # A trapped signal ends the first wait early: wait again until the engine's process is gone.
  while kill -0 "$pid" 2>/dev/null; do
    wait "$pid"
    rc=$?
  done
  exit "$rc"
}
