"""Tests for the guardianflow trainer bridge (python -m guardianflow_trainer).

The end-to-end tests run real ultralytics trainings on CPU (yolov8n.yaml from scratch, imgsz 64,
on a copy of examples/ppe-sample); the whole file takes roughly 15-25 s.

    .venv/bin/python -m pytest python/tests -q
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO / "python"
SAMPLE = REPO / "examples" / "ppe-sample"

sys.path.insert(0, str(PYTHON_DIR))
from guardianflow_trainer import bridge  # noqa: E402  (stdlib-only import)

METRIC_KEYS = {
    "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
}
EPOCH_METRIC_KEYS = METRIC_KEYS | {
    "train/box_loss", "train/cls_loss", "train/dfl_loss", "val/box_loss", "val/cls_loss", "val/dfl_loss",
}


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name} on the event channel")


def parse_events(stdout: str) -> list[dict]:
    """Every stdout line must be one strict-JSON object (no NaN/Infinity)."""
    events = []
    for line in stdout.splitlines():
        ev = json.loads(line, parse_constant=_reject_constant)
        assert isinstance(ev, dict) and "event" in ev, line
        events.append(ev)
    return events


def child_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "YOLO_", "MLFLOW_"))}
    env.update(
        PYTHONPATH=str(PYTHON_DIR),
        OMP_NUM_THREADS="1",
        # The bridge must strip these and never create an MLflow run.
        MLFLOW_TRACKING_URI=(tmp / "mlruns").as_uri(),
        MLFLOW_EXPERIMENT_NAME="must-not-be-used",
    )
    return env


def run_bridge(job: dict, tmp: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "guardianflow_trainer", "--job", "-"],
        input=json.dumps(job), capture_output=True, text=True, cwd=tmp, env=child_env(tmp), timeout=timeout,
    )


def base_job(tmp: Path, data: Path, **over) -> dict:
    job = {
        "model": "yolov8n.yaml", "data": str(data), "epochs": 2, "batch": 8, "imgsz": 64, "device": "cpu",
        "project": str(tmp / "runs"), "name": "exp", "workers": 0, "resume": None, "seed": 0, "args": {},
    }
    job.update(over)
    return job


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A copy of the committed sample dataset (ultralytics writes label caches next to it)."""
    dst = tmp_path_factory.mktemp("data") / "ppe-sample"
    shutil.copytree(SAMPLE, dst, ignore=shutil.ignore_patterns("*.cache"))
    return dst / "data.yaml"


@pytest.fixture(scope="module")
def success_run(tmp_path_factory, dataset):
    tmp = tmp_path_factory.mktemp("train")
    proc = run_bridge(base_job(tmp, dataset), tmp)
    return tmp, proc, parse_events(proc.stdout)


# ---------------------------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------------------------
def test_success_exit_code_and_event_order(success_run):
    _, proc, events = success_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert [e["event"] for e in events] == ["started", "epoch", "epoch", "finished"]
    # final_eval re-fires on_fit_epoch_end: it must not become a third epoch event
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]


def test_started_event(success_run):
    tmp, _, events = success_run
    started = events[0]
    assert started["pid"] > 0
    assert started["save_dir"] == str((tmp / "runs" / "exp").resolve())
    assert started["ultralytics"] == "8.4.190"
    assert started["torch"]
    assert started["device"] == "cpu"
    assert started["device_uuid"] is None  # a GPU's "GPU-..." UUID only on CUDA
    assert started["epochs"] == 2 and started["start_epoch"] == 1 and started["resume"] is False
    args = started["args"]
    assert args["epochs"] == 2 and args["imgsz"] == 64 and args["batch"] == 8
    assert args["exist_ok"] is True and args["seed"] == 0
    assert args["save_dir"] == started["save_dir"]


def test_epoch_events(success_run):
    _, _, events = success_run
    for e in (e for e in events if e["event"] == "epoch"):
        assert e["epochs"] == 2
        assert isinstance(e["time"], float) and e["time"] >= 0
        assert EPOCH_METRIC_KEYS <= set(e["metrics"]), e["metrics"]
        assert set(e["lr"]) == {"lr/pg0", "lr/pg1", "lr/pg2"}
        for v in list(e["metrics"].values()) + list(e["lr"].values()):
            assert v is None or (isinstance(v, (int, float)) and math.isfinite(v))


