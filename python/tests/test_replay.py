"""Tests for recording a training and replaying it (guardianflow_trainer.record / .replay).

One real tiny training is recorded (yolov8n.yaml from scratch, imgsz 64, 2 epochs, CPU, on a copy of
examples/ppe-sample); the replays themselves take well under a second each. Replays run through
their own entry point, ``python -m guardianflow_trainer.replay --recording DIR --delay S --job FILE``;
the bridge (``python -m guardianflow_trainer``) never replays, whatever its environment says.

    .venv/bin/python -m pytest python/tests/test_replay.py -q
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO / "python"
SAMPLE = REPO / "examples" / "ppe-sample"

sys.path.insert(0, str(PYTHON_DIR))
from guardianflow_trainer import replay as replay_mod  # noqa: E402  (stdlib-only import)

# What the bridge once read to replay instead of training; it must now ignore them.
OLD_REPLAY_ENV = "GUARDIANFLOW_TRAINER_REPLAY"
OLD_DELAY_ENV = "GUARDIANFLOW_TRAINER_REPLAY_DELAY"


def parse_events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def child_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "YOLO_", "MLFLOW_", "GUARDIANFLOW_"))}
    env.update(PYTHONPATH=str(PYTHON_DIR), OMP_NUM_THREADS="1", YOLO_OFFLINE="1")
    env.update(extra)
    return env


def job_for(tmp: Path, data: Path, project: Path, name: str, **over) -> dict:
    job = {
        "model": "yolov8n.yaml", "data": str(data), "epochs": 2, "batch": 8, "imgsz": 64, "device": "cpu",
        "project": str(project), "name": name, "workers": 0, "resume": None, "seed": 0, "args": {},
    }
    job.update(over)
    return job


def write_job(path: Path, job: dict) -> Path:
    path.write_text(json.dumps(job))
    return path


def replay_command(job_file: Path, recording: Path, delay: str = "0") -> list[str]:
    return [sys.executable, "-m", "guardianflow_trainer.replay", "--recording", str(recording), f"--delay={delay}",
            "--job", str(job_file)]


def start_replay(job_file: Path, recording: Path, cwd: Path, delay: str = "0", **env) -> subprocess.Popen:
    return subprocess.Popen(
        replay_command(job_file, recording, delay),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=child_env(**env),
    )


def run_replay(job_file: Path, recording: Path, cwd: Path, delay: str = "0", **env):
    proc = start_replay(job_file, recording, cwd, delay, **env)
    out, err = proc.communicate(timeout=60)
    return proc, out, err


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A real 2-epoch training, recorded; its job on stdin."""
    tmp = tmp_path_factory.mktemp("record")
    shutil.copytree(SAMPLE, tmp / "ppe-sample", ignore=shutil.ignore_patterns("*.cache"))
    data = tmp / "ppe-sample" / "data.yaml"
    job = job_for(tmp, data, tmp / "runs", "recorded")
    rec = tmp / "rec"
    proc = subprocess.run(
        [sys.executable, "-m", "guardianflow_trainer.record", "--job", "-", "--out", str(rec)],
        input=json.dumps(job), capture_output=True, text=True, cwd=tmp, env=child_env(), timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {"tmp": tmp, "data": data, "job": job, "rec": rec, "proc": proc, "events": parse_events(proc.stdout)}


def normalize(ev: dict, save_dir: str, project: str, name: str) -> dict:
    """An event with this run's own places and pid blanked out, for comparing two runs."""
    ev = replay_mod.rewrite_paths(ev, save_dir, "<SAVE_DIR>")
    if ev["event"] == "started":
        ev["pid"] = 0
        ev["args"] = dict(ev["args"], project="<PROJECT>" if ev["args"].get("project") == project else ev["args"].get("project"),
                          name="<NAME>" if ev["args"].get("name") == name else ev["args"].get("name"))
    return ev


# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------
def test_record_emits_events_and_keeps_them_and_the_files(recording):
    rec, proc, events = recording["rec"], recording["proc"], recording["events"]
    assert [e["event"] for e in events] == ["started", "epoch", "epoch", "finished"]
    # events.jsonl is the event channel, byte for byte
    assert (rec / "events.jsonl").read_text() == proc.stdout
    files = rec / "files"
    for name in ("weights/best.pt", "weights/last.pt", "results.csv", "args.yaml"):
        assert (files / name).is_file(), name
    assert list(files.glob("*.png")) and list(files.glob("*.jpg"))
    assert not list(files.rglob("*.cache"))
    save_dir = Path(events[-1]["save_dir"])
    assert (files / "weights/best.pt").read_bytes() == (save_dir / "weights/best.pt").read_bytes()
    assert json.loads((rec / "job.json").read_text()) == recording["job"]


# ---------------------------------------------------------------------------------------------
# Replay
# ---------------------------------------------------------------------------------------------
def test_replay_moves_every_path_to_the_jobs_save_dir(recording, tmp_path):
    project, name = tmp_path / "elsewhere", "replayed"
    job_file = write_job(tmp_path / "job.json", job_for(tmp_path, recording["data"], project, name))
    proc, out, err = run_replay(job_file, recording["rec"], tmp_path, delay="0.01")
    assert proc.returncode == 0, err
    events = parse_events(out)
    recorded = recording["events"]
    new_dir = str((project / name).resolve())
    old_dir = recorded[0]["save_dir"]

    assert [e["event"] for e in events] == [e["event"] for e in recorded]
    started, finished = events[0], events[-1]
    assert started["pid"] == proc.pid
    assert started["save_dir"] == new_dir and started["args"]["save_dir"] == new_dir
    assert started["args"]["project"] == str(project.resolve()) and started["args"]["name"] == name
    assert finished["save_dir"] == new_dir
    for key in ("best", "last", "results_csv", "args_yaml"):
        assert finished[key].startswith(new_dir + os.sep), (key, finished[key])
        assert Path(finished[key]).is_file(), key
    assert old_dir not in out, "a recorded path leaked into the replay"

    # Everything else is as recorded.
    old_project, old_name = str(Path(old_dir).parent), Path(old_dir).name
    assert [normalize(e, new_dir, str(project.resolve()), name) for e in events] == [
        normalize(e, old_dir, old_project, old_name) for e in recorded
    ]

    # Every recorded file is in the new save dir; args.yaml names the new places.
    files = recording["rec"] / "files"
    for src in (p for p in files.rglob("*") if p.is_file()):
        dst = Path(new_dir) / src.relative_to(files)
        assert dst.is_file(), dst
        if src.name != "args.yaml":
            assert dst.read_bytes() == src.read_bytes(), dst
    import yaml

    args = yaml.safe_load(Path(finished["args_yaml"]).read_text())
    assert args["save_dir"] == new_dir and args["name"] == name and args["project"] == str(project.resolve())
    assert args["epochs"] == 2 and args["imgsz"] == 64
    assert not list(Path(new_dir).rglob(".*.replay-*")), "temporary copies left behind"
    assert "replaying" in err


def test_replay_does_not_import_torch_and_starts_fast(recording, tmp_path):
    job_file = write_job(tmp_path / "job.json", job_for(tmp_path, recording["data"], tmp_path / "runs", "r"))
    probe = (
        "import json, sys\n"
        "from guardianflow_trainer import replay\n"
        f"rc = replay.main(['--recording', {str(recording['rec'])!r}, '--delay', '0', '--job', {str(job_file)!r}])\n"
        "heavy = sorted(m for m in ('torch', 'ultralytics', 'numpy', 'cv2') if m in sys.modules)\n"
        "sys.stderr.write('\\nPROBE ' + json.dumps({'rc': rc, 'heavy': heavy}) + '\\n')\n"
    )
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env=child_env())
    elapsed = time.monotonic() - t0
    result = json.loads(proc.stderr.split("PROBE ", 1)[1])
    assert result == {"rc": 0, "heavy": []}, proc.stderr
    assert [e["event"] for e in parse_events(proc.stdout)] == ["started", "epoch", "epoch", "finished"]
    assert elapsed < 10, f"a replay took {elapsed:.1f} s"  # typically ~0.1 s; torch alone takes seconds


