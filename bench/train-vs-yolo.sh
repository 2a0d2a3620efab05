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
# longer than the peer's; the guardianflow process under 50 MB peak RSS) and writes it as a section
# into bench/train-vs-yolo.md.
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
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
root=$PWD

N=${N:-5}
WARMUP=${WARMUP:-1}
EPOCHS=3
IMGSZ=64
BATCH=8
MODEL=yolov8n.yaml
RSS_TARGET_MB=50
gf=${GUARDIANFLOW:-$root/.build/release/guardianflow}
py=$root/.venv/bin/python
mlflow=$root/.venv/bin/mlflow
yolo=$root/.venv/bin/yolo
data=$root/examples/ppe-sample/data.yaml
md=$root/bench/train-vs-yolo.md
out=$root/bench/out/train-vs-yolo

die() { echo "train-vs-yolo.sh: $*" >&2; exit 1; }
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer (got '$N')"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer (got '$WARMUP')"
[ -x "$gf" ] || die "no guardianflow binary at $gf (build it with: swift build -c release)"
[ -x "$py" ] && [ -x "$mlflow" ] && [ -x "$yolo" ] || die "no venv with mlflow and ultralytics at $root/.venv (run scripts/setup)"
[ -f "$data" ] || die "no sample dataset at $data"
[ -r /proc/self/status ] || die "needs Linux /proc"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gf-bench-train.XXXXXX")
rm -rf "$out"
mkdir -p "$out/runs" "$tmp/cwd" "$tmp/gf-work" "$tmp/yolo-config" "$tmp/yolo-project"
mkfifo "$tmp/tick"
server_pgid=
cur_pgid=
log=$out/server.log
helper=$tmp/helper.py

# stop_group PGID WHAT: SIGTERM to the whole group, SIGKILL after 20 s.
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
cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  if [ -n "$cur_pgid" ]; then
    echo "==> stopping the benchmarked command still running" >&2
    stop_group "$cur_pgid" "the benchmarked command"
    cur_pgid=
  fi
  stop_server
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# The same environment for everything: none of the developer's MLflow/AWS/guardianflow/YOLO
# settings, no proxies, no telemetry, offline (nothing leaves 127.0.0.1).
unset MLFLOW_TRACKING_URI MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD MLFLOW_TRACKING_TOKEN \
  MLFLOW_EXPERIMENT_NAME MLFLOW_RUN MLFLOW_S3_ENDPOINT_URL S3_ENDPOINT_URL AWS_ACCESS_KEY_ID \
  AWS_SECRET_ACCESS_KEY GUARDIANFLOW_WORK_DIR GUARDIANFLOW_PYTHON WORK_DIR YOLO_CONFIG_DIR \
  ULTRALYTICS_API_KEY http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true NO_COLOR=1 YOLO_OFFLINE=1

cat >"$helper" <<'EOF'
"""Helper for bench/train-vs-yolo.sh (never timed)."""
import json, os, socket, statistics, sys, time, urllib.request

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])

