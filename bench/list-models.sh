#!/usr/bin/env bash
# Benchmarks `guardianflow list models --json` against the official MLflow Python client doing the
# same thing (`MlflowClient().search_registered_models()` in a fresh interpreter), against a
# throwaway `mlflow server` on 127.0.0.1 seeded with 20 models x 3 versions (issue 2).
#
# Prints a markdown table and writes it, with the machine and the verdict on the targets
# (at least 20x faster than the Python client, under 30 MiB peak RSS), into BENCHMARKS.md.
#
#   bench/list-models.sh            N=20 runs of each, alternating
#   N=50 bench/list-models.sh       more runs (FLOOR_N sets the runs of the floor measurements)
#
# Needs the release binary (.build/release/guardianflow, or GUARDIANFLOW=path), the project venv
# (.venv, with mlflow) and GNU time (/usr/bin/time: `apt-get install -y time`). All traffic stays
# on 127.0.0.1. The server runs in its own process group and is stopped as a group on exit,
# whatever happens; its log and the raw samples are kept in bench/out/list-models/.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
root=$PWD

N=${N:-20}
FLOOR_N=${FLOOR_N:-10}
MODELS=20
VERSIONS=3
gf=${GUARDIANFLOW:-$root/.build/release/guardianflow}
py=$root/.venv/bin/python
mlflow=$root/.venv/bin/mlflow
helper=$root/bench/list_models.py
md=$root/BENCHMARKS.md
out=$root/bench/out/list-models

die() { echo "list-models.sh: $*" >&2; exit 1; }
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer (got '$N')"
[[ $FLOOR_N =~ ^[0-9]+$ ]] || die "FLOOR_N must be a non-negative integer (got '$FLOOR_N')"
[ -x "$gf" ] || die "no guardianflow binary at $gf (build it with: swift build -c release)"
[ -x "$py" ] && [ -x "$mlflow" ] || die "no venv with mlflow at $root/.venv (run scripts/setup)"
[ -x /usr/bin/time ] || die "GNU time is missing: apt-get install -y time"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gf-bench-list-models.XXXXXX")
mkdir -p "$out" "$tmp/cwd"
server_pgid=
log=$out/server.log

