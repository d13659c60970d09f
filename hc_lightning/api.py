"""One call for notebooks: complete a table and get the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning as L

from hc_lightning.callbacks.report import CompletionReport, summarize
from hc_lightning.callbacks.representation import GaugeFixCallback, IrrepsCallback
from hc_lightning.callbacks.structure import StructureCallback
from hc_lightning.data import catalog
from hc_lightning.data.datamodule import CayleyDataModule
from hc_lightning.data.table import CayleyTable
from hc_lightning.model.module import HyperCubeModule


@dataclass(frozen=True)
class Completion:
    """The result of :func:`complete`.

    Attributes:
        table: the completed table, with the input's labels.
        report: the figures of ``report.json``.
        module: the trained :class:`HyperCubeModule`.
        trainer: the Lightning trainer that ran the fit.
    """

    table: CayleyTable
    report: dict[str, Any]
    module: HyperCubeModule
    trainer: L.Trainer
    summary_lines: tuple[str, ...] = ()

    def summary(self) -> str:
        """The human-readable summary of the run."""
        return summarize(self.report, list(self.summary_lines))


def complete(
    table: CayleyTable | str,
    train_fraction: float = 0.6,
    seed: int = 0,
    max_steps: int = 20000,
    model_kwargs: dict[str, Any] | None = None,
    callbacks: list[L.Callback] | None = None,
    explain: bool = True,
    **trainer_kwargs: Any,
) -> Completion:
    """Complete ``table`` with HyperCube and report what was found.

    Args:
        table: a :class:`CayleyTable` (partial or complete) or a catalog name.
        train_fraction: share of the cells shown to the model when ``table`` is complete;
            the rest is held out to measure accuracy. Ignored for a partial table, whose
            known cells are all used.
        seed: seed of the split and of the initialisation.
        max_steps: upper bound on optimisation steps (training stops by itself earlier).
        model_kwargs: extra arguments of :class:`HyperCubeModule`.
        callbacks: extra Lightning callbacks.
        explain: run the explanation callbacks (structure, gauge fixing, irreps) and add
            their findings to the report.
        **trainer_kwargs: extra arguments of :class:`lightning.Trainer` (``logger=False``,
            no checkpoints and no progress bar unless given). Files (the completed table,
            ``report.json``, ``representation.npz``) are written only when
            ``default_root_dir`` is given.

    Example:
        >>> result = complete("S3", train_fraction=0.6, seed=0)  # doctest: +SKIP
        >>> result.report["heldout_accuracy"]  # doctest: +SKIP
        1.0
    """
    if isinstance(table, str):
        table = catalog.load(table)
    L.seed_everything(seed, verbose=False)
    datamodule = CayleyDataModule.from_table(table, train_fraction=train_fraction, split_seed=seed)
    module = HyperCubeModule(n=table.n, **(model_kwargs or {}))
    write_files = trainer_kwargs.get("default_root_dir") is not None
    report = CompletionReport(write_files=write_files)
    options: dict[str, Any] = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "max_steps": max_steps,
        "max_epochs": -1,
        "default_root_dir": None,
    }
    options.update(trainer_kwargs)
    explainers = []
    if explain:
        explainers = [StructureCallback(), GaugeFixCallback(), IrrepsCallback(export=write_files)]
    trainer = L.Trainer(callbacks=[report, *(callbacks or []), *explainers], **options)
    trainer.fit(module, datamodule)
    return Completion(report.completed, report.report, module, trainer, tuple(report.summary))