def wait(uri, seconds):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            with opener.open(uri.rstrip("/") + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(1)

def check_gf_json(path):
    """guardianflow train --json: FINISHED, with metrics and a registered version."""
    with open(path) as f:
        doc = json.load(f)
    model = doc.get("model") or {}
    ok = doc.get("status") == "FINISHED" and doc.get("metrics") and model.get("version")
    print(doc.get("run_id", ""))
    if not ok:
        sys.exit(f"unexpected guardianflow output: {json.dumps(doc)}")

def verify(gf_runs, yolo_names, epochs):
    """Both tools' runs are on the server, FINISHED, with per-epoch metrics and weights."""
    from mlflow import MlflowClient
    c = MlflowClient()
    epochs = int(epochs)
    problems, notes = [], []
    gf_ids = [r for r in gf_runs.split(",") if r]
    for rid in gf_ids:
        run = c.get_run(rid)
        if run.info.status != "FINISHED" or not run.data.metrics:
            problems.append(f"guardianflow run {rid}: {run.info.status}, {len(run.data.metrics)} metrics")
            continue
        hist = c.get_metric_history(rid, "mAP50_95")
        if len(hist) < epochs:
            problems.append(f"guardianflow run {rid}: mAP50_95 has {len(hist)} steps, expected {epochs}")
    versions = c.search_model_versions("name='bench-gf'")
    by_run = {v.run_id: v for v in versions}
    for rid in gf_ids:
        v = by_run.get(rid)
        if v is None or v.status != "READY":
            problems.append(f"guardianflow run {rid}: no READY version of bench-gf ({v.status if v else 'none'})")
    exp = c.get_experiment_by_name("bench-yolo")
    if exp is None:
        sys.exit("the server has no experiment bench-yolo: ultralytics did not log")
    names = [n for n in yolo_names.split(",") if n]
    runs = {r.info.run_name: r for r in c.search_runs([exp.experiment_id], max_results=1000)}
    n_metrics, n_artifacts = [], []
    for name in names:
        r = runs.get(name)
        if r is None:
            problems.append(f"yolo run {name}: not on the server")
            continue
        key = "metrics/mAP50-95B"
        hist = c.get_metric_history(r.info.run_id, key)
        arts = [a.path for a in c.list_artifacts(r.info.run_id)]
        weights = [a.path for a in c.list_artifacts(r.info.run_id, "weights")]
        n_metrics.append(len(r.data.metrics))
        n_artifacts.append(len(arts))
        if r.info.status != "FINISHED" or len(hist) < epochs or "weights/best.pt" not in weights:
            problems.append(f"yolo run {name}: {r.info.status}, {key} {len(hist)} steps, weights {weights}")
    gf_metrics = [len(c.get_run(rid).data.metrics) for rid in gf_ids]
    d = {"gf_runs": len(gf_ids), "gf_metric_keys": max(gf_metrics, default=0),
         "gf_versions_ready": sum(1 for rid in gf_ids if by_run.get(rid) and by_run[rid].status == "READY"),
         "yolo_runs": len(names), "yolo_runs_on_server": sum(1 for n in names if n in runs),
         "yolo_metric_keys": max(n_metrics, default=0),
         "yolo_top_level_artifacts": max(n_artifacts, default=0),
         "problems": problems}
    d["summary_gf"] = (f"{d['gf_runs']} bench-gf runs FINISHED with {d['gf_metric_keys']} metric keys "
                       f"(mAP50_95 at every epoch), {d['gf_versions_ready']} READY versions of bench-gf")
    d["summary_yolo"] = (f"{d['yolo_runs_on_server']}/{d['yolo_runs']} bench-yolo runs FINISHED with "
                         f"{d['yolo_metric_keys']} metric keys (metrics/mAP50-95B at every epoch), "
                         f"{d['yolo_top_level_artifacts']} top-level artifacts, weights/best.pt uploaded")
    print(json.dumps(d))
    if problems:
        sys.exit("\n".join(problems))

def report(samples, meta_path, md_path):
    with open(meta_path) as f:
        meta = json.load(f)
    rows = {}
    with open(samples) as f:
        for line in f:
            if line.startswith("#"):
                continue
            tool, run, wall_ms, self_kib, child_kib = line.rstrip("\n").split("\t")
            rows.setdefault(tool, []).append((float(wall_ms), int(self_kib), int(child_kib)))
    gf, yo = rows["guardianflow"], rows["yolo"]
    def s(ms): return f"{ms / 1000:.2f}"
    def mib(kib): return kib / 1024
    gf_w = [r[0] for r in gf]; yo_w = [r[0] for r in yo]
    gf_med, yo_med = statistics.median(gf_w), statistics.median(yo_w)
    gf_rss = [r[1] for r in gf]; gf_child = [r[2] for r in gf]; yo_rss = [r[1] for r in yo]
    gf_rss_max_mb = max(gf_rss) * 1024 / 1e6
    ratio = gf_med / yo_med
    n = len(gf)
    time_ok = gf_med <= yo_med
    rss_ok = gf_rss_max_mb < float(meta["rss_target_mb"])
    cmd_gf = (f"guardianflow train --experiment bench-gf --data … --model {meta['model']} --epochs {meta['epochs']} "
              f"--imgsz {meta['imgsz']} --batch {meta['batch']} --device cpu --workers 0 --json")
    cmd_yo = (f"yolo train model={meta['model']} data=… epochs={meta['epochs']} imgsz={meta['imgsz']} "
              f"batch={meta['batch']} device=cpu workers=0 project=… name=… exist_ok=True")
    yes = lambda ok: "**met**" if ok else "**NOT met**"
    L = []
    L.append("## train: guardianflow vs `yolo train` with ultralytics' MLflow logging")
    L.append("")
    L.append(f"Measured {meta['date']} with `bench/train-vs-yolo.sh` (N={n} runs of each, alternating, "
             f"after {meta['warmup']} untimed warm-up run(s) of each).")
    L.append("")
    L.append(f"- Machine: {meta['nproc']} CPUs, {meta['cpu']}, {meta['mem']} RAM; {meta['os']}; "
             f"load average {meta['load_before']} before, {meta['load_after']} after")
    L.append(f"- MLflow {meta['mlflow']} (server and ultralytics' client), ultralytics {meta['ultralytics']}, "
             f"torch {meta['torch']}, Python {meta['python']}; {meta['guardianflow']} (release build, "
             f"`{meta['binary']}`; {meta['build']})")
    L.append("- Server: `mlflow server --workers 1`, SQLite backend, `--serve-artifacts` with "
             "`--artifacts-destination` in a temp dir, on 127.0.0.1, shared by both tools.")
    L.append(f"- Training: `{meta['model']}` from scratch on `examples/ppe-sample` ({meta['images']}), "
             f"{meta['epochs']} epochs, imgsz {meta['imgsz']}, batch {meta['batch']}, CPU, 0 dataloader workers; "
             "`YOLO_OFFLINE=1`, MLflow telemetry off, nothing downloaded.")
    L.append("")
    L.append("| command | runs | min s | median s | max s | peak RSS MiB (median / max) |")
    L.append("|---|---:|---:|---:|---:|---:|")
    L.append(f"| `{cmd_gf}` | {n} | {s(min(gf_w))} | {s(gf_med)} | {s(max(gf_w))} | "
             f"{mib(statistics.median(gf_rss)):.1f} / {mib(max(gf_rss)):.1f} (guardianflow process) |")
    L.append(f"| `{cmd_yo}` (MLflow logging on) | {len(yo)} | {s(min(yo_w))} | {s(yo_med)} | {s(max(yo_w))} | "
             f"{mib(statistics.median(yo_rss)):.1f} / {mib(max(yo_rss)):.1f} (the yolo process) |")
    L.append("")
    L.append(f"- Wall time, guardianflow median / yolo median: **{ratio:.2f}x** "
             f"({'guardianflow faster' if ratio < 1 else 'guardianflow slower' if ratio > 1 else 'equal'} by "
             f"{abs(gf_med - yo_med) / 1000:.2f} s); target: no longer than the peer (median): {yes(time_ok)}")
    L.append(f"- guardianflow process peak RSS: max {mib(max(gf_rss)):.1f} MiB = {gf_rss_max_mb:.1f} MB over {n} runs "
             f"(target under {meta['rss_target_mb']} MB, judged on the max): {yes(rss_ok)}"
             f" (read as {meta['rss_target_mb']} MiB instead: "
             f"{'met' if mib(max(gf_rss)) < float(meta['rss_target_mb']) else 'NOT met'})")
    L.append(f"- For context, its Python trainer child peaked at {mib(statistics.median(gf_child)):.0f} MiB (median; "
             f"max {mib(max(gf_child)):.0f} MiB); the whole `yolo train` process at "
             f"{mib(statistics.median(yo_rss)):.0f} MiB (median).")
    L.append(f"- Per run, seconds in order: guardianflow {', '.join(s(x) for x in gf_w)}; "
             f"yolo {', '.join(s(x) for x in yo_w)}.")
    L.append(f"- Checked on the server after the runs: {meta['verify_gf']}; {meta['verify_yolo']}.")
    L.append("")
    L.append("What each does in that time: guardianflow validates the inputs, logs every argument as a param, "
             "each epoch's metrics as one batch, uploads weights, results, plots, the log and a SHA-256 "
             "manifest, registers the weights as a version of `bench-gf`, waits for READY and sets the alias "
             "`candidate`; ultralytics' callback (`mlflow.autolog()` plus its own calls) logs the params, "
             "per-epoch metrics and the weights, CSV, YAML and plot files, and registers nothing.")
    L.append("")
    L.append("Wall time is the whole command, from bash's `$EPOCHREALTIME` before starting it (under `setsid`, "
             "in the background) to `wait` returning. Peak RSS is `VmHWM` from `/proc/PID/status`, read about "
             "every 50 ms while the process runs (the last value read); guardianflow's figure is its own "
             "process only, its trainer child (`python -m guardianflow_trainer`, found through "
             "`/proc/PID/task/*/children`) is read the same way. MiB = 2^20 bytes, MB = 10^6 bytes.")
    L.append("")
    L.append("Rerun: `bench/train-vs-yolo.sh` (`N=10 bench/train-vs-yolo.sh` for more runs; raw samples, each "
             "run's output and the server log land in `bench/out/train-vs-yolo/`). It rewrites "
             "`bench/train-vs-yolo.md`.")
    text = "\n".join(L) + "\n"
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(text)
    print(text)

def field(path, key):
    with open(path) as f:
        print(json.load(f)[key])

if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"free-port": free_port, "wait": wait, "check-gf-json": check_gf_json, "verify": verify,
     "report": report, "field": field}[cmd](*args)
