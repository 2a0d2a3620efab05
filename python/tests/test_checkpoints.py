"""Tests for the checkpoint reader `guardianflow import` uses (python -m guardianflow_trainer.checkpoints)."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))
from guardianflow_trainer import checkpoints  # noqa: E402


def _save_with_foreign_class(path: Path, **fields) -> None:
    """A checkpoint whose model is an instance of a class from a module that will not exist when
    it is read (YOLOv5's `models.yolo.Model`, with YOLOv5 not installed)."""
    module = types.ModuleType("models.yolo")

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 1)

    Model.__module__ = "models.yolo"
    Model.__qualname__ = "Model"
    module.Model = Model
    parent = types.ModuleType("models")
    parent.yolo = module
    sys.modules["models"], sys.modules["models.yolo"] = parent, module
    try:
        torch.save({"model": Model(), **fields}, path)
    finally:
        del sys.modules["models.yolo"], sys.modules["models"]


def test_yolov5_checkpoint_reads_without_yolov5(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    _save_with_foreign_class(path, epoch=4, optimizer={"state": {}}, best_fitness=0.5, date="2023-01-02T03:04:05.123456",
                             opt={"epochs": 10, "batch_size": 16, "hyp": {"lr0": 0.01}})
    info = checkpoints.read(str(path))
    assert info["ok"], info
    assert info["epoch"] == 4
    assert info["has_optimizer"] is True
    assert info["date"] == "2023-01-02T03:04:05.123456"
    assert info["train_args"] == {"epochs": 10, "batch_size": 16, "hyp": {"lr0": 0.01}}
    assert info["best_fitness"] == 0.5


def test_stripped_checkpoint_and_cli_output(tmp_path: Path) -> None:
    stripped = tmp_path / "best.pt"
    _save_with_foreign_class(stripped, epoch=-1, optimizer=None, date="2026-11-30T14:12:44+00:00", version="8.4.190",
                             train_args={"epochs": 2, "imgsz": 64, "time": None}, stopper={"best_epoch": 1})
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    out = subprocess.run([sys.executable, "-m", "guardianflow_trainer.checkpoints", str(stripped), str(garbage)], capture_output=True,
                         text=True, check=True, cwd=REPO / "python")
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    assert first["ok"] and first["epoch"] == -1 and first["has_optimizer"] is False and first["version"] == "8.4.190"
    assert first["train_args"] == {"epochs": 2, "imgsz": 64, "time": None}
    assert first["stopper_best_epoch"] == 1
    assert second["path"] == str(garbage) and second["ok"] is False and second["error"]
