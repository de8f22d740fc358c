# shellcheck shell=bash
# shellcheck disable=SC2317 # functions run in the background or by a trap
# ferry's pilot worker library: what a pilot block runs (bundle: pilot). The block script sets
# ferry_q (the queue directory, on the filesystem ferry shares with the nodes), runs the
# executor's worker_init once (on each node of a block over several nodes), then calls
# ferry_pilot_block. pilot_script.ts writes this file
# into the queue directory as pilot.sh; the protocol is described in docs/architecture.md
# ("Pilot blocks"). Needs bash and coreutils (and Deno for function calls). Checked by shellcheck.
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
#   workers/B.S.fn.* its Deno function worker, if it has one (ferry_fn_start)
#   stop             every worker ends once idle
#   spawner          ferry's compiled spawner (spawner.c), when ferry has one: see ferry_sp_start

: "${ferry_q:?the block script sets ferry_q before this library}"
ferry_pilot_beat_s=2 # seconds between heartbeats (pilot.ts HEARTBEAT_MS agrees)
ferry_pilot_pids=()
ferry_fn_pid='' # the worker's Deno function worker: its keeper's pid and process group
ferry_sp_pid='' # the worker's spawner (ferry_sp_start), when it has one
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
  ferry_pilot_sleep=$fd
  ferry_sp_start "$me"
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
  ferry_fn_stop
  ferry_sp_stop
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
  local rc line=''
  IFS= read -r line <"$ferry_q/new/$1" 2>/dev/null
  if [ "$line" = ferry_direct=1 ]; then
    ferry_pilot_direct "$1" "$2"
    rc=$ferry_code
  else
    ferry_fn_prepare "$2" "$line"
    # shellcheck source=/dev/null # written by ferry at run time
    (source "$ferry_q/new/$1") </dev/null &
    ferry_pilot_run=$!
    printf '%s %s\n' "$1" "$ferry_pilot_run" >"$ferry_q/workers/$2.run"
    wait "$ferry_pilot_run"
    rc=$?
  fi
  ferry_pilot_run=''
  # Ended by a SIGTERM ferry did not ask for (no cancel request): most likely the block is being
  # killed (scancel, its walltime), which signals every process of the block at once. A moment
  # for this worker's own SIGTERM (its trap ends it here, without the done mark), so that the
  # task is given back as lost rather than marked done as failed. ($3: the worker's sleep FIFO.)
  if [ "$rc" = 143 ] && ! [ -e "$ferry_q/cancel/$1" ]; then read -r -t 1 -u "$3" _; fi
  : >"$ferry_q/done/$1.$2"
}

# Run task $1 on worker $2 with one process (its file starts with ferry_direct=1: wrapper.ts
# directTaskFiles): the file, sourced here, sets the attempt's status file and defines
# ferry_attempt_task, started as the task's process in a process group of its own, which makes
# the attempt's directories and environment and becomes the task. This shell waits for it,
# measures it and writes its status, as an attempt's own shell does; a step that failed before
# the task (ferry_fail) wrote the status itself. workers/W.run names the task's process group
# ("group"): a cancel sends it SIGTERM, then SIGKILL after the grace (ferry_pilot_beat).
ferry_pilot_direct() {
  local ferry_status ferry_grace ferry_walltime='' ferry_timed_out_file='' ferry_task_time
  local ferry_spawn_cwd ferry_spawn_out ferry_spawn_err
  local -a ferry_spawn_dirs ferry_spawn_env ferry_spawn_argv
  # shellcheck source=/dev/null # written by ferry at run time
  source "$ferry_q/new/$1" || return
  # The task's FERRY_TIME (set, even empty) chooses how it is measured, as in its own shell.
  # shellcheck disable=SC2034 # read by ferry_measure_start (wrapper.sh)
  if [ -n "${ferry_task_time+set}" ]; then local FERRY_TIME=$ferry_task_time; fi
  ferry_begin
  ferry_rm "$ferry_timed_out_file"
  # Started by the worker's spawner when it can be (no timer, no launcher: nothing but the task).
  if [ -n "$ferry_sp_pid" ] && [ -n "${ferry_spawn_argv+set}" ] && [ -z "${FERRY_TIME-}" ] &&
    [ -z "${FERRY_LAUNCH-}" ] && ferry_sp_run "$1" "$2"; then
    return 0
  fi
  ferry_measure_start
  set -m
  ferry_attempt_task </dev/null &
  ferry_child=$!
  set +m
  ferry_pilot_run=$ferry_child
  printf '%s %s group\n' "$1" "$ferry_child" >"$ferry_q/workers/$2.run"
  if [ -n "$ferry_walltime" ]; then
    ferry_watchdog "$ferry_walltime" "$ferry_grace" "$ferry_timed_out_file" &
    ferry_watch=$!
  fi
  wait "$ferry_child"
  ferry_code=$?
  ferry_measure_end
  ferry_end_group
  ferry_stop_watch
  if [ -e "$ferry_timed_out_file" ]; then ferry_timed_out=true; fi
  if ! [ -s "$ferry_status" ]; then ferry_record "$ferry_code"; fi
}