def test_replay_delay_paces_the_events(recording, tmp_path):
    job_file = write_job(tmp_path / "job.json", job_for(tmp_path, recording["data"], tmp_path / "runs", "r"))
    t0 = time.monotonic()
    proc, out, err = run_replay(job_file, recording["rec"], tmp_path, delay="0.3")
    assert proc.returncode == 0, err
    assert len(parse_events(out)) == 4
    assert time.monotonic() - t0 >= 3 * 0.3  # before each event after `started`


def test_replay_dies_on_sigterm_like_the_bridge(recording, tmp_path):
    job_file = write_job(tmp_path / "job.json", job_for(tmp_path, recording["data"], tmp_path / "runs", "r"))
    proc = start_replay(job_file, recording["rec"], tmp_path, delay="30")
    try:
        first = json.loads(proc.stdout.readline())
        assert first["event"] == "started" and first["pid"] == proc.pid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == -signal.SIGTERM
        assert proc.stdout.read() == ""  # nothing after `started`
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    # It was stopped before the first epoch: only args.yaml reached the save dir.
    assert (tmp_path / "runs" / "r" / "args.yaml").is_file()
    assert not (tmp_path / "runs" / "r" / "weights").exists()


def test_replay_exits_when_its_parent_is_gone(recording, tmp_path):
    job_file = write_job(tmp_path / "job.json", job_for(tmp_path, recording["data"], tmp_path / "runs", "r"))
    # GUARDIANFLOW_PARENT_PID names another process: the parent died before the child was ready.
    proc, out, _ = run_replay(job_file, recording["rec"], tmp_path, GUARDIANFLOW_PARENT_PID="1")
    assert proc.returncode == 143 and out == ""


