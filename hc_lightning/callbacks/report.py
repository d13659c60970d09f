"""The end-of-run report: the completed table, ``report.json`` and a summary for people."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.utilities import rank_zero_only

from hc_lightning.data.datamodule import CayleyDataModule
from hc_lightning.data.io import FORMATS, write_table, write_text_atomic
from hc_lightning.data.table import CayleyTable
from hc_lightning.model.module import HyperCubeModule

log = logging.getLogger(__name__)

REPORT_NAME = "report.json"
TABLE_NAME = "completed"


def run_directory(trainer: L.Trainer) -> Path:
    """Where a run's files go: the logger's version directory, else ``default_root_dir``."""
    return Path(trainer.log_dir or trainer.default_root_dir)


class ReportContributor:
    """A callback that adds entries to the report (implemented by the explanation callbacks)."""

    def report_items(self) -> dict[str, Any]:
        """Entries to merge into ``report.json``; called once training has ended."""
        raise NotImplementedError(f"{type(self).__name__} must implement `report_items`")

    def summary_lines(self) -> list[str]:
        """Lines for the human summary."""
        return []


class CompletionReport(L.Callback):
    """Writes the completed table and ``report.json`` into the run directory at the end.

    The completed table keeps every cell the model was given and fills the others with
    ``argmax_c T[a, b, c]``; it is written in the input file's format (CSV for a catalog
    table) with the input's labels. The report holds at least ``n``, ``known_fraction``,
    ``heldout_accuracy`` (``null`` without held-out answers), ``exact``, ``steps``,
    ``seconds``, ``h_over_3n2`` and ``latin_square``; explanation callbacks add their
    findings. Both files are written atomically.

    Args:
        table_name: file name (without suffix) of the completed table.
        write_files: write the files (the report is kept in memory either way).
    """

    def __init__(self, table_name: str = TABLE_NAME, write_files: bool = True) -> None:
        self.table_name = table_name
        self.write_files = write_files
        self.report: dict[str, Any] | None = None
        self.completed: CayleyTable | None = None
        self.summary: list[str] = []
        self.paths: dict[str, Path] = {}
        self._start = 0.0
        self._seconds = 0.0

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._seconds = time.perf_counter() - self._start

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        if not isinstance(pl_module, HyperCubeModule) or not isinstance(
            datamodule, CayleyDataModule
        ):
            raise TypeError("CompletionReport needs a HyperCubeModule and a CayleyDataModule")
        self.completed = complete_table(pl_module, datamodule)
        self.report = build_report(pl_module, datamodule, self.completed, self._seconds)
        self.report["steps"] = trainer.global_step
        for callback in trainer.callbacks:
            if isinstance(callback, ReportContributor):
                self.report.update(callback.report_items())
                self.summary.extend(callback.summary_lines())
        if self.write_files:
            self._write(trainer, datamodule)

    @rank_zero_only
    def _write(self, trainer: L.Trainer, datamodule: CayleyDataModule) -> None:
        directory = run_directory(trainer)
        kind = datamodule.table.source_format or "csv"
        suffix = next(suffix for suffix, name in FORMATS.items() if name == kind)
        self.paths["table"] = write_table(self.completed, directory / f"{self.table_name}{suffix}")
        self.paths["report"] = write_text_atomic(
            directory / REPORT_NAME, json.dumps(_plain(self.report), indent=2) + "\n"
        )
        log.info("wrote %s and %s", self.paths["table"], self.paths["report"])


def complete_table(module: HyperCubeModule, datamodule: CayleyDataModule) -> CayleyTable:
    """The table with every cell the model was not given filled by its prediction (every
    cell, when the module was told to distrust the given ones)."""
    predicted = module.predicted_table().cpu().numpy()
    if module.hparams.distrust_known_cells:
        return datamodule.table.with_cells(predicted)
    given = datamodule.train_mask
    cells = np.where(given, datamodule.table.cells, predicted)
    return datamodule.table.with_cells(cells)


def build_report(
    module: HyperCubeModule,
    datamodule: CayleyDataModule,
    completed: CayleyTable,
    seconds: float,
) -> dict[str, Any]:
    """The core figures of a finished run (see :class:`CompletionReport`)."""
    table = datamodule.table
    predicted = module.predicted_table().cpu().numpy()
    given = datamodule.train_mask
    heldout = table.known & ~given
    heldout_accuracy = (
        float((predicted[heldout] == table.cells[heldout]).mean()) if heldout.any() else None
    )
    agrees_with_given = bool((predicted[given] == table.cells[given]).all())
    with_answers = table.known & ~given
    violation = completed.latin_violation()
    schedule = module.schedule
    exact = (
        schedule.done_step is not None
        and agrees_with_given
        and heldout_accuracy in (None, 1.0)
        and completed.is_complete
    )
    return {
        "table": table.name,
        "n": table.n,
        "known_fraction": float(given.mean()),
        "known_cells": int(given.sum()),
        "heldout_cells": int(with_answers.sum()),
        "heldout_accuracy": heldout_accuracy,
        "agrees_with_known_cells": agrees_with_given,
        "exact": bool(exact),
        "steps": None,
        "seconds": round(seconds, 3),
        "completed_step": schedule.completed_step,
        "eps_off_step": schedule.eps_off_step,
        "data_loss": schedule.last_data,
        "h_over_3n2": module.last_h_ratio,
        "latin_square": violation is None,
        "latin_violation": violation,
    }


def summarize(report: dict[str, Any], extra: list[str] | None = None) -> str:
    """A few lines for a person reading the terminal."""
    accuracy = report["heldout_accuracy"]
    accuracy_text = "no held-out cells" if accuracy is None else f"held-out accuracy {accuracy:.1%}"
    lines = [
        f"{report['table']}: n = {report['n']}, {report['known_fraction']:.0%} known,"
        f" {accuracy_text}, {'exact' if report['exact'] else 'NOT exact'}"
        f" after {report['steps']} steps ({report['seconds']:.1f} s)",
        f"H / (3 n^2) = {report['h_over_3n2']:.6f}",
    ]
    if not report["latin_square"]:
        lines.append(f"not a Latin square: {report['latin_violation']}")
    lines.extend(extra or [])
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, non-finite floats to ``null``."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
