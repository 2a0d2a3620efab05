"""Run folders as plain ultralytics leaves them, for the import tests: real trainings on CPU
(yolov8n.yaml from scratch, imgsz 64, on examples/ppe-sample), no guardianflow involved.

    python yolo_runs.py finished    PROJECT NAME --epochs 2
    python yolo_runs.py interrupted PROJECT NAME --epochs 3 --stop-after 2
    python yolo_runs.py resume      PROJECT/NAME
    python yolo_runs.py old-format  RUN_DIR        # results.csv as ultralytics <= 8.3.8 wrote it
    python yolo_runs.py yolov5      RUN_DIR OUT    # the run in YOLOv5's layout

`interrupted` stops the process hard (os._exit) at the end of epoch --stop-after, once last.pt is
saved: the folder is what a Ctrl-C'd or killed training leaves (last.pt with its optimizer, fewer
rows than planned). `resume` continues it as `yolo train resume model=.../last.pt` does. Needs
YOLO_OFFLINE=1 and no network.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "ppe-sample" / "data.yaml"


def quiet_integrations() -> None:
    """No logging of ultralytics' own (its MLflow callback would write to ./mlruns or a local DB)."""
    from ultralytics import settings

    settings.update({"mlflow": False, "tensorboard": False, "wandb": False, "clearml": False, "comet": False, "dvc": False})


def train(project: str, name: str, epochs: int, stop_after: int | None) -> None:
    from ultralytics import YOLO

    quiet_integrations()
    model = YOLO("yolov8n.yaml")
    if stop_after is not None:
        def stop(trainer) -> None:
            if trainer.epoch + 1 >= stop_after:
                os._exit(0)  # as a kill: no final checkpoint, no stripping

        model.add_callback("on_fit_epoch_end", stop)
    model.train(data=str(DATA), epochs=epochs, imgsz=64, batch=16, device="cpu", workers=0, project=project, name=name,
                exist_ok=True, verbose=False, seed=0, plots=stop_after is None, val=True, amp=False)


def resume(run_dir: str) -> None:
    from ultralytics import YOLO

    quiet_integrations()
    YOLO(str(Path(run_dir) / "weights" / "last.pt")).train(resume=True, workers=0, device="cpu")


def old_format(run_dir: str) -> None:
    """Up to ultralytics 8.3.8: header and values right-aligned in 25-wide fields, no `time`."""
    path = Path(run_dir) / "results.csv"
    with path.open() as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    keep = [i for i, name in enumerate(header) if name != "time"]
    lines = [",".join(f"{header[i]:>25}" for i in keep)]
    for row in body:
        cells = []
        for i in keep:
            value = float(row[i])
            cells.append(f"{int(value):>25}" if header[i] == "epoch" else f"{value:>25.5g}")
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


V5_COLUMNS = {
    "train/box_loss": "train/box_loss", "train/cls_loss": "train/cls_loss", "train/dfl_loss": "train/obj_loss",
    "metrics/precision(B)": "metrics/precision", "metrics/recall(B)": "metrics/recall", "metrics/mAP50(B)": "metrics/mAP_0.5",
    "metrics/mAP50-95(B)": "metrics/mAP_0.5:0.95", "val/box_loss": "val/box_loss", "val/cls_loss": "val/cls_loss",
    "val/dfl_loss": "val/obj_loss", "lr/pg0": "x/lr0", "lr/pg1": "x/lr1", "lr/pg2": "x/lr2",
}


def yolov5(run_dir: str, out: str) -> None:
    """YOLOv5's layout: opt.yaml + hyp.yaml, results.csv with its column names, padded, epochs from 0."""
    import yaml

    src, dst = Path(run_dir), Path(out)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src / "weights", dst / "weights")
    args = yaml.safe_load((src / "args.yaml").read_text())
    hyp_keys = ["lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "warmup_momentum", "warmup_bias_lr", "box", "cls",
                "hsv_h", "hsv_s", "hsv_v", "degrees", "translate", "scale", "shear", "perspective", "flipud", "fliplr", "mosaic",
                "mixup"]
    hyp = {k: args[k] for k in hyp_keys if k in args}
    opt = {"weights": "", "cfg": "models/yolov5n.yaml", "data": args["data"], "hyp": str(dst / "hyp.yaml"), "epochs": args["epochs"],
           "batch_size": args["batch"], "imgsz": args["imgsz"], "device": args["device"], "workers": 0, "project": args["project"],
           "name": args["name"], "exist_ok": True, "patience": 100, "seed": 0, "save_dir": str(src)}
    (dst / "opt.yaml").write_text(yaml.safe_dump(opt, sort_keys=False))
    (dst / "hyp.yaml").write_text(yaml.safe_dump(hyp, sort_keys=False))
    with (src / "results.csv").open() as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    keep = [i for i, name in enumerate(header) if name in V5_COLUMNS or name == "epoch"]
    lines = [",".join(f"{(V5_COLUMNS.get(header[i], header[i])):>20}" for i in keep)]
    for row in body:
        lines.append(",".join(f"{int(float(row[i])) - 1:>20}" if header[i] == "epoch" else f"{float(row[i]):>20.5g}" for i in keep))
    (dst / "results.csv").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("finished", "interrupted"):
        p = sub.add_parser(command)
        p.add_argument("project")
        p.add_argument("name")
        p.add_argument("--epochs", type=int, default=2)
        p.add_argument("--stop-after", type=int)
    sub.add_parser("resume").add_argument("run_dir")
    sub.add_parser("old-format").add_argument("run_dir")
    p = sub.add_parser("yolov5")
    p.add_argument("run_dir")
    p.add_argument("out")
    args = parser.parse_args()
    if args.command == "finished":
        train(args.project, args.name, args.epochs, None)
    elif args.command == "interrupted":
        train(args.project, args.name, args.epochs, args.stop_after or 1)
    elif args.command == "resume":
        resume(args.run_dir)
    elif args.command == "old-format":
        old_format(args.run_dir)
    else:
        yolov5(args.run_dir, args.out)


if __name__ == "__main__":
    main()
