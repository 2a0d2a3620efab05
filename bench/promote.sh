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
# into BENCHMARKS.md (its own generated section only).
#
#   bench/promote.sh                N=20 runs of each, alternating (GATE_N=5, FLOOR_N=10)
#   N=50 bench/promote.sh           more runs; VERSIONS=40 seeded versions
#
# Needs the release binary (.build/release/guardianflow, or GUARDIANFLOW=path), the project venv
# (.venv, with mlflow) and GNU time (/usr/bin/time: `apt-get install -y time`). All traffic stays on 127.0.0.1. The server runs in
# its own process group and is stopped as a group on exit, whatever happens; its log, each
# command's output and the raw samples are kept in bench/out/promote/.
# The shared pieces (environment, server, measuring, the report's frame) are in bench/lib.sh and
# bench/benchlib.py.
source "$(dirname "$0")/lib.sh"

N=${N:-20}
GATE_N=${GATE_N:-5}
FLOOR_N=${FLOOR_N:-10}
VERSIONS=${VERSIONS:-40}
LATENCY_N=${LATENCY_N:-20}
MODEL=bench-promote
helper=$bench/promote.py
out=$root/bench/out/promote

need_count N 1
need_count GATE_N 0
need_count FLOOR_N 0
need_count LATENCY_N 1
[[ $VERSIONS =~ ^[0-9]+$ ]] && [ "$VERSIONS" -ge 3 ] || die "VERSIONS must be at least 3 (got '$VERSIONS')"
need_gf
need_venv
need_gnu_time

bench_tmp promote
rm -rf "$out"
mkdir -p "$out/runs" "$tmp/cwd"
log=$out/server.log
scrub_env
start_server "$log"

echo "==> seeding $MODEL: $VERSIONS runs and versions (@champion=1, @candidate=$VERSIONS)" >&2
"$py" "$helper" seed "$MODEL" "$VERSIONS" >"$out/seed.log" 2>&1 || { tail -n 30 "$out/seed.log" >&2; die "seeding failed"; }

# --- the commands -----------------------------------------------------------------------------
# The Python client's programs: python -c CODE MODEL [VERSION] (sys.argv[1:] are the arguments).
# Both are put together from the same imports and alias lookup; these are the exact texts run.
read -r -d '' py_imports <<'EOF' || true
import sys
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
EOF
read -r -d '' py_alias <<'EOF' || true
client = MlflowClient()
def alias(a):
    try:
        return client.get_model_version_by_alias(name, a).version
    except MlflowException as e:
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
EOF
read -r -d '' promote_body <<'EOF' || true
old = alias("champion")
if old is not None:
    client.set_registered_model_alias(name, "rollback", old)
client.set_registered_model_alias(name, "champion", version)
if alias("candidate") == version:
    client.delete_registered_model_alias(name, "candidate")
EOF
read -r -d '' rollback_body <<'EOF' || true
back, champion = alias("rollback"), alias("champion")
if back is None:
    sys.exit(f"{name} has no @rollback (champion: {champion})")
client.set_registered_model_alias(name, "champion", back)
client.delete_registered_model_alias(name, "rollback")
EOF
nl=$'\n'
promote_py="$py_imports${nl}name, version = sys.argv[1], sys.argv[2]$nl$py_alias$nl$promote_body"
rollback_py="$py_imports${nl}name = sys.argv[1]$nl$py_alias$nl$rollback_body"

samples=$out/samples.tsv
printf '# tool\trun\twall_ms\tpeak_rss_kib\n' >"$samples"
expected=$out/expected-history.txt # one line per successful guardianflow promote/rollback
: >"$expected"

# The version the K-th promote targets: cycles through 2..VERSIONS. Every rollback pair brings
# @champion back to 1, and consecutive targets differ, so no promote targets the champion.
target() { echo $(( 2 + ($1 % (VERSIONS - 1)) )); }
k=0

# One round: gf promote V --force, py promote W, gf rollback (-> V: @rollback is V after the Python
# promote), py rollback (-> 1, the @rollback guardianflow's rollback chain left).
round() {
  local tag=$1 run=$2 v w
  v=$(target $k); w=$(target $((k + 1))); k=$((k + 2))
  measure_fresh gf-promote "$run" "$out/runs/promote_${tag}${run}_$v.json" "$gf" promote "$MODEL" --version "$v" --force --json
  echo "promote $v forced" >>"$expected"
  measure_fresh py-promote "$run" /dev/null "$py" -c "$promote_py" "$MODEL" "$w"
  measure_fresh gf-rollback "$run" "$out/runs/rollback_${tag}${run}_$v.json" "$gf" rollback "$MODEL" --json
  echo "rollback $v" >>"$expected"
  measure_fresh py-rollback "$run" /dev/null "$py" -c "$rollback_py" "$MODEL"
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
offset=$(stat -c %s "$log"); measure_fresh gf-promote 0 "$out/runs/promote_w0_$v.json" "$gf" promote "$MODEL" --version "$v" --force --json; requests_json gf-promote
echo "promote $v forced" >>"$expected"
offset=$(stat -c %s "$log"); measure_fresh py-promote 0 /dev/null "$py" -c "$promote_py" "$MODEL" "$w"; requests_json py-promote
offset=$(stat -c %s "$log"); measure_fresh gf-rollback 0 "$out/runs/rollback_w0_$v.json" "$gf" rollback "$MODEL" --json; requests_json gf-rollback
echo "rollback $v" >>"$expected"
offset=$(stat -c %s "$log"); measure_fresh py-rollback 0 /dev/null "$py" -c "$rollback_py" "$MODEL"; requests_json py-rollback
samples=$main_samples

# --- timing ---------------------------------------------------------------------------------
echo "==> timing, alternating: $N rounds of gf promote --force, py promote, gf rollback, py rollback" >&2
load_before=$(loadavg)
for i in $(seq "$N"); do
  round t "$i"
done
if [ "$GATE_N" -gt 0 ]; then
  echo "==> $GATE_N x guardianflow promote with the gate (no --force), each followed by a rollback" >&2
  for i in $(seq "$GATE_N"); do
    v=$(target $k); k=$((k + 1))
    measure_fresh gf-promote-gate "$i" "$out/runs/promote_g${i}_$v.json" "$gf" promote "$MODEL" --version "$v" --json
    echo "promote $v gate" >>"$expected"
    measure_fresh gf-rollback-gate "$i" "$out/runs/rollback_g${i}_1.json" "$gf" rollback "$MODEL" --json
    echo "rollback 1" >>"$expected"
  done
fi
if [ "$FLOOR_N" -gt 0 ]; then
  echo "==> floors: $FLOOR_N x guardianflow --version, guardianflow history, python -c pass, python -c 'from mlflow import MlflowClient'" >&2
  for i in $(seq "$FLOOR_N"); do
    measure_fresh gf-version "$i" /dev/null "$gf" --version
    measure_fresh gf-history "$i" /dev/null "$gf" history "$MODEL" --json
    measure_fresh py-pass "$i" /dev/null "$py" -c pass
    measure_fresh py-import "$i" /dev/null "$py" -c 'from mlflow import MlflowClient'
  done
fi
load_after=$(loadavg)
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
write_meta "$tmp/meta.json" n="$N" gate_n="$GATE_N" floor_n="$FLOOR_N" versions="$VERSIONS" \
  latency_n="$LATENCY_N" model="$MODEL"
echo >&2
"$py" "$helper" report "$samples" "$md" "$tmp/meta.json" "$out"
echo >&2
echo "==> wrote ${md#"$root"/}; raw samples in ${samples#"$root"/}" >&2
