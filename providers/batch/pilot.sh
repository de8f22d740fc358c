# shellcheck shell=bash
# shellcheck disable=SC2317 # functions run in the background or by a trap
# ferry's pilot worker library: what a pilot block runs (bundle: pilot). The block script sets
# ferry_q (the queue directory, on the filesystem ferry shares with the nodes), runs the
# executor's worker_init once (on each node of a block over several nodes), then calls
# ferry_pilot_block. pilot_script.ts writes this file
# into the queue directory as pilot.sh; the protocol is described in docs/architecture.md
# ("Pilot blocks"). Needs bash and coreutils only. Checked by shellcheck (deno task check).
#
# The queue directory:
#   new/T            a task ferry offers: its attempt's lines (a hard link to the attempt's task.sh)
#   claimed/T        task T taken: made with O_EXCL (noclobber) by the worker "B.S" it holds, or by
#                    ferry taking T back ("ferry"); of all racing for T exactly one creates it
#   done/T.B.S       worker S of block B ran it (an empty file; the claim stays): exit.json written
#   cancel/T         ferry asks that task T be stopped
#   workers/B.S      worker S of block B: "host epoch", rewritten every few seconds (slots are
#                    numbered across the block's nodes: node I runs (I-1)*W+1 .. I*W)
#   workers/B.S.run  what it runs (or ran last: then done/T.B.S exists): "T pid"
#   stop             every worker ends once idle

: "${ferry_q:?the block script sets ferry_q before this library}"
ferry_pilot_beat_s=2 # seconds between heartbeats (pilot.ts HEARTBEAT_MS agrees)
ferry_pilot_pids=()
# The job wrapper's library and the container launcher, once for the block (pilot_queue.ts writes
# them beside this file): each task's lines call their functions in a subshell of its worker.
# shellcheck source=/dev/null
source "$ferry_q/wrapper.sh"
# shellcheck source=/dev/null
source "$ferry_q/container.sh"
# The status file is written in place (the done mark follows it), and usage is measured with bash's
# `times` and clock, not /usr/bin/time: no process per task for either (FERRY_TIME still names a
# timer to use).
# shellcheck disable=SC2034 # read by the wrapper's library
ferry_status_direct=1 ferry_time_default=''

# Run $2 workers of block $1 on this node, each ending after $3 idle seconds; returns when all
# ended. On a block over several nodes, $4 is this node's number (from 1) and $5 its name as the
# scheduler calls it (else: hostname): node I's workers have slots (I-1)*$2+1 .. I*$2, and the
# attempts they run report the node's name as their host.
ferry_pilot_block() {
  local host=${5-} i first=$((${4:-1} * $2 - $2))
  if [ -z "$host" ]; then host=$(hostname 2>/dev/null || uname -n); fi
  HOSTNAME=$host
  trap ferry_pilot_stop TERM INT HUP
  for ((i = first + 1; i <= first + $2; i++)); do
    ferry_pilot_worker "$1.$i" "$3" "$host" &
    ferry_pilot_pids+=($!)
  done
  wait
}

# The block is cancelled (scancel, its walltime): the workers stop their tasks and end.
ferry_pilot_stop() {
  kill -TERM "${ferry_pilot_pids[@]}" 2>/dev/null
  wait
  exit 143
}

# Worker $1 (BLOCK.SLOT): take tasks from new/ until idle for $2 seconds or told to stop; $3 is
# the node's name. A claim is one exclusive create (ferry_pilot_claim): no process.
ferry_pilot_worker() {
  local me=$1 idle=$(($2 * 1000)) last fd n i r task beat
  local -a offered
  trap ferry_pilot_worker_stop TERM INT HUP
  ferry_pilot_clock
  last=$ferry_pilot_ms
  ferry_pilot_run=''
  # Two FIFOs nobody else writes, opened both ways: fd sleeps (read -t), ferry_cpu_fd carries the
  # wrapper's `times` (ferry_cpu_ms), which a file would cost a write to the disk per task.
  mkfifo "$ferry_q/workers/$me.fifo" "$ferry_q/workers/$me.cpu" &&
    exec {fd}<>"$ferry_q/workers/$me.fifo" {ferry_cpu_fd}<>"$ferry_q/workers/$me.cpu"
  rm -f -- "$ferry_q/workers/$me.fifo" "$ferry_q/workers/$me.cpu"
  # shellcheck disable=SC2034 # read by ferry_task_fds (wrapper.sh) in each task's process
  ferry_pilot_fds="$fd $ferry_cpu_fd"
  : >"$ferry_q/workers/$me.run"
  # The first heartbeat before the first claim: a worker that hangs after it claimed a task is
  # seen to stop beating (a worker with no heartbeat yet counts as not started).
  ferry_pilot_pulse "$me" "$3"
  ferry_pilot_beat "$me" "$3" "$BASHPID" "$fd" &
  beat=$!
  while :; do
    offered=("$ferry_q"/new/*)
    n=${#offered[@]}
    if [ -e "${offered[0]}" ]; then
      # Start at a random place: workers that look at once mostly try different tasks.
      r=$RANDOM
      for ((i = 0; i < n; i++)); do
        task=${offered[$(((i + r) % n))]##*/}
        if ferry_pilot_claim "$task" "$me"; then
          ferry_pilot_task "$task" "$me" "$fd"
          ferry_pilot_clock
          last=$ferry_pilot_ms
          continue 2
        fi
      done
    fi
    ferry_pilot_clock
    if [ -e "$ferry_q/stop" ] || ((ferry_pilot_ms - last >= idle)); then break; fi
    read -r -t 0.05 -u "$fd" _ || true
  done
  kill "$beat" 2>/dev/null
  wait "$beat"
  # (.beat: a heartbeat killed between its write and its rename)
  rm -f -- "$ferry_q/workers/$me" "$ferry_q/workers/$me.run" "$ferry_q/workers/$me.beat"
}

