# shellcheck shell=bash
# shellcheck disable=SC2317 # functions run by a trap, by a name made at run time, or unused by a wrapper
# ferry's job wrapper library: the functions of every job wrapper (task.sh). wrapper.ts writes
# this text into each wrapper after the line setting ferry_status (the status file's path) and
# before the attempt's own lines, which call these functions. Checked by shellcheck (deno task
# check); the wrappers it ends up in are checked too (providers/batch/wrapper_test.ts).

# A pilot worker (pilot.sh) sources this library once and runs each attempt's lines in a subshell:
# the attempt's own state starts with ferry_begin, not here.
: "${ferry_grace:=5}" # seconds between SIGTERM and SIGKILL on a cancel (KILL_GRACE_SECONDS)
# The clock in ms into ferry_ms: bash 5's EPOCHREALTIME (seconds, a point, 6 digits), else date
# (a process each time). Patterns, not =~: a regular expression is compiled at each use.
ferry_now() {
  local t=${EPOCHREALTIME-}
  t=${t/[.,]/}
  case $t in
    '' | *[!0-9]*) ferry_ms=$(date +%s%3N) ;;
    *) ferry_ms=${t%???} ;;
  esac
}
ferry_curl=(--fail --silent --show-error --connect-timeout 30 --speed-limit 1 --speed-time 60)
# The attempt starts (the wrapper has set ferry_status, the status file's path): clock and state.
ferry_begin() {
  : "${ferry_status:?the wrapper sets ferry_status before ferry_begin}"
  ferry_now
  ferry_start=$ferry_ms
  ferry_host=${HOSTNAME:-$(hostname 2>/dev/null || uname -n)}
  ferry_child=''
  ferry_watch=''
  ferry_timed_out=false
  ferry_reason=''
  ferry_lost=''
  ferry_usage=''
  ferry_secrets=()
  ferry_temps=()
  ferry_run_pw=''
  ferry_fallbacks=''
}

# --- the attempt ---

