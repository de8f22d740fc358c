# shellcheck shell=bash
# ferry's pilot sync: what one SSH command runs on the login node, once per tick, for a pilot
# executor whose cluster shares no filesystem with ferry (bundle: pilot, via: ssh://,
# filesystem: none). pilot_remote.ts runs it as
#   cd BASE && tar -xf - && exec bash QUEUE/sync.sh QUEUE      (request on stdin, reply on stdout)
# where BASE is the executor's remote directory (remote_dir) and QUEUE the queue directory relative
# to it (RUN/pilot/EXECUTOR, the same files as on a shared filesystem: see pilot.sh). The protocol
# is described in docs/architecture.md ("Pilot blocks"). Needs bash, coreutils and tar only.
# Checked by shellcheck (deno task check).
#
# The request, a tar stream already unpacked in BASE: the attempt files of newly offered tasks in
# their copies (RUN/TASK/attempt-N/...), each such task's lines as QUEUE/tmp/offer/T, and
# QUEUE/tmp/ops, one operation a line, applied in order:
#   offer T REL        task T is offered, REL is its attempt's copy (noted in where/T); its
#                      tmp/offer/T was renamed into new/ before any operation
#   release T F C R    ferry is done with T (done mark F): its cancel request (if C is 1), offer,
#                      done mark and claim are removed, in that order; if R is 1 its copy too
#   withdraw T         take T back unless a worker claimed it, else ask that worker to stop it
#   cancel T           ask the worker running T to stop it
#   drop T             remove T's offer, then its claim
#   forget T           remove T's claim if its offer is gone (a worker's late claim)
#   stop               every worker ends once idle
# The reply, a tar stream: QUEUE/tmp/state, lines "now EPOCH", "claimed T WHO", "worker B.S HOST
# EPOCH" (a heartbeat) and "done F" (a done mark), then for each done mark the files its task left
# in its copy (exit.json, logs, result, work/ without the fetched inputs), which ferry unpacks into
# the attempt's own directory before it reads the status.

set -u
q=$1
rm_list=()
dirs=()

# The attempt copy ($1, relative to BASE, as ferry wrote it) of task $2, or nothing.
ferry_sync_where() {
  local rel=''
  read -r rel <"$q/where/$1" 2>/dev/null
  case $rel in '' | /* | *..*) return 1 ;; esac
  printf -v ferry_rel '%s' "$rel"
}

# New offers first, each renamed whole into new/ (one process for all): a withdraw below of a task
# offered in the same request then finds it offered.
offers=("$q"/tmp/offer/*)
if [ -e "${offers[0]}" ]; then mv -f -- "${offers[@]}" "$q/new/"; fi

while read -r op t a b c; do
  case $op in
  offer)
    printf '%s\n' "$a" >"$q/where/$t"
    ;;
  release)
    if [ "$b" = 1 ]; then rm_list+=("$q/cancel/$t"); fi
    rm_list+=("$q/new/$t" "$q/done/$a" "$q/claimed/$t")
    if [ "$c" = 1 ] && ferry_sync_where "$t"; then
      rm_list+=("$ferry_rel")
      dirs+=("${ferry_rel%/*}")
    fi
    rm_list+=("$q/where/$t")
    ;;
  withdraw)
    # The workers' own exclusive create: whoever makes claimed/T first has the task.
    set -C
    { : >"$q/claimed/$t"; } 2>/dev/null
    rc=$?
    set +C
    if [ "$rc" = 0 ]; then
      rm_list+=("$q/new/$t" "$q/claimed/$t" "$q/where/$t")
    else
      : >"$q/cancel/$t"
    fi
    ;;
  cancel) : >"$q/cancel/$t" ;;
  drop) rm_list+=("$q/new/$t" "$q/claimed/$t" "$q/where/$t") ;;
  forget) if ! [ -e "$q/new/$t" ]; then rm_list+=("$q/claimed/$t"); fi ;;
  stop) : >"$q/stop" ;;
  esac
done <"$q/tmp/ops"

# One process for every removal, in the order above (an offer before its claim); the task
# directories of removed copies go once empty.
if [ "${#rm_list[@]}" -gt 0 ]; then rm -rf -- "${rm_list[@]}"; fi
if [ "${#dirs[@]}" -gt 0 ]; then rmdir -- "${dirs[@]}" 2>/dev/null; fi

files=("$q/tmp/state")
{
  printf 'now %(%s)T\n' -1
  for f in "$q"/claimed/*; do
    [ -e "$f" ] || continue
    who=''
    read -r who <"$f"
    printf 'claimed %s %s\n' "${f##*/}" "$who"
  done
  for f in "$q"/workers/*; do
    n=${f##*/}
    [[ $n =~ ^b[0-9]+\.[0-9]+$ ]] || continue
    host='' at=''
    read -r host at <"$f" && printf 'worker %s %s %s\n' "$n" "$host" "$at"
  done
  for f in "$q"/done/*; do
    n=${f##*/}
    [[ $n =~ ^t[0-9]+\.b[0-9]+\.[0-9]+$ ]] || continue
    printf 'done %s\n' "$n"
    ferry_sync_where "${n%%.*}" || continue
    for x in exit.json job.out stdout.log stderr.log result.json work; do
      if [ -e "$ferry_rel/$x" ]; then files+=("$ferry_rel/$x"); fi
    done
  done
} >"$q/tmp/state"
exec tar -cf - --exclude=work/_inputs -- "${files[@]}"
