"""Run one ultralytics YOLO training job and report structured events.

    python -m guardianflow_trainer --job JOB.json
    python -m guardianflow_trainer --job -          # job JSON on stdin

Event channel
    Events are JSON objects, one per line, written only to the process's *original* stdout. At
    start-up fd 1 is duplicated to a private (close-on-exec) fd and fd 2 is dup2'ed onto fd 1, so
    every other print -- ultralytics' logger, torch, tqdm, subprocesses -- lands on stderr. Each
    line is flushed as soon as it is written. NaN/inf become null; the output is pure ASCII JSON.

    {"event":"started","pid","save_dir","ultralytics","torch","device","device_uuid","devices","epochs",
     "start_epoch","batch","resume","args"}                          device_uuid: "GPU-..." or null
                                     devices: [{"device":"cuda:N","uuid"}] for every GPU it trains on
    {"event":"epoch","epoch","epochs","time","metrics","lr"}          one per epoch, 1-based
    {"event":"finished","save_dir","best","last","epochs_completed","best_metrics","speed_ms",
     "results_csv","args_yaml"}      best_metrics: best.pt's final evaluation and the train/ losses
                                     of the epoch it comes from
    {"event":"error","kind":"oom|dataset|model|config|other","message","traceback"}   then exit 1

Job JSON
    model    "yolov8n.yaml" (an ultralytics model config name) or a path to a .yaml/.pt file
    data     path to the dataset YAML (must exist; dataset names are never resolved/downloaded)
    epochs, batch, imgsz, device (str|null), workers (int|null), seed (int|null)
    project, name    save_dir = abspath(project)/name, exist_ok=True
    resume   null, or the path of a last.pt to continue with ultralytics' own resume
    args     dict of extra ultralytics train overrides, e.g. {"lr0": 0.01, "plots": false}

Multi-GPU (DDP)
    With a device list ("0,1"), ultralytics trains in `torch.distributed.run` workers, not in this
    process; the callbacks travel to them pickled and send their events back through a Unix socket
    this process relays (guardianflow_trainer.relay). The events are the same; `device` is
    "cuda:0,1" and `devices` names each GPU.

Replay (tests only)
    This entry point always trains; nothing in the environment makes it replay. A recording made
    by `python -m guardianflow_trainer.record` is played back only by its own entry point,
    `python -m guardianflow_trainer.replay --recording DIR --job JOB.json` (see
    guardianflow_trainer.replay), which uses this module's public helpers; this module never
    imports it.

Isolation
    The child never logs to MLflow (or any tracker): MLFLOW_* and ULTRALYTICS_API_KEY are removed
    from the environment, YOLO_OFFLINE=1 and a private YOLO_CONFIG_DIR are set when absent, and
    ultralytics' integration settings are switched off before training. Nothing is downloaded at
    runtime: model .pt files and the data YAML must exist locally, the dataset YAML's `download:`
    hook is disabled, ultralytics' safe_download refuses remote URLs (so the CUDA AMP self-check
    is skipped unless yolo26n.pt is already in WEIGHTS_DIR) and plot fonts are looked up locally.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path, PurePath
from typing import Any, Callable

from .relay import EventRelay, RelayChannel, RelayedFailure, device_count, encode_event

ERROR_KINDS = ("oom", "dataset", "model", "config", "other")

# Ultralytics settings keys that enable an integration / network sync. Only keys the installed
# version knows are touched (8.4.190 has no `hub` or `neptune` key; unknown keys raise KeyError).
_TRACKER_SETTINGS = (
    "mlflow", "wandb", "tensorboard", "comet", "clearml", "dvc", "hub", "neptune", "raytune", "sync",
)

_JOB_FIELDS = {
    "model", "data", "epochs", "batch", "imgsz", "device", "project", "name", "workers", "resume", "seed", "args",
}
# Keys `args` may not set: they are either job fields or owned by the bridge.
_RESERVED_ARGS = (_JOB_FIELDS - {"args"}) | {"exist_ok", "save_dir", "mode"}


# --------------------------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------------------------
def json_safe(value: Any) -> Any:
    """Convert `value` to plain JSON types: NaN/inf -> None, Path -> str, numpy/torch -> python."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from undecodable file names
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, PurePath):
        return json_safe(str(value))
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars/arrays, torch tensors
        try:
            return json_safe(value.tolist())
        except Exception:
            pass
    if hasattr(value, "item"):
        try:
            return json_safe(value.item())
        except Exception:
            pass
    return json_safe(str(value))


