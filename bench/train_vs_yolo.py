"""Helper for bench/train-vs-yolo.sh; none of this is timed. What the helpers share is in benchlib.py.

Subcommands:
  check-gf-json FILE             print the run id from `guardianflow train --json` output; fail unless
                                 it FINISHED with metrics and a registered version
  verify GF_RUN_IDS YOLO_NAMES EPOCHS
                                 check both tools' runs on the server in MLFLOW_TRACKING_URI (comma-
                                 separated lists): FINISHED, per-epoch metrics, weights / a READY
                                 version; print a JSON summary
  field FILE KEY                 print one field of a JSON file
  report SAMPLES MD META         print the markdown section and write/replace it in MD
"""

import json
import statistics
import sys

from benchlib import describe, load, met, read_samples, summary, table, write_section

SECTION = "## train: guardianflow vs `yolo train` with ultralytics' MLflow logging (issue 3)"


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


def report(samples_path, md_path, meta_path):
    meta = load(meta_path)
    rows = read_samples(samples_path)  # (wall_ms, self_kib, trainer_child_kib)
    gf_rows, yo_rows = rows["guardianflow"], rows["yolo"]
    gf, yo = summary(gf_rows), summary(yo_rows)
    gf_child = [r[2] / 1024 for r in gf_rows]

    def sec(ms):
        return f"{ms / 1000:.2f}"

    n = gf["n"]
    gf_rss_max_mb = gf["rss_max"] * 2**20 / 1e6
    ratio = gf["median"] / yo["median"]
    time_ok = gf["median"] <= yo["median"]
    rss_ok = gf_rss_max_mb < float(meta["rss_target_mb"])
    cmd_gf = (f"guardianflow train --experiment bench-gf --data … --model {meta['model']} --epochs {meta['epochs']} "
              f"--imgsz {meta['imgsz']} --batch {meta['batch']} --device cpu --workers 0 --json")
    cmd_yo = (f"yolo train model={meta['model']} data=… epochs={meta['epochs']} imgsz={meta['imgsz']} "
              f"batch={meta['batch']} device=cpu workers=0 project=… name=… exist_ok=True")
    results = table(
        ["command", "runs", "min s", "median s", "max s", "peak RSS MiB (median / max)"],
        [[f"`{cmd_gf}`", n, sec(gf["min"]), sec(gf["median"]), sec(gf["max"]),
          f"{gf['rss']:.1f} / {gf['rss_max']:.1f} (guardianflow process)"],
         [f"`{cmd_yo}` (MLflow logging on)", yo["n"], sec(yo["min"]), sec(yo["median"]), sec(yo["max"]),
          f"{yo['rss']:.1f} / {yo['rss_max']:.1f} (the yolo process)"]])
    faster = "guardianflow faster" if ratio < 1 else "guardianflow slower" if ratio > 1 else "equal"
    section = f"""{SECTION}

Measured {meta['date']} with `bench/train-vs-yolo.sh` (N={n} runs of each, alternating, after
{meta['warmup']} untimed warm-up run(s) of each).

{describe(meta, "ultralytics' client", f", ultralytics {meta['ultralytics']}, torch {meta['torch']}")}
- Server: `mlflow server --workers 1`, SQLite backend, `--serve-artifacts` with
  `--artifacts-destination` in a temp dir, on 127.0.0.1, shared by both tools.
- Training: `{meta['model']}` from scratch on `examples/ppe-sample` ({meta['images']}),
  {meta['epochs']} epochs, imgsz {meta['imgsz']}, batch {meta['batch']}, CPU, 0 dataloader workers;
  `YOLO_OFFLINE=1`, MLflow telemetry off, nothing downloaded.

{results}

- Wall time, guardianflow median / yolo median: **{ratio:.2f}x** ({faster} by
  {abs(gf['median'] - yo['median']) / 1000:.2f} s); target: no longer than the peer (median): **{met(time_ok)}**
- guardianflow process peak RSS: max {gf['rss_max']:.1f} MiB = {gf_rss_max_mb:.1f} MB over {n} runs
  (target under {meta['rss_target_mb']} MB, judged on the max): **{met(rss_ok)}**
  (read as {meta['rss_target_mb']} MiB instead: {met(gf['rss_max'] < float(meta['rss_target_mb']))})
- For context, its Python trainer child peaked at {statistics.median(gf_child):.0f} MiB (median;
  max {max(gf_child):.0f} MiB); the whole `yolo train` process at {yo['rss']:.0f} MiB (median).
- Per run, seconds in order: guardianflow {', '.join(sec(r[0]) for r in gf_rows)};
  yolo {', '.join(sec(r[0]) for r in yo_rows)}.
- Checked on the server after the runs: {meta['verify_gf']}; {meta['verify_yolo']}.

What each does in that time: guardianflow validates the inputs, logs every argument as a param,
each epoch's metrics as one batch, uploads weights, results, plots, the log and a SHA-256
manifest, registers the weights as a version of `bench-gf`, waits for READY and sets the alias
`candidate`; ultralytics' callback (`mlflow.autolog()` plus its own calls) logs the params,
per-epoch metrics and the weights, CSV, YAML and plot files, and registers nothing.

Wall time is the whole command, from bash's `$EPOCHREALTIME` before starting it (under `setsid`,
in the background) to `wait` returning. Peak RSS is `VmHWM` from `/proc/PID/status`, read about
every 50 ms while the process runs (the last value read); guardianflow's figure is its own
process only, its trainer child (`python -m guardianflow_trainer`, found through
`/proc/PID/task/*/children`) is read the same way. MiB = 2^20 bytes, MB = 10^6 bytes.

Rerun: `bench/train-vs-yolo.sh` (`N=10 bench/train-vs-yolo.sh` for more runs, `WARMUP` for the
untimed runs, `GUARDIANFLOW=path` for another binary; raw samples, each run's output and the
server log land in `bench/out/train-vs-yolo/`). It rewrites this section only.
"""
    write_section(md_path, "train-vs-yolo.sh", section)
    print(section)
    if not (time_ok and rss_ok):
        print("targets not met (see above)", file=sys.stderr)


def field(path, key):
    with open(path) as f:
        print(json.load(f)[key])

if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"check-gf-json": check_gf_json, "verify": verify, "report": report, "field": field}[command](*args)
