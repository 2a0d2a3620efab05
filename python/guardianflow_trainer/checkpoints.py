"""What `guardianflow import` needs from a run's checkpoints, read without building the model.

    python -m guardianflow_trainer.checkpoints PATH.pt [PATH.pt ...]

prints one JSON object per path on stdout, in order:

    {"path", "ok": true, "epoch", "date", "version", "has_optimizer", "best_fitness",
     "stopper_best_epoch", "train_args"}            or {"path", "ok": false, "error"}

`epoch` is -1 for a checkpoint whose optimizer was stripped at the end of a training;
`train_args` is the checkpoint's dict of training arguments (ultralytics), or its `opt`
(YOLOv5), with values that JSON can hold; `date` is the ISO date the checkpoint was written.

Classes that are not torch's, Python's or numpy's (the model's own: ultralytics, YOLOv5's
`models.yolo`) are read as empty stand-ins, so a YOLOv5 checkpoint reads without YOLOv5 installed
and an ultralytics one without importing ultralytics.
"""

from __future__ import annotations

import json
import math
import pickle
import sys
import types
from typing import Any

_REAL_MODULES = ("torch", "collections", "builtins", "copyreg", "_codecs", "numpy", "datetime", "pathlib", "argparse", "types")


class _StandIn:
    """Any object of a class that is not read for real: accepts every construction and state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)

    def __call__(self, *args: Any, **kwargs: Any) -> "_StandIn":
        return _StandIn()


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] in _REAL_MODULES:
            try:
                return super().find_class(module, name)
            except (ImportError, AttributeError):
                pass
        return type(name, (_StandIn,), {"__module__": "guardianflow_standin." + module})


_pickle_module = types.ModuleType("guardianflow_pickle")
_pickle_module.__dict__.update({k: getattr(pickle, k) for k in dir(pickle) if not k.startswith("__")})
_pickle_module.Unpickler = _Unpickler  # type: ignore[attr-defined]


def _plain(value: Any, depth: int = 0) -> Any:
    """A value JSON can hold: numbers, strings, booleans, None, lists and dicts of them."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth < 4 and isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if depth < 4 and isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if hasattr(value, "item"):
        try:
            return _plain(value.item(), depth + 1)
        except Exception:
            pass
    if isinstance(value, _StandIn) and depth < 4:
        return {str(k): _plain(v, depth + 1) for k, v in vars(value).items()}
    return str(value)


def read(path: str) -> dict[str, Any]:
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", pickle_module=_pickle_module, weights_only=False)
    except Exception as error:  # a truncated or foreign file: reported, the run is skipped
        return {"path": path, "ok": False, "error": f"{type(error).__name__}: {error}"}
    if not isinstance(ckpt, dict):
        return {"path": path, "ok": False, "error": f"not a training checkpoint (a {type(ckpt).__name__}, not a dict)"}
    args = ckpt.get("train_args")
    if args is None:
        args = ckpt.get("opt")  # YOLOv5
    if args is not None and not isinstance(args, dict):
        args = vars(args) if hasattr(args, "__dict__") else None
    stopper = ckpt.get("stopper") if isinstance(ckpt.get("stopper"), dict) else {}
    epoch = ckpt.get("epoch")
    return {
        "path": path,
        "ok": True,
        "epoch": int(epoch) if isinstance(epoch, int) else None,
        "date": ckpt.get("date") if isinstance(ckpt.get("date"), str) else None,
        "version": ckpt.get("version") if isinstance(ckpt.get("version"), str) else None,
        "has_optimizer": ckpt.get("optimizer") is not None,
        "best_fitness": _plain(ckpt.get("best_fitness")),
        "stopper_best_epoch": _plain(stopper.get("best_epoch")),
        "train_args": _plain(args) if args is not None else None,
    }


def main(argv: list[str] | None = None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    for path in paths:
        print(json.dumps(read(path)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
