"""A stand-in for ultralytics' trainer in its multi-GPU (DDP) workers, for machines without GPUs.

ultralytics' own `generate_ddp_command` writes the worker script and pickles the callbacks, and a
real `torch.distributed.run` starts one worker per rank; only the training inside each worker is
stood in for: this class makes the callback calls ultralytics' BaseTrainer makes, in the ranks it
makes them (on_fit_epoch_end in every rank, the final evaluation and on_train_end in rank 0),
without the collective ops that need GPUs.

`args.standin` picks the behaviour: "ok", "oom" (rank 1 runs out of memory in epoch 2 while rank
0 waits in a collective, as NCCL would), "hang" (every rank waits after epoch 1 until stopped).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace


class _Device:
    type = "cpu"
    index = None

    def __str__(self) -> str:
        return "cpu"


class StandInDDPTrainer:
    def __init__(self, cfg=None, overrides=None, _callbacks=None):  # noqa: ARG002 - ultralytics' signature
        self._setup(dict(overrides or {}), _callbacks or {})

    @classmethod
    def launcher(cls, overrides: dict, callbacks: dict) -> "StandInDDPTrainer":
        """The launching process's trainer: what generate_ddp_command reads from it."""
        trainer = cls.__new__(cls)
        trainer._setup(overrides, callbacks)
        trainer.resume = True  # keeps generate_ddp_command from deleting save_dir
        trainer.world_size = 2
        trainer.model = None
        return trainer

    def _setup(self, overrides: dict, callbacks: dict) -> None:
        self.args = SimpleNamespace(**overrides)
        self.callbacks = {k: list(v) for k, v in callbacks.items()}
        self.rank = int(os.environ.get("RANK", "-1"))
        self.save_dir = Path(overrides["save_dir"])
        self.save_dir.mkdir(parents=True, exist_ok=True)
        self.device = _Device()
        self.epochs = int(overrides["epochs"])
        self.start_epoch = 0
        self.batch_size = int(overrides["batch"])
        self.epoch = 0
        self.tloss = None
        self.metrics = None
        self.fitness = None
        self.best_fitness = None
        self.lr = {}
        self.train_time_start = time.time()
        self.validator = SimpleNamespace(speed={"inference": 1.5})
        self.best = self.save_dir / "weights" / "best.pt"
        self.last = self.save_dir / "weights" / "last.pt"
        self.csv = self.save_dir / "results.csv"

    def run_callbacks(self, event: str) -> None:
        for callback in self.callbacks.get(event, []):
            callback(self)

    def label_loss_items(self, loss, prefix="train"):
        return {f"{prefix}/box_loss": loss[0], f"{prefix}/cls_loss": loss[1]}

    def _barrier(self, epoch: int) -> None:
        """Waits until rank 0 is through `epoch`."""
        deadline = time.time() + 120
        while not (self.save_dir / f".rank0-epoch{epoch}").exists() and time.time() < deadline:
            time.sleep(0.05)

    def final_eval(self) -> None:
        self.metrics = {"metrics/mAP50-95(B)": 0.5, "fitness": 0.5}
        self.epoch += 1
        self.run_callbacks("on_fit_epoch_end")

    def train(self) -> None:
        mode = self.args.standin
        if self.rank in (-1, 0):
            self.run_callbacks("on_pretrain_routine_start")
        self.run_callbacks("on_pretrain_routine_end")
        self.run_callbacks("on_train_start")
        for epoch in range(self.epochs):
            self.epoch = epoch
            if mode == "oom" and epoch == 1:
                if self.rank == 1:
                    self._barrier(epoch - 1)  # the ranks step together, as DDP's all-reduce makes them
                    raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 1)")
                time.sleep(120)  # rank 0 in a collective, until torchrun stops it
            self.tloss = [1.0 / (epoch + 1), 0.5]
            self.metrics = {"metrics/mAP50-95(B)": 0.1 * (epoch + 1), "fitness": 0.1 * (epoch + 1)}
            self.fitness = self.metrics["fitness"]
            self.best_fitness = self.fitness
            self.lr = {"lr/pg0": 0.01}
            self.run_callbacks("on_fit_epoch_end")  # every rank, as ultralytics calls it
            if self.rank == 0:
                (self.save_dir / f".rank0-epoch{epoch}").touch()
            if mode == "hang":
                time.sleep(600)
        if self.rank in (-1, 0):
            self.best.parent.mkdir(parents=True, exist_ok=True)
            self.best.write_bytes(b"best")
            self.final_eval()
            self.run_callbacks("on_train_end")
