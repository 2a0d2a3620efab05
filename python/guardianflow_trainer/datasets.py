"""Where ultralytics finds a dataset given by name, as the trainer would find it.

    python -m guardianflow_trainer.datasets --data coco8.yaml [--download]

guardianflow runs this before it creates a run, with the trainer's own environment (its
YOLO_CONFIG_DIR, so ultralytics' settings and their ``datasets_dir``; its working directory), so
that the answer is the one the trainer will get. A name such as ``coco8.yaml`` is one of
ultralytics' built-in dataset YAMLs (``ultralytics/cfg/datasets/``); its relative ``path:`` is
resolved as ``check_det_dataset`` resolves it: as given when that folder exists here, else under
``datasets_dir``.

Prints one JSON object on stdout:
    {"name", "yaml": the built-in YAML (absolute), "root": the dataset folder, "datasets_dir",
     "settings_file", "present": whether every val folder exists, "downloadable": whether the YAML
     says how to fetch it}
With --download a missing dataset is fetched first, by ultralytics itself (the YAML's
``download:``), and "present" says whether that worked. Exit 0 with the JSON; exit 2 with a
message on stderr when the name is no dataset ultralytics knows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any


def dataset_root(data: dict[str, Any], yaml_file: Path, datasets_dir: Path) -> Path:
    """The dataset folder, as ultralytics' check_det_dataset resolves it."""
    path = Path(data.get("path") or yaml_file.parent)
    if not path.exists() and not path.is_absolute():
        path = (datasets_dir / path).resolve()
    return path


def split_folders(data: dict[str, Any], root: Path, split: str = "val") -> list[Path]:
    """The folders (or list files) of one split, resolved under `root` as ultralytics does."""
    entries = data.get(split)
    if not entries:
        return []
    out = []
    for entry in entries if isinstance(entries, list) else [entries]:
        x = (root / str(entry)).resolve()
        if not x.exists() and str(entry).startswith("../"):
            x = (root / str(entry)[3:]).resolve()
        out.append(x)
    return out


def locate(name: str, download: bool = False) -> dict[str, Any]:
    # ultralytics prints its settings banner on first use: keep stdout for the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        from ultralytics.utils import DATASETS_DIR, SETTINGS_FILE, YAML
        from ultralytics.utils.checks import check_file

        try:
            yaml_file = Path(check_file(name, download=False)).resolve()
        except FileNotFoundError as e:
            raise LookupError(f"'{name}' is not a dataset ultralytics knows: {e}") from e
        data = YAML.load(yaml_file)
        root = dataset_root(data, yaml_file, Path(DATASETS_DIR))
        present = all(p.exists() for p in split_folders(data, root)) and bool(split_folders(data, root))
        if not present and download and data.get("download"):
            from ultralytics.data.utils import check_det_dataset

            with contextlib.suppress(Exception):
                check_det_dataset(str(yaml_file), autodownload=True)
            present = all(p.exists() for p in split_folders(data, root)) and bool(split_folders(data, root))
    return {
        "name": name,
        "yaml": str(yaml_file),
        "root": str(root),
        "datasets_dir": str(DATASETS_DIR),
        "settings_file": str(SETTINGS_FILE),
        "present": present,
        "downloadable": bool(data.get("download")),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m guardianflow_trainer.datasets", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="a dataset name such as coco8.yaml")
    p.add_argument("--download", action="store_true", help="fetch a missing dataset first, as ultralytics does")
    args = p.parse_args(argv)
    try:
        found = locate(args.data, download=args.download)
    except LookupError as e:
        print(str(e), file=sys.stderr)
        return 2
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