# The worker is stopped (its block ends): its task's subshell gets SIGTERM (ferry_term: it stops
# the task's process group and writes exit.json), or the task's group when the worker runs it
# itself; the claim stays, and ferry gives the task back.
ferry_pilot_worker_stop() {
  local tenths=0
  if [ -n "$ferry_pilot_run" ]; then
    # A task this worker runs itself (ferry_pilot_direct) leads a process group: the whole group
    # gets SIGTERM, and SIGKILL after the grace. Else the attempt's shell stops its task itself.
    if kill -TERM -- "-$ferry_pilot_run" 2>/dev/null; then
      wait "$ferry_pilot_run" 2>/dev/null # (a task the spawner started is not this shell's child)
      while kill -0 -- "-$ferry_pilot_run" 2>/dev/null && ((tenths < ${ferry_grace:-5} * 10)); do
        read -r -t 0.1 -u "$ferry_pilot_sleep" _
        tenths=$((tenths + 1))
      done
      kill -KILL -- "-$ferry_pilot_run" 2>/dev/null
    else
      kill -TERM "$ferry_pilot_run" 2>/dev/null
      wait "$ferry_pilot_run"
    fi
  fi
  ferry_fn_stop
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
  local task='' pid='' kind='' termed='' termed_at=0
  # Stopped between beats, never between a beat's write and its rename (no file left behind).
  trap 'exit 0' TERM
  exec {ferry_cpu_fd}>&- # the attempts' pipe, not the heartbeat's
  if [ -n "$ferry_sp_pid" ]; then exec {ferry_sp_in}>&- {ferry_sp_out}<&-; fi # nor the spawner's
  while kill -0 "$3" 2>/dev/null; do
    ferry_pilot_pulse "$1" "$2"
    if read -r task pid kind <"$ferry_q/workers/$1.run" 2>/dev/null && [ -n "$task" ] &&
      [ -e "$ferry_q/cancel/$task" ] && ! [ -e "$ferry_q/done/$task.$1" ]; then
      if [ "$kind" != group ]; then
        kill -TERM "$pid" 2>/dev/null # the attempt's shell: it stops its task (ferry_term)
      elif [ "$termed" != "$task" ]; then
        termed=$task
        termed_at=$SECONDS
        kill -TERM -- "-$pid" 2>/dev/null
      elif ((SECONDS - termed_at >= ${ferry_grace:-5})); then
        kill -KILL -- "-$pid" 2>/dev/null
      fi
    fi
    read -r -t "$ferry_pilot_beat_s" -u "$4" _
  done
}

# --- plain attempts started by the worker's spawner ---
# A fork of this shell (the worker: its libraries, its state) copies its page tables and then
# pays a page fault for each page either side writes; on a virtual machine that is several ms per
# task, more than the task's own exec. ferry's compiled spawner (spawner.c, copied into the queue
# as `spawner` when ferry has one) starts a task with posix_spawn instead: no copy, one exec, and
# it opens the task's logs itself. The worker keeps its own spawner (a child, its requests and
# replies through two FIFOs the worker holds open both ways: nothing blocks, and the spawner sees
# the end of its requests when the worker ends, even killed, and stops what it started). Where the
# file is missing or cannot run on the node (another architecture, another libc), the worker forks
# as before. Only a plain attempt (its file has ferry_spawn_argv, ferry's wrapper.ts
# directTaskFiles) with no timer or launcher is spawned; a request the spawner refuses (a directory
# it cannot make, a program not found) is run by a fork, which says what is wrong as before.

