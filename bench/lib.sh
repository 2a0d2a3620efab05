# What the benchmark scripts in bench/ share. Each sources it first thing:
#
#   source "$(dirname "$0")/lib.sh"
#
# and then has: strict mode (set -euo pipefail, LC_ALL=C), the working directory at the
# repository root, and
#   root bench py mlflow gf md      paths: the checkout, bench/, the venv's python and mlflow, the
#                                   guardianflow binary (GUARDIANFLOW=path, else
#                                   .build/release/guardianflow) and BENCHMARKS.md
#   die MSG                         "SCRIPT: MSG" on stderr, exit 1
#   need_count VAR MIN              VAR must hold an integer >= MIN (MIN 0 or 1)
#   need_gf; need_venv TOOL...; need_gnu_time
#   scrub_env                       the same clean environment for the server and every client
#   bench_tmp NAME                  make $tmp and install the traps that clean up on any exit: the
#                                   benchmarked command still running ($cur_pgid), the server,
#                                   $tmp
#   start_server LOG                `mlflow server` from the venv in its own session on a free
#                                   127.0.0.1 port, waits for /health; sets uri and server_pgid,
#                                   exports MLFLOW_TRACKING_URI
#   stop_group PGID WHAT; stop_server
#   measure_fresh TOOL RUN STDOUT COMMAND...
#                                   one fresh process under /usr/bin/time, a row of $samples
#   loadavg                         the 1, 5 and 15 minute load averages
#   write_meta FILE [key=value | key=@file.json | --module NAME]...
#                                   the machine, the versions and the binary, plus these, as JSON
#                                   for the helper's report
# and benchlib.py is the Python side (free port, health wait, statistics, markdown tables, the
# generated sections of BENCHMARKS.md).

set -euo pipefail
export LC_ALL=C

bench_name=${0##*/}
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$bench")
cd "$root"
py=$root/.venv/bin/python
mlflow=$root/.venv/bin/mlflow
gf=${GUARDIANFLOW:-$root/.build/release/guardianflow}
md=$root/BENCHMARKS.md
benchlib=$bench/benchlib.py

tmp=
server_pgid=
cur_pgid=

die() { echo "$bench_name: $*" >&2; exit 1; }

need_count() { # VAR MIN
  local name=$1 min=$2 value=${!1}
  if [ "$min" -ge 1 ]; then
    [[ $value =~ ^[1-9][0-9]*$ ]] || die "$name must be a positive integer (got '$value')"
  else
    [[ $value =~ ^[0-9]+$ ]] || die "$name must be a non-negative integer (got '$value')"
  fi
}
need_gf() {
  [ -x "$gf" ] || die "no guardianflow binary at $gf (build it with: scripts/setup, or swift build -c release --static-swift-stdlib)"
}
need_venv() { # TOOL...: executables the venv must have besides python and mlflow
  local t
  for t in python mlflow "$@"; do
    [ -x "$root/.venv/bin/$t" ] || die "no venv with mlflow${*:+ and $*} at $root/.venv (run scripts/setup)"
  done
}
need_gnu_time() {
  [ -x /usr/bin/time ] || die "GNU time is missing: apt-get install -y time"
}

# The same environment for the server, the seeding and every client: none of the developer's
# MLflow/AWS/guardianflow/YOLO settings, no proxies, no telemetry (nothing leaves 127.0.0.1).
# GUARDIANFLOW (the binary to measure) has no underscore and is read before this.
scrub_env() {
  local v
  for v in $(compgen -e); do
    case $v in MLFLOW_* | AWS_* | GUARDIANFLOW_*) unset "$v" ;; esac
  done
  unset S3_ENDPOINT_URL WORK_DIR YOLO_CONFIG_DIR ULTRALYTICS_API_KEY \
    http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
  export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
  export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true NO_COLOR=1
}

# stop_group PGID WHAT: SIGTERM to the whole group, SIGKILL after 20 s. Never our own group.
stop_group() {
  local pgid=$1 what=$2
  [ -n "$pgid" ] && [ "$pgid" != "$(ps -o pgid= -p $$ | tr -d ' ')" ] || return 0
  kill -TERM -- "-$pgid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 -- "-$pgid" 2>/dev/null || { echo "==> $what stopped (SIGTERM)" >&2; return 0; }
    sleep 0.2
  done
  echo "==> $what's group did not end on SIGTERM within 20 s; SIGKILL" >&2
  kill -KILL -- "-$pgid" 2>/dev/null || true
}
stop_server() {
  local pgid=$server_pgid
  server_pgid=
  stop_group "$pgid" server
}
bench_cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  if [ -n "$cur_pgid" ]; then
    echo "==> stopping the benchmarked command still running" >&2
    stop_group "$cur_pgid" "the benchmarked command"
    cur_pgid=
  fi
  stop_server
  [ -z "$tmp" ] || rm -rf "$tmp"
  exit "$status"
}
bench_tmp() { # NAME: $tmp, cleaned up (with the server) on any exit
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/gf-bench-$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
}

free_port() { "$py" "$benchlib" free-port; }