# ---------------------------------------------------------------------------------------------
# Replay errors (no training needed)
# ---------------------------------------------------------------------------------------------
def test_replay_of_a_missing_recording_is_a_config_error(tmp_path):
    job_file = write_job(tmp_path / "job.json", job_for(tmp_path, SAMPLE / "data.yaml", tmp_path / "runs", "r"))
    proc, out, _ = run_replay(job_file, tmp_path / "no-such-recording", tmp_path)
    assert proc.returncode == 1
    (err,) = parse_events(out)
    assert err["event"] == "error" and err["kind"] == "config" and "events.jsonl" in err["message"]


def test_replay_of_a_recorded_error_fails_the_same_way(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    recorded = {"event": "error", "kind": "oom", "message": "CUDA out of memory", "exception": "OutOfMemoryError",
                "phase": "train", "traceback": "Traceback ..."}
    (rec / "events.jsonl").write_text(json.dumps(recorded) + "\n")
    job_file = write_job(tmp_path / "job.json", job_for(tmp_path, SAMPLE / "data.yaml", tmp_path / "runs", "r"))
    proc, out, _ = run_replay(job_file, rec, tmp_path)
    assert proc.returncode == 1
    assert parse_events(out) == [recorded]


@pytest.mark.parametrize("delay", ["abc", "-1", "nan"])
def test_replay_rejects_a_bad_delay(tmp_path, delay):
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "events.jsonl").write_text('{"event":"started","pid":1,"save_dir":"/x"}\n')
    job_file = write_job(tmp_path / "job.json", job_for(tmp_path, SAMPLE / "data.yaml", tmp_path / "runs", "r"))
    proc, out, _ = run_replay(job_file, rec, tmp_path, delay=delay)
    assert proc.returncode == 1
    (err,) = parse_events(out)
    assert err["kind"] == "config" and "--delay" in err["message"]


def test_rewrite_paths_only_moves_paths_under_the_save_dir():
    ev = {"a": "/r/exp", "b": "/r/exp/weights/best.pt", "c": "/r/exp2/x", "d": ["/r/exp/y", 3, None], "e": "exp"}
    assert replay_mod.rewrite_paths(ev, "/r/exp", "/n/new") == {
        "a": "/n/new", "b": "/n/new/weights/best.pt", "c": "/r/exp2/x", "d": ["/n/new/y", 3, None], "e": "exp",
    }


def test_rewrite_args_yaml():
    text = "task: detect\nname: exp\ndata: /old/data.yaml\nsave_dir: /old/runs/exp\nnames_x: 1\n"
    out = replay_mod.rewrite_args_yaml(text, {"name": "new", "save_dir": "/new/runs/new", "data": "/d.yaml"})
    assert out == 'task: detect\nname: "new"\ndata: "/d.yaml"\nsave_dir: "/new/runs/new"\nnames_x: 1\n'


# ---------------------------------------------------------------------------------------------
# The bridge never replays
# ---------------------------------------------------------------------------------------------
def test_the_bridge_ignores_the_old_replay_variables(tmp_path):
    """`python -m guardianflow_trainer` is what guardianflow runs for a user: a replay variable in
    the environment must not turn a training into a replay (a fake model registered as the
    candidate). The recording here would replay as a success; the job's weights do not exist, so
    a real run -- the only kind the bridge does -- fails with a model error before training."""
    rec = tmp_path / "rec"
    rec.mkdir()
    recorded = [
        {"event": "started", "pid": 1, "save_dir": "/recorded/exp", "epochs": 1, "args": {"save_dir": "/recorded/exp"}},
        {"event": "finished", "save_dir": "/recorded/exp", "best": None, "last": None, "epochs_completed": 1,
         "best_metrics": {"metrics/mAP50(B)": 0.99}, "speed_ms": {}, "results_csv": None, "args_yaml": None},
    ]
    (rec / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in recorded))
    missing = tmp_path / "no-such-weights.pt"
    job_file = write_job(tmp_path / "job.json",
                         job_for(tmp_path, SAMPLE / "data.yaml", tmp_path / "runs", "r", model=str(missing)))
    proc = subprocess.run(
        [sys.executable, "-m", "guardianflow_trainer", "--job", str(job_file)], capture_output=True, text=True,
        cwd=tmp_path, timeout=120, env=child_env(**{OLD_REPLAY_ENV: str(rec), OLD_DELAY_ENV: "0"}),
    )
    events = parse_events(proc.stdout)
    assert "replaying" not in proc.stderr, proc.stderr[-2000:]
    assert [e["event"] for e in events] == ["error"], events
    assert events[0]["kind"] == "model" and str(missing) in events[0]["message"], events[0]
    assert proc.returncode == 1
    assert not (tmp_path / "runs" / "r").exists()


def test_the_replay_entry_point_needs_a_recording(tmp_path):
    job_file = write_job(tmp_path / "job.json", job_for(tmp_path, SAMPLE / "data.yaml", tmp_path / "runs", "r"))
    proc = subprocess.run([sys.executable, "-m", "guardianflow_trainer.replay", "--job", str(job_file)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60, env=child_env())
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--recording" in proc.stderr