# Start worker $1's spawner, if there is one that runs here: sets ferry_sp_pid and its fds.
ferry_sp_start() {
  local spawner="$ferry_q/spawner" files="$ferry_q/workers/$1.sp" r w
  ferry_sp_pid=''
  if ! [ -x "$spawner" ] || ! "$spawner" </dev/null >/dev/null 2>&1; then return 0; fi
  rm -f -- "$files.in" "$files.out"
  mkfifo -m 600 "$files.in" "$files.out" 2>/dev/null || return 0
  # The worker's ends both ways (no open blocks); the spawner's read-only and write-only, so that
  # it sees the end of its requests when the worker's end closes.
  # shellcheck disable=SC2094 # FIFOs, opened twice on purpose
  exec {ferry_sp_in}<>"$files.in" {ferry_sp_out}<>"$files.out" {r}<"$files.in" {w}>"$files.out"
  rm -f -- "$files.in" "$files.out"
  # Nothing of the worker's but its own two pipes: the tasks it starts inherit its descriptors.
  {
    ferry_task_fds
    exec "$spawner" "${ferry_grace:-5}" <&"$r" >&"$w" {r}<&- {w}>&- {ferry_sp_in}>&- {ferry_sp_out}<&-
  } &
  ferry_sp_pid=$!
  exec {r}<&- {w}>&-
  ferry_pilot_fds+=" $ferry_sp_in $ferry_sp_out"
}

# End the worker's spawner: the end of its requests (it stops what still runs, then exits).
ferry_sp_stop() {
  if [ -z "$ferry_sp_pid" ]; then return 0; fi
  local pid=$ferry_sp_pid
  ferry_sp_gone
  wait "$pid" 2>/dev/null
}

# The worker's spawner is no more (or no longer used): its pipes closed; the worker forks.
ferry_sp_gone() {
  exec {ferry_sp_in}>&- {ferry_sp_out}<&-
  ferry_pilot_fds=${ferry_pilot_fds/ "$ferry_sp_in $ferry_sp_out"/}
  ferry_sp_pid=''
}

# One NUL-terminated field of the spawner's replies into the variable $1; $2: a timeout (s).
ferry_sp_read() {
  IFS= read -r -d '' ${2:+-t "$2"} -u "$ferry_sp_out" "$1"
}

# The attempt is lost with the worker's spawner ($1: when it ended): whatever the spawner started
# for it cannot be followed (its group, $2, if known, is killed); ferry runs it again elsewhere.
ferry_sp_lost() {
  if [ -n "${2-}" ]; then kill -KILL -- "-$2" 2>/dev/null; fi
  ferry_sp_gone
  ferry_lost=true
  ferry_reason="lost with its worker's spawner, which ended $1"
  ferry_code=137
  ferry_record "$ferry_code"
}