def _device_uuid(device: Any) -> str | None:
    """The CUDA device's UUID as NVML writes it ("GPU-..."), so the parent's NVML sampler finds the
    very GPU torch uses whatever CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER say; None on CPU."""
    try:
        import torch

        if getattr(device, "type", None) != "cuda" or not torch.cuda.is_available():
            return None
        uuid = getattr(torch.cuda.get_device_properties(device), "uuid", None)
        if uuid is None:
            return None
        text = str(uuid)
        return text if text.startswith(("GPU-", "MIG-")) else "GPU-" + text
    except Exception:  # noqa: BLE001 - the UUID only sharpens the GPU metrics; never fail a run for it
        return None


def _metric_dict(d: Any) -> dict[str, Any]:
    """Metrics as {name: float|None}, from a dict (or None)."""
    out: dict[str, Any] = {}
    for k, v in dict(d or {}).items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            out[str(k)] = json_safe(v)
            continue
        out[str(k)] = f if math.isfinite(f) else None
    return out


class EventChannel:
    """Owns the original stdout; everything else written to fd 1 afterwards goes to stderr.

    `tee`: a file that also gets every event line, exactly as emitted (the recorder's events.jsonl).
    """

    def __init__(self, tee: str | os.PathLike | None = None) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        fd = os.dup(1)  # private copy of the original stdout (non-inheritable, close-on-exec)
        os.dup2(2, 1)  # fd 1 -> stderr, for this process and every child it spawns
        self._file = os.fdopen(fd, "w", encoding="ascii", newline="\n", buffering=1)
        self._tee = open(tee, "w", encoding="ascii", newline="\n", buffering=1) if tee is not None else None
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        self.emit_line(encode_event(event, fields))

    def emit_line(self, line: str) -> None:
        """An event line already encoded (a DDP worker's, relayed)."""
        with self._lock:
            if self._tee is not None:
                self._tee.write(line + "\n")
                self._tee.flush()
            self._file.write(line + "\n")
            self._file.flush()

    def close_tee(self) -> None:
        with self._lock:
            if self._tee is not None:
                self._tee.close()
                self._tee = None


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------
class BridgeError(Exception):
    """An error the bridge detected itself, with its kind already decided."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """ultralytics colours its messages (colorstr); events carry plain text."""
    return _ANSI.sub("", text)


def _chain(exc: BaseException) -> list[BaseException]:
    seen, out = set(), []
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def _raised_in_ultralytics_data(exc: BaseException) -> bool:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return bool(last) and f"{os.sep}ultralytics{os.sep}data{os.sep}" in last


_DATASET_TEXT = (
    "Dataset '", "images not found", "Error loading data from", "No images found", "No labels found",
    "No valid images found", "key missing", "Image Not Found",
)
_CONFIG_TEXT = (
    "is not a valid YOLO argument", "is an invalid value", "is of invalid type", "must not be None",
    "Invalid CUDA 'device=", "nothing to resume",
)


def classify(exc: BaseException, phase: str) -> str:
    """Map an exception raised while in `phase` to one of ERROR_KINDS."""
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, BridgeError):
            return e.kind
    texts = [str(e) for e in chain]
    for e, t in zip(chain, texts):
        if type(e).__name__ == "OutOfMemoryError" or "out of memory" in t.lower() or "CUBLAS_STATUS_ALLOC_FAILED" in t:
            return "oom"
    if any(s in t for t in texts for s in _DATASET_TEXT) or any(_raised_in_ultralytics_data(e) for e in chain):
        return "dataset"
    if phase == "model" or any("Resume checkpoint not found" in t for t in texts):
        return "model"
    if any(s in t for t in texts for s in _CONFIG_TEXT):
        return "config"
    if phase in ("job", "config") and isinstance(exc, (SyntaxError, KeyError, ValueError, TypeError, AssertionError)):
        return "config"
    return "other"


# --------------------------------------------------------------------------------------------
# Job
# --------------------------------------------------------------------------------------------
def load_job(spec: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if spec == "-" else Path(spec).read_text(encoding="utf-8")
    except OSError as e:
        raise BridgeError("config", f"cannot read job file {spec!r}: {e}") from e
    try:
        job = json.loads(text)
    except json.JSONDecodeError as e:
        raise BridgeError("config", f"job is not valid JSON: {e}") from e
    if not isinstance(job, dict):
        raise BridgeError("config", "job must be a JSON object")
    return validate_job(job)


def validate_job(job: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(job) - _JOB_FIELDS)
    if unknown:
        raise BridgeError("config", f"unknown job field(s) {unknown}; valid fields are {sorted(_JOB_FIELDS)}")
    job = {k: job.get(k) for k in _JOB_FIELDS}

    def check(key: str, types: tuple, required: bool = False) -> None:
        v = job[key]
        if v is None:
            if required:
                raise BridgeError("config", f"job field {key!r} is required")
            return
        if isinstance(v, bool) and bool not in types or not isinstance(v, types):
            names = "/".join(t.__name__ for t in types)
            raise BridgeError("config", f"job field {key!r} must be {names}, got {type(v).__name__}")

    resuming = job["resume"] is not None
    check("model", (str,), required=not resuming)
    check("data", (str,), required=not resuming)
    check("epochs", (int,), required=not resuming)
    check("batch", (int, float))
    check("imgsz", (int, list))
    check("device", (str, int))
    check("project", (str,))
    check("name", (str,))
    check("workers", (int,))
    check("resume", (str,))
    check("seed", (int,))
    check("args", (dict,))
    if job["device"] is not None:
        job["device"] = str(job["device"])
    job["args"] = dict(job["args"] or {})
    clash = sorted(k for k in job["args"] if k in _RESERVED_ARGS)
    if clash:
        raise BridgeError("config", f"'args' may not set {clash}: use the job field(s) instead")
    return job


def _resolve_model(model: str) -> str:
    p = Path(model).expanduser()
    suffix = p.suffix.lower()
    if suffix in (".yaml", ".yml"):
        # An existing file, or a bare ultralytics config name such as 'yolov8n.yaml'
        # (resolved from the installed package, never downloaded).
        if p.exists():
            return str(p.resolve())
        if p.parent != Path("."):
            raise BridgeError("model", f"model config not found: {model}")
        return model
    if suffix == ".pt":
        if not p.is_file():
            raise BridgeError("model", f"model weights not found: {model} (weights are never downloaded)")
        return str(p.resolve())
    raise BridgeError("model", f"model must be a .yaml/.yml config or a .pt file, got {model!r}")


def resolve_data(data: str) -> str:
    """The data YAML, absolute; a missing one is a dataset error (a name is never resolved)."""
    p = Path(data).expanduser()
    if not p.is_file():
        raise BridgeError("dataset", f"Dataset '{data}' error: data YAML not found")
    return str(p.resolve())


def build_train_kwargs(job: dict[str, Any]) -> dict[str, Any]:
    """ultralytics train() keyword arguments for `job`."""
    kw: dict[str, Any] = {}
    if job["resume"] is not None:
        # ultralytics' resume takes every argument from the checkpoint and only lets a few through
        # (imgsz, batch, device, workers, save_dir, plots, val, ...); pass just those.
        kw["resume"] = True
        if job["data"] is not None:
            kw["data"] = resolve_data(job["data"])
        for k in ("batch", "imgsz", "device", "workers"):
            if job[k] is not None:
                kw[k] = job[k]
        if job["project"] is not None and job["name"] is not None:
            kw["save_dir"] = str(Path(job["project"]).expanduser().resolve() / job["name"])
    else:
        kw["data"] = resolve_data(job["data"])
        kw["epochs"] = job["epochs"]
        for k in ("batch", "imgsz", "device", "workers", "seed", "name"):
            if job[k] is not None:
                kw[k] = job[k]
        if job["project"] is not None:
            # A relative project would be resolved against ultralytics' runs_dir setting, not the CWD.
            kw["project"] = str(Path(job["project"]).expanduser().resolve())
        kw["exist_ok"] = True
    kw.update(job["args"])
    return kw


# --------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------
def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask Linux to SIGTERM this process when guardianflow (its parent) dies, even by SIGKILL,
    so no trainer outlives it. GUARDIANFLOW_PARENT_PID guards the race where the parent died
    before the request was made. A DDP worker passes torchrun's pid: it goes when torchrun goes."""
    parent = str(parent_pid) if parent_pid is not None else os.environ.pop("GUARDIANFLOW_PARENT_PID", None)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except Exception:
        return
    if str(os.getppid()) != parent:
        os._exit(143)


