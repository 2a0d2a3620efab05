#!/usr/bin/env bash
# Benchmarks the replay of a journal after a tracking outage (issue 7: 300 epochs of 20
# metrics replayed in under 0.5 s), side by side with MLflow's own async logging flushing the
# same 6000 points.
#
#   guardianflow sync             a fresh process delivering a journal of 300 batches (20 metrics
#                                 each, original steps and timestamps) left for a RUNNING run:
#                                 wall time of the whole process, and the replay inside it
#   MLflow async logging          in one warm interpreter, `mlflow.log_metrics(..., step=e,
#                                 synchronous=False)` for 300 epochs, then
#                                 `mlflow.flush_async_logging()`: the time until the 6000 points
#                                 are on the server (the flush), and logging + flush
#   the server alone              the same 6000 points as 6 log-batch requests of 1000 metrics from
#                                 warm Python `requests` sessions, one after another and 3 in
#                                 flight: the server's own pace, the floor for any client
# Each run is then read back with the Python client: 20 histories of 300 points, steps 1..300,
# each once.
#
#   bench/replay.sh               N=5 rounds
#   N=10 bench/replay.sh
#
# Needs the release binary (.build/release/guardianflow, or GUARDIANFLOW=path) and the project venv.
# The server is a throwaway `mlflow server --workers 1` (SQLite) on 127.0.0.1, stopped as a group
# on exit. Writes its section of BENCHMARKS.md.
source "$(dirname "$0")/lib.sh"

N=${N:-5}
need_count N 1
need_gf
need_venv
scrub_env
bench_tmp replay
start_server "$tmp/server.log"

load_before=$(loadavg)
"$py" "$bench/replay.py" measure "$gf" "$uri" "$N" "$tmp" "$tmp/results.json"
load_after=$(loadavg)
write_meta "$tmp/meta.json" n="$N"
"$py" "$bench/replay.py" report "$tmp/results.json" "$tmp/meta.json" "$md"
