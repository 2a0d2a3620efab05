#!/usr/bin/env bash
# Benchmarks `guardianflow promote` and `guardianflow rollback` against the official MLflow Python
# client making the same alias moves in a fresh interpreter, against a throwaway `mlflow server` on
# 127.0.0.1 seeded with one registered model of VERSIONS versions (issue 4).
#
#   guardianflow promote MODEL --version V --force --json   vs   python -c: MlflowClient(), read
#     @champion (get_model_version_by_alias, not-found caught), @rollback -> old champion,
#     @champion -> V, delete @candidate if it pointed at V
#   guardianflow rollback MODEL --json                      vs   python -c: read @rollback and
#     @champion, @champion -> @rollback's version, delete @rollback
#
# Runs are alternated (gf promote, py promote, gf rollback, py rollback) after one untimed run of
# each that also records the HTTP requests each makes (from the server's access log). Then, for
# context: GATE_N gated promotes (no --force) each followed by a rollback, and FLOOR_N runs of
# `guardianflow --version`, `guardianflow history MODEL --json`, `python -c pass` and
# `python -c 'from mlflow import MlflowClient'`, and the server's own time for the requests each
# guardianflow command makes (replayed on one warm connection, on a model of its own). Finally it
# checks that `guardianflow models show --json` and the Python client agree on the aliases and that
# `guardianflow history --json` has one entry per successful guardianflow promote/rollback.
#
# Prints markdown tables and writes them, with the machine and the verdict on the targets
# (promote and rollback each under 100 ms median, at least 20x faster than the Python client),
# into BENCHMARKS.md (its own section only).
#
#   bench/promote.sh                N=20 runs of each, alternating (GATE_N=5, FLOOR_N=10)
#   N=50 bench/promote.sh           more runs; VERSIONS=40 seeded versions
#
# Needs the release binary (GUARDIANFLOW=path, else .build-static/release/guardianflow, else
# .build/release/guardianflow), the project venv (.venv, with mlflow) and GNU time
# (/usr/bin/time: `apt-get install -y time`). All traffic stays on 127.0.0.1. The server runs in
# its own process group and is stopped as a group on exit, whatever happens; its log, each
# command's output and the raw samples are kept in bench/out/promote/.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
root=$PWD

N=${N:-20}
GATE_N=${GATE_N:-5}
FLOOR_N=${FLOOR_N:-10}
VERSIONS=${VERSIONS:-40}
LATENCY_N=${LATENCY_N:-20}
MODEL=bench-promote
if [ -n "${GUARDIANFLOW:-}" ]; then gf=$GUARDIANFLOW
elif [ -x "$root/.build-static/release/guardianflow" ]; then gf=$root/.build-static/release/guardianflow
else gf=$root/.build/release/guardianflow
fi
py=$root/.venv/bin/python
mlflow=$root/.venv/bin/mlflow
helper=$root/bench/promote.py
md=$root/BENCHMARKS.md
out=$root/bench/out/promote

die() { echo "promote.sh: $*" >&2; exit 1; }
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer (got '$N')"
[[ $GATE_N =~ ^[0-9]+$ ]] || die "GATE_N must be a non-negative integer (got '$GATE_N')"
[[ $FLOOR_N =~ ^[0-9]+$ ]] || die "FLOOR_N must be a non-negative integer (got '$FLOOR_N')"
[[ $LATENCY_N =~ ^[1-9][0-9]*$ ]] || die "LATENCY_N must be a positive integer (got '$LATENCY_N')"
[[ $VERSIONS =~ ^[0-9]+$ ]] && [ "$VERSIONS" -ge 3 ] || die "VERSIONS must be at least 3 (got '$VERSIONS')"
[ -x "$gf" ] || die "no guardianflow binary at $gf (build it with: swift build -c release)"
[ -x "$py" ] && [ -x "$mlflow" ] || die "no venv with mlflow at $root/.venv (run scripts/setup)"
[ -x /usr/bin/time ] || die "GNU time is missing: apt-get install -y time"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gf-bench-promote.XXXXXX")
rm -rf "$out"
mkdir -p "$out/runs" "$tmp/cwd"
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
  echo "promote.sh: the server did not answer on $uri (attempt $attempt); log tail:" >&2
  tail -n 20 "$log" >&2
  [ "$attempt" -lt 3 ] || die "could not start mlflow server"