stop_server() {
  [ -n "$server_pgid" ] || return 0
  local pgid=$server_pgid
  server_pgid=
  kill -TERM -- "-$pgid" 2>/dev/null || return 0
  for _ in $(seq 100); do # up to 20 s for a clean shutdown
    kill -0 -- "-$pgid" 2>/dev/null || { echo "==> server stopped (SIGTERM)" >&2; return 0; }
    sleep 0.2
  done
  echo "==> the server's group did not end on SIGTERM within 20 s; SIGKILL" >&2
  kill -KILL -- "-$pgid" 2>/dev/null || true
}
cleanup() {
  local status=$?
  stop_server
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# The same environment for the server, the seeding and both clients: none of the developer's
# MLflow/AWS/guardianflow settings, no proxies, no telemetry (nothing leaves 127.0.0.1).
unset MLFLOW_TRACKING_URI MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD MLFLOW_TRACKING_TOKEN \
  MLFLOW_S3_ENDPOINT_URL S3_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
  GUARDIANFLOW_WORK_DIR WORK_DIR http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true NO_COLOR=1

# --- the server -----------------------------------------------------------------------------
: >"$log"
for attempt in 1 2 3; do
  port=$("$py" "$helper" free-port)
  uri=http://127.0.0.1:$port
  echo "==> starting mlflow server on $uri (log: ${log#"$root"/})" >&2
  # setsid: its own session and process group (uvicorn worker and job runners included), so the
  # whole group can be stopped. A background child of a script is no group leader, so setsid
  # execs in place and $! is the group id; checked below all the same.
  setsid "$mlflow" server \
    --backend-store-uri "sqlite:///$tmp/mlflow.db" \
    --artifacts-destination "$tmp/artifacts" --serve-artifacts \
    --host 127.0.0.1 --port "$port" --workers 1 \
    </dev/null >>"$log" 2>&1 &
  pid=$!
  server_pgid=$(ps -o pgid= -p "$pid" | tr -d ' ') || server_pgid=
  if [ "$server_pgid" != "$pid" ]; then
    # Never signal our own group; fall back to the process alone.
    kill -TERM "$pid" 2>/dev/null || true
    server_pgid=
    die "the server did not get its own process group"
  fi
  if "$py" "$helper" wait "$uri" 120; then break; fi
  stop_server
  echo "list-models.sh: the server did not answer on $uri (attempt $attempt); log tail:" >&2
  tail -n 20 "$log" >&2
  [ "$attempt" -lt 3 ] || die "could not start mlflow server"
done
export MLFLOW_TRACKING_URI=$uri

echo "==> seeding $MODELS registered models x $VERSIONS versions (aliases champion, candidate)" >&2
"$py" "$helper" seed "$MODELS" "$VERSIONS" >"$out/seed.log" 2>&1 || { tail -n 30 "$out/seed.log" >&2; die "seeding failed"; }

# --- both list the same models (untimed; doubles as a warm-up of the page cache) -------------
cd "$tmp/cwd"
"$gf" list models --json >"$tmp/gf.json" 2>"$tmp/gf.err" || { cat "$tmp/gf.err" >&2; die "guardianflow list models failed"; }
"$py" "$helper" guardianflow-models "$tmp/gf.json" >"$tmp/gf.models"
"$py" "$helper" python-models >"$tmp/py.models" 2>"$tmp/py.err" || { cat "$tmp/py.err" >&2; die "the Python client failed"; }
"$py" "$helper" compare "$tmp/gf.models" "$tmp/py.models" "$MODELS" >&2 || die "the two clients disagree"

# --- timing ---------------------------------------------------------------------------------
samples=$out/samples.tsv
printf '# tool\trun\twall_ms\tpeak_rss_kib\n' >"$samples"

# measure TOOL RUN COMMAND...: one fresh process; wall time around /usr/bin/time, peak RSS from it.
measure() {
  local tool=$1 run=$2 t0 t1 us rss
  shift 2
  t0=$EPOCHREALTIME
  if ! /usr/bin/time -f '%e %M' -o "$tmp/time.out" "$@" >/dev/null 2>"$tmp/run.err"; then
    t1=$EPOCHREALTIME
    cat "$tmp/run.err" "$tmp/time.out" >&2
    die "$tool run $run failed"
  fi
  t1=$EPOCHREALTIME
  us=$(( ${t1/./} - ${t0/./} ))
  rss=$(awk 'END { print $2 }' "$tmp/time.out")
  printf '%s\t%d\t%d.%03d\t%s\n' "$tool" "$run" $((us / 1000)) $((us % 1000)) "$rss" >>"$samples"
}

list_py='from mlflow import MlflowClient; MlflowClient().search_registered_models()'
echo "==> timing, alternating: $N x guardianflow list models --json, $N x Python client" >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$N"); do
  measure guardianflow "$i" "$gf" list models --json
  measure python "$i" "$py" -c "$list_py"
done
if [ "$FLOOR_N" -gt 0 ]; then
  echo "==> floors: $FLOOR_N x guardianflow --version, python -c pass, python -c 'from mlflow import MlflowClient'" >&2
  for i in $(seq "$FLOOR_N"); do
    measure guardianflow-version "$i" "$gf" --version
    measure python-pass "$i" "$py" -c pass
    measure python-import "$i" "$py" -c 'from mlflow import MlflowClient'
  done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cd "$root"
stop_server

# --- report ---------------------------------------------------------------------------------
META_DATE=$(date -u '+%Y-%m-%d %H:%M UTC') \
META_CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo) \
META_NPROC=$(nproc) \
META_MEM=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) \
META_OS="$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-Linux}"), kernel $(uname -r)" \
META_LOAD_BEFORE=$load_before META_LOAD_AFTER=$load_after \
META_GUARDIANFLOW=$("$gf" --version) META_BINARY=${gf#"$root"/} \
META_BUILT=$(date -u -r "$gf" '+%Y-%m-%d %H:%M UTC') \
  "$py" - "$tmp/meta.json" "$N" "$FLOOR_N" "$MODELS" "$VERSIONS" <<'EOF'
import json, os, platform, sys
import mlflow
n, floor_n, models, versions = map(int, sys.argv[2:6])
env = {k[5:].lower(): v.strip() for k, v in os.environ.items() if k.startswith("META_")}
env.update(n=n, floor_n=floor_n, models=models, versions=versions,
           mlflow=mlflow.__version__, python=platform.python_version())
env["cpu"] = env.get("cpu") or "unknown CPU"
with open(sys.argv[1], "w") as f:
    json.dump(env, f)
EOF
echo >&2
"$py" "$helper" report "$samples" "$md" "$tmp/meta.json"
echo >&2
echo "==> wrote ${md#"$root"/}; raw samples in ${samples#"$root"/}" >&2
