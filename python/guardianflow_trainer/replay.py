"""Play a recorded training back instead of training (tests only).

    python -m guardianflow_trainer.replay --recording DIR [--delay S] --job JOB.json
    python -m guardianflow_trainer.replay --recording DIR --job -       # job JSON on stdin

This is its own entry point: ``python -m guardianflow_trainer`` (what guardianflow runs) always
trains, whatever its environment says, so a user can never get a replayed model by accident. Tests
that want guardianflow itself to run a replay give it a stand-in ``python`` that runs this module
instead of ``-m guardianflow_trainer`` (Tests/TestSupport/ReplayingPython.swift).

DIR is a recording made by ``python -m guardianflow_trainer.record`` (see that module for its
layout). The replay then neither imports ultralytics nor torch: it validates the job as the bridge
does, emits DIR/events.jsonl's events in order on the event channel and exits like the real training
did (0 after ``finished``, 1 after ``error``). So that the parent cannot tell the difference:

- every path under the recorded save dir (``save_dir``, ``best``, ``last``, ``results_csv``,
  ``args_yaml``, ``args.save_dir``, ...) is moved to this job's save dir, computed as a real run
  does (``abspath(project)/name``); ``args.project``/``args.name``/``args.data`` become the job's;
- the recorded files (DIR/files/, laid out as in the save dir) are copied there: ``args.yaml``
  before ``started``, ``weights/`` and ``results.csv`` before the first ``epoch``, the rest (plots)
  before ``finished`` -- each written to a temporary name and renamed, so none is ever seen half
  written;
- ``started.pid`` is this process's pid; everything else (epochs, metrics, args, versions, device)
  is as recorded;
- ``--delay`` (seconds, default 0.2) passes before every event after ``started``, so that many
  replays interleave like trainings;
- failures (an unreadable recording, a bad ``--delay``, a bad job) are ``error`` events and exit 1,
  as in the bridge; usage errors exit 2;
- signals: no handlers, as in the real bridge: SIGTERM ends it at once (killed by the signal),
  SIGINT raises KeyboardInterrupt; it dies with its parent (PR_SET_PDEATHSIG, as the bridge).

Only the standard library is imported here. The dependency is one way: this module uses the
bridge's public helpers (event channel, job validation, error reporting); the bridge never imports
this module.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from guardianflow_trainer import bridge
from guardianflow_trainer.bridge import BridgeError, EventChannel

EVENTS_FILE = "events.jsonl"
FILES_DIR = "files"
DEFAULT_DELAY = 0.2

# When each recorded file reaches the save dir (paths relative to it); everything else: before
# `finished`. Mirrors ultralytics: args.yaml at set-up, weights and results.csv each epoch.
_BEFORE_STARTED = ("args.yaml",)
_BEFORE_FIRST_EPOCH = ("weights/", "results.csv")


def load_recording(directory: str | os.PathLike) -> tuple[Path, list[dict[str, Any]]]:
    rec = Path(directory).expanduser()
    path = rec / EVENTS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise BridgeError("config", f"cannot read the recording {path}: {e}") from e
    events = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError as e:
            raise BridgeError("config", f"{path}:{n}: not a JSON event: {e}") from e
        if not isinstance(ev, dict) or not isinstance(ev.get("event"), str):
            raise BridgeError("config", f"{path}:{n}: not an event object")
        events.append(ev)
    if not events:
        raise BridgeError("config", f"the recording {path} has no events")
    return rec, events


def parse_delay(raw: str | None) -> float:
    """`--delay`'s value in seconds (DEFAULT_DELAY when not given): a finite number >= 0."""
    if raw is None or not raw.strip():
        return DEFAULT_DELAY
    try:
        delay = float(raw)
    except ValueError:
        raise BridgeError("config", f"--delay {raw!r} is not a number of seconds") from None
    if not delay >= 0 or delay == float("inf"):
        raise BridgeError("config", f"--delay {raw!r} must be a finite number >= 0")
    return delay


def job_save_dir(job: dict[str, Any]) -> Path:
    """The save dir a real run of `job` gets (build_train_kwargs: project resolved, exist_ok)."""
    if job["project"] is None or job["name"] is None:
        raise BridgeError("config", "a replayed job needs 'project' and 'name' (its save dir)")
    return Path(job["project"]).expanduser().resolve() / job["name"]


def recorded_save_dir(events: list[dict[str, Any]]) -> str | None:
    for ev in events:
        if isinstance(ev.get("save_dir"), str):
            return ev["save_dir"]
    return None


