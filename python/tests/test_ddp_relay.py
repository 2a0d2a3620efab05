"""Multi-GPU (DDP) trainings: the bridge's events come back from ultralytics' DDP workers.

Real parts: ultralytics' own `generate_ddp_command` (the worker script, the callbacks pickled with
cloudpickle), a real `torch.distributed.run` with two workers, the bridge's EventChannel, relay and
error reporting, in a launcher process that leads its group as guardianflow starts it. Stood in:
the training inside each worker (tests/ddp_standin.py), as there is no GPU here.

    .venv/bin/python -m pytest python/tests/test_ddp_relay.py -q
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO / "python"
TESTS_DIR = Path(__file__).resolve().parent

sys.path.insert(0, str(PYTHON_DIR))
from guardianflow_trainer import bridge  # noqa: E402
from guardianflow_trainer.relay import device_count  # noqa: E402

LAUNCHER = """
import subprocess, sys
sys.path[:0] = [{python_dir!r}, {tests_dir!r}]
from guardianflow_trainer import bridge
events = bridge.EventChannel()  # first, as in the bridge: every other print goes to stderr

from guardianflow_trainer.relay import EventRelay
from ultralytics.utils import dist
from ddp_standin import StandInDDPTrainer

def work(set_phase):
    run = bridge._Run(events, set_phase)
    relay = EventRelay(events)
    run.relay_address = relay.address
    names = ("on_pretrain_routine_start", "on_pretrain_routine_end", "on_train_start", "on_fit_epoch_end", "on_train_end")
    trainer = StandInDDPTrainer.launcher({overrides!r}, {{n: [getattr(run, n)] for n in names}})
    cmd, file = dist.generate_ddp_command(trainer)
    # What ultralytics' BaseTrainer.train does with it.
    relay.run(lambda: subprocess.run(cmd, check=True))
    return 0

sys.exit(bridge.report_failures(events, work))
"""


def launch(tmp_path: Path, mode: str) -> subprocess.Popen:
    overrides = {"save_dir": str(tmp_path / "run"), "epochs": 2, "batch": 8, "standin": mode}
    code = LAUNCHER.format(python_dir=str(PYTHON_DIR), tests_dir=str(TESTS_DIR), overrides=overrides)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MLFLOW_"))}
    env.update(YOLO_CONFIG_DIR=str(tmp_path / "yolo"), YOLO_OFFLINE="1", OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,  # leads its group, as guardianflow starts the bridge
    )


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_worker_events_reach_the_channel_once_each_from_rank_0(tmp_path):
    proc = launch(tmp_path, "ok")
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    events = events_of(out)
    assert [e["event"] for e in events] == ["started", "epoch", "epoch", "finished"], err[-3000:]
    started, first, second, finished = events
    worker_pid = started["pid"]
    assert worker_pid != proc.pid  # it came from a worker, not the launcher
    assert started["save_dir"] == str(tmp_path / "run")
    assert started["devices"] == []  # the stand-in trains on the CPU
    assert [first["epoch"], second["epoch"]] == [1, 2]
    assert second["metrics"]["metrics/mAP50-95(B)"] == pytest.approx(0.2)
    # The final evaluation is the end's best metrics, not a third epoch.
    assert finished["best_metrics"]["metrics/mAP50-95(B)"] == 0.5
    assert finished["best"] == str(tmp_path / "run" / "weights" / "best.pt")
    assert finished["epochs_completed"] == 2
    assert finished["speed_ms"] == {"inference": 1.5}
    # ultralytics' temp worker script and state are gone; so is the relay's socket directory.
    assert list((tmp_path / "yolo" / "DDP").glob("_temp_*")) == []


def test_an_error_in_a_worker_is_the_trainings_error_reported_once(tmp_path):
    proc = launch(tmp_path, "oom")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]
    events = events_of(out)
    errors = [e for e in events if e["event"] == "error"]
    assert len(errors) == 1, events  # not torchrun's exit status on top of it
    assert errors[0]["kind"] == "oom"
    assert "CUDA out of memory" in errors[0]["message"]
    assert [e["event"] for e in events] == ["started", "epoch", "error"]


def test_sigterm_to_the_bridge_alone_stops_torchrun_and_every_worker(tmp_path):
    # What the kernel sends when guardianflow dies (PR_SET_PDEATHSIG): to the bridge only.
    proc = launch(tmp_path, "hang")
    assert json.loads(proc.stdout.readline())["event"] == "started"  # once a worker runs
    assert json.loads(proc.stdout.readline())["event"] == "epoch"
    tree = _descendants(proc.pid)
    # torchrun and its two workers (which torch starts in sessions of their own).
    assert len(tree) >= 3, tree
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    deadline = time.time() + 40
    while _alive(tree) and time.time() < deadline:
        time.sleep(0.2)
    left = _alive(tree)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"still running after the bridge's SIGTERM: {left}"


def _stat(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()  # state, ppid, pgrp, ...


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            parents[int(entry)] = int(fields[1])
    found, frontier = [], {root}
    while frontier:
        children = {pid for pid, ppid in parents.items() if ppid in frontier}
        found += sorted(children)
        frontier = children
    return found


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if (fields := _stat(pid)) is not None and fields[0] != "Z"]


def test_callbacks_go_to_another_process_only_with_a_relay():
    run = bridge._Run(events=None, set_phase=lambda p: None)
    with pytest.raises(TypeError, match="EventRelay"):
        pickle.dumps(run.on_fit_epoch_end)


@pytest.mark.parametrize(
    "device,count", [(None, 1), ("cpu", 0), ("0", 1), ("cuda:0", 1), ("0,1", 2), ("cuda:0,1", 2), ("0,1,2,3", 4), ("0,", 1)]
)
def test_device_count(device, count):
    assert device_count(device) == count
