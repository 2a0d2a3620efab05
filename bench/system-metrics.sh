#!/usr/bin/env bash
# Benchmarks the cost of guardianflow's system-metrics sampler (issue 6: under 1% of one core at
# the default 10 s interval), side by side with MLflow's own system metrics monitor.
#
#   guardianflow system-metrics --pid P --interval I --count K --json
#     the sampler `train` runs (machine CPU and memory from /proc, the trainer's process group,
#     NVML when there is a GPU), in a fresh process, watching a busy Python "trainer" that forked
#     a worker. CPU time (user + system, from wait4) of K samples minus that of 1 sample = the
#     cost of K-1 samples; per sample and as a share of one core at the default interval.
#     Also a run at the real default (--interval 10, 6 samples, one minute): its whole CPU time,
#     start-up included, over the minute.
#   MLflow's monitors (mlflow.system_metrics: CPUMonitor, DiskMonitor, NetworkMonitor; psutil),
#     collect_metrics() K times in one warm interpreter: CPU time per sample.
#
#   bench/system-metrics.sh            K=400 samples at 50 ms, 5 repetitions, and the one-minute run
#   K=1000 REPS=9 bench/system-metrics.sh
#   QUICK=1 bench/system-metrics.sh    skips the one-minute run
#
# Needs the release binary (.build/release/guardianflow, or GUARDIANFLOW=path) and the project venv.
# No GPU here: the NVML part of a sample is not measured (on a GPU machine it adds NVML's own calls).
# Writes its section of BENCHMARKS.md.
source "$(dirname "$0")/lib.sh"

K=${K:-400}
REPS=${REPS:-5}
QUICK=${QUICK:-0}
need_count K 2
need_count REPS 1
need_gf
need_venv
scrub_env
bench_tmp system-metrics

load_before=$(loadavg)
"$py" "$bench/system_metrics.py" measure "$gf" "$K" "$REPS" "$QUICK" "$tmp/results.json"
load_after=$(loadavg)
write_meta "$tmp/meta.json" k="$K" reps="$REPS" processes="$(ls -d /proc/[0-9]* | wc -l)" --module psutil
"$py" "$bench/system_metrics.py" report "$tmp/results.json" "$tmp/meta.json" "$md"
