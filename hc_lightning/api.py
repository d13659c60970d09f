"""One call for notebooks: complete a table and get the report; read back the group found."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from hc_lightning.algebra.group import FiniteGroup
from hc_lightning.callbacks.report import REPORT_NAME, TABLE_NAME, CompletionReport, summarize
from hc_lightning.callbacks.representation import GaugeFixCallback, IrrepsCallback
from hc_lightning.callbacks.structure import StructureCallback
from hc_lightning.data import catalog
from hc_lightning.data.datamodule import CayleyDataModule
from hc_lightning.data.io import read_table
from hc_lightning.data.table import CayleyTable, TableError
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


def load_group(
    source: FiniteGroup | Completion | CayleyTable | str | os.PathLike[str],
) -> FiniteGroup:
    """The group a run discovered, from whatever the run left behind.

    Args:
        source: a :class:`FiniteGroup` (returned as is), a :class:`Completion`, a
            :class:`CayleyTable`, a table file (``completed.csv`` and the other formats of
            :func:`~hc_lightning.data.io.read_table`), a run directory or its ``report.json``
            (the completed table written next to it), or a Lightning checkpoint (``.ckpt``:
            the table the factors predict, with the labels of the table it was trained on).

    Returns:
        The group, with the labels of the table.

    Raises:
        TableError: a file is missing or malformed, or a run directory holds no completed table.
        ValueError: the table is not a group (the message names the failing axiom).

    Example:
        >>> load_group(catalog.load("Q8")).order
        8
    """
    if isinstance(source, FiniteGroup):
        return source
    if isinstance(source, Completion):
        source = source.table
    if isinstance(source, CayleyTable):
        return _group_of(source)
    path = Path(source)
    if not path.exists():
        raise TableError(f"{path}: no such file or directory")
    if path.suffix == ".ckpt":
        return _group_of(_checkpoint_table(path))
    if path.name == REPORT_NAME:
        path = path.parent
    if path.is_dir():
        tables = sorted(path.glob(f"{TABLE_NAME}.*"))
        if not tables:
            raise TableError(f"{path}: no completed table ({TABLE_NAME}.*) in this directory")
        path = tables[0]
    return _group_of(read_table(path))


def _group_of(table: CayleyTable) -> FiniteGroup:
    if not table.is_complete:
        where = f"{table.name}: " if table.name else ""
        raise TableError(f"{where}the table has unknown cells; complete it first")
    return FiniteGroup(table.cells, table.labels)


def _checkpoint_table(path: Path) -> CayleyTable:
    """The completed table of a checkpoint of :class:`HyperCubeModule`: the cells given to
    the model (unless it distrusted them) and its predictions elsewhere, with the labels of
    the table it was trained on."""
    if not path.is_file():
        raise TableError(f"{path}: not a file")
    try:
        module = HyperCubeModule.load_from_checkpoint(path, map_location="cpu")
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch and Lightning raise many kinds for a bad file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TableError(f"{path}: not a checkpoint of a HyperCube run ({reason})") from error
    cells = module.predicted_table().numpy()
    data = saved.get(CayleyDataModule.__qualname__, {})
    if "train_mask" in data and not module.hparams.distrust_known_cells:
        given = data["train_mask"].numpy()
        cells = np.where(given, data["cells"].numpy(), cells)
    return CayleyTable(cells, data.get("labels"), name=path.name)
