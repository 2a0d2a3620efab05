#!/usr/bin/env bash
# Benchmarks `guardianflow list models --json` against the official MLflow Python client doing the
# same thing (`MlflowClient().search_registered_models()` in a fresh interpreter), against a
# throwaway `mlflow server` on 127.0.0.1 seeded with 20 models x 3 versions (issue 2).
#
# Prints a markdown table and writes it, with the machine and the verdict on the targets
# (at least 20x faster than the Python client, under 30 MB = 30 x 10^6 bytes peak RSS), into BENCHMARKS.md
# (its own generated section only).
#
#   bench/list-models.sh            N=20 runs of each, alternating
#   N=50 bench/list-models.sh       more runs (FLOOR_N sets the runs of the floor measurements)
#
# Needs the release binary (.build/release/guardianflow, or GUARDIANFLOW=path), the project venv
# (.venv, with mlflow) and GNU time (/usr/bin/time: `apt-get install -y time`). All traffic stays
# on 127.0.0.1. The server runs in its own process group and is stopped as a group on exit,
# whatever happens; its log and the raw samples are kept in bench/out/list-models/.
# The shared pieces (environment, server, measuring, the report's frame) are in bench/lib.sh and
# bench/benchlib.py.
source "$(dirname "$0")/lib.sh"

N=${N:-20}
FLOOR_N=${FLOOR_N:-10}
MODELS=20
VERSIONS=3
helper=$bench/list_models.py
out=$root/bench/out/list-models

need_count N 1
need_count FLOOR_N 0
need_gf
need_venv
need_gnu_time

bench_tmp list-models
mkdir -p "$out" "$tmp/cwd"
scrub_env
start_server "$out/server.log"

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

list_py='from mlflow import MlflowClient; MlflowClient().search_registered_models()'
echo "==> timing, alternating: $N x guardianflow list models --json, $N x Python client" >&2
load_before=$(loadavg)
for i in $(seq "$N"); do
  measure_fresh guardianflow "$i" /dev/null "$gf" list models --json
  measure_fresh python "$i" /dev/null "$py" -c "$list_py"
done
if [ "$FLOOR_N" -gt 0 ]; then
  echo "==> floors: $FLOOR_N x guardianflow --version, python -c pass, python -c 'from mlflow import MlflowClient'" >&2
  for i in $(seq "$FLOOR_N"); do
    measure_fresh guardianflow-version "$i" /dev/null "$gf" --version
    measure_fresh python-pass "$i" /dev/null "$py" -c pass
    measure_fresh python-import "$i" /dev/null "$py" -c 'from mlflow import MlflowClient'
  done
fi
load_after=$(loadavg)
cd "$root"
stop_server

# --- report ---------------------------------------------------------------------------------
write_meta "$tmp/meta.json" n="$N" floor_n="$FLOOR_N" models="$MODELS" versions="$VERSIONS"
echo >&2
"$py" "$helper" report "$samples" "$md" "$tmp/meta.json"
echo >&2
echo "==> wrote ${md#"$root"/}; raw samples in ${samples#"$root"/}" >&2
