"""Train D4 for a fixed number of steps on 1 or 2 CPU processes; save the factors.

Run as ``python tests/ddp_script.py DEVICES STEPS OUT``; used by ``test_ddp.py``
(Lightning's ``ddp`` strategy relaunches this script for the second process). The factors
are also saved after step 50.
"""

from __future__ import annotations

import sys
import warnings

import lightning as L
import torch

from hc_lightning.data import CayleyDataModule
from hc_lightning.model import HyperCubeModule


class Snapshot(L.Callback):
    """Keeps a copy of the factors after ``step`` steps."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.factors: dict[str, torch.Tensor] = {}

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if trainer.global_step == self.step:
            for name in "ABC":
                self.factors[name] = getattr(pl_module.factors, name).detach().clone()


def main() -> None:
    devices, steps, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    warnings.filterwarnings("ignore")
    L.seed_everything(0, verbose=False)
    datamodule = CayleyDataModule("D4", train_fraction=0.5, split_seed=0)
    module = HyperCubeModule(n=datamodule.n, double_precision=True)
    snapshot = Snapshot(50)
    trainer = L.Trainer(
        callbacks=[snapshot],
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule)
    if trainer.global_rank == 0:
        factors = module.factors
        torch.save(
            {
                "A": factors.A.detach(),
                "B": factors.B.detach(),
                "C": factors.C.detach(),
                "completed_step": module.schedule.completed_step,
                "step50": snapshot.factors,
            },
            out,
        )


if __name__ == "__main__":
    main()