done
export MLFLOW_TRACKING_URI=$uri

echo "==> seeding $MODEL: $VERSIONS runs and versions (@champion=1, @candidate=$VERSIONS)" >&2
"$py" "$helper" seed "$MODEL" "$VERSIONS" >"$out/seed.log" 2>&1 || { tail -n 30 "$out/seed.log" >&2; die "seeding failed"; }

# --- the commands -----------------------------------------------------------------------------
# python -c CODE MODEL [VERSION]: sys.argv[1:] are the arguments.
read -r -d '' promote_py <<'EOF' || true
import sys
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
name, version = sys.argv[1], sys.argv[2]
client = MlflowClient()
def alias(a):
    try:
        return client.get_model_version_by_alias(name, a).version
    except MlflowException as e:
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
old = alias("champion")
if old is not None:
    client.set_registered_model_alias(name, "rollback", old)
client.set_registered_model_alias(name, "champion", version)
if alias("candidate") == version:
    client.delete_registered_model_alias(name, "candidate")
EOF
read -r -d '' rollback_py <<'EOF' || true
import sys
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
name = sys.argv[1]
client = MlflowClient()
def alias(a):
    try:
        return client.get_model_version_by_alias(name, a).version
    except MlflowException as e:
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
back, champion = alias("rollback"), alias("champion")
if back is None:
    sys.exit(f"{name} has no @rollback (champion: {champion})")
client.set_registered_model_alias(name, "champion", back)
client.delete_registered_model_alias(name, "rollback")
EOF

samples=$out/samples.tsv
printf '# tool\trun\twall_ms\tpeak_rss_kib\n' >"$samples"
expected=$out/expected-history.txt # one line per successful guardianflow promote/rollback
: >"$expected"

