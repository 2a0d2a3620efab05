"""Helper for bench/list-models.sh; none of this is timed.

Subcommands:
  free-port                     print a free TCP port on 127.0.0.1
  wait URI SECONDS              wait until URI/health answers (exit 1 if it never does)
  seed MODELS VERSIONS          create MODELS registered models with VERSIONS versions each and the
                                aliases champion (-> version 2) and candidate (-> the last one),
                                on the server in MLFLOW_TRACKING_URI
  python-models                 print {name: aliases} as the official client sees them (JSON)
  guardianflow-models FILE      the same, read from `guardianflow list models --json` output
  compare A B EXPECTED          fail unless both JSON files list the same EXPECTED model names
                                with the same aliases
  report SAMPLES MD META        print the markdown table and write/replace the section in MD
"""

import json
import math
import os
import socket
import statistics
import sys
import time
import urllib.request

SECTION = "## list models: guardianflow vs the MLflow Python client (issue 2)"
SPEEDUP_TARGET = 20.0
RSS_TARGET_MIB = 30.0


def free_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def wait(uri: str, seconds: str) -> None:
    # Loopback only: never go through a proxy, whatever the environment says.
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


def seed(models: str, versions: str) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    mlflow.set_experiment("bench-list-models")
    with mlflow.start_run(run_name="weights") as run:
        mlflow.log_param("epochs", 1)
        mlflow.log_metric("mAP50_95", 0.5)
    source = run.info.artifact_uri + "/weights"
    n_versions = int(versions)
    for i in range(int(models)):
        name = f"bench-model-{i:02d}"
        client.create_registered_model(name, description=f"benchmark model {i}")
        for v in range(n_versions):
            client.create_model_version(name, source, run.info.run_id, tags={"best/mAP50_95": str(v / 10)})
        client.set_registered_model_alias(name, "champion", str(min(2, n_versions)))
        client.set_registered_model_alias(name, "candidate", str(n_versions))


def python_models() -> None:
    from mlflow import MlflowClient

    models = MlflowClient().search_registered_models()
    print(json.dumps({m.name: dict(m.aliases) for m in models}, sort_keys=True))


def guardianflow_models(path: str) -> None:
    with open(path) as f:
        rows = json.load(f)
    print(json.dumps({r["name"]: r.get("aliases", {}) for r in rows}, sort_keys=True))


def compare(a: str, b: str, expected: str) -> None:
    with open(a) as f:
        left = json.load(f)
    with open(b) as f:
        right = json.load(f)
    problems = []
    if len(left) != int(expected):
        problems.append(f"{a}: {len(left)} models, expected {expected}")
    if sorted(left) != sorted(right):
        problems.append(f"model names differ: only in {a}: {sorted(set(left) - set(right))}, "
                        f"only in {b}: {sorted(set(right) - set(left))}")
    elif left != right:
        problems.append(f"aliases differ: {[n for n in left if left[n] != right[n]]}")
    if problems:
        sys.exit("compare: " + "; ".join(problems))
    print(f"both list the same {len(left)} models with the same aliases")


