"""The measuring and reporting half of bench/import.sh (see there).

Commands:
  measure GF URI N RUNS TMP OUT   the rounds: guardianflow, the Python script (`peer`, a fresh process
                                  each time) and the server's floor, after checked warm-up imports
  peer RUNS EXPERIMENT OUT        the Python script: imports the folders under RUNS with MlflowClient
                                  (MLFLOW_TRACKING_URI), timing itself after `import mlflow`
  report RESULTS META MD          the section of BENCHMARKS.md
"""
import csv
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import describe, load, met, table, write_section  # noqa: E402

RUNS = 100
EPOCHS = 100
JOBS = 4  # runs imported at once: guardianflow's default (`import --jobs 4`)
TARGET = 3.0  # at least this much faster than the Python script...
FLOOR_TARGET = 1.2  # ...or, where that is below the server's floor, within this of the floor
ORIGIN_TAG = "guardianflow.import.origin"
STATE_TAG = "guardianflow.import.state"
CREATE_TOKEN_TAG = "client.create_token"

# results.csv columns → metric names, as guardianflow's MetricColumns maps ultralytics' detect columns.
NAMED = {"metrics/mAP50(B)": "mAP50", "metrics/mAP50-95(B)": "mAP50_95", "metrics/precision(B)": "precision",
         "metrics/recall(B)": "recall"}
BEST = ["mAP50", "mAP50_95", "precision", "recall", "box_loss", "cls_loss", "dfl_loss"]


def metric_name(column: str) -> str:
    if column in NAMED:
        return NAMED[column]
    if column.startswith("train/"):
        return column[len("train/"):]
    return column  # val/… and lr/pg… as they are


def folders(root: str) -> list:
    """The run folders under ROOT (those holding args.yaml), by path."""
    found = []
    for dirpath, _, files in os.walk(root):
        if "args.yaml" in files and "results.csv" in files:
            found.append(dirpath)
    return sorted(found)


def read_folder(path: str) -> dict:
    """A run folder as a straightforward script reads it: args.yaml with yaml.safe_load, results.csv
    with the csv module; start = when args.yaml was written, each epoch at start + its `time`."""
    import yaml

    with open(os.path.join(path, "args.yaml")) as f:
        args = yaml.safe_load(f)
    start = int(round(os.path.getmtime(os.path.join(path, "args.yaml")) * 1000))
    epochs = []
    with open(os.path.join(path, "results.csv"), newline="") as f:
        for row in csv.DictReader(f):
            row = {k.strip(): v.strip() for k, v in row.items()}
            step = int(float(row.pop("epoch")))
            timestamp = start + int(round(float(row.pop("time")) * 1000))
            epochs.append((step, timestamp, {metric_name(k): float(v) for k, v in row.items() if v != ""}))
    end = max(int(round(os.path.getmtime(os.path.join(path, "results.csv")) * 1000)), epochs[-1][1] if epochs else start)
    return {"name": os.path.basename(path), "path": path, "args": args, "start": start, "end": end, "epochs": epochs}


# --- the Python script -----------------------------------------------------------------------------


