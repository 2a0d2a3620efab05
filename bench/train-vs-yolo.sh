#!/usr/bin/env bash
# Benchmarks a whole `guardianflow train` against what users run today for the same training:
# plain `yolo train` with ultralytics' own MLflow logging on, both tracked in the same throwaway
# `mlflow server` on 127.0.0.1.
#
#   a) guardianflow train --experiment bench-gf --data DATA --model yolov8n.yaml --epochs 3
#        --imgsz 64 --batch 8 --device cpu --workers 0 --json
#      (params, live metrics, uploads with SHA-256, registers a model version, waits for READY)
#   b) yolo train model=yolov8n.yaml data=DATA epochs=3 imgsz=64 batch=8 device=cpu workers=0
#        project=TMP name=UNIQUE exist_ok=True
#      with MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME=bench-yolo and a private YOLO_CONFIG_DIR
#      in which `yolo settings mlflow=True` was run (params, per-epoch metrics, artifacts)
#
# The two are alternated N times (after WARMUP untimed runs of each, which also check that both
# work). Wall time is the whole command (ms). guardianflow's peak RSS is its own process's VmHWM
# (not its Python trainer child's), read from /proc/PID/status every ~50 ms while it runs (the
# last value read; it is a high-water mark); the trainer child's VmHWM and the yolo process's are
# read the same way, for context. After the runs, the server is checked: every bench-gf run
# FINISHED with metrics and a READY model version, every bench-yolo run FINISHED with per-epoch
# metrics and its weights uploaded (so the peer really logged).
#
# Prints a markdown table with the verdict on the targets (guardianflow's median wall time no
# longer than the peer's; the guardianflow process under 50 MB = 50 x 10^6 bytes peak RSS) and
# writes it into BENCHMARKS.md (its own generated section only).
#
#   bench/train-vs-yolo.sh              N=5 timed runs of each, alternating, WARMUP=1
#   N=10 WARMUP=0 bench/train-vs-yolo.sh
#
# Needs the release binary (.build/release/guardianflow, or GUARDIANFLOW=path) and the project
# venv (.venv: mlflow, ultralytics, the trainer bridge). Nothing is downloaded (yolov8n.yaml is
# built from scratch, YOLO_OFFLINE=1); all traffic stays on 127.0.0.1. The server runs in its own
# process group and is stopped as a group on exit (SIGTERM, then SIGKILL), whatever happens; so
# is a benchmarked command still running. The server log, each run's output and the raw samples
# are kept in bench/out/train-vs-yolo/.
# The shared pieces (environment, server, the report's frame) are in bench/lib.sh and
# bench/benchlib.py.
source "$(dirname "$0")/lib.sh"

N=${N:-5}
WARMUP=${WARMUP:-1}
EPOCHS=3
IMGSZ=64
BATCH=8
MODEL=yolov8n.yaml
RSS_TARGET_MB=50
yolo=$root/.venv/bin/yolo
data=$root/examples/ppe-sample/data.yaml
helper=$bench/train_vs_yolo.py
out=$root/bench/out/train-vs-yolo

need_count N 1
need_count WARMUP 0
need_gf
need_venv yolo
[ -f "$data" ] || die "no sample dataset at $data"
[ -r /proc/self/status ] || die "needs Linux /proc"

bench_tmp train
rm -rf "$out"
mkdir -p "$out/runs" "$tmp/cwd" "$tmp/gf-work" "$tmp/yolo-config" "$tmp/yolo-project"
mkfifo "$tmp/tick"
scrub_env
export YOLO_OFFLINE=1
start_server "$out/server.log"

# --- ultralytics' own MLflow logging, in a private settings folder ---------------------------
yolo_env=(env YOLO_CONFIG_DIR="$tmp/yolo-config" MLFLOW_EXPERIMENT_NAME=bench-yolo)
(cd "$tmp/cwd" && "${yolo_env[@]}" "$yolo" settings mlflow=True) >"$out/yolo-settings.log" 2>&1 ||
  { cat "$out/yolo-settings.log" >&2; die "yolo settings mlflow=True failed"; }
(cd "$tmp/cwd" && "${yolo_env[@]}" "$yolo" settings) >>"$out/yolo-settings.log" 2>&1 || true
grep -Eq '"mlflow": *true' "$out/yolo-settings.log" ||
  { cat "$out/yolo-settings.log" >&2; die "ultralytics' mlflow setting is not True"; }
echo "==> ultralytics settings (private YOLO_CONFIG_DIR): mlflow is True" >&2

