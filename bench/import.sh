#!/usr/bin/env bash
# Benchmarks `guardianflow import` (issue 14: 100 run folders of 100 epochs, metrics and params only,
# at least 3x faster than a Python script importing them with MlflowClient.log_batch; where 3x would
# be below the MLflow server's own floor for the same requests, within 1.2x of that floor).
#
#   guardianflow import       a fresh `guardianflow import DIR --experiment NEW --no-artifacts --json
#                             --quiet` per round (a new experiment each time), wall time of the whole
#                             process; then the same import again into that experiment (all
#                             unchanged: nothing written)
#   the Python script         one fresh process (bench/import_bench.py peer): yaml + csv, then per
#                             folder create_run, log_batch (metrics and params), set_terminated, one
#                             after another; timed inside after `import mlflow`, and as a process
#   the server's floor        the requests guardianflow sends (runs/search, runs/create, log-batch of
#                             metrics and params, log-batch of tags, runs/update per run) from warm
#                             Python `requests` sessions: one after another, and 4 runs in flight
# The folders (Tests/Fixtures/run_folders.py) are generated once. Every import is read back with the
# Python client: 100 FINISHED runs, 100 points of mAP50 at steps 1..100 each, the same params.
#
#   bench/import.sh           N=3 rounds (about 12 minutes on 2 CPUs: the server takes ~40 s per import)
#   N=5 bench/import.sh
#
# Needs the release binary (.build/release/guardianflow, or GUARDIANFLOW=path) and the project venv.
# The server is a throwaway `mlflow server --workers 1` (SQLite) on 127.0.0.1, stopped as a group
# on exit. Writes its section of BENCHMARKS.md.
source "$(dirname "$0")/lib.sh"

N=${N:-3}
need_count N 1
need_gf
need_venv
need_gnu_time
scrub_env
bench_tmp import

echo "==> generating 100 run folders of 100 epochs" >&2
"$py" "$root/Tests/Fixtures/run_folders.py" "$tmp/runs" --runs 100 --epochs 100
start_server "$tmp/server.log"

load_before=$(loadavg)
"$py" "$bench/import_bench.py" measure "$gf" "$uri" "$N" "$tmp/runs" "$tmp" "$tmp/results.json"
load_after=$(loadavg)
write_meta "$tmp/meta.json" n="$N" --module yaml --module requests
"$py" "$bench/import_bench.py" report "$tmp/results.json" "$tmp/meta.json" "$md"