EOF

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
    kill -TERM "$pid" 2>/dev/null || true # never signal our own group
    server_pgid=
    die "the server did not get its own process group"
  fi
  if "$py" "$helper" wait "$uri" 120; then break; fi
  stop_server
  echo "train-vs-yolo.sh: the server did not answer on $uri (attempt $attempt); log tail:" >&2
  tail -n 20 "$log" >&2
  [ "$attempt" -lt 3 ] || die "could not start mlflow server"
done
export MLFLOW_TRACKING_URI=$uri

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
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$N"); do
  run_gf "gf-$i" 1
  run_yolo "yolo-$i" 1
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo "==> checking what both logged on the server" >&2
"$py" "$helper" verify "$gf_ids" "$yolo_names" "$EPOCHS" >"$out/verify.json" 2>"$out/verify.err" ||
  { cat "$out/verify.err" >&2; die "the server check failed (see ${out#"$root"/}/verify.err)"; }
verify_gf=$("$py" "$helper" field "$out/verify.json" summary_gf)
verify_yolo=$("$py" "$helper" field "$out/verify.json" summary_yolo)
echo "==> $verify_gf; $verify_yolo" >&2
cd "$root"
stop_server

# --- report ---------------------------------------------------------------------------------
# Which code was measured: the binary's build time against the checkout (a stale binary is flagged).
build_note() {
  local built head_ct note
  built=$(stat -c %Y "$gf")
  note="binary built $(date -u -d "@$built" '+%Y-%m-%d %H:%M UTC')"
  if head_ct=$(git -C "$root" log -1 --format=%ct 2>/dev/null); then
    note+="; checkout at $(git -C "$root" log -1 --format=%h) (committed $(date -u -d "@$head_ct" '+%H:%M UTC'))"
    [ "$built" -ge "$head_ct" ] || note+=", NEWER than the binary"
    git -C "$root" diff --quiet HEAD -- Sources Package.swift 2>/dev/null || note+=", uncommitted changes in Sources/"
  fi
  echo "$note"
}
n_train=$(find examples/ppe-sample/images/train -type f | wc -l)
n_val=$(find examples/ppe-sample/images/val -type f | wc -l)
META_DATE=$(date -u '+%Y-%m-%d %H:%M UTC') \
META_CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo) \
META_NPROC=$(nproc) \
META_MEM=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) \
META_OS="$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-Linux}"), kernel $(uname -r)" \
META_LOAD_BEFORE=$load_before META_LOAD_AFTER=$load_after \
META_GUARDIANFLOW=$("$gf" --version) META_BINARY=${gf#"$root"/} \
META_BUILD="$(build_note)" META_IMAGES="$n_train train / $n_val val images" META_WARMUP=$WARMUP \
META_EPOCHS=$EPOCHS META_IMGSZ=$IMGSZ META_BATCH=$BATCH META_MODEL=$MODEL META_RSS_TARGET_MB=$RSS_TARGET_MB \
META_VERIFY_GF=$verify_gf META_VERIFY_YOLO=$verify_yolo \
  "$py" - "$tmp/meta.json" <<'EOF'
import json, os, platform, sys
import mlflow, torch, ultralytics
env = {k[5:].lower(): v.strip() for k, v in os.environ.items() if k.startswith("META_")}
env.update(mlflow=mlflow.__version__, ultralytics=ultralytics.__version__,
           torch=torch.__version__, python=platform.python_version())
env["cpu"] = env.get("cpu") or "unknown CPU"
if not env["guardianflow"].startswith("guardianflow"):
    env["guardianflow"] = "guardianflow " + env["guardianflow"]
with open(sys.argv[1], "w") as f:
    json.dump(env, f)
EOF
echo >&2
"$py" "$helper" report "$samples" "$tmp/meta.json" "$md"
echo "==> wrote ${md#"$root"/}; raw samples in ${samples#"$root"/}" >&2