# The clock in ms into ferry_pilot_ms: bash 5's EPOCHREALTIME, else whole seconds (no process).
ferry_pilot_clock() {
  if [[ ${EPOCHREALTIME-} =~ ^([0-9]+)[.,]([0-9]{3}) ]]; then
    ferry_pilot_ms=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
  else
    ferry_pilot_ms=$((SECONDS * 1000))
  fi
}

# Claim task $1 for worker $2: create claimed/$1 with O_CREAT|O_EXCL (bash's noclobber), holding
# the worker's name. Whoever creates it first, a worker or ferry taking the task back, has it; the
# others' create fails (atomic on local filesystems and NFS alike). A task still offered after the
# claim is the worker's to run: ferry removes new/T before it removes a claim (when it took the task
# back, or after the task ended), so a worker that claims a task already gone does not run it.
ferry_pilot_claim() {
  local rc
  if [ -e "$ferry_q/claimed/$1" ]; then return 1; fi
  set -C
  { printf '%s\n' "$2" >"$ferry_q/claimed/$1"; } 2>/dev/null
  rc=$?
  set +C
  [ "$rc" = 0 ] && [ -e "$ferry_q/new/$1" ]
}

# Run claimed task $1 on worker $2 ($3: its sleep FIFO): its attempt's lines in a subshell (the
# job wrapper's library is already loaded), in the background so that the heartbeat can stop it
# when ferry cancels it; then the done mark, an empty file made by the shell itself once the
# status file is whole. workers/B.S.run keeps naming the task after it ended (no second write per
# task): the done mark says it ended.
ferry_pilot_task() {
  local rc
  # shellcheck source=/dev/null # written by ferry at run time
  (source "$ferry_q/new/$1") </dev/null &
  ferry_pilot_run=$!
  printf '%s %s\n' "$1" "$ferry_pilot_run" >"$ferry_q/workers/$2.run"
  wait "$ferry_pilot_run"
  rc=$?
  ferry_pilot_run=''
  # Ended by a SIGTERM ferry did not ask for (no cancel request): most likely the block is being
  # killed (scancel, its walltime), which signals every process of the block at once. A moment
  # for this worker's own SIGTERM (its trap ends it here, without the done mark), so that the
  # task is given back as lost rather than marked done as failed. ($3: the worker's sleep FIFO.)
  if [ "$rc" = 143 ] && ! [ -e "$ferry_q/cancel/$1" ]; then read -r -t 1 -u "$3" _; fi
  : >"$ferry_q/done/$1.$2"
}

# The worker is stopped (its block ends): its task's subshell gets SIGTERM (ferry_term: it stops
# the task's process group and writes exit.json); the claim stays, and ferry gives the task back.
ferry_pilot_worker_stop() {
  if [ -n "$ferry_pilot_run" ]; then
    kill -TERM "$ferry_pilot_run" 2>/dev/null
    wait "$ferry_pilot_run"
  fi
  exit 143
}

# Worker $1's heartbeat on node $2 ("host epoch"): written aside, then renamed (never read half).
ferry_pilot_pulse() {
  printf '%s %(%s)T\n' "$2" -1 >"$ferry_q/workers/$1.beat" &&
    mv -f -- "$ferry_q/workers/$1.beat" "$ferry_q/workers/$1"
}

# Heartbeat of worker $1 on node $2 while process $3 lives: rewrites workers/$1 and stops the
# task ferry cancelled. Sleeps by reading fd $4, a FIFO nobody writes (no process per beat).
ferry_pilot_beat() {
  local task='' pid=''
  # Stopped between beats, never between a beat's write and its rename (no file left behind).
  trap 'exit 0' TERM
  exec {ferry_cpu_fd}>&- # the attempts' pipe, not the heartbeat's
  while kill -0 "$3" 2>/dev/null; do
    ferry_pilot_pulse "$1" "$2"
    if read -r task pid <"$ferry_q/workers/$1.run" 2>/dev/null && [ -n "$task" ] &&
      [ -e "$ferry_q/cancel/$task" ] && ! [ -e "$ferry_q/done/$task.$1" ]; then
      kill -TERM "$pid" 2>/dev/null
    fi
    read -r -t "$ferry_pilot_beat_s" -u "$4" _
  done
}