def prepare_environment() -> None:
    """Must run before ultralytics is imported."""
    for key in list(os.environ):
        if key.startswith("MLFLOW_"):
            del os.environ[key]
    os.environ.pop("ULTRALYTICS_API_KEY", None)  # the Platform callback streams to ultralytics.com
    os.environ.setdefault("YOLO_OFFLINE", "1")
    if not os.environ.get("YOLO_CONFIG_DIR"):
        cfg_dir = tempfile.mkdtemp(prefix="guardianflow-yolo-")
        os.environ["YOLO_CONFIG_DIR"] = cfg_dir
        import atexit

        atexit.register(shutil.rmtree, cfg_dir, ignore_errors=True)


def configure_ultralytics() -> None:
    """Switch off every tracker / network integration and runtime downloads."""
    from ultralytics import settings

    off = {k: False for k in _TRACKER_SETTINGS if k in settings.defaults}
    off["api_key"] = ""
    settings.update(off)
    _disable_runtime_downloads()


def _disable_runtime_downloads() -> None:
    import functools
    import importlib

    # 1. A dataset YAML's `download:` field is executed (python/bash/URL) when val images are
    #    missing; never run it -- a missing split must surface as a dataset error instead.
    import ultralytics.data.utils as data_utils

    for mod_name in ("ultralytics.engine.trainer", "ultralytics.engine.validator"):
        mod = importlib.import_module(mod_name)
        if hasattr(mod, "check_det_dataset"):
            mod.check_det_dataset = functools.partial(data_utils.check_det_dataset, autodownload=False)

    # 2. Every ultralytics download goes through utils.downloads.safe_download (model weights via
    #    attempt_download_asset, the CUDA AMP self-check's yolo26n.pt, fonts, dataset zips). Refuse
    #    anything remote with ConnectionError -- the exception ultralytics already treats as "offline"
    #    (check_amp then skips its check and keeps amp=True). Local archives still unzip.
    import ultralytics.utils.downloads as downloads

    original_safe_download = downloads.safe_download

    def safe_download_local_only(url, *a, **k):
        if "://" not in str(url) and Path(str(url)).is_file():
            return original_safe_download(url, *a, **k)
        raise ConnectionError(f"guardianflow: runtime downloads are disabled, not fetching {url}")

    for name, mod in list(sys.modules.items()):
        if name.startswith("ultralytics") and getattr(mod, "safe_download", None) is original_safe_download:
            mod.safe_download = safe_download_local_only

    # 3. Plot annotations look up Arial.ttf and probe the network (requests.head) when it is missing;
    #    use only fonts already on disk (PIL falls back to its built-in font otherwise).
    import ultralytics.utils.plotting as plotting
    from ultralytics.utils import USER_CONFIG_DIR

    def check_font_local(font="Arial.ttf"):
        name = Path(font).name
        if (Path(USER_CONFIG_DIR) / name).exists():
            return Path(USER_CONFIG_DIR) / name
        try:
            from matplotlib import font_manager

            for f in font_manager.fontManager.ttflist:
                if font in f.fname and os.path.exists(f.fname):
                    return f.fname
        except Exception:
            pass
        return None

    # Every module that imported check_font by name (data/utils.py calls it for every dataset)
    # gets the local-only one, so no HEAD request to GitHub is ever made.
    import ultralytics.utils.checks as checks

    original_check_font = checks.check_font
    checks.check_font = check_font_local
    for name, mod in list(sys.modules.items()):
        if name.startswith("ultralytics") and getattr(mod, "check_font", None) is original_check_font:
            mod.check_font = check_font_local
    plotting.check_font = check_font_local


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def _gpus(trainer) -> list[dict[str, Any]]:
    """Every GPU the training uses, with its UUID: one, or each of a DDP device list ("0,1")."""
    device = trainer.device
    if getattr(device, "type", None) != "cuda":
        return []
    import torch

    spec = str(getattr(trainer.args, "device", "") or "").split(":", 1)[-1]
    indices = [int(p) for p in spec.split(",") if p.strip().isdigit()]
    if len(indices) < 2:
        indices = [device.index or 0]
    return [{"device": f"cuda:{i}", "uuid": _device_uuid(torch.device("cuda", i))} for i in indices]


