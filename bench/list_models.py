"""Helper for bench/list-models.sh; none of this is timed. What the helpers share is in benchlib.py.

Subcommands:
  seed MODELS VERSIONS          create MODELS registered models with VERSIONS versions each and the
                                aliases champion (-> version 2) and candidate (-> the last one),
                                on the server in MLFLOW_TRACKING_URI
  python-models                 print {name: aliases} as the official client sees them (JSON)
  guardianflow-models FILE      the same, read from `guardianflow list models --json` output
  compare A B EXPECTED          fail unless both JSON files list the same EXPECTED model names
                                with the same aliases
  report SAMPLES MD META        print the markdown tables and write/replace the generated section in MD
"""

import json
import sys

from benchlib import FRESH_METHOD, describe, load, met, ms_table, read_samples, summary, write_section

SECTION = "## list models: guardianflow vs the MLflow Python client (issue 2)"
SPEEDUP_TARGET = 20.0
RSS_TARGET_MB = 30.0  # MB = 10^6 bytes; /usr/bin/time reports KiB


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


def report(samples_path: str, md_path: str, meta_path: str) -> None:
    meta = load(meta_path)
    runs = read_samples(samples_path)
    labels = {
        "guardianflow": "`guardianflow list models --json`",
        "python": "`MlflowClient().search_registered_models()` (fresh `python -c`)",
        "guardianflow-version": "floor: `guardianflow --version`",
        "python-pass": "floor: `python -c pass` (venv interpreter)",
        "python-import": "floor: `python -c 'from mlflow import MlflowClient'`",
    }
    s = {t: summary(runs[t]) for t in labels if t in runs}
    gf, py = s["guardianflow"], s["python"]
    speedup = py["median"] / gf["median"]
    speed_ok = speedup >= SPEEDUP_TARGET
    rss_max_mb = gf["rss_max"] * 2**20 / 1e6
    rss_ok = rss_max_mb < RSS_TARGET_MB

    table = ms_table(labels, s, ("guardianflow", "python"))
    floor_table = ms_table(labels, s, (t for t in s if t not in ("guardianflow", "python")))
    verdict = (
        f"- Speed-up (Python median / guardianflow median): **{speedup:.1f}x** "
        f"(target at least {SPEEDUP_TARGET:.0f}x): **{met(speed_ok)}**\n"
        f"- guardianflow peak RSS: median {gf['rss']:.1f} MiB, max {gf['rss_max']:.1f} MiB = {rss_max_mb:.1f} MB "
        f"over {gf['n']} runs (target under {RSS_TARGET_MB:.0f} MB, judged on the max): **{met(rss_ok)}** "
        f"(read as {RSS_TARGET_MB:.0f} MiB instead: {met(gf['rss_max'] < RSS_TARGET_MB)})"
    )

    print(table)
    print()
    if floor_table:
        print(floor_table)
        print()
    print(verdict)

    section = f"""{SECTION}

Measured {meta['date']} with `bench/list-models.sh` (N={meta['n']} runs of each, alternating).

{describe(meta)}
- Server: `mlflow server --workers 1`, SQLite backend, `--artifacts-destination` in a temp dir,
  on 127.0.0.1, seeded with {meta['models']} registered models x {meta['versions']} versions,
  aliases champion and candidate. Both clients get the same environment
  (`MLFLOW_TRACKING_URI` only, telemetry off) and list the same {meta['models']} models with the
  same aliases (checked before timing; those checks double as a warm-up).

{table}

{verdict}

{FRESH_METHOD}
Floors, for context (same method, {meta['floor_n']} runs each):

{floor_table}

Rerun: `bench/list-models.sh` (`N=50 bench/list-models.sh` for more runs; raw samples and the
server log land in `bench/out/list-models/`). It rewrites this section only.
"""
    write_section(md_path, "list-models.sh", section)
    if not (speed_ok and rss_ok):
        print("targets not met (see above)", file=sys.stderr)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {
        "seed": seed, "python-models": python_models,
        "guardianflow-models": guardianflow_models, "compare": compare, "report": report,
    }[command](*args)
