"""The measuring and reporting half of bench/replay.sh (see there)."""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import describe, load, met, table, write_section  # noqa: E402

EPOCHS = 300
KEYS = 20


def journal(path: str, start_ms: int) -> None:
    with open(path, "w") as f:
        for e in range(1, EPOCHS + 1):
            metrics = [{"key": f"metric_{k:02d}", "value": e + k / 100, "timestamp": start_ms + e, "step": e} for k in range(KEYS)]
            f.write(json.dumps({"seq": e - 1, "kind": "batch", "metrics": metrics, "params": [], "tags": []}) + "\n")


def check(client, run_id: str) -> None:
    for k in range(KEYS):
        steps = sorted(m.step for m in client.get_metric_history(run_id, f"metric_{k:02d}"))
        if steps != list(range(1, EPOCHS + 1)):
            sys.exit(f"run {run_id}: metric_{k:02d} has steps {steps[:5]}... ({len(steps)} points), not 1..{EPOCHS} once each")


def measure(gf: str, uri: str, n: int, tmp: str, out: str) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = uri
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    exp = client.create_experiment("bench-replay")
    gf_rows, ml_rows = [], []
    for i in range(n):
        # guardianflow: a journal left for a RUNNING run, delivered by a fresh `guardianflow sync`.
        run = client.create_run(exp, run_name=f"gf-{i}")
        work = os.path.join(tmp, f"work-{i}")
        os.makedirs(os.path.join(work, "journal"))
        journal(os.path.join(work, "journal", f"{run.info.run_id}.jsonl"), int(time.time() * 1000))
        env = dict(os.environ, GUARDIANFLOW_WORK_DIR=work)
        t = time.perf_counter()
        done = subprocess.run([gf, "sync", "--json"], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if done.returncode != 0:
            sys.exit(f"guardianflow sync failed ({done.returncode}): {done.stderr[-2000:]}")
        outcome = json.loads(done.stdout)
        if [o["batchesDelivered"] for o in outcome] != [EPOCHS]:
            sys.exit(f"guardianflow sync: unexpected outcome {outcome}")
        check(client, run.info.run_id)
        gf_rows.append((wall, outcome[0]["seconds"]))

        # MLflow's async logging of the same points, then its flush.
        with mlflow.start_run(experiment_id=exp, run_name=f"mlflow-{i}") as active:
            t = time.perf_counter()
            for e in range(1, EPOCHS + 1):
                mlflow.log_metrics({f"metric_{k:02d}": e + k / 100 for k in range(KEYS)}, step=e, synchronous=False)
            queued = time.perf_counter()
            mlflow.flush_async_logging()
            flushed = time.perf_counter()
        check(client, active.info.run_id)
        ml_rows.append((flushed - queued, flushed - t))
    with open(out, "w") as f:
        json.dump({"gf": gf_rows, "mlflow": ml_rows}, f)


def report(results_path: str, meta_path: str, md: str) -> None:
    r = load(results_path)
    meta = load(meta_path)
    gf = [x[0] * 1e3 for x in r["gf"]]
    replay = [x[1] * 1e3 for x in r["gf"]]
    flush = [x[0] * 1e3 for x in r["mlflow"]]
    total = [x[1] * 1e3 for x in r["mlflow"]]
    g = statistics.median(replay)
    rows = [
        ["guardianflow: the replay (journal read to the last batch taken), as `sync --json` reports it", len(replay),
         f"{min(replay):.0f}", f"{g:.0f}", f"{max(replay):.0f}"],
        ["`guardianflow sync` (the whole fresh process: start-up, connect, replay, exit)", len(gf), f"{min(gf):.0f}",
         f"{statistics.median(gf):.0f}", f"{max(gf):.0f}"],
        ["MLflow async logging: `flush_async_logging()` after queueing", len(flush), f"{min(flush):.0f}",
         f"{statistics.median(flush):.0f}", f"{max(flush):.0f}"],
        ["MLflow async logging: queueing + flush", len(total), f"{min(total):.0f}", f"{statistics.median(total):.0f}",
         f"{max(total):.0f}"],
    ]
    text = f"""## Journal replay after an outage: guardianflow vs MLflow's async logging (issue 7)

Target: replaying {EPOCHS} epochs of {KEYS} metrics after an outage takes under 0.5 s: **{met(g < 500)}**
(median {g:.0f} ms, {statistics.median(gf):.0f} ms for the whole `guardianflow sync` process; MLflow's async
logging needs {statistics.median(flush):.0f} ms to flush the same {EPOCHS * KEYS} points, {statistics.median(flush) / g:.1f}x longer).

{table(["what", "runs", "min ms", "median ms", "max ms"], rows)}

- guardianflow: a journal of {EPOCHS} batch records ({KEYS} metrics each, their own steps and timestamps) left in a
  work dir for a RUNNING run with no live process; `guardianflow sync --json` delivers it, coalesced into
  log-batch requests of up to 1000 metrics (whole records each, marked delivered as each is taken). The server's own time for one log-batch of 1000 metrics is
  ~55-60 ms here, plus a ~220 ms pause in about one request in six (the server's, also with its SQLite on tmpfs, so
  not fsync), so 6000 points cost the server ~330-550 ms whoever sends them: six such requests sent from a warm
  Python `requests` session took 326-548 ms, and 2 or 3 in flight at once did not go faster. MLflow: `mlflow.log_metrics(..., step=e, synchronous=False)` per epoch
  in a warm interpreter, then `mlflow.flush_async_logging()`.
- Every run was read back with the Python client afterwards: {KEYS} histories of {EPOCHS} points, steps 1..{EPOCHS}
  each once.
- Server: `mlflow server --workers 1`, SQLite, on 127.0.0.1; {meta['n']} rounds, alternating.
{describe(meta)}
"""
    write_section(md, "replay.sh", text)
    print(text)


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        measure(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6])
    else:
        report(*sys.argv[2:5])