def test_finished_event_and_save_dir(success_run):
    tmp, _, events = success_run
    fin = events[-1]
    save_dir = Path(fin["save_dir"])
    assert save_dir == (tmp / "runs" / "exp").resolve()
    assert Path(fin["best"]).is_file() and Path(fin["last"]).is_file()
    assert Path(fin["best"]).parent == save_dir / "weights"
    assert fin["epochs_completed"] == 2
    assert METRIC_KEYS <= set(fin["best_metrics"])
    assert set(fin["speed_ms"]) >= {"preprocess", "inference", "postprocess"}
    assert Path(fin["args_yaml"]).is_file()
    rows = Path(fin["results_csv"]).read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]


def test_no_mlflow_run_created(success_run):
    tmp, proc, _ = success_run
    assert not list(tmp.rglob("mlruns")), "the child must never log to MLflow"
    assert "mlflow" not in proc.stderr.lower()


def test_dataset_error_missing_train_dir(tmp_path, dataset):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"train: images/does-not-exist\nval: {dataset.parent / 'images' / 'val'}\nnames:\n  0: helmet\n  1: vest\n"
    )
    proc = run_bridge(base_job(tmp_path, bad, epochs=1), tmp_path)
    assert proc.returncode == 1
    events = parse_events(proc.stdout)
    assert [e["event"] for e in events] == ["error"], events
    err = events[0]
    assert err["kind"] == "dataset"
    assert "does-not-exist" in err["message"]
    assert "Traceback" in err["traceback"]
    assert "\x1b[" not in err["message"]


def test_dataset_error_missing_data_yaml(tmp_path):
    proc = run_bridge(base_job(tmp_path, tmp_path / "nope.yaml"), tmp_path)
    assert proc.returncode == 1
    (err,) = parse_events(proc.stdout)
    assert err["event"] == "error" and err["kind"] == "dataset"


def test_config_error_unknown_ultralytics_arg(tmp_path, dataset):
    proc = run_bridge(base_job(tmp_path, dataset, args={"not_an_arg": 1}), tmp_path)
    assert proc.returncode == 1
    (err,) = parse_events(proc.stdout)
    assert err["kind"] == "config" and "not_an_arg" in err["message"]


def test_model_error_missing_weights(tmp_path, dataset):
    proc = run_bridge(base_job(tmp_path, dataset, model="yolov8n.pt"), tmp_path)  # never downloaded
    assert proc.returncode == 1
    (err,) = parse_events(proc.stdout)
    assert err["kind"] == "model"


# ---------------------------------------------------------------------------------------------
# Units (no ultralytics import)
# ---------------------------------------------------------------------------------------------
def test_json_safe_replaces_non_finite_and_paths():
    obj = bridge.json_safe({"a": float("nan"), "b": float("inf"), "c": Path("/x"), "d": (1, 2.5), 3: None})
    assert obj == {"a": None, "b": None, "c": "/x", "d": [1, 2.5], "3": None}
    json.dumps(obj, allow_nan=False)


def test_validate_job_rejects_reserved_args():
    with pytest.raises(bridge.BridgeError) as e:
        bridge.validate_job({"model": "yolov8n.yaml", "data": "d.yaml", "epochs": 1, "args": {"epochs": 3}})
    assert e.value.kind == "config"


@pytest.mark.parametrize(
    ("exc", "phase", "kind"),
    [
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "train", "oom"),
        (RuntimeError("Dataset 'x.yaml' error ❌ 'train:' key missing ❌"), "setup", "dataset"),
        (FileNotFoundError("train: Error loading data from /x"), "setup", "dataset"),
        (FileNotFoundError("'yolov99.yaml' does not exist"), "model", "model"),
        (SyntaxError("'foo' is not a valid YOLO argument."), "config", "config"),
        (ValueError("something else"), "train", "other"),
    ],
)
def test_classify(exc, phase, kind):
    assert bridge.classify(exc, phase) == kind


def test_device_uuid_cpu_and_errors():
    import torch

    from guardianflow_trainer.bridge import _device_uuid

    assert _device_uuid(torch.device("cpu")) is None
    assert _device_uuid("not a device") is None  # never raises


def test_no_font_probe_reaches_the_network(monkeypatch, tmp_path):
    """ultralytics' check_font (called for every dataset) would HEAD github.com for Arial.ttf."""
    import subprocess
    import sys

    code = """
import requests, sys
def refuse(*a, **k):
    raise SystemExit('network: requests.' + str(a[:1]))
requests.head = refuse
requests.get = refuse
from guardianflow_trainer import bridge
bridge._disable_runtime_downloads()
import ultralytics.data.utils as du
import ultralytics.utils.checks as checks
assert du.check_font is checks.check_font, 'data/utils still holds the original'
print(du.check_font('Arial.ttf'), du.check_font('Arial.Unicode.ttf'))
"""
    env = dict(os.environ, YOLO_CONFIG_DIR=str(tmp_path), YOLO_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