# measure TOOL RUN STDOUT COMMAND...: one fresh process; wall time around /usr/bin/time, peak RSS
# from it; its stdout goes to STDOUT.
measure() {
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

# The version the K-th promote targets: cycles through 2..VERSIONS. Every rollback pair brings
# @champion back to 1, and consecutive targets differ, so no promote targets the champion.
target() { echo $(( 2 + ($1 % (VERSIONS - 1)) )); }
k=0

# One round: gf promote V --force, py promote W, gf rollback (-> V: @rollback is V after the Python
# promote), py rollback (-> 1, the @rollback guardianflow's rollback chain left).
round() {
  local tag=$1 run=$2 v w
  v=$(target $k); w=$(target $((k + 1))); k=$((k + 2))
  measure gf-promote "$run" "$out/runs/promote_${tag}${run}_$v.json" "$gf" promote "$MODEL" --version "$v" --force --json
  echo "promote $v forced" >>"$expected"
  measure py-promote "$run" /dev/null "$py" -c "$promote_py" "$MODEL" "$w"
  measure gf-rollback "$run" "$out/runs/rollback_${tag}${run}_$v.json" "$gf" rollback "$MODEL" --json
  echo "rollback $v" >>"$expected"
  measure py-rollback "$run" /dev/null "$py" -c "$rollback_py" "$MODEL"
}

cd "$tmp/cwd" # no guardianflow.yaml here

# --- one untimed round (warm-up), recording each command's HTTP requests ----------------------
echo "==> untimed first round; counting each command's requests in the server log" >&2
main_samples=$samples
samples=$tmp/warmup.tsv
requests_json() { # TOOL: the requests logged since $offset
  sleep 0.3 # let the server's access log catch up
  "$py" "$helper" requests "$log" "$offset" >"$out/requests-$1.json"
}
v=$(target $k); w=$(target $((k + 1))); k=$((k + 2))
offset=$(stat -c %s "$log"); measure gf-promote 0 "$out/runs/promote_w0_$v.json" "$gf" promote "$MODEL" --version "$v" --force --json; requests_json gf-promote
echo "promote $v forced" >>"$expected"
offset=$(stat -c %s "$log"); measure py-promote 0 /dev/null "$py" -c "$promote_py" "$MODEL" "$w"; requests_json py-promote
offset=$(stat -c %s "$log"); measure gf-rollback 0 "$out/runs/rollback_w0_$v.json" "$gf" rollback "$MODEL" --json; requests_json gf-rollback
echo "rollback $v" >>"$expected"
offset=$(stat -c %s "$log"); measure py-rollback 0 /dev/null "$py" -c "$rollback_py" "$MODEL"; requests_json py-rollback
samples=$main_samples

# --- timing ---------------------------------------------------------------------------------
echo "==> timing, alternating: $N rounds of gf promote --force, py promote, gf rollback, py rollback" >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$N"); do
  round t "$i"
done
if [ "$GATE_N" -gt 0 ]; then
  echo "==> $GATE_N x guardianflow promote with the gate (no --force), each followed by a rollback" >&2
  for i in $(seq "$GATE_N"); do
    v=$(target $k); k=$((k + 1))
    measure gf-promote-gate "$i" "$out/runs/promote_g${i}_$v.json" "$gf" promote "$MODEL" --version "$v" --json
    echo "promote $v gate" >>"$expected"
    measure gf-rollback-gate "$i" "$out/runs/rollback_g${i}_1.json" "$gf" rollback "$MODEL" --json
    echo "rollback 1" >>"$expected"
  done
fi
if [ "$FLOOR_N" -gt 0 ]; then
  echo "==> floors: $FLOOR_N x guardianflow --version, guardianflow history, python -c pass, python -c 'from mlflow import MlflowClient'" >&2
  for i in $(seq "$FLOOR_N"); do
    measure gf-version "$i" /dev/null "$gf" --version
    measure gf-history "$i" /dev/null "$gf" history "$MODEL" --json
    measure py-pass "$i" /dev/null "$py" -c pass
    measure py-import "$i" /dev/null "$py" -c 'from mlflow import MlflowClient'
  done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo "==> server time: single requests and guardianflow's request sequences replayed ($LATENCY_N each)" >&2
"$py" "$helper" latency "$uri" "$MODEL" "$LATENCY_N" >"$out/latency.json" || die "the latency probe failed"

# --- checks -----------------------------------------------------------------------------------
echo "==> checking the final aliases and the history" >&2
"$gf" models show "$MODEL" --json >"$out/models-show.json" 2>"$tmp/show.err" || { cat "$tmp/show.err" >&2; die "guardianflow models show failed"; }
"$gf" history "$MODEL" --json >"$out/history.json" 2>"$tmp/history.err" || { cat "$tmp/history.err" >&2; die "guardianflow history failed"; }
"$py" "$helper" check "$MODEL" "$out/models-show.json" "$out/history.json" "$expected" "$out/runs" >"$out/check.json" \
  || { cat "$out/check.json" >&2; die "the checks failed"; }
cat "$out/check.json" >&2
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
META_BUILT=$(date -u -r "$gf" '+%Y-%m-%d %H:%M UTC') META_MODEL=$MODEL \
  "$py" - "$tmp/meta.json" "$N" "$GATE_N" "$FLOOR_N" "$VERSIONS" "$LATENCY_N" "$out" <<'EOF'
import json, os, platform, sys
import mlflow
n, gate_n, floor_n, versions, latency_n = map(int, sys.argv[2:7])
out = sys.argv[7]
env = {k[5:].lower(): v.strip() for k, v in os.environ.items() if k.startswith("META_")}
env.update(n=n, gate_n=gate_n, floor_n=floor_n, versions=versions, latency_n=latency_n,
           mlflow=mlflow.__version__, python=platform.python_version())
env["cpu"] = env.get("cpu") or "unknown CPU"
env["requests"] = {}
for tool in ("gf-promote", "gf-rollback", "py-promote", "py-rollback"):
    with open(os.path.join(out, f"requests-{tool}.json")) as f:
        env["requests"][tool] = json.load(f)
with open(os.path.join(out, "latency.json")) as f:
    env["latency"] = json.load(f)
with open(sys.argv[1], "w") as f:
    json.dump(env, f)
EOF
echo >&2
"$py" "$helper" report "$samples" "$md" "$tmp/meta.json" "$out/check.json"
echo >&2
echo "==> wrote ${md#"$root"/}; raw samples in ${samples#"$root"/}" >&2