# --- measuring ------------------------------------------------------------------------------
# poll_hwm PID FILE: until PID is reaped, every ~50 ms, its VmHWM (the last value read) and the
# largest VmHWM of its children running guardianflow_trainer; written to FILE at the end
# ("self_kib child_kib"). Only builtins in the loop (read -t on a FIFO opened read-write, which
# never gets data, is the sleep) so that polling forks nothing.
poll_hwm() {
  set +e
  local pid=$1 file=$2 self=0 child=0 key val rest t kid v tick
  local -a kids argv
  exec {tick}<>"$tmp/tick"
  while [ -e "/proc/$pid" ]; do
    while read -r key val rest; do
      [ "$key" = VmHWM: ] && self=$val
    done 2>/dev/null <"/proc/$pid/status"
    for t in /proc/"$pid"/task/*/children; do
      kids=()
      read -r -a kids 2>/dev/null <"$t"
      for kid in "${kids[@]}"; do
        mapfile -d '' -t argv 2>/dev/null <"/proc/$kid/cmdline" || continue
        [[ " ${argv[*]} " == *guardianflow_trainer* ]] || continue
        while read -r key val rest; do
          [ "$key" = VmHWM: ] && [ "$val" -gt "$child" ] && child=$val
        done 2>/dev/null <"/proc/$kid/status"
      done
    done
    read -r -t 0.05 -u "$tick" _
  done
  echo "$self $child" >"$file"
}

samples=$out/samples.tsv
printf '# tool\trun\twall_ms\tpeak_rss_kib\ttrainer_child_peak_rss_kib\n' >"$samples"
gf_ids=
yolo_names=
stamp=$(date -u +%H%M%S)

# measure TOOL LABEL TIMED COMMAND...: runs COMMAND in its own process group (setsid) in the
# background, polls its memory, and records wall time and peaks when TIMED=1.
measure() {
  local tool=$1 label=$2 timed=$3 t0 t1 us pid poller rc=0 self child
  shift 3
  rm -f "$tmp/hwm"
  t0=$EPOCHREALTIME
  setsid "$@" </dev/null >"$out/runs/$label.out" 2>"$out/runs/$label.err" &
  pid=$!
  cur_pgid=$pid
  poll_hwm "$pid" "$tmp/hwm" &
  poller=$!
  wait "$pid" || rc=$?
  t1=$EPOCHREALTIME
  cur_pgid=
  wait "$poller" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$out/runs/$label.err" >&2
    die "$tool ($label) failed with exit status $rc; output in ${out#"$root"/}/runs/$label.*"
  fi
  read -r self child <"$tmp/hwm" || die "no memory reading for $label"
  us=$(( ${t1/./} - ${t0/./} ))
  printf '==> %-12s %-10s %6d.%03d s  peak RSS %6.1f MiB%s\n' "$tool" "$label" $((us / 1000000)) \
    $(((us / 1000) % 1000)) "$(awk -v k="$self" 'BEGIN { print k / 1024 }')" \
    "$([ "$tool" = guardianflow ] && awk -v k="$child" 'BEGIN { printf "  (trainer child %.0f MiB)", k / 1024 }')" >&2
  if [ "$timed" = 1 ]; then
    printf '%s\t%s\t%d.%03d\t%s\t%s\n' "$tool" "$label" $((us / 1000)) $((us % 1000)) "$self" "$child" >>"$samples"
  fi
}

run_gf() { # LABEL TIMED
  measure guardianflow "$1" "$2" env GUARDIANFLOW_WORK_DIR="$tmp/gf-work" "$gf" train \
    --experiment bench-gf --data "$data" --model "$MODEL" --epochs "$EPOCHS" --imgsz "$IMGSZ" \
    --batch "$BATCH" --device cpu --workers 0 --json
  local id
  id=$("$py" "$helper" check-gf-json "$out/runs/$1.out") || die "guardianflow ($1) did not finish as expected"
  gf_ids+=$id,
}
run_yolo() { # LABEL TIMED
  local name=bench-$stamp-$1
  measure yolo "$1" "$2" "${yolo_env[@]}" "$yolo" train model="$MODEL" data="$data" epochs="$EPOCHS" \
    imgsz="$IMGSZ" batch="$BATCH" device=cpu workers=0 project="$tmp/yolo-project" name="$name" exist_ok=True
  grep -q 'logging run_id(' "$out/runs/$1.err" "$out/runs/$1.out" 2>/dev/null ||
    echo "train-vs-yolo.sh: warning: no 'MLflow: logging run_id' line in yolo's output ($1)" >&2
  yolo_names+=$name,
}

cd "$tmp/cwd"
for i in $(seq "$WARMUP"); do
  echo "==> warm-up $i (untimed; also checks both work)" >&2
  run_gf "gf-warm$i" 0
  run_yolo "yolo-warm$i" 0
done
echo "==> timing, alternating: $N x guardianflow train, $N x yolo train" >&2
load_before=$(loadavg)
for i in $(seq "$N"); do
  run_gf "gf-$i" 1
  run_yolo "yolo-$i" 1
done
load_after=$(loadavg)

echo "==> checking what both logged on the server" >&2
"$py" "$helper" verify "$gf_ids" "$yolo_names" "$EPOCHS" >"$out/verify.json" 2>"$out/verify.err" ||
  { cat "$out/verify.err" >&2; die "the server check failed (see ${out#"$root"/}/verify.err)"; }
verify_gf=$("$py" "$helper" field "$out/verify.json" summary_gf)
verify_yolo=$("$py" "$helper" field "$out/verify.json" summary_yolo)
echo "==> $verify_gf; $verify_yolo" >&2
cd "$root"
stop_server

# --- report ---------------------------------------------------------------------------------
n_train=$(find examples/ppe-sample/images/train -type f | wc -l)
n_val=$(find examples/ppe-sample/images/val -type f | wc -l)
write_meta "$tmp/meta.json" --module torch --module ultralytics \
  images="$n_train train / $n_val val images" warmup="$WARMUP" epochs="$EPOCHS" imgsz="$IMGSZ" \
  batch="$BATCH" model="$MODEL" rss_target_mb="$RSS_TARGET_MB" verify_gf="$verify_gf" verify_yolo="$verify_yolo"
echo >&2
"$py" "$helper" report "$samples" "$md" "$tmp/meta.json"
echo "==> wrote ${md#"$root"/}; raw samples in ${samples#"$root"/}" >&2