class _Run:
    """Callback state for one training.

    With several GPUs it is pickled into ultralytics' DDP workers (see guardianflow_trainer.relay):
    there its events go through the relay, only rank 0 reports, it reports the end itself (the
    launcher's trainer never trains), and an uncaught exception in any rank becomes the error event.
    """

    def __init__(self, events: EventChannel, set_phase: Callable[[str], None]) -> None:
        self.events = events
        self.set_phase = set_phase
        # Where a DDP worker's copy sends its events; set by run_job before ultralytics pickles it.
        self.relay_address: str | None = None
        self.remote = False  # a DDP worker's copy
        self.quiet = False  # a DDP worker other than rank 0
        self.started = False
        self.emitted: list[int] = []
        self.in_final_eval = False
        self.best_metrics: dict[str, Any] | None = None
        # The training losses of the epoch best.pt comes from (the last one whose fitness was a
        # new best): the final evaluation re-measures best.pt's metrics, but not its training losses.
        self.best_epoch_losses: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        if self.relay_address is None:
            raise TypeError("the bridge's callbacks can go to another process only with an EventRelay to report to")
        state = dict(self.__dict__)
        state["events"] = None
        state["set_phase"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # In a DDP worker, as ultralytics' generated script loads the callbacks.
        self.__dict__.update(state)
        self.remote = True
        self.quiet = int(os.environ.get("RANK", "0")) > 0
        self.events = RelayChannel(self.relay_address)
        phase = ["setup"]
        self.set_phase = lambda p: phase.__setitem__(0, p)
        _report_uncaught(self.events, phase)
        die_with_parent(os.getppid())

    # on_pretrain_routine_start: the trainer exists (args/save_dir final); dataset checks follow.
    def on_pretrain_routine_start(self, trainer) -> None:
        if self.quiet:
            return
        self.set_phase("setup")
        original = trainer.final_eval

        def final_eval_marked(*a, **k):
            # final_eval() validates best.pt and fires on_fit_epoch_end once more (with
            # trainer.epoch temporarily incremented); flag it so it is not reported as an epoch.
            self.in_final_eval = True
            try:
                return original(*a, **k)
            finally:
                self.in_final_eval = False

        trainer.final_eval = final_eval_marked

    def on_pretrain_routine_end(self, trainer) -> None:
        self._emit_started(trainer)

    def on_train_start(self, trainer) -> None:
        self._emit_started(trainer)
        self.set_phase("train")

    def _emit_started(self, trainer) -> None:
        if self.started or self.quiet:
            return
        self.started = True
        import torch
        import ultralytics

        gpus = _gpus(trainer)
        device = str(trainer.device)
        if len(gpus) > 1:
            device = "cuda:" + ",".join(g["device"].split(":")[1] for g in gpus)
        self.events.emit(
            "started",
            pid=os.getpid(),
            save_dir=str(trainer.save_dir),
            ultralytics=ultralytics.__version__,
            torch=torch.__version__,
            device=device,
            device_uuid=gpus[0]["uuid"] if gpus else None,
            devices=gpus,
            epochs=int(trainer.epochs),
            start_epoch=int(trainer.start_epoch) + 1,
            batch=trainer.batch_size,
            resume=bool(getattr(trainer, "resume", False)),
            args=vars(trainer.args),
        )

    def on_fit_epoch_end(self, trainer) -> None:
        if self.quiet:  # ultralytics calls it in every DDP rank
            return
        epoch = int(trainer.epoch) + 1
        if self.in_final_eval or epoch in self.emitted:
            # Final validation of best.pt (ultralytics re-fires on_fit_epoch_end at epoch+1).
            self.best_metrics = _metric_dict(trainer.metrics)
            return
        metrics = {}
        if trainer.tloss is not None:
            metrics.update(trainer.label_loss_items(trainer.tloss, prefix="train"))
        metrics.update(trainer.metrics or {})
        fitness, best_fitness = getattr(trainer, "fitness", None), getattr(trainer, "best_fitness", None)
        if fitness is not None and best_fitness is not None and fitness == best_fitness:
            self.best_epoch_losses = {k: v for k, v in _metric_dict(metrics).items() if k.startswith("train/")}
        self.emitted.append(epoch)
        self.events.emit(
            "epoch",
            epoch=epoch,
            epochs=int(trainer.epochs),
            time=round(time.time() - trainer.train_time_start, 3),
            metrics=_metric_dict(metrics),
            lr=_metric_dict(getattr(trainer, "lr", {})),
        )

    def on_train_end(self, trainer) -> None:
        if self.quiet:
            return
        self.set_phase("final")
        if self.remote:
            # After the final evaluation, in rank 0: the only process that knows the results.
            self.finished(trainer)

    def finished(self, trainer) -> None:
        validator = getattr(trainer, "validator", None)
        speed = dict(getattr(validator, "speed", None) or {})
        best = Path(trainer.best) if trainer.best else None
        last = Path(trainer.last) if trainer.last else None
        if self.best_metrics is None and trainer.metrics:  # no best.pt -> no final eval
            self.best_metrics = {k: v for k, v in _metric_dict(trainer.metrics).items() if k != "fitness"}
        self.events.emit(
            "finished",
            save_dir=str(trainer.save_dir),
            best=str(best) if best and best.is_file() else None,
            last=str(last) if last and last.is_file() else None,
            epochs_completed=self.emitted[-1] if self.emitted else int(trainer.start_epoch),
            best_metrics={**self.best_epoch_losses, **(self.best_metrics or {})},
            speed_ms=_metric_dict(speed),
            results_csv=str(trainer.csv),
            args_yaml=str(Path(trainer.save_dir) / "args.yaml"),
        )


def run_job(job: dict[str, Any], events: EventChannel, set_phase: Callable[[str], None]) -> None:
    set_phase("model")
    from ultralytics import YOLO

    if job["resume"] is not None:
        path = Path(job["resume"]).expanduser()
        if not path.is_file():
            raise BridgeError("model", f"resume checkpoint not found: {job['resume']}")
        model = YOLO(str(path.resolve()))
        ckpt = getattr(model, "ckpt", None) or {}
        if ckpt.get("epoch", -1) < 0 or ckpt.get("optimizer") is None:
            # ultralytics would silently start a *new* training here; refuse instead.
            raise BridgeError(
                "config",
                f"{job['resume']} is not a resumable checkpoint (no epoch/optimizer state: "
                "training already finished or the weights were stripped)",
            )
    else:
        model = YOLO(_resolve_model(job["model"]))

    set_phase("config")
    kwargs = build_train_kwargs(job)
    run = _Run(events, set_phase)
    for name in ("on_pretrain_routine_start", "on_pretrain_routine_end", "on_train_start", "on_fit_epoch_end",
                 "on_train_end"):
        model.add_callback(name, getattr(run, name))
    if device_count(kwargs.get("device")) < 2:
        model.train(**kwargs)
        run.finished(model.trainer)
        return
    # Several GPUs: ultralytics trains in DDP workers that report through the relay.
    relay = EventRelay(events)
    run.relay_address = relay.address
    set_phase("train")
    relay.run(lambda: model.train(**kwargs))


def _report_uncaught(events: Any, phase: list[str]) -> None:
    """In a DDP worker: an exception nothing catches (ultralytics' script calls train() bare)
    becomes the error event, classified as in the bridge; a stop (KeyboardInterrupt) does not."""
    original = sys.excepthook

    def hook(kind, exc, tb):
        if not issubclass(kind, KeyboardInterrupt):
            try:
                text = strip_ansi("".join(traceback.format_exception(kind, exc, tb)))
                events.emit("error", kind=classify(exc, phase[0]), message=strip_ansi(str(exc)).strip() or kind.__name__,
                            exception=kind.__name__, phase=phase[0], traceback=text)
            except Exception:
                pass
        original(kind, exc, tb)

    sys.excepthook = hook


def report_failures(events: EventChannel, work: Callable[[Callable[[str], None]], int]) -> int:
    """Runs `work(set_phase)` and returns its exit status; any failure becomes an `error` event
    (its kind decided by `classify` from the exception and the phase last set) and status 1.
    KeyboardInterrupt is re-raised: SIGINT ends the process, it is never reported as an error."""
    phase = ["job"]

    def set_phase(p: str) -> None:
        phase[0] = p

    try:
        return work(set_phase)
    except KeyboardInterrupt:
        raise  # die by SIGINT (exit 130 / signal), never report it as an error event
    except RelayedFailure:
        return 1  # a DDP worker reported it already
    except BaseException as e:  # noqa: BLE001 - every failure must become an event
        if isinstance(e, SystemExit) and e.code in (0, None):
            raise
        kind = classify(e, phase[0])
        tb = traceback.format_exc()
        print(tb, file=sys.stderr, flush=True)
        try:
            events.emit("error", kind=kind, message=strip_ansi(str(e)).strip() or type(e).__name__,
                        exception=type(e).__name__, phase=phase[0], traceback=strip_ansi(tb))
        except Exception:
            pass
        return 1


def main(argv: list[str] | None = None, events: EventChannel | None = None) -> int:
    """`events`: a channel the caller made (the recorder's, with a tee); by default a new one.

    Always trains: no environment variable turns this into a replay (guardianflow_trainer.replay
    is a separate entry point, for tests)."""
    if events is None:
        events = EventChannel()  # first: claim the original stdout before anything can print
    parser = argparse.ArgumentParser(prog="python -m guardianflow_trainer", description=__doc__.split("\n")[0])
    parser.add_argument("--job", required=True, help="job JSON file, or '-' for stdin")
    ns = parser.parse_args(argv)  # usage errors go to stderr (fd 2), exit 2

    die_with_parent()

    def train(set_phase: Callable[[str], None]) -> int:
        job = load_job(ns.job)
        set_phase("env")
        prepare_environment()
        configure_ultralytics()
        run_job(job, events, set_phase)
        return 0

    return report_failures(events, train)


if __name__ == "__main__":
    sys.exit(main())
