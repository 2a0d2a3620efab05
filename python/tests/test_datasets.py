"""Tests for guardianflow_trainer.datasets: where ultralytics finds a dataset given by name.

The resolution itself is checked without ultralytics; one call of the entry point checks a name
ultralytics does not know (the end-to-end cases, a built-in name found in datasets_dir and refused
when missing, are the Swift suite's FirstRunTests).

    .venv/bin/python -m pytest python/tests/test_datasets.py -q
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))
from guardianflow_trainer import datasets  # noqa: E402  (ultralytics is imported only when locating)


def test_relative_path_goes_under_datasets_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = datasets.dataset_root({"path": "coco8"}, tmp_path / "cfg" / "coco8.yaml", tmp_path / "datasets")
    assert root == (tmp_path / "datasets" / "coco8").resolve()


def test_relative_path_that_exists_here_is_used_as_ultralytics_does(tmp_path, monkeypatch):
    (tmp_path / "coco8").mkdir()
    monkeypatch.chdir(tmp_path)
    root = datasets.dataset_root({"path": "coco8"}, tmp_path / "cfg" / "coco8.yaml", tmp_path / "datasets")
    assert root == Path("coco8")


def test_no_path_means_the_yaml_folder(tmp_path):
    root = datasets.dataset_root({}, tmp_path / "ds" / "data.yaml", tmp_path / "datasets")
    assert root == tmp_path / "ds"


def test_split_folders_resolve_under_the_root(tmp_path):
    (tmp_path / "images" / "val").mkdir(parents=True)
    assert datasets.split_folders({"val": "images/val"}, tmp_path) == [tmp_path / "images" / "val"]
    assert datasets.split_folders({"val": ["a", "b"]}, tmp_path) == [tmp_path / "a", tmp_path / "b"]
    assert datasets.split_folders({}, tmp_path) == []


def test_an_unknown_name_exits_2_saying_so(tmp_path):
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(tmp_path / "cfg"), PYTHONPATH=str(REPO / "python"))
    done = subprocess.run(
        [sys.executable, "-m", "guardianflow_trainer.datasets", "--data", "no-such-dataset-xyz.yaml"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "not a dataset ultralytics knows" in done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