def peer(runs: str, experiment: str, out: str) -> None:
    """One process: MlflowClient, then for each folder create_run, one log_batch of its metrics and
    params (the client splits it), set_terminated; one after another, as a plain script would."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient()
    t = time.perf_counter()
    existing = client.get_experiment_by_name(experiment)
    experiment_id = existing.experiment_id if existing else client.create_experiment(experiment)
    count = 0
    for path in folders(runs):
        run = read_folder(path)
        created = client.create_run(experiment_id, start_time=run["start"], run_name=run["name"],
                                    tags={"mlflow.source.name": "import_bench.py", "mlflow.source.type": "LOCAL",
                                          "import.path": path})
        run_id = created.info.run_id
        metrics = [Metric(key, value, timestamp, step) for step, timestamp, values in run["epochs"]
                   for key, value in values.items()]
        params = [Param(key, str(value)) for key, value in run["args"].items()]
        client.log_batch(run_id, metrics=metrics, params=params)
        client.set_terminated(run_id, "FINISHED", end_time=run["end"])
        count += 1
    seconds = time.perf_counter() - t
    with open(out, "w") as f:
        json.dump({"seconds": seconds, "runs": count, "experiment_id": experiment_id}, f)


# --- checks ----------------------------------------------------------------------------------------


def check(client, experiment_id: str, what: str, params: int | None = None) -> list:
    """RUNS runs, FINISHED, each with EPOCHS points of mAP50 at steps 1..EPOCHS and PARAMS params
    (the same number in every run when None); exits otherwise. Returns the runs."""
    runs = client.search_runs([experiment_id], max_results=1000)
    if len(runs) != RUNS:
        sys.exit(f"{what}: {len(runs)} runs in experiment {experiment_id}, not {RUNS}")
    counts = {len(r.data.params) for r in runs}
    if len(counts) != 1 or (params is not None and counts != {params}):
        sys.exit(f"{what}: the runs hold {sorted(counts)} params, expected {params if params is not None else 'the same number in each'}")
    for r in runs:
        if r.info.status != "FINISHED":
            sys.exit(f"{what}: run {r.info.run_id} is {r.info.status}, not FINISHED")
    with ThreadPoolExecutor(4) as pool:
        histories = list(pool.map(lambda r: client.get_metric_history(r.info.run_id, "mAP50"), runs))
    for r, history in zip(runs, histories):
        steps = sorted(m.step for m in history)
        if steps != list(range(1, EPOCHS + 1)):
            sys.exit(f"{what}: run {r.info.run_id} has mAP50 at steps {steps[:5]}... ({len(steps)} points), not 1..{EPOCHS} once each")
    return runs


# --- the server's floor ----------------------------------------------------------------------------


def plan(metrics: list, params: list, tags: list) -> list:
    """guardianflow's LogBatchPlanner: each request takes up to 100 params and 100 tags, then fills
    up with metrics, at most 1000 metrics and 1000 entities in all (the byte limit is far off here)."""
    batches = []
    p = t = m = 0
    while p < len(params) or t < len(tags) or m < len(metrics):
        bp = params[p:p + 100]
        p += len(bp)
        bt = tags[t:t + 100]
        t += len(bt)
        bm = metrics[m:m + min(1000, 1000 - len(bp) - len(bt))]
        m += len(bm)
        batches.append({"metrics": bm, "params": bp, "tags": bt})
    return batches


def requests_of(run: dict, tags: dict, params: list) -> dict:
    """The requests guardianflow sends for one run (Sources/Import/RunImporter.swift, importRun with
    nothing imported before): runs/search for an earlier import of the folder, runs/create tagged
    partial, the metrics (per epoch sorted by key, then best/*) and params as log-batch requests,
    a log-batch of the tags (complete), runs/update. Tags and params as guardianflow wrote them."""
    metrics = []
    for step, timestamp, values in run["epochs"]:
        for key in sorted(values):
            metrics.append({"key": key, "value": values[key], "timestamp": timestamp, "step": step})
    best = max(run["epochs"], key=lambda e: 0.1 * e[2]["mAP50"] + 0.9 * e[2]["mAP50_95"])
    last = run["epochs"][-1][0]
    for key in sorted(BEST):
        metrics.append({"key": "best/" + key, "value": best[2][key], "timestamp": run["end"], "step": last})
    partial = dict(tags, **{STATE_TAG: "partial"})
    complete = dict(tags, **{STATE_TAG: "complete"})
    return {
        "origin": tags[ORIGIN_TAG],
        "create": {"start_time": run["start"], "run_name": run["name"],
                   "tags": [{"key": k, "value": v} for k, v in partial.items()]},
        "batches": plan(metrics, params, []),
        "tags": [{"key": k, "value": v} for k, v in sorted(complete.items())],
        "end": run["end"],
    }


def floor(uri: str, experiment_id: str, bodies: list, in_flight: int) -> tuple:
    """The same requests from warm Python `requests` sessions (one per thread, each warmed by a GET
    first), IN_FLIGHT runs at a time, each run's requests one after another. Returns the wall time of
    all and {request type: [seconds, ...]}."""
    import requests

    local = threading.local()
    sessions = []
    lock = threading.Lock()
    times = {"runs/search": [], "runs/create": [], "log-batch (metrics, params)": [], "log-batch (tags)": [],
             "runs/update": []}

    def session():
        if not hasattr(local, "session"):
            s = requests.Session()
            s.trust_env = False  # loopback: never a proxy
            s.get(f"{uri}/api/2.0/mlflow/experiments/get", params={"experiment_id": experiment_id}).raise_for_status()
            local.session = s
            with lock:
                sessions.append(s)
        return local.session

    def post(s, kind: str, path: str, body: dict) -> dict:
        t = time.perf_counter()
        r = s.post(f"{uri}/api/2.0/mlflow/{path}", json=body)
        took = time.perf_counter() - t
        if r.status_code != 200:
            sys.exit(f"floor: {path} answered {r.status_code}: {r.text[:500]}")
        with lock:
            times[kind].append(took)
        return r.json()

    def one(b: dict) -> None:
        s = session()
        found = post(s, "runs/search", "runs/search", {
            "experiment_ids": [experiment_id], "run_view_type": "ACTIVE_ONLY", "max_results": 1000,
            "filter": f"tags.`{ORIGIN_TAG}` = '{b['origin']}'"})
        if found.get("runs"):
            sys.exit("floor: the search found an earlier run in a fresh experiment")
        create = dict(b["create"], experiment_id=experiment_id,
                      tags=b["create"]["tags"] + [{"key": CREATE_TOKEN_TAG, "value": str(uuid.uuid4())}])
        run_id = post(s, "runs/create", "runs/create", create)["run"]["info"]["run_id"]
        for batch in b["batches"]:
            post(s, "log-batch (metrics, params)", "runs/log-batch", dict(batch, run_id=run_id))
        post(s, "log-batch (tags)", "runs/log-batch", {"run_id": run_id, "metrics": [], "params": [], "tags": b["tags"]})
        post(s, "runs/update", "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": b["end"]})

    with ThreadPoolExecutor(in_flight) as pool:
        barrier = threading.Barrier(in_flight)

        def warm(_):
            session()
            barrier.wait()  # every thread its own session, warmed before the clock starts

        list(pool.map(warm, range(in_flight)))
        t = time.perf_counter()
        list(pool.map(one, bodies))
        total = time.perf_counter() - t
    for s in sessions:
        s.close()
    return total, times


# --- the rounds ------------------------------------------------------------------------------------


def run_process(argv: list, env: dict, stdout: str, stderr: str, rss_file: str) -> tuple:
    """ARGV as a fresh process under GNU time (whose child's peak RSS is the command's own, not this
    driver's: a process exec'd straight from here would count the driver's pages in ru_maxrss):
    (wall seconds, peak RSS KiB, exit code)."""
    with open(stdout, "w") as out, open(stderr, "w") as err:
        t = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, *argv], env=env, stdout=out, stderr=err,
                              stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - t
    with open(rss_file) as f:
        rss = int(f.read().split()[-1])
    return wall, rss, done.returncode


def measure(gf: str, uri: str, n: int, runs_dir: str, tmp: str, out: str) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = uri
    from mlflow import MlflowClient

    client = MlflowClient()
    env = dict(os.environ)
    me = os.path.abspath(__file__)
    began = time.monotonic()

    def say(message: str) -> None:
        print(f"==> [{time.monotonic() - began:4.0f} s] {message}", file=sys.stderr)

    def gf_import(name: str, work: str, expect: str) -> tuple:
        os.makedirs(work, exist_ok=True)
        stdout, stderr = os.path.join(tmp, "gf.json"), os.path.join(tmp, "gf.err")
        wall, rss, rc = run_process([gf, "import", runs_dir, "--experiment", name, "--no-artifacts", "--json", "--quiet"],
                                    dict(env, GUARDIANFLOW_WORK_DIR=work), stdout, stderr, os.path.join(tmp, "gf.rss"))
        if rc != 0:
            sys.exit(f"guardianflow import into {name} failed ({rc}): {open(stderr).read()[-2000:]}")
        report = load(stdout)
        outcomes = [r["result"] for r in report["runs"]]
        if outcomes != [expect] * RUNS:
            sys.exit(f"guardianflow import into {name}: expected {RUNS} x {expect}, got {sorted(set(outcomes))} ({len(outcomes)})")
        return wall, rss, report["experiment_id"]

    def py_import(name: str) -> tuple:
        result = os.path.join(tmp, "peer.json")
        wall, rss, rc = run_process([sys.executable, me, "peer", runs_dir, name, result], env,
                                    os.path.join(tmp, "peer.out"), os.path.join(tmp, "peer.err"), os.path.join(tmp, "peer.rss"))
        if rc != 0:
            sys.exit(f"the Python script into {name} failed ({rc}): {open(os.path.join(tmp, 'peer.err')).read()[-2000:]}")
        r = load(result)
        if r["runs"] != RUNS:
            sys.exit(f"the Python script imported {r['runs']} runs, not {RUNS}")
        return wall, rss, r["seconds"], r["experiment_id"]

    # Warm-up, checked: one import by each, read back.
    say("warm-up: guardianflow import, checked")
    _, _, gf_exp = gf_import("bench-import-gf-warmup", os.path.join(tmp, "work-warmup"), "created")
    gf_runs = check(client, gf_exp, "guardianflow import")
    say("warm-up: the Python script, checked")
    *_, py_exp = py_import("bench-import-py-warmup")
    params = len(gf_runs[0].data.params)
    check(client, py_exp, "the Python script", params)

    # The floor's requests: what guardianflow sent for each folder, its tags and params as it wrote them.
    by_name = {r.info.run_name: r for r in gf_runs}
    bodies = []
    for path in folders(runs_dir):
        run = read_folder(path)
        written = by_name[run["name"]]
        tags = {k: v for k, v in written.data.tags.items() if k not in ("mlflow.runName", CREATE_TOKEN_TAG, STATE_TAG)}
        run_params = [{"key": k, "value": v} for k, v in sorted(written.data.params.items())]
        b = requests_of(run, tags, run_params)
        keys = {m["key"] for batch in b["batches"] for m in batch["metrics"]}
        if keys != set(written.data.metrics):
            sys.exit(f"floor: the metrics rebuilt for {path} are not those guardianflow wrote: {sorted(keys ^ set(written.data.metrics))}")
        bodies.append(b)
    shape = {"requests_per_run": 2 + len(bodies[0]["batches"]) + 2, "batches": [
        [len(x["metrics"]), len(x["params"])] for x in bodies[0]["batches"]], "tags": len(bodies[0]["tags"]),
        "metrics": sum(len(x["metrics"]) for x in bodies[0]["batches"]), "params": params}

    rows = {"gf": [], "gf_again": [], "py": [], "py_wall": [], "floor": [], "floor_in_flight": []}
    request_times = {}
    for i in range(n):
        # The four in turn, the order reversed every other round (the database grows by each import).
        order = ["gf", "py", "floor", "floor_in_flight"]
        for what in order if i % 2 == 0 else order[::-1]:
            if what == "gf":
                work = os.path.join(tmp, f"work-{i}")
                wall, rss, exp = gf_import(f"bench-import-gf-{i}", work, "created")
                rows["gf"].append((wall, rss))
                check(client, exp, "guardianflow import", params)
                again, rss, _ = gf_import(f"bench-import-gf-{i}", work, "unchanged")
                rows["gf_again"].append((again, rss))
                if len(client.search_runs([exp], max_results=1000)) != RUNS:
                    sys.exit("guardianflow's second import changed the number of runs")
                say(f"round {i + 1}/{n}: guardianflow import {wall:.1f} s, again {again:.1f} s")
            elif what == "py":
                wall, rss, seconds, exp = py_import(f"bench-import-py-{i}")
                rows["py_wall"].append((wall, rss))
                rows["py"].append((seconds, rss))
                check(client, exp, "the Python script", params)
                say(f"round {i + 1}/{n}: the Python script {seconds:.1f} s ({wall:.1f} s the process)")
            else:
                in_flight = 1 if what == "floor" else JOBS
                exp = client.create_experiment(f"bench-import-{what}-{i}")
                total, times = floor(uri, exp, bodies, in_flight)
                rows[what].append((total, 0))
                check(client, exp, f"the floor ({in_flight} in flight)", params)
                for kind, values in times.items():
                    request_times.setdefault(what, {}).setdefault(kind, []).extend(values)
                say(f"round {i + 1}/{n}: the server's floor, {in_flight} run(s) in flight, {total:.1f} s")
    say("done")
    with open(out, "w") as f:
        json.dump({"rows": rows, "requests": request_times, "shape": shape}, f)


# --- the report ------------------------------------------------------------------------------------


def report(results_path: str, meta_path: str, md: str) -> None:
    r = load(results_path)
    meta = load(meta_path)
    rows, shape = r["rows"], r["shape"]

    def ms(key):
        return [x[0] * 1e3 for x in rows[key]]

    def mib(key):
        return [x[1] / 1024 for x in rows[key]]

    med = {k: statistics.median(ms(k)) for k in rows}
    g, py, py_wall, fl4, fl1 = med["gf"], med["py"], med["py_wall"], med["floor_in_flight"], med["floor"]
    speedup, speedup_wall = py / g, py_wall / g
    # The floor: the least the server needed for the same requests, whichever way they were sent.
    fl = min(fl1, fl4)
    fl_how, other_how = ("one after another", f"with {JOBS} runs in flight") if fl1 <= fl4 else (f"with {JOBS} runs in flight", "one after another")
    three_x = py / TARGET
    below_floor = three_x < fl
    ok = g <= FLOOR_TARGET * fl if below_floor else speedup >= TARGET
    def row(label, key, rss=True):
        v = ms(key)
        return [label, len(v), f"{min(v):.0f}", f"{statistics.median(v):.0f}", f"{max(v):.0f}",
                f"{statistics.median(v) / RUNS:.1f}", f"{statistics.median(mib(key)):.0f}" if rss else "-"]

    per = shape["requests_per_run"]
    b = shape["batches"]
    table_rows = [
        row(f"`guardianflow import DIR --experiment NEW --no-artifacts --json --quiet` (fresh process, {RUNS} runs created, `--jobs {JOBS}`)", "gf"),
        row("`guardianflow import` again into the same experiment (fresh process; all unchanged, nothing written)", "gf_again"),
        row("Python script: the import (timed inside, after `import mlflow` and `MlflowClient()`)", "py"),
        row("Python script: the whole process (`python import_bench.py peer ...`)", "py_wall"),
        row(f"the server's floor: the same {per * RUNS} requests, one after another (one warm session)", "floor", rss=False),
        row(f"the server's floor: the same, {JOBS} runs in flight (4 warm sessions)", "floor_in_flight", rss=False),
    ]
    req_rows = []
    for kind, values in r["requests"]["floor"].items():
        par = r["requests"]["floor_in_flight"][kind]
        req_rows.append([kind, len(values) // meta["n"] // RUNS, f"{statistics.median(values) * 1e3:.1f}",
                         f"{sum(values) * 1e3 / meta['n'] / RUNS:.1f}", f"{statistics.median(par) * 1e3:.1f}"])
    seq = {kind: sum(v) * 1e3 / meta["n"] / RUNS for kind, v in r["requests"]["floor"].items()}
    batches_ms = seq["log-batch (metrics, params)"]
    # What the Python script's 4 requests per run would cost the server: the floor without runs/search and the tags' log-batch.
    py_floor = fl1 - (seq["runs/search"] + seq["log-batch (tags)"]) * RUNS
    if fl4 >= 0.95 * fl1:
        in_flight_note = (f"{JOBS} runs in flight are no faster than one request at a time (they take {fl4 / fl1:.2f}x as long:\n"
                          f"  the server has one worker, and SQLite).")
    else:
        in_flight_note = f"{JOBS} runs in flight take {fl4 / fl1:.2f}x the time of one request at a time."
    no_client_note = (f": no client can be {TARGET:.0f}x faster than it against this\n  server." if py / py_floor < TARGET else ".")
    if below_floor:
        verdict = (f"3x would be {three_x:.0f} ms, below the server's floor for the same requests, so the target is to come\n"
                   f"  within {FLOOR_TARGET}x of the floor: guardianflow takes **{g / fl:.2f}x** the floor: **{met(ok)}** (the floor: the\n"
                   f"  faster of the two ways of sending them: {fl:.0f} ms {fl_how}, against {max(fl1, fl4):.0f} ms\n"
                   f"  {other_how})")
    else:
        verdict = (f"3x is {three_x:.0f} ms, above the server's floor ({fl:.0f} ms, {fl_how}), so 3x is the target:\n  "
                   f"**{met(ok)}** ({g / fl:.2f}x the floor)")
    text = f"""## Import of run folders: guardianflow vs a Python script with MlflowClient.log_batch (issue 14)

Measured {meta['date']} with `bench/import.sh` (N={meta['n']} rounds of the four measurements below, in turn, the order
reversed every other round; rerun: `N=5 bench/import.sh`).

Target: importing {RUNS} run folders of {EPOCHS} epochs (metrics and params only) at least {TARGET:.0f}x faster than a
Python script doing it with `MlflowClient.log_batch`, or, where {TARGET:.0f}x would be below what the MLflow server
itself needs for the same requests, within {FLOOR_TARGET}x of that floor.

- Speed-up (the Python script's import timed inside, median / guardianflow's whole process, median):
  **{speedup:.2f}x** (target {TARGET:.0f}x: **{met(speedup >= TARGET)}**; {speedup_wall:.2f}x against the script's whole process,
  interpreter start and `import mlflow` included)
- {verdict}
- guardianflow / the floor with {JOBS} runs in flight (as guardianflow sends them, medians): **{g / fl4:.2f}x** (within
  {FLOOR_TARGET}x: {met(g <= FLOOR_TARGET * fl4)}); / the floor one request after another: **{g / fl1:.2f}x** (within {FLOOR_TARGET}x:
  {met(g <= FLOOR_TARGET * fl1)})

{table(["what", "rounds", "min ms", "median ms", "max ms", "median ms per run", "median peak RSS MiB"], table_rows)}

The floor's requests, per run, and what the server took for each (ms; all rounds):

{table(["request", "per run", "median ms, one after another", "ms per run, one after another", f"median ms, {JOBS} runs in flight"], req_rows)}

- Where the time goes: in the server. One after another, the {len(b)} log-batch requests of metrics and params take
  {batches_ms:.0f} of the {fl1 / RUNS:.0f} ms a run costs it ({100 * batches_ms / (fl1 / RUNS):.0f}%; ~{batches_ms / shape['metrics'] * 1000:.0f} ms per 1000 metrics);
  {in_flight_note} The Python script sends
  4 requests per run (no runs/search, its tags in runs/create): without guardianflow's runs/search and tags'
  log-batch the sequential floor would be about {py_floor:.0f} ms, so the script itself takes
  {py / py_floor:.2f}x what the server needs for its requests{no_client_note}
  guardianflow's own work (start, reading the {RUNS} folders, the experiment) is a small part: its second import,
  which does all of that plus {RUNS} runs/search requests that find a run, takes {med['gf_again']:.0f} ms.
  Observed once on 2026-11-30, not measured by this script: the server's access log shows guardianflow sending
  exactly the floor's requests (per import of {RUNS} runs: {RUNS} runs/search, {RUNS} runs/create, {3 * RUNS} runs/log-batch,
  {RUNS} runs/update, plus experiments/get-by-name, experiments/create and experiments/get), over 10-11 keep-alive
  connections with `--jobs 4` and 2 with `--jobs 1`; and `--jobs 1` was as fast as `--jobs 4` within the noise
  (4 imports alternating on one server: 36.8 and 42.2 s with `--jobs 1`, 37.4 and 43.5 s with `--jobs 4`).
- Data: `Tests/Fixtures/run_folders.py DIR --runs {RUNS} --epochs {EPOCHS}`, generated once: ultralytics run folders of
  args.yaml ({shape['params']} keys) and results.csv (epoch, time and 13 metric columns), no weights. guardianflow
  writes {shape['metrics']} metrics per run (13 x {EPOCHS} epochs, plus 7 `best/*` at the best epoch), {shape['params']}
  params and {shape['tags']} tags; the Python script writes the same 13 x {EPOCHS} metrics under the same names
  (mAP50, mAP50_95, precision, recall, box_loss, ..., val/..., lr/pg0...; step = epoch, timestamp = args.yaml's
  time + the `time` column), the same {shape['params']} params and 3 tags, but not the 7 `best/*` metrics.
- guardianflow: a fresh process per import, `MLFLOW_TRACKING_URI` set to the server and a fresh
  `GUARDIANFLOW_WORK_DIR` per round, each round into a new experiment (import is idempotent per experiment);
  the second row is a second import of the same folders into that experiment, which finds every run imported and
  unchanged. Per run it sends {per} requests: runs/search (an earlier import of this folder, under a lock in the
  work dir), runs/create (tagged partial), {len(b)} log-batch of metrics and params ({' + '.join(f'{m} metrics/{p} params' for m, p in b)},
  2 in flight), a log-batch of the tags (complete), runs/update (FINISHED, end time); {JOBS} runs at once.
- Python script: one process (`import_bench.py peer`); for each folder `yaml.safe_load` of args.yaml, `csv` of
  results.csv, `client.create_run(..., start_time, run_name, tags)`, one `client.log_batch(run_id, metrics, params)`
  (the client splits it: 2 requests, {1000 - shape['params']} + {13 * EPOCHS - 1000 + shape['params']} metrics), `client.set_terminated(run_id, "FINISHED", end_time)`:
  4 requests per run, one run after another. Timed from inside after `import mlflow` and `MlflowClient()`
  (experiment creation included), and as a whole process.
- The server's floor: the requests guardianflow sends for these folders (its own tags and params, read back from
  its warm-up import; the metrics rebuilt from results.csv and checked to be the same keys), sent from Python
  `requests` sessions warmed by a GET first, one after another from one session, and {JOBS} runs in flight from
  {JOBS} threads (each run's requests in order); a new experiment each time.
- Checked before timing (the warm-up) and after every import: {RUNS} FINISHED runs in the experiment, each with
  {EPOCHS} points of mAP50 at steps 1..{EPOCHS}, and {shape['params']} params in every run of every tool.
- Wall time of a fresh process: `time.perf_counter()` in the driver around `subprocess.run` of
  `/usr/bin/time -f %M COMMAND` (so it includes ~1 ms of starting `/usr/bin/time`); peak RSS is `/usr/bin/time`'s
  `%M` (the command's `ru_maxrss`), in MiB.
- Server: `mlflow server --workers 1`, SQLite, on 127.0.0.1, the same one for every round (the database grows by
  {RUNS} runs per import: {RUNS * (4 * meta['n'] + 2)} runs by the end).
{describe(meta)}
"""
    write_section(md, "import.sh", text)
    print(text)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "measure":
        measure(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7])
    elif command == "peer":
        peer(*sys.argv[2:5])
    elif command == "report":
        report(*sys.argv[2:5])
    else:
        sys.exit(f"import_bench.py: unknown command {command!r}")