def rewrite_paths(value: Any, old: str, new: str) -> Any:
    """`value` with every string that is `old` or under it moved under `new`."""
    if isinstance(value, str):
        if value == old:
            return new
        if value.startswith(old.rstrip(os.sep) + os.sep):
            return new + value[len(old.rstrip(os.sep)):]
        return value
    if isinstance(value, dict):
        return {k: rewrite_paths(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite_paths(v, old, new) for v in value]
    return value


def job_args(job: dict[str, Any], save_dir: Path) -> dict[str, str]:
    """The ultralytics arguments that name this job's places, as a real run of it has them."""
    values = {"save_dir": str(save_dir), "project": str(save_dir.parent), "name": save_dir.name}
    if job["data"] is not None:
        values["data"] = bridge.resolve_data(job["data"])  # a missing data YAML fails as in a real run
    return values


def adapt_event(ev: dict[str, Any], old: str | None, new: Path, args_values: dict[str, str]) -> dict[str, Any]:
    out = rewrite_paths(ev, old, str(new)) if old else dict(ev)
    if out["event"] == "started":
        out["pid"] = os.getpid()
        args = out.get("args")
        if isinstance(args, dict):
            args = dict(args)
            args.update({k: v for k, v in args_values.items() if k in args or k == "save_dir"})
            out["args"] = args
    return out


def rewrite_args_yaml(text: str, values: dict[str, str]) -> str:
    """ultralytics' args.yaml (flat `key: value` lines) with the top-level `values` replaced."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        key = line.split(":", 1)[0]
        if key in values and line.startswith(key + ":"):
            ending = "\n" if line.endswith("\n") else ""
            lines[i] = f"{key}: {json.dumps(values[key])}{ending}"  # a JSON string is a YAML string
    return "".join(lines)


class _Files:
    """The recorded files, copied into the save dir in the order a training writes them.

    args.yaml gets the job's save_dir/project/name/data, as the started event's args do."""

    def __init__(self, recording: Path, save_dir: Path, args_values: dict[str, str]) -> None:
        root = recording / FILES_DIR
        self.save_dir = save_dir
        self.args_values = args_values
        self.pending: dict[str, Path] = {}
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    self.pending[path.relative_to(root).as_posix()] = path

    def copy(self, which: tuple[str, ...] | None) -> None:
        """Copies the pending files whose names start with one of `which` (all when None)."""
        names = [n for n in self.pending if which is None or n.startswith(which)]
        for name in names:
            src = self.pending.pop(name)
            dst = self.save_dir / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.replay-{os.getpid()}")
            if name == "args.yaml":
                text = src.read_text(encoding="utf-8")
                tmp.write_text(rewrite_args_yaml(text, self.args_values), encoding="utf-8")
            else:
                shutil.copyfile(src, tmp)
            os.replace(tmp, dst)


def replay(job: dict[str, Any], events: EventChannel, directory: str | os.PathLike, delay: float = DEFAULT_DELAY) -> int:
    """Emits the recording in `directory` for `job`, `delay` seconds before each event after the
    first; returns the exit status a training would."""
    rec, recorded = load_recording(directory)
    save_dir = job_save_dir(job)
    old = recorded_save_dir(recorded)
    args_values = job_args(job, save_dir)
    files = _Files(rec, save_dir, args_values)
    print(f"guardianflow_trainer: replaying {rec} ({len(recorded)} events, {delay:g} s apart) into {save_dir}",
          file=sys.stderr, flush=True)
    save_dir.mkdir(parents=True, exist_ok=True)

    saw_epoch = False
    for i, ev in enumerate(recorded):
        kind = ev["event"]
        if i > 0 and delay > 0:
            time.sleep(delay)
        if kind == "started":
            files.copy(_BEFORE_STARTED)
        elif kind == "epoch" and not saw_epoch:
            saw_epoch = True
            files.copy(_BEFORE_STARTED + _BEFORE_FIRST_EPOCH)
        elif kind == "finished":
            files.copy(None)
        out = adapt_event(ev, old, save_dir, args_values)
        fields = {k: v for k, v in out.items() if k != "event"}
        if kind == "epoch":
            print(f"guardianflow_trainer: replay epoch {out.get('epoch')}/{out.get('epochs')}", file=sys.stderr, flush=True)
        events.emit(kind, **fields)
        if kind == "error":
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    events = EventChannel()  # first: claim the original stdout before anything can print
    parser = argparse.ArgumentParser(
        prog="python -m guardianflow_trainer.replay", description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 1)[1])
    parser.add_argument("--recording", required=True, help="a recording made by python -m guardianflow_trainer.record")
    parser.add_argument("--delay", help=f"seconds before each event after `started` (default {DEFAULT_DELAY:g})")
    parser.add_argument("--job", required=True, help="job JSON file, or '-' for stdin")
    ns = parser.parse_args(argv)  # usage errors go to stderr (fd 2), exit 2

    bridge.die_with_parent()

    def play(set_phase) -> int:
        job = bridge.load_job(ns.job)
        set_phase("replay")
        return replay(job, events, ns.recording, parse_delay(ns.delay))

    return bridge.report_failures(events, play)


if __name__ == "__main__":
    sys.exit(main())