def percentile(values, p):
    """Nearest-rank percentile: the smallest value with at least p% of the samples at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def report(samples_path: str, md_path: str, meta_path: str) -> None:
    with open(meta_path) as f:
        meta = json.load(f)
    runs = {}
    with open(samples_path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            tool, _, wall_ms, rss_kib = line.split("\t")
            runs.setdefault(tool, []).append((float(wall_ms), int(rss_kib)))

    def stats(tool):
        walls = [w for w, _ in runs[tool]]
        rss = [r / 1024 for _, r in runs[tool]]
        return {
            "n": len(walls), "min": min(walls), "median": statistics.median(walls),
            "p90": percentile(walls, 90), "rss": statistics.median(rss), "rss_max": max(rss),
        }

    labels = {
        "guardianflow": "`guardianflow list models --json`",
        "python": "`MlflowClient().search_registered_models()` (fresh `python -c`)",
        "guardianflow-version": "floor: `guardianflow --version`",
        "python-pass": "floor: `python -c pass` (venv interpreter)",
        "python-import": "floor: `python -c 'from mlflow import MlflowClient'`",
    }
    order = [t for t in labels if t in runs]
    s = {t: stats(t) for t in order}
    gf, py = s["guardianflow"], s["python"]
    speedup = py["median"] / gf["median"]
    speed_ok = speedup >= SPEEDUP_TARGET
    rss_ok = gf["rss_max"] < RSS_TARGET_MIB

    def row(t):
        x = s[t]
        return (f"| {labels[t]} | {x['n']} | {x['min']:.1f} | {x['median']:.1f} | {x['p90']:.1f} "
                f"| {x['rss']:.1f} | {x['rss_max']:.1f} |")

    head = ["| command | runs | min ms | median ms | p90 ms | median peak RSS MiB | max peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    table = "\n".join(head + [row(t) for t in ("guardianflow", "python")])
    floors = [t for t in order if t not in ("guardianflow", "python")]
    floor_table = "\n".join(head + [row(t) for t in floors]) if floors else ""
    verdict = (
        f"- Speed-up (Python median / guardianflow median): **{speedup:.1f}x** "
        f"(target at least {SPEEDUP_TARGET:.0f}x): **{'met' if speed_ok else 'NOT met'}**\n"
        f"- guardianflow peak RSS: median {gf['rss']:.1f} MiB, max {gf['rss_max']:.1f} MiB over {gf['n']} runs "
        f"(target under {RSS_TARGET_MIB:.0f} MiB, judged on the max): **{'met' if rss_ok else 'NOT met'}**"
    )

    print(table)
    print()
    if floor_table:
        print(floor_table)
        print()
    print(verdict)

    section = f"""{SECTION}

Measured {meta['date']} with `bench/list-models.sh` (N={meta['n']} runs of each, alternating).

- Machine: {meta['nproc']} CPUs, {meta['cpu']}, {meta['mem']} RAM; {meta['os']};
  load average {meta['load_before']} before, {meta['load_after']} after
- MLflow {meta['mlflow']} (server and Python client, Python {meta['python']});
  guardianflow {meta['guardianflow']} (release build `{meta['binary']}`, built {meta['built']})
- Server: `mlflow server --workers 1`, SQLite backend, `--artifacts-destination` in a temp dir,
  on 127.0.0.1, seeded with {meta['models']} registered models x {meta['versions']} versions,
  aliases champion and candidate. Both clients get the same environment
  (`MLFLOW_TRACKING_URI` only, telemetry off) and list the same {meta['models']} models with the
  same aliases (checked before timing; those checks double as a warm-up).

{table}

{verdict}

Each run is a fresh process. Wall time is taken by the script around `/usr/bin/time -f '%e %M'`
(bash `$EPOCHREALTIME`, so it includes ~1 ms of starting `/usr/bin/time`); peak RSS is
`/usr/bin/time`'s `%M` (the child's `ru_maxrss`), in MiB. p90 is nearest-rank. Floors, for
context (same method, {meta['floor_n']} runs each):

{floor_table}

Rerun: `bench/list-models.sh` (`N=50 bench/list-models.sh` for more runs; raw samples and the
server log land in `bench/out/list-models/`). It rewrites this section.
"""
    if os.path.exists(md_path):
        with open(md_path) as f:
            text = f.read()
        start = text.find(SECTION)
        if start >= 0:
            end = text.find("\n## ", start + len(SECTION))
            text = text[:start] + section + ("" if end < 0 else text[end:])
        else:
            text = text.rstrip("\n") + "\n\n" + section
    else:
        text = ("# Benchmarks\n\nFigures from the scripts in `bench/`; each section says how to rerun it.\n\n"
                + section)
    with open(md_path, "w") as f:
        f.write(text)
    if not (speed_ok and rss_ok):
        print("targets not met (see above)", file=sys.stderr)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {
        "free-port": free_port, "wait": wait, "seed": seed, "python-models": python_models,
        "guardianflow-models": guardianflow_models, "compare": compare, "report": report,
    }[command](*args)
