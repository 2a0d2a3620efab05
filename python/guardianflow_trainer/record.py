"""Record a real training for replay (load tests).

    python -m guardianflow_trainer.record --job JOB.json --out DIR
    python -m guardianflow_trainer.record --job - --out DIR        # job JSON on stdin

Runs the job exactly as ``python -m guardianflow_trainer --job JOB.json`` does -- same events on
stdout, same log on stderr, same exit status -- and keeps what a replay needs in DIR:

    DIR/events.jsonl    every event line, byte for byte as emitted
    DIR/files/          the files the parent uploads, laid out as in the save dir:
                        weights/best.pt, weights/last.pt, results.csv, args.yaml and the
                        *.png/*.jpg/*.jpeg plots at the top of the save dir
    DIR/job.json        the job that was recorded (for reference only)

A previous recording in DIR is replaced. Files are copied only when the training finished; a
failed training's recording holds its events (an ``error`` replays as that error). Replay it with
its own entry point (tests only; ``python -m guardianflow_trainer`` never replays):

    python -m guardianflow_trainer.replay --recording DIR [--delay S] --job OTHER_JOB.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from guardianflow_trainer import bridge
from guardianflow_trainer.replay import EVENTS_FILE, FILES_DIR

PLOT_SUFFIXES = (".png", ".jpg", ".jpeg")


def files_to_keep(finished: dict) -> list[Path]:
    """The files of a finished run that the parent uploads (RunFinisher.uploadArtifacts)."""
    save_dir = Path(finished["save_dir"])
    paths = [Path(finished[k]) for k in ("best", "last", "results_csv", "args_yaml") if finished.get(k)]
    if save_dir.is_dir():
        paths += sorted(p for p in save_dir.iterdir() if p.is_file() and p.suffix.lower() in PLOT_SUFFIXES)
    return [p for p in paths if p.is_file()]


def copy_files(finished: dict, out: Path) -> int:
    save_dir = Path(finished["save_dir"])
    count = 0
    for path in files_to_keep(finished):
        try:
            rel = path.relative_to(save_dir)
        except ValueError:
            print(f"guardianflow_trainer.record: {path} is outside the save dir {save_dir}; not kept", file=sys.stderr)
            continue
        dst = out / FILES_DIR / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dst)
        count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m guardianflow_trainer.record", description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 1)[1])
    parser.add_argument("--job", required=True, help="job JSON file, or '-' for stdin")
    parser.add_argument("--out", required=True, help="the recording's directory (created; replaced if present)")
    ns = parser.parse_args(argv)

    out = Path(ns.out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in (out / EVENTS_FILE, out / "job.json"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(out / FILES_DIR, ignore_errors=True)

    job_text = sys.stdin.read() if ns.job == "-" else None
    if job_text is not None:
        job_path = out / "job.json"
        job_path.write_text(job_text, encoding="utf-8")
    else:
        job_path = Path(ns.job)
        try:
            shutil.copyfile(job_path, out / "job.json")
        except OSError:
            pass  # the bridge reports an unreadable job as its error event

    events = bridge.EventChannel(tee=out / EVENTS_FILE)
    try:
        status = bridge.main(["--job", str(job_path)], events=events)
    finally:
        events.close_tee()

    finished = None
    for line in (out / EVENTS_FILE).read_text(encoding="utf-8").splitlines():
        ev = json.loads(line)
        if ev.get("event") == "finished":
            finished = ev
    if finished is not None:
        try:
            n = copy_files(finished, out)
        except OSError as e:
            print(f"guardianflow_trainer.record: could not keep the run's files: {e}", file=sys.stderr)
            return status or 1
        print(f"guardianflow_trainer.record: recorded into {out} (events and {n} files)", file=sys.stderr)
    else:
        print(f"guardianflow_trainer.record: recorded events into {out} (no finished event, no files)", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