# Write the status file: exit code $1, signal $2 (JSON: null or "SIGTERM"), start and end times,
# host, whether the walltime passed, why a node-side transfer failed or the attempt was lost with
# its function worker (only when it was: ferry_reason, ferry_lost), and what it used. Made
# whole atomically (temp file, then rename), except under a pilot worker (ferry_status_direct set):
# there the shell writes it in place, no process, and ferry reads it only once the worker's done
# mark, made after this, exists; a file cut short is no JSON, never a status.
ferry_done() {
  local end tmp reason='' fallbacks='' host="\"$ferry_host\""
  ferry_now
  end=$ferry_ms
  tmp="$ferry_status.$$.tmp"
  if [ -n "${ferry_status_direct-}" ]; then tmp=$ferry_status; fi
  if [ -n "$ferry_reason" ]; then reason=",\"reason\":$(ferry_json "$ferry_reason")"; fi
  if [ -n "${ferry_fallbacks-}" ]; then fallbacks=",\"fallbacks\":[$ferry_fallbacks]"; fi
  # A plain host name needs no escaping (and no process to escape it).
  case $ferry_host in '' | *[!A-Za-z0-9._-]*) host=$(ferry_json "$ferry_host") ;; esac
  printf '{"exitCode":%d,"signal":%s,"startedAt":%s,"endedAt":%s,"host":%s,"timedOut":%s%s%s%s%s}\n' \
    "$1" "$2" "$ferry_start" "$end" "$host" "$ferry_timed_out" \
    "$reason" "${ferry_lost:+,\"lost\":true}" "$fallbacks" "$ferry_usage" >"$tmp" || return
  if [ "$tmp" != "$ferry_status" ]; then mv -f "$tmp" "$ferry_status"; fi
}
# The status file for exit code $1 (128 + N: killed by signal N).
ferry_record() {
  local signal=null
  if [ "$1" -gt 128 ]; then signal="\"SIG$(kill -l $(($1 - 128)) 2>/dev/null)\""; fi
  ferry_done "$1" "$signal"
}
# The attempt's end: the status file for exit code $1, which becomes the wrapper's.
ferry_finish() {
  ferry_record "$1"
  exit "$1"
}
# SIGTERM (scancel, a scheduler's time limit), SIGINT, SIGHUP: the task's whole group gets SIGTERM.
ferry_term() {
  ferry_stop_watch
  if [ -n "$ferry_child" ]; then
    kill -TERM -- "-$ferry_child" 2>/dev/null || kill -TERM "$ferry_child" 2>/dev/null
    wait "$ferry_child" 2>/dev/null
    # The group's first process may end before the rest (/usr/bin/time dies of the SIGTERM its
    # task ignores): what is left gets the grace, then SIGKILL, before this wrapper goes.
    # A deadline, not a count of naps: on a loaded host each nap takes longer than it says.
    local until=$((SECONDS + ferry_grace))
    while kill -0 -- "-$ferry_child" 2>/dev/null && [ "$SECONDS" -lt "$until" ]; do
      sleep 0.1
    done
    kill -KILL -- "-$ferry_child" 2>/dev/null
  fi
  ferry_cleanup
  ferry_done 143 '"SIGTERM"'
  exit 143
}
# The walltime watchdog, started in the background once the task runs: after $1 seconds it
# leaves the file $3 and sends SIGTERM to the task's group, SIGKILL $2 seconds later. It sleeps
# as a job it waits for, so that its TERM trap (ferry_stop_watch) takes the sleep with it:
# killing the subshell alone would leave its sleep running until the walltime.
ferry_watchdog() {
  # shellcheck disable=SC2046 # one word per job id
  trap 'kill $(jobs -p) 2>/dev/null; wait; exit 0' TERM
  sleep "$1" &
  wait $!
  touch "$3"
  kill -TERM -- "-$ferry_child" 2>/dev/null
  sleep "$2" &
  wait $!
  kill -KILL -- "-$ferry_child" 2>/dev/null
}
# In the task's process, before its exec: the pipes a pilot worker holds (ferry_pilot_fds) are
# closed, so that the task neither sees nor keeps them.
ferry_task_fds() {
  local fd
  for fd in ${ferry_pilot_fds-}; do exec {fd}>&-; done
}
# The task ended: whatever it left running in its process group (`sleep 600 &`) ends with it,
# as under the local provider. A batch system without cgroup clean-up, or an ssh login, would
# keep it alive after the job.
ferry_end_group() {
  kill -KILL -- "-$ferry_child" 2>/dev/null || true
}
# Stop the watchdog, if any, and wait until it is gone.
ferry_stop_watch() {
  if [ -n "$ferry_watch" ]; then
    kill "$ferry_watch" 2>/dev/null
    wait "$ferry_watch" 2>/dev/null
    ferry_watch=''
  fi
}

# --- what the task used ---

