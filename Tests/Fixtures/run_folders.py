"""Generated ultralytics run folders (args.yaml + results.csv, no weights), as many as wanted,
for the import tests and bench/import.sh: each a distinct training of `epochs` rows in today's
format (unpadded, with `time`), dated in the past.

    python run_folders.py OUT --runs 100 --epochs 100 [--planned 100] [--seed 0]

writes OUT/train, OUT/train2, … (ultralytics' own naming).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

COLUMNS = ["epoch", "time", "train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)", "metrics/recall(B)",
           "metrics/mAP50(B)", "metrics/mAP50-95(B)", "val/box_loss", "val/cls_loss", "val/dfl_loss", "lr/pg0", "lr/pg1", "lr/pg2"]

ARGS = """task: detect
mode: train
model: yolov8n.yaml
data: /data/site-a/data.yaml
epochs: {planned}
time: null
patience: 100
batch: 16
imgsz: 640
save: true
save_period: -1
cache: false
device: '0'
workers: 8
project: /home/team/runs/detect
name: {name}
exist_ok: false
pretrained: true
optimizer: auto
verbose: true
seed: {seed}
deterministic: true
single_cls: false
rect: false
cos_lr: false
close_mosaic: 10
resume: false
amp: true
fraction: 1.0
profile: false
freeze: null
multi_scale: false
overlap_mask: true
mask_ratio: 4
dropout: 0.0
val: true
split: val
save_json: false
conf: null
iou: 0.7
max_det: 300
half: false
dnn: false
plots: true
lr0: 0.01
lrf: 0.01
momentum: 0.937
weight_decay: 0.0005
warmup_epochs: 3.0
warmup_momentum: 0.8
warmup_bias_lr: 0.1
box: 7.5
cls: 0.5
dfl: 1.5
hsv_h: 0.015
hsv_s: 0.7
hsv_v: 0.4
degrees: 0.0
translate: 0.1
scale: 0.5
shear: 0.0
perspective: 0.0
flipud: 0.0
fliplr: 0.5
mosaic: 1.0
mixup: 0.0
copy_paste: 0.0
save_dir: /home/team/runs/detect/{name}
"""


def write_run(folder: Path, name: str, epochs: int, planned: int, seed: int, started: float) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "args.yaml").write_text(ARGS.format(planned=planned, name=name, seed=seed))
    lines = [",".join(COLUMNS)]
    elapsed = 0.0
    for e in range(1, epochs + 1):
        elapsed += 30 + rng.random() * 5
        progress = e / max(epochs, 1)
        m50 = min(0.95, 0.9 * progress + rng.random() * 0.02)
        values = [e, round(elapsed, 3), 1.5 - progress + rng.random() * 0.01, 2.0 - 1.5 * progress, 1.2 - 0.3 * progress,
                  min(1, 0.2 + 0.7 * progress), min(1, 0.1 + 0.8 * progress), m50, m50 * 0.7, 1.4 - progress * 0.5,
                  1.9 - progress, 1.1 - 0.2 * progress, 0.01 * (1 - progress) + 1e-4, 0.01 * (1 - progress) + 1e-4,
                  0.01 * (1 - progress) + 1e-4]
        lines.append(",".join(f"{v:.6g}" for v in values))
    (folder / "results.csv").write_text("\n".join(lines) + "\n")
    os.utime(folder / "args.yaml", (started, started))
    os.utime(folder / "results.csv", (started + elapsed, started + elapsed))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--planned", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    base = time.time() - 90 * 86400
    for i in range(args.runs):
        name = "train" if i == 0 else f"train{i + 1}"
        write_run(out / name, name, args.epochs, args.planned or args.epochs, args.seed * 100000 + i, base + i * 86400)


if __name__ == "__main__":
    main()