# Run task $1 of worker $2 (its file sourced: ferry_spawn_*) through the spawner: ferry_code and
# the usage it measured (wait4) set, the status file written. Returns 1 only when nothing ran: the
# spawner refused the request (the caller forks instead, which does the same steps and says what is
# wrong) or could not be sent it. Once the request is sent, a spawner that ends loses the attempt:
# it may have started the task, which must not run twice at once.
# shellcheck disable=SC2154 # ferry_spawn_*: set by the task's file
ferry_sp_run() {
  local LC_ALL=C f n=0 kind value status pid wait=1 now left deadline='' termed='' use e u s
  local -a req=("$1" "$ferry_spawn_cwd" "${#ferry_spawn_dirs[@]}" "${ferry_spawn_dirs[@]}" 0
    "$((${#ferry_spawn_env[@]} + 1))" "${ferry_spawn_env[@]}" "PWD=$ferry_spawn_cwd"
    "${#ferry_spawn_argv[@]}" "${ferry_spawn_argv[@]}" "" "$ferry_spawn_out" "$ferry_spawn_err")
  for f in "${req[@]}"; do n=$((n + ${#f} + 1)); done
  if ! kill -0 "$ferry_sp_pid" 2>/dev/null; then ferry_sp_gone; return 1; fi
  printf '%d\n' "$n" >&"$ferry_sp_in" && printf '%s\0' "${req[@]}" >&"$ferry_sp_in" || return 1
  until ferry_sp_read kind 1; do
    if ! kill -0 "$ferry_sp_pid" 2>/dev/null; then ferry_sp_lost "as the task started"; return 0; fi
  done
  # A reply is one write: the rest of its fields are there.
  ferry_sp_read _
  ferry_sp_read value
  case $kind in
    S) ;;
    F) return 1 ;;
    *) ferry_sp_lost "with a reply it does not give (\"$kind\")"; return 0 ;;
  esac
  pid=$value
  ferry_child=$pid
  ferry_pilot_run=$pid
  printf '%s %s group\n' "$1" "$pid" >"$ferry_q/workers/$2.run"
  if [ -n "$ferry_walltime" ]; then
    ferry_now
    deadline=$((ferry_ms + ferry_walltime * 1000))
  fi
  # Its end; past its walltime, SIGTERM to its group, SIGKILL after the grace (as ferry_watchdog).
  until ferry_sp_read kind "$wait"; do
    wait=1
    if ! kill -0 "$ferry_sp_pid" 2>/dev/null; then
      ferry_sp_lost "during the task" "$pid"
      return 0
    fi
    if [ -z "$deadline" ]; then continue; fi
    ferry_now
    now=$ferry_ms
    if [ -z "$termed" ] && ((now >= deadline)); then
      : >"$ferry_timed_out_file"
      kill -TERM -- "-$pid" 2>/dev/null
      termed=$now
    elif [ -n "$termed" ] && ((now - termed >= ferry_grace * 1000)); then
      kill -KILL -- "-$pid" 2>/dev/null
      deadline=''
      continue
    fi
    if [ -n "$termed" ]; then left=$((termed + ferry_grace * 1000 - now)); else left=$((deadline - now)); fi
    if ((left < 1000)); then ferry_secs_to wait $((left > 10 ? left : 10)); fi
  done
  if [ "$kind" != E ]; then
    ferry_sp_lost "with a reply it does not give (\"$kind\")" "$pid"
    return 0
  fi
  ferry_sp_read _
  ferry_sp_read status
  ferry_sp_read use
  # The raw wait status: its exit code, or 128 + the signal that ended it.
  if (((status & 127) == 0)); then
    ferry_code=$(((status >> 8) & 255))
  else
    ferry_code=$((128 + (status & 127)))
  fi
  # "WALL USER SYS MAXRSS" (seconds, seconds, seconds, KiB)
  e=${use%% *} use=${use#* }
  u=${use%% *} use=${use#* }
  s=${use%% *} use=${use#* }
  ferry_usage=",\"usage\":{\"wallSeconds\":$e,\"userSeconds\":$u,\"systemSeconds\":$s"
  ferry_usage+=",\"maxRssBytes\":$((use * 1024)),\"measuredBy\":\"wait4\"}"
  if [ -e "$ferry_timed_out_file" ]; then ferry_timed_out=true; fi
  ferry_record "$ferry_code"
}

# --- function calls in a persistent Deno function worker ---
# A task whose file starts with `ferry_fn_argv=(...)` (a function call outside a container; a
# least-privilege one in a Web Worker with exactly its permissions; wrapper.ts pooledCallLines)
# runs its call in its worker's
# Deno function worker (function_worker.ts; its protocol is in docs/architecture.md, "Function
# workers"), which imports each module once and takes one call after another. Started on the
# first such task, kept while the tasks' command line (the key: Deno, its flags) stays the same,
# ended with the worker. Its files, workers/B.S.fn.*: `in`, its calls (a FIFO the worker holds
# open both ways, so no open blocks and nothing Deno writes is lost; Deno's standard input is
# /dev/null and the marks' token in its environment, which it forgets: a call's code sees neither); `out` and `err`, its
# standard output and error (files, emptied after each call: a call's output is what comes before
# the mark); `pid`, Deno's pid. ferry_fn_pid is its keeper, a subshell in a process group of its
# own (set -m) with Deno in it, which marks both files with Deno's end as ferry does for a local
# worker. What kills a call (walltime, cancel) kills that group; the next call gets a new one.

# Before a task runs on worker $1: the function worker its file's first line ($2, read by
# ferry_pilot_task) asks for, alive.
ferry_fn_prepare() {
  local line=$2
  case $line in 'ferry_fn_argv=('*) ;; *) return 0 ;; esac
  if [ "$line" = "${ferry_fn_line-}" ] && kill -0 "$ferry_fn_pid" 2>/dev/null; then return 0; fi
  ferry_fn_stop
  # Sets ferry_fn_argv: a line of ferry's, every value quoted as in the rest of the file.
  eval "$line"
  ferry_fn_start "$1" && ferry_fn_line=$line
}

# Start worker $1's function worker (ferry_fn_argv): its files, then its keeper.
ferry_fn_start() {
  ferry_fn_files="$ferry_q/workers/$1.fn"
  rm -f -- "$ferry_fn_files.in"
  mkfifo -m 600 "$ferry_fn_files.in" || return
  exec {ferry_fn_in}<>"$ferry_fn_files.in"
  : >"$ferry_fn_files.out"
  : >"$ferry_fn_files.err"
  # The token of the marks: what a call prints does not end it by chance.
  ferry_fn_token="${SRANDOM:-$RANDOM}${SRANDOM:-$RANDOM}${SRANDOM:-$RANDOM}$RANDOM"
  ferry_pilot_fds+=" $ferry_fn_in"
  set -m
  ferry_fn_keep &
  ferry_fn_pid=$!
  set +m
}

# The keeper: Deno, then both files marked with how it ended (exit code, signal), standard error
# first: a call that waits for the mark on standard output finds the other one written.
# shellcheck disable=SC2154 # ferry_fn_argv: set by the task's first line (ferry_fn_prepare)
ferry_fn_keep() {
  local rc signal=null f
  ferry_task_fds
  FERRY_WORKER_TOKEN=$ferry_fn_token "${ferry_fn_argv[@]}" "$ferry_fn_files.in" </dev/null \
    >>"$ferry_fn_files.out" 2>>"$ferry_fn_files.err" &
  printf '%s\n' "$!" >"$ferry_fn_files.pid"
  wait "$!"
  rc=$?
  if [ "$rc" -gt 128 ]; then signal="\"SIG$(kill -l $((rc - 128)))\""; fi
  for f in err out; do
    printf '\0ferry-worker %s {"exit":{"code":%d,"signal":%s}}\n' "$ferry_fn_token" "$rc" \
      "$signal" >>"$ferry_fn_files.$f"
  done
}

# End the worker's function worker, if it has one: its group (what Deno started with it), its files.
ferry_fn_stop() {
  if [ -z "$ferry_fn_pid" ]; then return 0; fi
  kill -TERM -- "-$ferry_fn_pid" 2>/dev/null
  wait "$ferry_fn_pid" 2>/dev/null
  kill -KILL -- "-$ferry_fn_pid" 2>/dev/null
  exec {ferry_fn_in}>&-
  ferry_pilot_fds=${ferry_pilot_fds% "$ferry_fn_in"}
  rm -f -- "$ferry_fn_files.in" "$ferry_fn_files.out" "$ferry_fn_files.err" "$ferry_fn_files.pid"
  ferry_fn_pid='' ferry_fn_line=''
}

# In a task's subshell: the call in file $3 (its JSON without "dir", which is the JSON $4) in the
# worker's function worker, with walltime $1 seconds ('': none; past it the file $2 is left and
# the worker's group killed, ferry_watchdog). What it printed goes into files $5 and $6, the value
# it returned (JSON) into file $7. Sets ferry_code: 0; 1 when it threw; the worker's exit code
# when the call ended it (Deno.exit), or its Web Worker's (a least-privilege call's Deno.exit);
# 143 when ferry killed it. A worker killed by a signal
# ferry did not send loses the call (ferry_lost, ferry_reason): ferry runs it again. Usage: the
# clock (the worker is not this shell's child, its CPU time not the call's).
# shellcheck disable=SC2034,SC2154 # the attempt's state, shared with the job wrapper's library
ferry_fn_call() {
  local LC_ALL=C call='' reply value ms=1 fd t0 wall pid='' writer=''
  : >"$5"
  : >"$6"
  if [ -z "$ferry_fn_pid" ]; then
    ferry_fail "Cannot start a Deno function worker \"$ferry_fn_files\" on the node: mkfifo failed"
  fi
  { IFS= read -r call || [ -n "$call" ]; } <"$3" ||
    ferry_fail "Cannot read the call \"$3\" on the node"
  ferry_now
  t0=$ferry_ms
  ferry_child=$ferry_fn_pid
  if [ -n "$1" ]; then
    ferry_watchdog "$1" "$ferry_grace" "$2" &
    ferry_watch=$!
  fi
  # A line longer than a pipe holds is written aside: were Deno gone, it would wait forever.
  if [ "${#call}" -lt 32768 ]; then
    printf '{"dir":%s,%s\n' "$4" "${call#\{}" >&"$ferry_fn_in"
  else
    printf '{"dir":%s,%s\n' "$4" "${call#\{}" >&"$ferry_fn_in" &
    writer=$!
  fi
  exec {fd}<"$ferry_fn_files.out"
  ferry_fn_scan_start
  while ferry_fn_scan "$fd" && [ -z "$ferry_fn_marked" ]; do
    # No mark, and its keeper gone: its group was killed (with the keeper, no mark comes).
    if ! kill -0 "$ferry_fn_pid" 2>/dev/null; then
      ferry_fn_scan "$fd"
      break
    fi
    ferry_secs_to wall "$ms"
    read -r -t "$wall" -u "$ferry_pilot_sleep" _
    ms=$((ms >= 32 ? 50 : ms * 2))
  done
  exec {fd}<&-
  if [ -n "$writer" ]; then
    kill "$writer" 2>/dev/null
    wait "$writer" 2>/dev/null
  fi
  reply=$ferry_fn_reply
  ferry_fn_copy out "$5"
  # Standard error: its mark (or the keeper's) came before the one on standard output.
  exec {fd}<"$ferry_fn_files.err"
  ferry_fn_scan_start
  ferry_fn_scan "$fd"
  exec {fd}<&-
  if [ "$6" = "$5" ]; then ferry_fn_copy err "$6" append; else ferry_fn_copy err "$6"; fi
  : >"$ferry_fn_files.out"
  : >"$ferry_fn_files.err"
  ferry_stop_watch
  if [ -e "$2" ]; then ferry_timed_out=true; fi
  ferry_now
  ferry_secs_to wall $((ferry_ms - t0))
  ferry_usage=",\"usage\":{\"wallSeconds\":$wall,\"measuredBy\":\"clock\"}"
  # The worker's figures for the call come last in its reply: taken off, the rest is as before.
  local re='^(\{.*),"usage":\{"userSeconds":([0-9]+(\.[0-9]+)?),"systemSeconds":([0-9]+(\.[0-9]+)?)(,"maxRssBytes":([0-9]+))?\}\}$'
  if [[ $reply =~ $re ]]; then
    reply="${BASH_REMATCH[1]}}"
    ferry_usage=",\"usage\":{\"wallSeconds\":$wall,\"userSeconds\":${BASH_REMATCH[2]}"
    ferry_usage+=",\"systemSeconds\":${BASH_REMATCH[4]}${BASH_REMATCH[7]:+,\"maxRssBytes\":${BASH_REMATCH[7]}}"
    ferry_usage+=",\"measuredBy\":\"worker\"}"
  fi
  case $reply in
    '{"ok":true,"value":'*'}')
      value=${reply#'{"ok":true,"value":'}
      ferry_code=0
      if [ -n "$7" ]; then
        printf '%s\n' "${value%\}}" >"$7" ||
          ferry_fail "Cannot write the call's result \"$7\" on the node"
      fi
      return 0 ;;
    '{"ok":false}') ferry_code=1; return 0 ;;
  esac
  # A least-privilege call that ended its Web Worker (Deno.exit): its code; the worker goes on.
  if [[ $reply =~ ^\{\"ok\":false,\"exit\":([0-9]+)\}$ ]]; then
    ferry_code=${BASH_REMATCH[1]}
    return 0
  fi
  # No reply: the worker ended. Whatever is left of its group goes (a Deno ignoring SIGTERM).
  kill -KILL -- "-$ferry_fn_pid" 2>/dev/null
  ferry_code=143
  if [[ $reply =~ ^\{\"exit\":\{\"code\":([0-9]+),\"signal\":(null|\"(SIG[A-Z0-9+]+)\")\}\}$ ]]; then
    ferry_code=${BASH_REMATCH[1]}
    if [ -z "${BASH_REMATCH[3]}" ] || [ "$ferry_timed_out" = true ]; then return 0; fi
  elif [ "$ferry_timed_out" = true ]; then return 0; fi
  IFS= read -r pid <"$ferry_fn_files.pid"
  ferry_lost=true
  ferry_reason="lost with its function worker (pid ${pid:-?}), "
  if [ -n "${BASH_REMATCH[3]-}" ]; then
    ferry_reason+="killed by ${BASH_REMATCH[3]} during the call"
  else
    ferry_reason+="which ended during the call"
  fi
}

# A new scan of a worker's output file (ferry_fn_scan).
ferry_fn_scan_start() {
  ferry_fn_at=0 ferry_fn_len=0 ferry_fn_tail='' ferry_fn_after=0 ferry_fn_marked='' ferry_fn_reply=''
}

# Read what file descriptor $1 (a worker's output file) holds next, counting bytes (LC_ALL=C):
# ferry_fn_at read so far, ferry_fn_len before the last NUL, ferry_fn_tail what follows that NUL
# while it may be a mark (ferry_fn_after=1). A whole mark line ("ferry-worker TOKEN[ REPLY]")
# sets ferry_fn_marked and ferry_fn_reply. A NUL a call printed is output like any byte.
ferry_fn_scan() {
  local seg='' mark="ferry-worker $ferry_fn_token"
  while IFS= read -r -d '' -u "$1" seg; do
    ferry_fn_at=$((ferry_fn_at + ${#seg} + 1))
    ferry_fn_len=$((ferry_fn_at - 1))
    ferry_fn_tail='' ferry_fn_after=1
  done
  ferry_fn_at=$((ferry_fn_at + ${#seg}))
  if [ "$ferry_fn_after" != 1 ]; then return 0; fi
  ferry_fn_tail+=$seg
  # Not a mark after all: forget it (a call's output can be long) until the next NUL.
  if [ "${ferry_fn_tail:0:${#mark}}" != "${mark:0:${#ferry_fn_tail}}" ]; then
    ferry_fn_tail='' ferry_fn_after=0
    return 0
  fi
  case $ferry_fn_tail in
    "$mark"$'\n' | "$mark "*$'\n')
      ferry_fn_marked=1
      ferry_fn_reply=${ferry_fn_tail#"$mark"}
      ferry_fn_reply=${ferry_fn_reply# }
      ferry_fn_reply=${ferry_fn_reply%$'\n'} ;;
  esac
}

# Copy what the worker's file $1 (out, err) held before its mark (all of it without one: the
# worker was killed) into the call's log $2 (appended to with $3).
ferry_fn_copy() {
  local n=$ferry_fn_at
  if [ -n "$ferry_fn_marked" ]; then n=$ferry_fn_len; fi
  if [ "$n" -eq 0 ]; then return 0; fi
  if [ -n "${3-}" ]; then
    head -c "$n" -- "$ferry_fn_files.$1" >>"$2"
  else
    head -c "$n" -- "$ferry_fn_files.$1" >"$2"
  fi
}
