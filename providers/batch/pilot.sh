# shellcheck shell=bash
# shellcheck disable=SC2317 # functions run in the background or by a trap
# ferry's pilot worker library: what a pilot block runs (bundle: pilot). The block script sets
# ferry_q (the queue directory, on the filesystem ferry shares with the nodes), runs the
# executor's worker_init once, then calls ferry_pilot_block. pilot_script.ts writes this file
# into the queue directory as pilot.sh; the protocol is described in docs/architecture.md
# ("Pilot blocks"). Needs bash and coreutils only. Checked by shellcheck (deno task check).
#
# The queue directory:
#   new/T            a task ferry offers: one line, the path of its attempt's job wrapper
#   claimed/T.B.S    task T taken by worker S of block B (the rename is the claim)
#   done/T.B.S       the worker ran it (an empty file; the claim stays): exit.json is written
#   cancel/T         ferry asks that task T be stopped
#   workers/B.S      worker S of block B: "host epoch", rewritten every few seconds
#   workers/B.S.run  what it runs now: "T pid", empty between tasks
#   stop             every worker ends once idle

: "${ferry_q:?the block script sets ferry_q before this library}"
ferry_pilot_beat_s=2 # seconds between heartbeats (pilot.ts HEARTBEAT_MS agrees)
ferry_pilot_pids=()

# Run block $1 with $2 workers, each ending after $3 idle seconds; returns when all ended.
ferry_pilot_block() {
  local host i
  host=$(hostname 2>/dev/null || uname -n)
  trap ferry_pilot_stop TERM INT HUP
  for ((i = 1; i <= $2; i++)); do
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
# the node's name. A claim is one rename: of workers racing for a task, exactly one wins.
ferry_pilot_worker() {
  local me=$1 idle=$(($2 * 1000)) last fd n i f task beat
  local -a offered
  trap ferry_pilot_worker_stop TERM INT HUP
  ferry_pilot_clock
  last=$ferry_pilot_ms
  ferry_pilot_run=''
  mkfifo "$ferry_q/workers/$me.fifo" && exec {fd}<>"$ferry_q/workers/$me.fifo"
  rm -f -- "$ferry_q/workers/$me.fifo"
  : >"$ferry_q/workers/$me.run"
  ferry_pilot_beat "$me" "$3" "$BASHPID" "$fd" &
  beat=$!
  while :; do
    offered=("$ferry_q"/new/*)
    n=${#offered[@]}
    if [ -e "${offered[0]}" ]; then
      # Start at a random place: workers that look at once mostly try different tasks.
      for ((i = 0; i < n; i++)); do
        f=${offered[$(((i + RANDOM) % n))]}
        task=${f##*/}
        if mv -- "$f" "$ferry_q/claimed/$task.$me" 2>/dev/null; then
          ferry_pilot_task "$task" "$me"
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
  rm -f -- "$ferry_q/workers/$me" "$ferry_q/workers/$me.run"
}

# The clock in ms into ferry_pilot_ms: bash 5's EPOCHREALTIME, else whole seconds (no process).
ferry_pilot_clock() {
  if [[ ${EPOCHREALTIME-} =~ ^([0-9]+)[.,]([0-9]{3}) ]]; then
    ferry_pilot_ms=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
  else
    ferry_pilot_ms=$((SECONDS * 1000))
  fi
}

# Run claimed task $1 on worker $2: its job wrapper in the background (so that the heartbeat can
# stop it when ferry cancels it), then say it is done: an empty file made by the shell itself (no
# process), which ferry removes with the claim.
ferry_pilot_task() {
  local claim="$ferry_q/claimed/$1.$2" wrapper=''
  read -r wrapper <"$claim"
  bash "$wrapper" </dev/null &
  ferry_pilot_run=$!
  printf '%s %s\n' "$1" "$ferry_pilot_run" >"$ferry_q/workers/$2.run"
  wait "$ferry_pilot_run"
  ferry_pilot_run=''
  : >"$ferry_q/workers/$2.run"
  : >"$ferry_q/done/$1.$2"
}

# The worker is stopped (its block ends): its task's wrapper gets SIGTERM (it stops the task's
# process group and writes exit.json); the claim stays, and ferry gives the task back.
ferry_pilot_worker_stop() {
  if [ -n "$ferry_pilot_run" ]; then
    kill -TERM "$ferry_pilot_run" 2>/dev/null
    wait "$ferry_pilot_run"
  fi
  exit 143
}

# Heartbeat of worker $1 on node $2 while process $3 lives: rewrites workers/$1 and stops the
# task ferry cancelled. Sleeps by reading fd $4, a FIFO nobody writes (no process per beat).
ferry_pilot_beat() {
  local task='' pid=''
  while kill -0 "$3" 2>/dev/null; do
    printf '%s %(%s)T\n' "$2" -1 >"$ferry_q/workers/$1.beat" &&
      mv -f -- "$ferry_q/workers/$1.beat" "$ferry_q/workers/$1"
    if read -r task pid <"$ferry_q/workers/$1.run" 2>/dev/null && [ -n "$task" ] &&
      [ -e "$ferry_q/cancel/$task" ]; then
      kill -TERM "$pid" 2>/dev/null
    fi
    read -r -t "$ferry_pilot_beat_s" -u "$4" _
  done
}
