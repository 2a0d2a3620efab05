"""The measuring and reporting half of bench/system-metrics.sh (see there)."""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import describe, load, met, table, write_section  # noqa: E402

DEFAULT_INTERVAL = 10.0
TRAINER = "import os, time\nif os.fork() == 0:\n    time.sleep(3600); os._exit(0)\nwhile True: pass"


def cpu_seconds(argv):
    """Runs ARGV to its end; its CPU time (user + system) and wall time in seconds."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if status != 0:
        sys.exit(f"{argv}: exit status {status}: {proc.stderr.read().decode()[-2000:]}")
    return usage.ru_utime + usage.ru_stime, wall


def measure(gf, k, reps, quick, out):
    trainer = subprocess.Popen([sys.executable, "-c", TRAINER], start_new_session=True)
    try:
        time.sleep(0.5)
        base = [gf, "system-metrics", "--pid", str(trainer.pid), "--json"]
        per_sample = []
        for _ in range(reps):
            one, _ = cpu_seconds(base + ["--interval", "0.05", "--count", "1"])
            many, _ = cpu_seconds(base + ["--interval", "0.05", "--count", str(k)])
            per_sample.append(max(0.0, many - one) / (k - 1))
        minute = None
        if not quick:
            cpu, wall = cpu_seconds(base + ["--interval", str(DEFAULT_INTERVAL), "--count", "6"])
            minute = {"cpu_s": cpu, "wall_s": wall}
        # The peer: MLflow's monitors, warm, in this interpreter.
        from mlflow.system_metrics.metrics.cpu_monitor import CPUMonitor
        from mlflow.system_metrics.metrics.disk_monitor import DiskMonitor
        from mlflow.system_metrics.metrics.network_monitor import NetworkMonitor

        monitors = [CPUMonitor(), DiskMonitor(), NetworkMonitor()]
        mlflow_per_sample = []
        for _ in range(reps):
            for m in monitors:
                m.collect_metrics()
            t = time.process_time()
            for _ in range(k):
                for m in monitors:
                    m.collect_metrics()
            mlflow_per_sample.append((time.process_time() - t) / k)
            for m in monitors:
                m.clear_metrics()
        sample_keys = sorted(json.loads(subprocess.run(base + ["--interval", "0.2"], capture_output=True, text=True,
                                                         check=True).stdout)["metrics"])
    finally:
        os.killpg(trainer.pid, 9)
        trainer.wait()
    with open(out, "w") as f:
        json.dump({"gf": per_sample, "mlflow": mlflow_per_sample, "minute": minute, "keys": sample_keys}, f)


def report(results_path, meta_path, md):
    r = load(results_path)
    meta = load(meta_path)
    gf = statistics.median(r["gf"])
    ml = statistics.median(r["mlflow"])
    share = gf / DEFAULT_INTERVAL * 100
    rows = [
        ["guardianflow sampler (/proc, process group)", f"{gf * 1e3:.3f}", f"{min(r['gf']) * 1e3:.3f}",
         f"{max(r['gf']) * 1e3:.3f}", f"{share:.4f} %"],
        ["MLflow monitors (psutil: CPU, disk, network)", f"{ml * 1e3:.3f}", f"{min(r['mlflow']) * 1e3:.3f}",
         f"{max(r['mlflow']) * 1e3:.3f}", f"{ml / DEFAULT_INTERVAL * 100:.4f} %"],
    ]
    minute = ""
    if r["minute"]:
        m = r["minute"]
        minute = (f"\n- At the default interval for real: `system-metrics --interval 10 --count 6` used "
                  f"{m['cpu_s'] * 1e3:.0f} ms of CPU in {m['wall_s']:.1f} s, start-up included: "
                  f"**{m['cpu_s'] / m['wall_s'] * 100:.3f} % of one core**.")
    text = f"""## System metrics sampler: CPU cost (issue 6)

Target: the sampler costs under 1% of one core at the default interval (10 s): **{met(share < 1)}**
({share:.4f} % per the per-sample cost below).

{table(["sampler", "CPU ms per sample (median)", "min", "max", "share of one core at 10 s"], rows)}

- {meta['reps']} repetitions of {meta['k']} samples at 50 ms intervals in a fresh `guardianflow system-metrics`
  process, minus a 1-sample run (start-up), watching a busy Python trainer with a forked worker;
  {meta['processes']} processes in /proc (each sample scans them all for the trainer's process group).
  MLflow's monitors: `collect_metrics()` of CPUMonitor, DiskMonitor and NetworkMonitor (psutil {meta['psutil']}),
  warm, the same number of times.{minute}
- A sample holds: {", ".join(f"`{k}`" for k in r["keys"])}. No GPU on this machine: NVML's calls are not in
  these figures (`scripts/gpu-check` runs on one).
{describe(meta)}
"""
    write_section(md, "system-metrics.sh", text)
    print(text)


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        measure(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1", sys.argv[6])
    else:
        report(*sys.argv[2:5])
