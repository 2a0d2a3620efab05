"""The measuring and reporting half of bench/replay.sh (see there)."""
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import describe, load, met, table, write_section  # noqa: E402

EPOCHS = 300
KEYS = 20
BATCH = 1000  # metrics per log-batch request, the server's limit (guardianflow coalesces to it)
IN_FLIGHT = 3  # as many log-batch requests at once as guardianflow's replay sends


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


def server_time(uri: str, run_id: str, start_ms: int, in_flight: int) -> tuple[float, list[float]]:
    """The server's own pace: the same EPOCHS x KEYS points as log-batch requests of BATCH metrics
    (whole epochs each), sent from warm `requests` sessions (one per thread, each warmed with a
    request first), `in_flight` at a time. Returns the wall time of all of them and each request's."""
    import requests

    per_request = BATCH // KEYS
    bodies = []
    for first in range(1, EPOCHS + 1, per_request):
        metrics = [{"key": f"metric_{k:02d}", "value": e + k / 100, "timestamp": start_ms + e, "step": e}
                   for e in range(first, min(first + per_request, EPOCHS + 1)) for k in range(KEYS)]
        bodies.append({"run_id": run_id, "metrics": metrics})
    local = threading.local()
    sessions = []

    def session():
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.trust_env = False  # loopback: never a proxy
            local.session.get(f"{uri}/api/2.0/mlflow/runs/get", params={"run_id": run_id}).raise_for_status()
            sessions.append(local.session)
        return local.session

    def send(body) -> float:
        s = session()
        t = time.perf_counter()
        r = s.post(f"{uri}/api/2.0/mlflow/runs/log-batch", json=body)
        took = time.perf_counter() - t
        r.raise_for_status()
        return took

    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(lambda _: session(), range(in_flight)))  # warm every thread's session first (best effort)
        t = time.perf_counter()
        times = list(pool.map(send, bodies))
        total = time.perf_counter() - t
    for s in sessions:
        s.close()
    return total, times


def measure(gf: str, uri: str, n: int, tmp: str, out: str) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = uri
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    exp = client.create_experiment("bench-replay")
    gf_rows, ml_rows, server_rows = [], [], {1: [], IN_FLIGHT: []}
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

        # The server alone: the same points as plain log-batch requests, one at a time and IN_FLIGHT at once.
        for in_flight, rows in server_rows.items():
            run = client.create_run(exp, run_name=f"server-{in_flight}-{i}")
            rows.append(server_time(uri, run.info.run_id, int(time.time() * 1000), in_flight))
            check(client, run.info.run_id)
    with open(out, "w") as f:
        json.dump({"gf": gf_rows, "mlflow": ml_rows, "server": server_rows[1], "server_in_flight": server_rows[IN_FLIGHT]}, f)


def report(results_path: str, meta_path: str, md: str) -> None:
    r = load(results_path)
    meta = load(meta_path)
    gf = [x[0] * 1e3 for x in r["gf"]]
    replay = [x[1] * 1e3 for x in r["gf"]]
    flush = [x[0] * 1e3 for x in r["mlflow"]]
    total = [x[1] * 1e3 for x in r["mlflow"]]
    serial = [x[0] * 1e3 for x in r["server"]]
    parallel = [x[0] * 1e3 for x in r["server_in_flight"]]
    request = [t * 1e3 for x in r["server"] for t in x[1]]
    requests_per_round = len(r["server"][0][1])
    slow = sum(t > 2 * statistics.median(request) for t in request)
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
        [f"the server alone: one log-batch request of {BATCH} metrics (warm Python `requests` session)", len(request),
         f"{min(request):.0f}", f"{statistics.median(request):.0f}", f"{max(request):.0f}"],
        [f"the server alone: the {EPOCHS * KEYS} points as {requests_per_round} such requests, one after another", len(serial),
         f"{min(serial):.0f}", f"{statistics.median(serial):.0f}", f"{max(serial):.0f}"],
        [f"the server alone: the same, {IN_FLIGHT} requests in flight at once", len(parallel), f"{min(parallel):.0f}",
         f"{statistics.median(parallel):.0f}", f"{max(parallel):.0f}"],
    ]
    text = f"""## Journal replay after an outage: guardianflow vs MLflow's async logging (issue 7)

Target: replaying {EPOCHS} epochs of {KEYS} metrics after an outage takes under 0.5 s: **{met(g < 500)}**
(median {g:.0f} ms, {statistics.median(gf):.0f} ms for the whole `guardianflow sync` process; MLflow's async
logging needs {statistics.median(flush):.0f} ms to flush the same {EPOCHS * KEYS} points, {statistics.median(flush) / g:.1f}x longer).

{table(["what", "runs", "min ms", "median ms", "max ms"], rows)}

- guardianflow: a journal of {EPOCHS} batch records ({KEYS} metrics each, their own steps and timestamps) left in a
  work dir for a RUNNING run with no live process; `guardianflow sync --json` delivers it, coalesced into
  log-batch requests of up to {BATCH} metrics (whole records each, marked delivered as each is taken). MLflow:
  `mlflow.log_metrics(..., step=e, synchronous=False)` per epoch in a warm interpreter, then
  `mlflow.flush_async_logging()`.
- The server's own pace, measured in this run: the same {EPOCHS * KEYS} points sent as {requests_per_round} log-batch
  requests of {BATCH} metrics (whole epochs) from warm Python `requests` sessions took {min(serial):.0f}-{max(serial):.0f} ms
  one after another (median {statistics.median(serial):.0f} ms; one request: median {statistics.median(request):.0f} ms,
  {slow} of {len(request)} over twice that), {min(parallel):.0f}-{max(parallel):.0f} ms with {IN_FLIGHT} in flight at once
  (median {statistics.median(parallel):.0f} ms): what the points cost the server whoever sends them. An earlier
  observation, not remeasured by this script (2026-11-29): the occasional slow request (~220 ms) stayed with the
  server's SQLite on tmpfs, so it is not an fsync.
- Every run (the server-alone ones too) was read back with the Python client afterwards: {KEYS} histories of {EPOCHS} points, steps 1..{EPOCHS}
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