# start_server LOG: a throwaway `mlflow server` (SQLite and artifacts in $tmp) on a free loopback
# port, in its own session and process group (uvicorn worker and job runners included) so that the
# whole group can be stopped; up to 3 attempts. Sets uri and server_pgid.
# launch LOG COMMAND...: COMMAND in its own session and process group (a background child of a
# script is no group leader, so setsid execs in place and $! is the group id; checked all the
# same, after the exec: until then the child is in our group); output to LOG; sets launched.
launch() {
  local log=$1 pid pgid
  shift
  setsid "$@" </dev/null >>"$log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do
    pgid=$(ps -o pgid= -p "$pid" | tr -d ' ') || pgid=
    [ "$pgid" != "$pid" ] || break
    sleep 0.02
  done
  if [ "$pgid" != "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true # never signal our own group; the process alone
    die "$1 did not get its own process group"
  fi
  launched=$pid
}

start_server() {
  local log=$1 attempt
  : >"$log"
  for attempt in 1 2 3; do
    port=$(free_port)
    uri=http://127.0.0.1:$port
    echo "==> starting mlflow server on $uri (log: ${log#"$root"/})" >&2
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false launch "$log" "$mlflow" server \
      --backend-store-uri "sqlite:///$tmp/mlflow.db" \
      --artifacts-destination "$tmp/artifacts" --serve-artifacts \
      --host 127.0.0.1 --port "$port" --workers 1
    server_pgid=$launched
    if "$py" "$benchlib" wait "$uri" 120; then break; fi
    stop_server
    echo "$bench_name: the server did not answer on $uri (attempt $attempt); log tail:" >&2
    tail -n 20 "$log" >&2
    [ "$attempt" -lt 3 ] || die "could not start mlflow server"
  done
  export MLFLOW_TRACKING_URI=$uri
}

# measure_fresh TOOL RUN STDOUT COMMAND...: one fresh process, its stdout to STDOUT; wall time
# taken around /usr/bin/time, peak RSS from it; appends "TOOL RUN WALL_MS PEAK_RSS_KIB" to $samples.
measure_fresh() {
  local tool=$1 run=$2 stdout=$3 t0 t1 us rss
  shift 3
  t0=$EPOCHREALTIME
  if ! /usr/bin/time -f '%e %M' -o "$tmp/time.out" "$@" >"$stdout" 2>"$tmp/run.err"; then
    t1=$EPOCHREALTIME
    cat "$stdout" "$tmp/run.err" "$tmp/time.out" >&2
    die "$tool run $run failed: $*"
  fi
  t1=$EPOCHREALTIME
  us=$(( ${t1/./} - ${t0/./} ))
  rss=$(awk 'END { print $2 }' "$tmp/time.out")
  printf '%s\t%d\t%d.%03d\t%s\n' "$tool" "$run" $((us / 1000)) $((us % 1000)) "$rss" >>"$samples"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# Which code was measured: the binary's build time and linkage against the checkout (a stale
# binary is flagged).
build_note() {
  local built head_ct note
  built=$(stat -c %Y "$gf")
  note="binary built $(date -u -d "@$built" '+%Y-%m-%d %H:%M UTC')"
  if ldd "$gf" 2>/dev/null | grep -q libswiftCore; then
    note+=", Swift runtime linked dynamically"
  else
    note+=", Swift runtime linked statically"
  fi
  # Against the last commit that changed the code (Sources/, Package.swift), not HEAD: commits of
  # tests or docs after the build do not make the binary stale.
  if head_ct=$(git -C "$root" log -1 --format=%ct -- Sources Package.swift 2>/dev/null) && [ -n "$head_ct" ]; then
    note+="; checkout at $(git -C "$root" log -1 --format=%h), code last changed in"
    note+=" $(git -C "$root" log -1 --format=%h -- Sources Package.swift) (committed $(date -u -d "@$head_ct" '+%H:%M UTC'))"
    [ "$built" -ge "$head_ct" ] || note+=", NEWER than the binary"
    git -C "$root" diff --quiet HEAD -- Sources Package.swift 2>/dev/null || note+=", uncommitted changes in Sources/"
  fi
  echo "$note"
}

# write_machine_meta FILE [key=value | key=@file.json | --module NAME]...: the machine, the load
# (load_before, load_after) and the build of $gf, whatever binary that is.
write_machine_meta() {
  local file=$1
  shift
  "$py" "$benchlib" meta "$file" \
    date="$(date -u '+%Y-%m-%d %H:%M UTC')" \
    cpu="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    nproc="$(nproc)" \
    mem="$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)" \
    os="$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-Linux}"), kernel $(uname -r)" \
    load_before="${load_before:-?}" load_after="${load_after:-?}" \
    binary="${gf#"$root"/}" build="$(build_note)" \
    "$@"
}

# write_meta FILE [key=value | key=@file.json | --module NAME]...: write_machine_meta with the
# guardianflow binary's version.
write_meta() {
  local file=$1
  shift
  write_machine_meta "$file" guardianflow="$("$gf" --version)" "$@"
}