# Before the task starts: how it will be measured. With /usr/bin/time (GNU or BusyBox; FERRY_TIME
# names another, empty: none; a pilot worker's default, ferry_time_default, is none) in front of
# the task, its wall, CPU and peak memory; else CPU time as the growth of this shell's children's
# times (bash's `times`) and the wall clock. No command substitution from here to
# ferry_measure_end: its subshell's CPU time would count as the task's.
ferry_measure_start() {
  local timer=${FERRY_TIME-${ferry_time_default-/usr/bin/time}}
  ferry_timer=()
  ferry_usage_file="$ferry_status.usage"
  ferry_rm "$ferry_usage_file"
  if [ -n "$timer" ] && [ -x "$timer" ]; then
    ferry_timer=("$timer" -o "$ferry_usage_file" -f '%e %U %S %M')
  fi
  ferry_now
  ferry_t0=$ferry_ms
  ferry_cpu_ms
  ferry_cpu0=("${ferry_cpu[@]}")
}
# This shell's children's CPU time so far, into ferry_cpu (user ms, system ms). `times` in this
# shell (in a subshell it would report the subshell's own children, none), into a file, or into
# the pipe ferry_cpu_fd when the caller holds one open (a pilot worker: no file written per task;
# a line a killed attempt left in it is read away first).
ferry_cpu_ms() {
  local line=''
  ferry_cpu=(0 0)
  if [ -n "${ferry_cpu_fd-}" ]; then
    while read -r -t 0 -u "$ferry_cpu_fd"; do read -r -u "$ferry_cpu_fd" _; done
    times 1>&"$ferry_cpu_fd" 2>/dev/null || return 0
    { read -r _ && read -r line; } <&"$ferry_cpu_fd"
  else
    times >"$ferry_usage_file.cpu" 2>/dev/null || return 0
    { read -r _ && read -r line; } <"$ferry_usage_file.cpu"
  fi
  ferry_times_ms "${line%% *}" 0
  ferry_times_ms "${line##* }" 1
}
# `times`' 1m2.345s as milliseconds, into ferry_cpu[$2].
ferry_times_ms() {
  local m=${1%%m*} s=${1#*m} ms
  ms=${s#*.}
  s=${s%%.*}
  case $1 in *s) ms=${ms%s} ;; *) return ;; esac
  case $m:$s:$ms in *[!0-9:]* | :* | *::*) return ;; esac
  if [ "${#ms}" != 3 ]; then return; fi
  ferry_cpu[$2]=$(((10#$m * 60 + 10#$s) * 1000 + 10#$ms))
}
# After the task was waited for: its figures as the status file's "usage" member (ferry_usage).
ferry_measure_end() {
  local t1 l line='' e u s m n='^[0-9]+(\.[0-9]+)?$'
  ferry_cpu_ms
  ferry_now
  t1=$ferry_ms
  if [ "${#ferry_timer[@]}" -gt 0 ] && [ -s "$ferry_usage_file" ]; then
    # The last line: GNU time puts "Command exited with non-zero status N" before it.
    while IFS= read -r l || [ -n "$l" ]; do line=$l; done <"$ferry_usage_file"
    read -r e u s m <<<"$line"
    if [[ $e =~ $n && $u =~ $n && $s =~ $n && $m =~ ^[0-9]+$ ]]; then
      ferry_usage=",\"usage\":{\"wallSeconds\":$e,\"userSeconds\":$u,\"systemSeconds\":$s"
      ferry_usage+=",\"maxRssBytes\":$((m * 1024)),\"measuredBy\":\"time\"}"
    fi
  fi
  ferry_rm "$ferry_usage_file" "$ferry_usage_file.cpu"
  if [ -z "$ferry_usage" ]; then
    ferry_secs_to e $((t1 - ferry_t0))
    ferry_secs_to u $((ferry_cpu[0] - ferry_cpu0[0]))
    ferry_secs_to s $((ferry_cpu[1] - ferry_cpu0[1]))
    ferry_usage=",\"usage\":{\"wallSeconds\":$e,\"userSeconds\":$u,\"systemSeconds\":$s"
    ferry_usage+=",\"measuredBy\":\"bash-times\"}"
  fi
}

# --- node-side transfers (see transferLine in wrapper.ts) ---

# $1 with \, ", line breaks and tabs escaped as JSON and curl's quoted netrc tokens want them.
# shellcheck disable=SC1003 # quoted replacements: literal in every bash (5.2's patsub_replacement)
ferry_escaped() {
  local s=$1
  s=${s//'\'/'\\'}
  s=${s//'"'/'\"'}
  s=${s//$'\n'/'\n'}
  s=${s//$'\r'/'\r'}
  s=${s//$'\t'/'\t'}
  printf '%s' "$s"
}
# Remove the files named, those that exist: no process for a file that is not there.
ferry_rm() {
  local f
  for f; do
    if [ -e "$f" ] || [ -L "$f" ]; then rm -f -- "$f"; fi
  done
}
# Make the directories named unless all exist (no process then).
ferry_mkdirs() {
  local d
  for d; do
    if [ ! -d "$d" ]; then
      mkdir -p -- "$@"
      return
    fi
  done
}
# $1 as a JSON string (other control characters dropped).
ferry_json() {
  local s
  s=$(ferry_escaped "$1" | LC_ALL=C tr -d '\000-\037')
  printf '"%s"' "$s"
}
# $1 as a netrc token: bare when it can be, else quoted (curl >= 7.84 reads quoted tokens).
ferry_netrc_word() {
  case $1 in
    '' | *[[:space:]\"\\]*) printf '"%s"' "$(ferry_escaped "$1")" ;;
    *) printf '%s' "$1" ;;
  esac
}
# Milliseconds $2 as seconds, into the variable named $1 (no subshell, unlike $(ferry_secs)).
ferry_secs_to() { printf -v "$1" '%d.%03d' $(($2 / 1000)) $(($2 % 1000)); }
# Milliseconds $1 as seconds.
ferry_secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
# The last line of file $1 that starts with $2 (curl's "curl: (N) ..." under its advice), else its
# last non-empty line.
ferry_lastline() {
  local l last='' mark=''
  while IFS= read -r l || [ -n "$l" ]; do
    if [ -n "$2" ] && [ "${l#"$2"}" != "$l" ]; then mark=$l; elif [ -n "$l" ]; then last=$l; fi
  done <"$1"
  printf '%s' "${mark:-$last}"
}
# A new empty file only its owner can read (what it is for: $1); prints its path.
ferry_tempfile() { (umask 077 && mktemp "${TMPDIR:-/tmp}/ferry-$1.XXXXXX"); }
# Remove the files holding secrets: done as soon as the program that read them exited.
ferry_forget() {
  if [ "${#ferry_secrets[@]}" -gt 0 ]; then rm -f -- "${ferry_secrets[@]}"; fi
  ferry_secrets=()
  ferry_run_pw=''
}
ferry_cleanup() {
  ferry_forget
  if [ "${#ferry_temps[@]}" -gt 0 ]; then rm -f -- "${ferry_temps[@]}"; fi
  ferry_temps=()
}
# End the attempt: exit code 1, the reason $1 in job.out and exit.json.
ferry_fail() {
  ferry_cleanup
  ferry_reason=$1
  printf 'ferry: %s\n' "$1"
  ferry_done 1 null
  exit 1
}
ferry_missing() { ferry_msg="$1 $2 is not set in the node's environment"; ferry_again=no; }
# Run "$@" as the wrapper's child (SIGTERM reaches it), stderr into $err, the status into ferry_rc;
# ferry_run_pw, if set, becomes RSYNC_PASSWORD in that child's environment only.
ferry_run() {
  (
    if [ -n "$ferry_run_pw" ]; then export RSYNC_PASSWORD="$ferry_run_pw"; fi
    exec "$@"
  ) 2>"$err" </dev/null &
  ferry_child=$!
  wait "$ferry_child"
  ferry_rc=$?
  ferry_child=
  ferry_forget
}
# curl's credentials for one run, into ferry_auth: a netrc file for user and password, a header
# file for a bearer token. Returns 1 (ferry_msg set) when the node lacks a variable.
ferry_curl_auth() {
  local p f
  ferry_auth=()
  if [ -n "$pwvar" ]; then
    p=${!pwvar-}
    if [ -z "$p" ]; then ferry_missing password_env "$pwvar"; return 1; fi
    f=$(ferry_tempfile netrc) ||
      { ferry_msg="cannot create a file in ${TMPDIR:-/tmp}"; return 1; }
    ferry_secrets+=("$f")
    printf 'machine %s login %s password %s\n' "$(ferry_netrc_word "$host")" \
      "$(ferry_netrc_word "$user")" "$(ferry_netrc_word "$p")" >"$f"
    ferry_auth+=(--netrc-file "$f")
  fi
  if [ -n "$tokvar" ]; then
    p=${!tokvar-}
    if [ -z "$p" ]; then ferry_missing token_env "$tokvar"; return 1; fi
    case $p in *$'\n'* | *$'\r'*)
      ferry_msg="token_env $tokvar holds a line break"
      ferry_again=no
      return 1 ;;
    esac
    f=$(ferry_tempfile header) ||
      { ferry_msg="cannot create a file in ${TMPDIR:-/tmp}"; return 1; }
    ferry_secrets+=("$f")
    printf 'Authorization: Bearer %s\n' "$p" >"$f"
    ferry_auth+=(-H "@$f")
  fi
}
# The validator of the last response in curl's header dump $1: its strong ETag, else Last-Modified.
ferry_validator() {
  local line etag='' lm=''
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    case ${line,,} in
      http/*) etag='' lm='' ;;
      etag:*) etag=${line#*:} ;;
      last-modified:*) lm=${line#*:} ;;
    esac
  done <"$1"
  etag=${etag#"${etag%%[![:space:]]*}"}
  lm=${lm#"${lm%%[![:space:]]*}"}
  case $etag in '' | W/* | w/*) printf '%s' "$lm" ;; *) printf '%s' "$etag" ;; esac
}
# What a failed curl run means: ferry_msg, and ferry_again=no when trying again cannot help.
ferry_curl_failed() {
  local status=''
  ferry_msg=$(ferry_lastline "$err" "curl: (")
  if [ -z "$ferry_msg" ]; then ferry_msg="curl exited with status $ferry_rc"; fi
  case $ferry_rc in
    5 | 6 | 7 | 8 | 16 | 18 | 28 | 35 | 52 | 55 | 56 | 79 | 92) ;;
    22)
      if [[ $ferry_msg =~ error:\ ([0-9]+) ]]; then status=${BASH_REMATCH[1]}; fi
      case $status in 408 | 429 | 416 | 5??) ;; *) ferry_again=no ;; esac ;;
    33 | 36) ;;
    *) ferry_again=no ;;
  esac
}
# One curl download into $part, resumed from what it holds (If-Range guards HTTP resumes).
ferry_curl_fetch() {
  local fresh=yes range=()
  ferry_curl_auth || return 0
  if [ -s "$part" ]; then
    fresh=no
    if [ -n "$validator" ]; then range=(-H "If-Range: $validator"); fi
  fi
  ferry_run curl "${ferry_curl[@]}" "${ferry_auth[@]}" "${range[@]}" "${dump[@]}" "$@" \
    -C - -o "$part" "$url"
  if [ "$ferry_rc" = 0 ]; then return 0; fi
  ferry_curl_failed
  if [ -n "$hdr" ] && [ "$fresh" = yes ] && [ -s "$part" ]; then
    validator=$(ferry_validator "$hdr")
    # Without a validator a partial HTTP download cannot be resumed safely: start over.
    if [ -z "$validator" ]; then rm -f -- "$part"; fi
  fi
  case $ferry_rc:$ferry_msg in
    33:* | 36:* | 22:*' 416'*)
      # The file changed, the server ignores ranges, or the partial file is whole: start over.
      rm -f -- "$part"
      validator=
      ferry_again=now ;;
  esac
}
# One curl upload of $path (the tool arguments rename the temporary name into place).
ferry_curl_put() {
  ferry_curl_auth || return 0
  ferry_run curl "${ferry_curl[@]}" "${ferry_auth[@]}" "$@" -T "$path" "$url"
  if [ "$ferry_rc" != 0 ]; then ferry_curl_failed; fi
}
# One rsync run with "$@", over ssh when $ssh holds a port; ferry_msg and ferry_again on failure.
ferry_rsync() {
  local e=() l line='' all
  ferry_run_pw=
  if [ -n "$pwvar" ]; then
    ferry_run_pw=${!pwvar-}
    if [ -z "$ferry_run_pw" ]; then ferry_missing password_env "$pwvar"; return 0; fi
  fi
  if [ -n "$ssh" ]; then e=(-e "${FERRY_SSH:-ssh} -p $ssh -o BatchMode=yes"); fi
  ferry_run rsync -s --timeout=60 "${e[@]}" "$@"
  if [ "$ferry_rc" = 0 ]; then return 0; fi
  while IFS= read -r l || [ -n "$l" ]; do
    case $l in
      '' | 'rsync error: '* | 'rsync: connection unexpectedly closed'*) ;;
      'rsync: ['*'] read error: '* | 'rsync: ['*'] write error: '*) ;;
      *) line=$l ;;
    esac
  done <"$err"
  if [ -z "$line" ]; then line=$(ferry_lastline "$err"); fi
  line=${line#rsync: }
  line=${line#\[*\] }
  line=${line#@ERROR: }
  ferry_msg="rsync (exit $ferry_rc): ${line:-no message}"
  all=$(<"$err")
  case $ferry_rc in 1 | 2 | 3 | 4 | 5) ferry_again=no ;; esac
  case $all in
    *'link_stat '*'No such file or directory'* | *'@ERROR: auth failed'* | \
      *'@ERROR: Unknown module'* | *'Permission denied (publickey'* | \
      *'Host key verification failed'* | *'rsync: not found'* | *'rsync: command not found'*)
      ferry_again=no ;;
  esac
}
ferry_rsync_fetch() { ferry_rsync --partial "$@" "$url" "$part"; }
ferry_rsync_put() { ferry_rsync --partial-dir=.ferry-partial --mkpath "$@" "$path" "$url"; }
# The wait in ms after failed attempt $1 from the base $2 (ms) and a draw $3 (0..32767, $RANDOM):
# backoffDelay of providers/_shared/retry.ts with its defaults, twice as long for each attempt
# before, at most 30 s, up to a fifth shorter at random (so that transfers that failed together
# do not all try again at the same moment).
ferry_backoff() {
  local delay=$(($2 << ($1 > 16 ? 16 : $1 - 1)))
  if [ "$delay" -gt 30000 ]; then delay=30000; fi
  printf '%d' $((delay - delay * $3 / 163840))
}
# ferry_place PATH LOCAL: an output whose URL is the node's own storage (an executor's endpoints)
# goes to LOCAL there, not uploaded onto itself: copied beside it under a temporary name, then
# renamed over it, so that a reader never sees half of it.
ferry_place() {
  local tmp
  tmp="$(dirname -- "$2")/.$(basename -- "$2").ferry-part"
  if [ ! -f "$1" ]; then ferry_fail "Cannot move \"$1\" to \"$2\" on the node: it does not exist"; fi
  if ! { mkdir -p -- "$(dirname -- "$2")" && cp -- "$1" "$tmp" && mv -f -- "$tmp" "$2"; } 2>/dev/null; then
    rm -f -- "$tmp"
    ferry_fail "Cannot move \"$1\" to \"$2\" on the node: cannot write there"
  fi
  printf 'ferry: moved %s to %s (an endpoint of the executor: not uploaded)\n' "$1" "$2"
}
# A replica of an input failed after its retries: say so in job.out and in the status file's
# fallbacks (the task-relative path $1, the URL $2 as shown, the action $3, why $4, the next
# replica $5, fetched instead), as ferry's own fallback does. Returns 1: the caller's `||` goes on.
ferry_fell_back() {
  printf 'ferry: %s; falling back to %s\n' "$4" "$5"
  ferry_fallbacks+="${ferry_fallbacks:+,}{\"path\":$(ferry_json "$1"),\"url\":$(ferry_json "$2")"
  ferry_fallbacks+=",\"provider\":$(ferry_json "$3"),\"error\":$(ferry_json "$4")"
  ferry_fallbacks+=",\"fallback\":$(ferry_json "$5")}"
  return 1
}
# ferry_transfer fetch|put curl|rsync KEY=VALUE... -- TOOL-ARGS...: one transfer, with retries
# waiting ferry_backoff from base=MS, the run's retry base (wrapper.ts always writes it). A fetch
# given next=URL (another replica of the file, fetched by the line after `||`) returns 1 when it
# fails after its retries, its partial file gone, instead of failing the attempt.
ferry_transfer() {
  local direction=$1 tool=$2 url='' shown='' path='' sum='' tries=4 base='' host='' user='' pwvar='' tokvar='' ssh='' next='' action=''
  local act part='' err hdr='' validator='' dump=() attempt=1 t0 got bytes delay
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      --) shift; break ;;
      url=*) url=${1#*=} ;;
      shown=*) shown=${1#*=} ;;
      path=*) path=${1#*=} ;;
      sum=*) sum=${1#*=} ;;
      tries=*) tries=${1#*=} ;;
      base=*) base=${1#*=} ;;
      host=*) host=${1#*=} ;;
      user=*) user=${1#*=} ;;
      pwvar=*) pwvar=${1#*=} ;;
      tokvar=*) tokvar=${1#*=} ;;
      ssh=*) ssh=${1#*=} ;;
      next=*) next=${1#*=} ;;
      action=*) action=${1#*=} ;;
    esac
    shift
  done
  if [ "$direction" = fetch ]; then
    act="fetch \"$shown\""
    part=$path.ferry-part
    mkdir -p -- "$(dirname -- "$path")" ||
      ferry_fail "Cannot $act on the node: cannot make the directory of $path"
    rm -f -- "$part"
  else
    act="upload \"$path\" to \"$shown\""
    if [ ! -f "$path" ]; then ferry_fail "Cannot $act on the node: $path does not exist"; fi
  fi
  case $base in
    '' | *[!0-9]*) ferry_fail "Cannot $act on the node: no retry base (base=MS) in the wrapper" ;;
  esac
  err=$(ferry_tempfile err) ||
    ferry_fail "Cannot $act on the node: cannot create a file in ${TMPDIR:-/tmp}"
  ferry_temps+=("$err")
  if [ "$direction$tool" = fetchcurl ]; then
    case $url in
      http://* | https://*)
        hdr=$(ferry_tempfile headers) ||
          ferry_fail "Cannot $act on the node: cannot create a file in ${TMPDIR:-/tmp}"
        ferry_temps+=("$hdr")
        dump=(-D "$hdr") ;;
    esac
  fi
  t0=$(date +%s%3N)
  while :; do
    ferry_msg=
    ferry_again=yes
    "ferry_${tool}_$direction" "$@"
    if [ -z "$ferry_msg" ] && [ -n "$sum" ]; then
      got=$(sha256sum <"$part")
      got=${got%% *}
      if [ "$got" != "$sum" ]; then
        ferry_msg="checksum mismatch: the workflow's checksum is sha256:$sum,"
        ferry_msg+=" the file has sha256:$got"
        rm -f -- "$part"
        validator=
      fi
    fi
    if [ -z "$ferry_msg" ]; then break; fi
    if [ "$ferry_again" = no ] || [ "$attempt" -ge "$tries" ]; then
      if [ -n "$next" ]; then
        # The next replica is another source: nothing of this one may be resumed from.
        rm -f -- "$part"
        ferry_cleanup
        ferry_fell_back "$path" "$shown" "$action" "Cannot $act on the node: $ferry_msg" "$next"
        return
      fi
      ferry_fail "Cannot $act on the node: $ferry_msg"
    fi
    delay=0
    if [ "$ferry_again" = yes ]; then
      delay=$(ferry_backoff "$attempt" "$base" "$RANDOM")
    fi
    printf 'ferry: attempt %d of %d to %s failed: %s; trying again in %s s\n' \
      "$attempt" "$tries" "$act" "$ferry_msg" "$(ferry_secs "$delay")"
    if [ "$delay" -gt 0 ]; then sleep "$(ferry_secs "$delay")"; fi
    attempt=$((attempt + 1))
  done
  if [ "$direction" = fetch ]; then
    mv -f -- "$part" "$path" || ferry_fail "Cannot $act on the node: cannot rename $part to $path"
  fi
  bytes=$(($(wc -c <"$path")))
  if [ "$direction" = fetch ]; then act="fetched \"$shown\" to $path"; else
    act="uploaded $path to \"$shown\""
  fi
  printf 'ferry: %s (%d bytes in %s s, %d attempt(s))\n' "$act" "$bytes" \
    "$(ferry_secs $(($(date +%s%3N) - t0)))" "$attempt"
  ferry_cleanup
}
